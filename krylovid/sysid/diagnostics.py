"""Model validation: residual analysis (MATLAB ``resid``) and fit on validation data (``compare``).

* :func:`residual_analysis` — the normalized autocorrelation of the residuals
  ``e = y - y_hat`` for lags ``0..M`` and their cross-correlation with each
  input for lags ``-M..M``, each with its confidence limit under the
  hypothesis that the model is right (white residuals, independent of past
  inputs);
* :func:`compare_fit` — the normalized-RMSE fit ``100 (1 - ||y - y_hat|| /
  ||y - mean(y)||)`` of a prediction (MATLAB ``compare``).

Correlations use the biased estimate ``r_xy(tau) = (1/N) sum_t x(t + tau) y(t)``
normalized by ``sqrt(r_xx(0) r_yy(0))``.  Under the null hypothesis

* ``rho_e(tau)``, ``tau >= 1``, is approximately ``N(0, 1/N)``;
* ``rho_eu(tau)`` has variance ``(1/N) sum_k rho_e(k) rho_u(k)`` (Bartlett,
  summed over ``|k| <= M``), which is ``1/N`` when either signal is white.

The limits are ``z * sqrt(variance)`` with ``z`` the two-sided normal
quantile of ``confidence`` (99 % by default, as MATLAB).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.stats import norm

__all__ = ["ResidualAnalysis", "CompareResult", "residual_analysis", "compare_fit", "correlation"]


@dataclass(frozen=True)
class ResidualAnalysis:
    """Outcome of :func:`residual_analysis`.

    Attributes
    ----------
    residuals : ndarray of shape (N,)
        ``y - y_hat`` on the rows used.
    lags : ndarray of shape (M + 1,)
        ``0..M`` for the autocorrelation.
    autocorrelation : ndarray of shape (M + 1,)
        ``rho_e(tau)``; ``rho_e(0) = 1``.
    autocorrelation_limit : float
        ``z / sqrt(N)``.
    cross_lags : ndarray of shape (2 M + 1,)
        ``-M..M``; positive lags: the residual follows the input.
    cross_correlation : ndarray of shape (m, 2 M + 1)
        ``rho_{e u_i}(tau)``.
    cross_correlation_limit : ndarray of shape (m,)
    confidence : float
    white : bool
        All autocorrelations at lags ``1..M`` inside their limit.
    independent : bool
        All cross-correlations at lags ``0..M`` inside their limit (negative lags
        reflect feedback, not model error, and are not counted).
    sample_time : float
    """

    residuals: np.ndarray
    lags: np.ndarray
    autocorrelation: np.ndarray
    autocorrelation_limit: float
    cross_lags: np.ndarray
    cross_correlation: np.ndarray
    cross_correlation_limit: np.ndarray
    confidence: float
    white: bool
    independent: bool
    sample_time: float = 1.0


@dataclass(frozen=True)
class CompareResult:
    """Outcome of :func:`compare_fit`.

    Attributes
    ----------
    time : ndarray of shape (N,)
    y, y_hat : ndarray of shape (N,)
        Measured and simulated output.
    fit : float
        ``100 (1 - ||y - y_hat|| / ||y - mean(y)||)`` in percent.
    """

    time: np.ndarray
    y: np.ndarray
    y_hat: np.ndarray
    fit: float


def correlation(x, y, max_lag: int) -> np.ndarray:
    """Biased cross-covariance ``r(tau) = (1/N) sum_t x(t + tau) y(t)`` for ``tau = -max_lag..max_lag``.

    Computed with one FFT product, ``O(N log N)``.

    Examples
    --------
    >>> import numpy as np
    >>> correlation(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0]), 1).tolist()
    [0.0, 0.3333333333333333, 0.6666666666666666]
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    N = x.shape[0]
    L = next_fast_len(2 * N - 1, real=True)
    full = irfft(rfft(x, L) * np.conj(rfft(y, L)), L)  # full[tau] = sum_t x(t+tau) y(t)
    taus = np.arange(-max_lag, max_lag + 1)
    out = np.where(np.abs(taus) < N, full[taus % L], 0.0)
    return out / N


def residual_analysis(
    residuals, u, *, max_lag: int = 25, confidence: float = 0.99, sample_time: float = 1.0
) -> ResidualAnalysis:
    """Whiteness of the residuals and their independence from the inputs (see module notes).

    Parameters
    ----------
    residuals : array of shape (N,)
    u : array of shape (N,) or (N, m)
        The inputs on the same rows.
    max_lag : int
        ``M`` (MATLAB's default 25).
    confidence : float
        Probability of each limit, in (0, 1).
    sample_time : float

    Returns
    -------
    ResidualAnalysis

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ra = residual_analysis(rng.standard_normal(2000), rng.standard_normal(2000))
    >>> ra.white, ra.independent
    (True, True)
    """
    e = np.asarray(residuals, dtype=np.float64).ravel()
    u2 = np.asarray(u, dtype=np.float64)
    u2 = u2[:, None] if u2.ndim == 1 else u2
    N = e.shape[0]
    if u2.shape[0] != N:
        raise ValueError(f"u must have as many rows as the residuals ({N}), got {u2.shape[0]}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    M = int(max_lag)
    if not 1 <= M < N:
        raise ValueError(f"max_lag must lie in [1, N - 1] = [1, {N - 1}], got {max_lag!r}")
    z = float(norm.ppf(0.5 + confidence / 2))
    e = e - e.mean()
    re = correlation(e, e, M)
    re0 = re[M]
    if not re0 > 0:
        raise ValueError("residuals are identically zero: nothing to analyse")
    rho_e = re[M:] / re0
    cross, limits = [], []
    for i in range(u2.shape[1]):
        ui = u2[:, i] - u2[:, i].mean()
        ru = correlation(ui, ui, M)
        rho_u = ru / ru[M] if ru[M] > 0 else np.zeros_like(ru)
        cross.append(correlation(e, ui, M) / np.sqrt(re0 * ru[M]) if ru[M] > 0 else np.zeros(2 * M + 1))
        var = float(np.sum(re / re0 * rho_u)) / N  # Bartlett, truncated at |k| <= M
        var = var if var > 0 else 1.0 / N
        limits.append(z * np.sqrt(var))
    cross, limits = np.array(cross), np.array(limits)
    lim_e = z / np.sqrt(N)
    white = bool(np.all(np.abs(rho_e[1:]) <= lim_e))
    independent = bool(np.all(np.abs(cross[:, M:]) <= limits[:, None]))
    return ResidualAnalysis(
        e,
        np.arange(M + 1),
        rho_e,
        lim_e,
        np.arange(-M, M + 1),
        cross,
        limits,
        float(confidence),
        white,
        independent,
        float(sample_time),
    )


def compare_fit(y, y_hat, *, sample_time: float = 1.0) -> CompareResult:
    """Normalized-RMSE fit of a simulated output ``y_hat`` to the measured ``y`` (MATLAB ``compare``).

    Examples
    --------
    >>> import numpy as np
    >>> round(compare_fit(np.array([0.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0])).fit, 6)
    50.0
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    y_hat = np.asarray(y_hat, dtype=np.float64).ravel()
    if y.shape != y_hat.shape:
        raise ValueError(f"y and y_hat must have the same length, got {y.shape[0]} and {y_hat.shape[0]}")
    den = np.linalg.norm(y - y.mean())
    fit = 100.0 * (1.0 - np.linalg.norm(y - y_hat) / den) if den > 0 else -np.inf
    return CompareResult(np.arange(y.shape[0]) * float(sample_time), y, y_hat, float(fit))
