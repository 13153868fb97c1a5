"""Spline kernels: stable spline (SS) and cubic spline (CS)."""

from __future__ import annotations

import numpy as np

from ...backend import numpy_namespace, to_numpy
from .base import _BETA_GRID, Kernel, _cumsum, _geom_sum, _index, _pow, _rcumsum

__all__ = ["SSKernel", "CSKernel"]


class SSKernel(Kernel):
    """Stable-spline kernel ``Kbar[k, j] = beta^(k+j+m)/2 - beta^(3m)/6``, ``m = max(k, j)``.

    Notes
    -----
    For ``j < k``: ``Kbar = (beta^(2k)/2) beta^j - beta^(3k)/6``; for ``j >= k``:
    ``Kbar = (beta^k/2) beta^(2j) - beta^(3j)/6``.  So ``Kbar x`` needs two
    exclusive prefix sums (of ``beta^j x_j`` and ``x_j``) and two suffix sums
    (of ``beta^(2j) x_j`` and ``beta^(3j) x_j``): ``O(n)``, and every factor is
    a power ``<= 1`` (no overflow).  The kernel is extremely ill-conditioned
    (``lambda_min / lambda_max ~ 1e-20`` at ``n = 60``, ``beta = 0.8``): its square root is the clipped
    eigendecomposition, never a plain Cholesky factor.

    Examples
    --------
    >>> round(float(SSKernel().dense(1, {"beta": 0.5})[0, 0]), 12)  # beta^3 / 3
    0.041666666667
    """

    name = "SS"
    param_names = ("beta",)
    bounds = {"beta": (0.0, 1.0)}
    fast_matmat = True

    def default_grid(self, n=None):
        return [{"beta": b} for b in _BETA_GRID]

    def _dense(self, n, p):
        b = p["beta"]
        k = np.arange(1, n + 1, dtype=float)
        m = np.maximum(k[:, None], k[None, :])
        return b ** (k[:, None] + k[None, :] + m) / 2 - b ** (3 * m) / 6

    def _matmat(self, n, p, X, xp):
        b, k = p["beta"], _index(xp, n)[:, None]
        b1, b2, b3 = _pow(xp, b, k), _pow(xp, b, 2 * k), _pow(xp, b, 3 * k)
        p1 = _cumsum(xp, b1 * X) - b1 * X
        p0 = _cumsum(xp, X) - X
        s2 = _rcumsum(xp, b2 * X)
        s3 = _rcumsum(xp, b3 * X)
        return (b2 * p1 + b1 * s2) / 2 - (b3 * p0 + s3) / 6

    def _trace(self, n, p):
        return _geom_sum(p["beta"] ** 3, n) / 3

    def _diagonal(self, n, p):
        return to_numpy(_pow(numpy_namespace(), p["beta"], 3.0 * _index(numpy_namespace(), n))) / 3.0


class CSKernel(Kernel):
    """Cubic-spline kernel ``Kbar[k, j] = k j min(k,j)/2 - min(k,j)^3/6`` (no shape parameter).

    Notes
    -----
    For ``j < k``: ``(k/2) j^2 - j^3/6``; for ``j >= k``: ``(k^2/2) j - k^3/6``:
    running sums give ``O(n)`` products.

    Examples
    --------
    >>> CSKernel().dense(2, {}).round(12).tolist()
    [[0.333333333333, 0.833333333333], [0.833333333333, 2.666666666667]]
    """

    name = "CS"
    fast_matmat = True

    def _dense(self, n, p):
        k = np.arange(1, n + 1, dtype=float)
        m = np.minimum(k[:, None], k[None, :])
        return k[:, None] * k[None, :] * m / 2 - m**3 / 6

    def _matmat(self, n, p, X, xp):
        k = _index(xp, n)[:, None]
        p2 = _cumsum(xp, k * k * X) - k * k * X
        p3 = _cumsum(xp, k**3 * X) - k**3 * X
        s1 = _rcumsum(xp, k * X)
        s0 = _rcumsum(xp, X)
        return (k * p2 + k * k * s1) / 2 - (p3 + k**3 * s0) / 6

    def _trace(self, n, p):
        return (n * (n + 1) / 2) ** 2 / 3

    def _diagonal(self, n, p):
        k = np.arange(1, n + 1, dtype=float)
        return k**3 / 3.0
