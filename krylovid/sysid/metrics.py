"""Accuracy metrics for estimated impulse responses (DESIGN §2)."""

from __future__ import annotations

from .._validation import check_array
from ..backend import array_namespace

__all__ = ["fit", "rmse"]


def _pair(g0, g):
    xp = array_namespace(g0, g)
    g0 = check_array(g0, "g0", ndim=1, xp=xp, dtype=xp.float64)
    g = check_array(g, "g", ndim=1, xp=xp, dtype=xp.float64)
    if g.shape != g0.shape:
        raise ValueError(f"g must have the same shape as g0: {tuple(g0.shape)} vs {tuple(g.shape)}")
    return xp, g0, g


def fit(g0, g) -> float:
    """Fit in percent: ``100 * (1 - ||g0 - g|| / ||g0 - mean(g0)||)``.

    Parameters
    ----------
    g0 : array of shape (n,)
        True impulse response (not constant).
    g : array of shape (n,)
        Estimate.

    Returns
    -------
    float
        100 for a perfect estimate, 0 for the constant ``mean(g0)``, negative when worse.

    Examples
    --------
    >>> fit([1.0, 0.5, 0.25], [1.0, 0.5, 0.25])
    100.0
    """
    xp, g0, g = _pair(g0, g)
    den = float(xp.linalg.vector_norm(g0 - xp.mean(g0)))
    if den == 0.0:
        raise ValueError("g0 is constant: the fit is undefined")
    return 100.0 * (1.0 - float(xp.linalg.vector_norm(g0 - g)) / den)


def rmse(g0, g) -> float:
    """Root-mean-square error ``sqrt(mean((g0 - g)^2))``.

    Examples
    --------
    >>> rmse([0.0, 0.0], [3.0, 4.0]) == (12.5) ** 0.5
    True
    """
    xp, g0, g = _pair(g0, g)
    return float(xp.sqrt(xp.mean((g0 - g) ** 2)))
