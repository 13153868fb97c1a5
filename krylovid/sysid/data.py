"""Validation and preprocessing of identification data ``(u, y)`` (DESIGN §6).

* :func:`check_data` turns user input into float64 arrays ``u`` of shape
  ``(N, m)`` and ``y`` of shape ``(N,)`` or raises a ``ValueError`` /
  ``TypeError`` that names the argument at fault;
* :func:`check_noise_dof` refuses records too short for the least-squares
  noise variance (and names the minimum number of samples);
* :func:`detrend` removes means or linear trends; :func:`significant_offsets`
  flags means that a model without detrending would misread as dynamics
  (:class:`DataWarning`);
* :func:`prepare_records` does both for one record or a list of experiments.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.signal

from .._validation import check_array, check_int
from ..backend import array_namespace, is_numpy, to_numpy

__all__ = [
    "check_data",
    "effective_length",
    "check_noise_dof",
    "detrend",
    "Detrended",
    "significant_offsets",
    "prepare_records",
    "Records",
    "DataWarning",
    "MIN_NOISE_DOF",
    "DETREND_MODES",
]

#: Residual degrees of freedom the ``"ls"`` noise variance needs (``N_eff - m * order``).
MIN_NOISE_DOF = 10
DETREND_MODES = ("none", "constant", "linear")


class DataWarning(UserWarning):
    """The data look unsuitable for the model as specified (offsets, a response that has not decayed)."""


def effective_length(N: int, order: int, delay: int = 1, initial: str = "zero") -> int:
    """Number of usable output rows: ``N`` (zero initial) or ``N - order - delay + 1`` (drop).

    Examples
    --------
    >>> effective_length(100, 10, 1, "drop")
    90
    """
    if initial not in ("zero", "drop"):
        raise ValueError(f"initial must be one of ['zero', 'drop'], got {initial!r}")
    return N - order - delay + 1 if initial == "drop" else N


def check_data(u, y, order: int, *, delay: int = 1, initial: str = "zero"):
    """Validate an input/output record for an FIR model of ``order`` coefficients per input.

    Parameters
    ----------
    u : array of shape (N,) or (N, m)
        Input samples (``m`` inputs).
    y : array of shape (N,) or (N, 1)
        Output samples.
    order : int
        FIR order ``n`` per input (``>= 1``).
    delay : int
        Input delay ``d >= 0``.
    initial : {"zero", "drop"}
        Initial-condition treatment (see :func:`~krylovid.sysid.regressors.fir_regressor`).

    Returns
    -------
    u2d : array of shape (N, m), float64
    y : array of shape (N,), float64

    Raises
    ------
    TypeError
        Non-numeric or complex ``u``/``y``, non-integer ``order``/``delay``.
    ValueError
        Empty arrays, wrong number of dimensions, NaN/inf, ``len(u) != len(y)``,
        too little data (``N_eff <= m * order`` with ``N_eff`` the number of
        usable rows, so that the least-squares noise variance has at least one
        degree of freedom), an input column that is constant (in particular
        zero) and therefore does not excite the system, ``delay >= N``, a bad ``initial``.

    Examples
    --------
    >>> import numpy as np
    >>> u, y = check_data(np.arange(20.0), np.ones(20), 5)
    >>> u.shape, y.shape
    ((20, 1), (20,))
    """
    order = check_int(order, "order", minimum=1)
    delay = check_int(delay, "delay", minimum=0)
    if initial not in ("zero", "drop"):
        raise ValueError(f"initial must be one of ['zero', 'drop'], got {initial!r}")
    u = check_array(u, "u", ndim=(1, 2), dtype=None)
    xp = array_namespace(u)
    y = check_array(y, "y", ndim=(1, 2), xp=xp, dtype=xp.float64)
    if u.dtype != xp.float64:
        u = xp.astype(u, xp.float64)
    u = u[:, None] if u.ndim == 1 else u
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise ValueError(f"y must hold a single output, shape (N,) or (N, 1); got shape {tuple(y.shape)}")
        y = y[:, 0]
    N, m = u.shape
    if m == 0:
        raise ValueError(f"u has no input columns (shape {tuple(u.shape)})")
    if y.shape[0] != N:
        raise ValueError(f"y must have the same length as u: len(u) = {N}, len(y) = {y.shape[0]}")
    if delay >= N:
        raise ValueError(f"delay: a delay of {delay} samples leaves no output that depends on the input (N = {N})")
    n_eff = effective_length(N, order, delay, initial)
    if n_eff <= m * order:
        raise ValueError(
            f"order: too little data for order={order} with {m} input(s): {n_eff} usable "
            f"samples (N = {N}, initial={initial!r}, delay={delay}) but at least "
            f"{m * order + 1} are needed"
        )
    spread = xp.max(u, axis=0) - xp.min(u, axis=0)
    scale = xp.max(xp.abs(u), axis=0)
    for i in range(m):
        if float(spread[i]) <= 1e-14 * float(scale[i]):
            what = "is identically zero" if float(scale[i]) == 0 else "is constant"
            raise ValueError(f"u: input column {i} {what} and does not excite the system")
    return u, y


def check_noise_dof(
    n_eff: int, n_coef: int, *, N: int, order: int, num_inputs: int, delay: int = 1, initial: str = "zero"
) -> None:
    """Refuse a record too short for the least-squares noise variance ``||y - Phi g_LS||^2 / (N_eff - n)``.

    With ``N_eff - n`` residual degrees of freedom the estimate has relative
    standard deviation ``sqrt(2 / (N_eff - n))``; with one or two of them it is
    close to zero or arbitrary, and so is everything tuned with it (an
    objective of ``-1e17`` reported as converged).  At least
    :data:`MIN_NOISE_DOF` are required.

    Parameters
    ----------
    n_eff : int
        Usable outputs.
    n_coef : int
        FIR coefficients in total (``m * order``).
    N, order, num_inputs, delay, initial
        Only used in the message.

    Raises
    ------
    ValueError
        Naming ``order`` and the minimum number of samples.

    Examples
    --------
    >>> check_noise_dof(200, 50, N=200, order=50, num_inputs=1)
    >>> check_noise_dof(61, 60, N=61, order=60, num_inputs=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: order: 61 samples are too few for order=60 ... at least 70 are needed ...
    """
    if n_eff - n_coef >= MIN_NOISE_DOF:
        return
    need = N + (n_coef + MIN_NOISE_DOF - n_eff)
    raise ValueError(
        f"order: {N} samples are too few for order={order} with {num_inputs} input(s) and "
        f"noise_variance='ls': at least {need} are needed (the least-squares noise estimate needs "
        f"N_eff - inputs*order >= {MIN_NOISE_DOF}); use a lower order, a longer record, or "
        "noise_variance='ml' or a number"
    )


@dataclass(frozen=True)
class Detrended:
    """A record with its means or trends removed.

    Attributes
    ----------
    u : ndarray of shape (N, m)
    y : ndarray of shape (N,)
    input_offset : ndarray of shape (m,)
        Mean of each input column before detrending (zeros for ``"none"``).
    output_offset : float
        Mean of the output before detrending (0 for ``"none"``).
    mode : str
    """

    u: np.ndarray
    y: np.ndarray
    input_offset: np.ndarray
    output_offset: float
    mode: str


def detrend(u, y, mode: str = "constant") -> Detrended:
    """Remove the means (``"constant"``) or the least-squares lines (``"linear"``) of ``u`` and ``y``.

    Parameters
    ----------
    u : array of shape (N, m)
    y : array of shape (N,)
    mode : {"none", "constant", "linear"}

    Returns
    -------
    Detrended

    Examples
    --------
    >>> import numpy as np
    >>> d = detrend(np.array([[1.0], [3.0]]), np.array([10.0, 14.0]))
    >>> d.u.ravel().tolist(), d.y.tolist(), d.output_offset
    ([-1.0, 1.0], [-2.0, 2.0], 12.0)
    """
    if mode not in DETREND_MODES:
        raise ValueError(f"detrend must be one of {list(DETREND_MODES)}, got {mode!r}")
    xp = array_namespace(u, y)
    if not is_numpy(xp):
        return _detrend_xp(xp, u, y, mode)
    u = np.asarray(u, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    u0, y0 = u.mean(axis=0), float(y.mean())
    if mode == "none":
        return Detrended(u, y, np.zeros(u.shape[1]), 0.0, mode)
    if mode == "constant":
        return Detrended(u - u0, y - y0, u0, y0, mode)
    return Detrended(
        scipy.signal.detrend(u, axis=0, type="linear"), scipy.signal.detrend(y, type="linear"), u0, y0, mode
    )


def _detrend_xp(xp, u, y, mode: str) -> Detrended:
    """:func:`detrend` in a non-NumPy namespace: the signals stay there, only the means come to the host."""
    u0_d, y0_d = xp.mean(u, axis=0), xp.mean(y)
    u0, y0 = to_numpy(u0_d), float(y0_d)
    if mode == "none":
        return Detrended(u, y, np.zeros(u.shape[1]), 0.0, mode)
    if mode == "constant":
        return Detrended(u - u0_d, y - y0_d, u0, y0, mode)
    # least-squares line a + b t on a centred time axis (what scipy.signal.detrend(type="linear") removes)
    t = xp.arange(u.shape[0], dtype=u.dtype)
    t = t - xp.mean(t)
    tt = xp.sum(t * t)
    uc, yc = u - u0_d, y - y0_d
    ub = xp.sum(t[:, None] * uc, axis=0) / tt if u.shape[0] > 1 else xp.zeros_like(u0_d)
    yb = xp.sum(t * yc) / tt if u.shape[0] > 1 else 0.0
    return Detrended(uc - t[:, None] * ub, yc - t * yb, u0, y0, mode)


def _offset_t(x: np.ndarray, batches: int = 10) -> float:
    """``|mean| / se`` with the standard error from batch means (robust to autocorrelation)."""
    n = x.shape[0] // batches
    means = x[: n * batches].reshape(batches, n).mean(axis=1)
    se = means.std(ddof=1) / np.sqrt(batches)
    m = abs(float(x.mean()))
    return np.inf if se == 0 and m > 0 else (0.0 if m == 0 else m / se)


def significant_offsets(u, y, *, t_threshold: float = 4.0, rel_threshold: float = 0.05) -> list:
    """Names of the signals (``"u[i]"``, ``"y"``) whose mean is significant.

    A mean counts as significant when it is both statistically clear (``|mean| >
    t_threshold`` standard errors, the standard error estimated from 10 batch
    means so that coloured signals are not flagged by chance; about 0.3 % false
    alarms on zero-mean data) and large enough to matter (``|mean| >
    rel_threshold * std``).  Records shorter than 20 samples are not checked.

    Parameters
    ----------
    u : array of shape (N, m)
    y : array of shape (N,)

    Returns
    -------
    list of str

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> u = rng.standard_normal((500, 1)); y = rng.standard_normal(500)
    >>> significant_offsets(u, y), significant_offsets(u + 5, y + 20)
    ([], ['u[0]', 'y'])
    """
    xp = array_namespace(u, y)
    if y.shape[0] < 20:
        return []
    if not is_numpy(xp):
        return _significant_offsets_xp(xp, u, y, t_threshold, rel_threshold)
    u = np.asarray(u, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    cols = [(f"u[{i}]", u[:, i]) for i in range(u.shape[1])] + [("y", y)]
    return [name for name, x in cols if _offset_t(x) > t_threshold and abs(x.mean()) > rel_threshold * x.std()]


def _significant_offsets_xp(xp, u, y, t_threshold, rel_threshold) -> list:
    """:func:`significant_offsets` on the device: only batch means and moments (scalars) come to the host."""
    cols = [(f"u[{i}]", u[:, i]) for i in range(u.shape[1])] + [("y", y)]
    out = []
    for name, x in cols:
        n = x.shape[0] // 10
        means = to_numpy(xp.mean(xp.reshape(x[: n * 10], (10, n)), axis=1))
        se = means.std(ddof=1) / np.sqrt(10)
        m, sd = abs(float(xp.mean(x))), float(xp.std(x))
        t = np.inf if se == 0 and m > 0 else (0.0 if m == 0 else m / se)
        if t > t_threshold and m > rel_threshold * sd:
            out.append(name)
    return out


@dataclass(frozen=True)
class Records:
    """Experiments ready for estimation (see :func:`prepare_records`).

    Attributes
    ----------
    records : list of (ndarray of shape (N_r, m), ndarray of shape (N_r,))
        Detrended input and output of each experiment.
    input_offset : ndarray of shape (m,)
        Length-weighted mean of the input means removed (zeros for ``"none"``).
    output_offset : float
        Length-weighted mean of the output means removed.
    """

    records: list
    input_offset: np.ndarray
    output_offset: float


def _float64(xp, x):
    """``x`` as float64 (a C-contiguous ``ndarray`` for NumPy, as before), in its namespace."""
    if is_numpy(xp):
        return np.asarray(x, dtype=np.float64)
    return x if x.dtype == xp.float64 else xp.astype(x, xp.float64)


def _several(u, y) -> bool:
    """Lists of NumPy arrays (not nested lists of numbers) mean several experiments."""
    return isinstance(y, (list, tuple)) and len(y) > 0 and all(hasattr(v, "shape") and np.ndim(v) >= 1 for v in y)


def prepare_records(u, y, mode: str = "none") -> Records:
    """Validate one record or a list of experiments, detrend each on its own, flag offsets.

    Parameters
    ----------
    u : array of shape (N,) or (N, m), or list of such arrays
    y : array of shape (N,) or (N, 1), or list of such arrays
        Several experiments are given as lists of NumPy arrays of equal length.
    mode : {"none", "constant", "linear"}
        Detrending (see :func:`detrend`); with ``"none"`` a :class:`DataWarning`
        names the signals whose means are significant (:func:`significant_offsets`).

    Returns
    -------
    Records

    Examples
    --------
    >>> import numpy as np
    >>> r = prepare_records([np.arange(4.0), np.ones(3) + [0, 1, 2]], [np.zeros(4), np.ones(3)], "constant")
    >>> len(r.records), r.records[1][0].ravel().tolist(), r.input_offset.tolist()
    (2, [-1.0, 0.0, 1.0], [1.7142857142857142])
    """
    several = _several(u, y)
    if several and (not isinstance(u, (list, tuple)) or len(u) != len(y)):
        raise ValueError(f"u: with several experiments give u and y as lists of the same length, got {len(y)} outputs")
    records, weights = [], []
    for k, (uk, yk) in enumerate(zip(u, y, strict=True) if several else [(u, y)]):
        name = f" (experiment {k})" if several else ""
        uk = check_array(uk, f"u{name}", ndim=(1, 2), dtype=None)
        xp = array_namespace(uk)
        uk = _float64(xp, uk)
        uk = xp.reshape(uk, (uk.shape[0], -1))
        yk = _float64(xp, check_array(yk, f"y{name}", ndim=(1, 2), xp=xp, dtype=xp.float64))
        if yk.ndim == 2 and yk.shape[1] == 1:
            yk = yk[:, 0]
        if yk.ndim != 1 or yk.shape[0] != uk.shape[0]:
            raise ValueError(f"y{name} must have shape ({uk.shape[0]},) like u, got {yk.shape}")
        d = detrend(uk, yk, mode)
        if mode == "none":
            flagged = significant_offsets(uk, yk)
            if flagged:
                warnings.warn(
                    f"significant offsets in {', '.join(flagged)}{name}: the FIR model has no "
                    "constant term and would read them as dynamics; pass detrend='constant' "
                    "(or 'linear' for drifts) unless the record starts from rest at zero "
                    "(e.g. a step test)",
                    DataWarning,
                    stacklevel=4,
                )
        records.append((d.u, d.y))
        weights.append((uk.shape[0], d.input_offset, d.output_offset))
    total = sum(w[0] for w in weights)
    return Records(records, sum(w[0] * w[1] for w in weights) / total, float(sum(w[0] * w[2] for w in weights) / total))
