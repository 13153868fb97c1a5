"""Responses of an identified FIR model with posterior uncertainty, and exports.

An FIR model with delay ``d`` and coefficients ``g_0..g_{n-1}`` (per input)
has impulse response ``h_k = g_{k-d}`` at lags ``k = d..d+n-1`` and transfer
function ``G(z) = sum_k g_k z^{-(k+d)}``.  Every response here is linear in
``g``, so its posterior variance is exact from the posterior covariance ``C``
of ``g``: for a functional ``a^T g`` it is ``a^T C a`` (no Monte Carlo).

* :func:`step_response` — ``s_k = sum_{j<=k} h_j`` and its standard deviation;
* :func:`frequency_response` — ``G(e^{i omega T})`` with the standard
  deviation of the complex value (``sqrt(E|G - G_hat|^2)``) and, to first
  order, of its magnitude and phase;
* :func:`to_dlti` / :func:`to_control` — the model as ``scipy.signal.dlti``
  (one per input) or a python-control ``TransferFunction`` with ``dt``.

Arrays follow the model's convention: shape ``(k,)`` for one input,
``(m, k)`` for ``m`` inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

__all__ = [
    "StepResponse",
    "FrequencyResponse",
    "step_response",
    "frequency_response",
    "impulse_coefficients",
    "to_dlti",
    "to_control",
    "default_frequencies",
]


@dataclass(frozen=True)
class StepResponse:
    """Step response of the model.

    Attributes
    ----------
    time : ndarray of shape (k,)
        ``0, T, 2T, ...`` (``T`` the sample time, 1 when unknown).
    response : ndarray of shape (k,) or (m, k)
        Output for a unit step on each input (zero before time 0).
    std : ndarray like ``response`` or None
        Posterior standard deviation (None when the model has no covariance).
    """

    time: np.ndarray
    response: np.ndarray
    std: np.ndarray | None


@dataclass(frozen=True)
class FrequencyResponse:
    """Frequency response ``G(e^{i omega T})`` with its posterior uncertainty.

    Attributes
    ----------
    omega : ndarray of shape (k,)
        Frequencies in rad per time unit of ``sample_time`` (rad/sample when it is 1).
    response : complex ndarray of shape (k,) or (m, k)
    std : ndarray like ``response`` (real) or None
        ``sqrt(E|G - G_hat|^2)``: standard deviation of the complex value.
    magnitude_std, phase_std : ndarray like ``response`` (real) or None
        First-order (delta-method) standard deviations of ``|G|`` and of the
        phase in radians.
    sample_time : float
    """

    omega: np.ndarray
    response: np.ndarray
    std: np.ndarray | None
    magnitude_std: np.ndarray | None
    phase_std: np.ndarray | None
    sample_time: float

    @property
    def magnitude(self) -> np.ndarray:
        return np.abs(self.response)

    @property
    def phase(self) -> np.ndarray:
        """Unwrapped phase in radians (along the frequency axis)."""
        return np.unwrap(np.angle(self.response), axis=-1)


def _blocks(g, cov):
    """``g`` as ``(m, n)`` and the list of per-input covariance blocks (or Nones)."""
    g2 = np.atleast_2d(np.asarray(g, dtype=np.float64))
    m, n = g2.shape
    if cov is None:
        return g2, [None] * m
    C = np.asarray(cov, dtype=np.float64)
    if C.shape != (m * n, m * n):
        raise ValueError(f"cov must have shape ({m * n}, {m * n}), got {C.shape}")
    return g2, [C[i * n : (i + 1) * n, i * n : (i + 1) * n] for i in range(m)]


def _squeeze(x, single: bool):
    return None if x is None else (x[0] if single else x)


def impulse_coefficients(g, delay: int) -> np.ndarray:
    """Impulse response from lag 0: ``delay`` zeros, then ``g``; shape ``(d + n,)`` or ``(m, d + n)``.

    Examples
    --------
    >>> impulse_coefficients([1.0, 0.5], 2).tolist()
    [0.0, 0.0, 1.0, 0.5]
    """
    g = np.asarray(g, dtype=np.float64)
    pad = [(0, 0)] * (g.ndim - 1) + [(int(delay), 0)]
    return np.pad(g, pad)


def step_response(g, cov=None, *, delay: int = 1, sample_time: float = 1.0, num: int | None = None) -> StepResponse:
    """Step response ``s_k = sum_{j<=k} h_j`` and its posterior standard deviation.

    Parameters
    ----------
    g : array of shape (n,) or (m, n)
        FIR coefficients (lags ``delay .. delay + n - 1``).
    cov : array of shape (m n, m n), optional
        Posterior covariance of ``g`` (stacked by input).
    delay : int
    sample_time : float
    num : int, optional
        Number of samples (default ``delay + n``; beyond it the response is constant).

    Returns
    -------
    StepResponse

    Notes
    -----
    With ``a_k`` the indicator of the first ``k + 1 - d`` coefficients,
    ``Var s_k = a_k^T C a_k`` = the ``k``-th diagonal entry of the doubly
    cumulated covariance.

    Examples
    --------
    >>> step_response([1.0, 0.5], delay=1).response.tolist()
    [0.0, 1.0, 1.5]
    """
    single = np.ndim(g) == 1
    g2, blocks = _blocks(g, cov)
    m, n = g2.shape
    d = int(delay)
    num = d + n if num is None else int(num)
    if num < 1:
        raise ValueError(f"num must be at least 1, got {num}")
    idx = np.clip(np.arange(num) - d, -1, n - 1)  # last coefficient index included
    cs = np.concatenate([np.zeros((m, 1)), np.cumsum(g2, axis=1)], axis=1)
    resp = cs[:, idx + 1]
    std = None
    if blocks[0] is not None:
        std = np.empty((m, num))
        for i, C in enumerate(blocks):
            S = np.cumsum(np.cumsum(C, axis=0), axis=1)
            dS = np.concatenate([[0.0], np.diag(S)])
            std[i] = np.sqrt(np.maximum(dS[idx + 1], 0.0))
    return StepResponse(np.arange(num) * float(sample_time), _squeeze(resp, single), _squeeze(std, single))


def default_frequencies(sample_time: float = 1.0, num: int = 400, decades: float = 3.0) -> np.ndarray:
    """``num`` log-spaced frequencies from ``10^-decades`` times Nyquist up to Nyquist ``pi / T``.

    Examples
    --------
    >>> w = default_frequencies(0.1, num=4, decades=3)
    >>> bool(np.isclose(w[-1], np.pi / 0.1)), bool(np.isclose(w[0], np.pi / 100))
    (True, True)
    """
    nyq = np.pi / float(sample_time)
    return np.logspace(np.log10(nyq) - decades, np.log10(nyq), int(num))


def frequency_response(g, cov=None, omega=None, *, delay: int = 1, sample_time: float = 1.0) -> FrequencyResponse:
    """Frequency response ``G(e^{i omega T}) = sum_k g_k e^{-i omega T (k + d)}`` with its uncertainty.

    Parameters
    ----------
    g : array of shape (n,) or (m, n)
    cov : array of shape (m n, m n), optional
        Posterior covariance of ``g``.
    omega : array of shape (k,), optional
        Frequencies in rad per time unit (default: :func:`default_frequencies`).
    delay : int
    sample_time : float

    Returns
    -------
    FrequencyResponse

    Notes
    -----
    With ``a = cos + i sin`` the row of ``e^{-i omega T lag}``, ``Re G = c^T g``
    and ``Im G = s^T g``; ``Var Re = c^T C c``, ``Var Im = s^T C s``,
    ``Cov = c^T C s``.  ``std = sqrt(Var Re + Var Im)``; the magnitude and phase
    standard deviations are the delta-method values
    ``sqrt(grad^T [[Var Re, Cov], [Cov, Var Im]] grad)``.

    Examples
    --------
    >>> import numpy as np
    >>> fr = frequency_response([1.0], omega=np.array([0.0, np.pi]), delay=0)
    >>> fr.response.real.tolist()
    [1.0, 1.0]
    """
    single = np.ndim(g) == 1
    g2, blocks = _blocks(g, cov)
    m, n = g2.shape
    T = float(sample_time)
    if not T > 0:
        raise ValueError(f"sample_time must be positive, got {sample_time!r}")
    omega = default_frequencies(T) if omega is None else np.atleast_1d(np.asarray(omega, dtype=np.float64))
    if omega.ndim != 1 or not np.all(np.isfinite(omega)):
        raise ValueError("omega must be a finite 1-D array of frequencies")
    phase = np.outer(omega * T, np.arange(n) + int(delay))  # (k, n)
    Cm, Sm = np.cos(phase), -np.sin(phase)
    resp = (g2 @ Cm.T) + 1j * (g2 @ Sm.T)  # (m, k)
    std = mag_std = ph_std = None
    if blocks[0] is not None:
        std, mag_std, ph_std = (np.empty((m, omega.size)) for _ in range(3))
        for i, C in enumerate(blocks):
            CC, CS = Cm @ C, Sm @ C
            vr, vi, cv = np.sum(CC * Cm, axis=1), np.sum(CS * Sm, axis=1), np.sum(CC * Sm, axis=1)
            re, im = resp[i].real, resp[i].imag
            a2 = np.maximum(re * re + im * im, np.finfo(float).tiny)
            std[i] = np.sqrt(np.maximum(vr + vi, 0.0))
            mag_std[i] = np.sqrt(np.maximum(re * re * vr + im * im * vi + 2 * re * im * cv, 0.0) / a2)
            ph_std[i] = np.sqrt(np.maximum(im * im * vr + re * re * vi - 2 * re * im * cv, 0.0)) / a2
    return FrequencyResponse(
        omega, _squeeze(resp, single), _squeeze(std, single), _squeeze(mag_std, single), _squeeze(ph_std, single), T
    )


def _tf_coefficients(h):
    """Numerator (leading zeros stripped) and denominator ``z^(L-1)`` of ``sum_k h_k z^-k``."""
    L = h.shape[0]
    nz = np.flatnonzero(h)
    num = h[nz[0] :] if nz.size else np.zeros(1)
    den = np.zeros(L)
    den[0] = 1.0
    return num, den


def to_dlti(g, *, delay: int = 1, sample_time: float = 1.0):
    """The FIR model as ``scipy.signal.dlti`` transfer function(s) with ``dt = sample_time``.

    Parameters
    ----------
    g : array of shape (n,) or (m, n)
    delay : int
    sample_time : float

    Returns
    -------
    scipy.signal.dlti, or list of m of them (one per input)

    Examples
    --------
    >>> import scipy.signal
    >>> sys = to_dlti([1.0, 0.5], delay=1, sample_time=0.1)
    >>> _, (h,) = scipy.signal.dimpulse(sys, n=4)
    >>> h.ravel().tolist(), sys.dt
    ([0.0, 1.0, 0.5, 0.0], 0.1)
    """
    single = np.ndim(g) == 1
    H = np.atleast_2d(impulse_coefficients(g, delay))
    systems = [scipy.signal.dlti(*_tf_coefficients(h), dt=float(sample_time)) for h in H]
    return systems[0] if single else systems


def to_control(g, *, delay: int = 1, sample_time: float = 1.0):
    """The FIR model as a python-control ``TransferFunction`` (``1 x m`` for ``m`` inputs) with ``dt``.

    Requires the optional package ``control`` (``pip install control``).

    Examples
    --------
    >>> sys = to_control([1.0, 0.5], delay=1, sample_time=0.1)   # doctest: +SKIP
    >>> sys.dt                                                    # doctest: +SKIP
    0.1
    """
    try:
        import control
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_control() needs python-control: pip install control") from exc
    H = np.atleast_2d(impulse_coefficients(g, delay))
    coeffs = [_tf_coefficients(h) for h in H]
    return control.tf([[list(c[0]) for c in coeffs]], [[list(c[1]) for c in coeffs]], dt=float(sample_time))
