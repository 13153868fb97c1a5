"""Correlated kernels: diagonal/correlated (DC) and squared-exponential (SE)."""

from __future__ import annotations

import math

import numpy as np

from ...backend import numpy_namespace, to_numpy
from .base import _BETA_GRID, Kernel, _ar1_filter, _geom_sum, _index, _pow

__all__ = ["DCKernel", "SEKernel"]


class DCKernel(Kernel):
    """Diagonal/correlated kernel ``Kbar[k, j] = alpha^((k+j)/2) rho^|k-j|``.

    Notes
    -----
    ``Kbar = D_a T D_a`` with ``D_a = diag(alpha^(k/2))`` and ``T`` the AR(1)
    (Kac–Murdock–Szegő) matrix ``T[k, j] = rho^|k-j|``.  ``T x = f + b - x``
    with the forward filter ``f_k = x_k + rho f_{k-1}`` and the backward
    filter ``b_k = x_k + rho b_{k+1}``, both stable for ``|rho| < 1``.  The
    Cholesky factor of ``T`` is ``(I - rho S)^{-1} G`` (``S`` the down-shift,
    ``G = diag(1, s, ..., s)``, ``s = sqrt(1 - rho^2)``), so
    ``L = D_a (I - rho S)^{-1} G`` and
    ``log det Kbar = (n(n+1)/2) log alpha + (n-1) log(1 - rho^2)``.

    Examples
    --------
    >>> DCKernel().dense(2, {"alpha": 0.25, "rho": 0.5}).round(12).tolist()
    [[0.25, 0.0625], [0.0625, 0.0625]]
    """

    name = "DC"
    param_names = ("alpha", "rho")
    bounds = {"alpha": (0.0, 1.0), "rho": (-1.0, 1.0)}
    fast_matmat = fast_sqrt = True

    def default_grid(self, n=None):
        return [{"alpha": a, "rho": r} for a in _BETA_GRID for r in (-0.5, 0.0, 0.5, 0.9)]

    @staticmethod
    def _a(n, p, xp):
        return _pow(xp, p["alpha"], 0.5 * _index(xp, n))

    @staticmethod
    def _g(n, p, xp):
        rho = p["rho"]
        s = math.sqrt((1.0 - rho) * (1.0 + rho))
        return xp.concat([xp.ones(1, dtype=xp.float64), xp.full(n - 1, s, dtype=xp.float64)])

    def _dense(self, n, p):
        k = np.arange(1, n + 1, dtype=float)
        return p["alpha"] ** ((k[:, None] + k[None, :]) / 2) * p["rho"] ** np.abs(k[:, None] - k[None, :])

    def _matmat(self, n, p, X, xp):
        a = self._a(n, p, xp)[:, None]
        Y = a * X
        TY = _ar1_filter(xp, Y, p["rho"]) + _ar1_filter(xp, Y, p["rho"], reverse=True) - Y
        return a * TY

    def _sqrt_dense(self, n, p):
        nx = numpy_namespace()
        k = np.arange(n)
        expo = np.tril(k[:, None] - k[None, :])
        lower = np.tril(p["rho"] ** expo)
        return to_numpy(self._a(n, p, nx))[:, None] * lower * to_numpy(self._g(n, p, nx))[None, :]

    def _sqrt_matmat(self, n, p, X, xp):
        return self._a(n, p, xp)[:, None] * _ar1_filter(xp, self._g(n, p, xp)[:, None] * X, p["rho"])

    def _sqrt_rmatmat(self, n, p, X, xp):
        Y = _ar1_filter(xp, self._a(n, p, xp)[:, None] * X, p["rho"], reverse=True)
        return self._g(n, p, xp)[:, None] * Y

    def _trace(self, n, p):
        return _geom_sum(p["alpha"], n)

    def _diagonal(self, n, p):
        return to_numpy(_pow(numpy_namespace(), p["alpha"], _index(numpy_namespace(), n)))

    def _logdet(self, n, p):
        return 0.5 * n * (n + 1) * math.log(p["alpha"]) + (n - 1) * math.log1p(-(p["rho"] ** 2))


class SEKernel(Kernel):
    """Squared-exponential (Gaussian) kernel ``Kbar[k, j] = exp(-(k-j)^2 / (2 h^2))``.

    Notes
    -----
    Toeplitz: ``matmat`` uses :class:`~krylovid.operators.Toeplitz` (FFT
    circulant embedding) for ``n > 64`` and a dense product below.

    Examples
    --------
    >>> SEKernel().trace(4, {"h": 2.0})
    4.0
    """

    name = "SE"
    param_names = ("h",)
    bounds = {"h": (0.0, math.inf)}
    fast_matmat = True

    def default_grid(self, n=None):
        n = 50 if n is None else int(n)
        # short bandwidths too: h -> 0 is the ridge (white) prior, often the optimum of a non-smooth response,
        # and F is multimodal in h (a fit from the relative grid alone ended at h = 0.4 n with F 38 % above it)
        hs = sorted({0.5, 1.0, 2.0} | {max(0.5, f * n) for f in (0.02, 0.05, 0.1, 0.2, 0.4)})
        return [{"h": h} for h in hs]

    def _dense(self, n, p):
        k = np.arange(n, dtype=float)
        return np.exp(-((k[:, None] - k[None, :]) ** 2) / (2 * p["h"] ** 2))

    def _matmat(self, n, p, X, xp):
        if n <= 64:
            return super()._matmat(n, p, X, xp)
        from ...operators import Toeplitz

        d = xp.arange(n, dtype=xp.float64)
        return Toeplitz(xp.exp(-(d * d) / (2 * p["h"] ** 2))).matmat(X)

    def _trace(self, n, p):
        return float(n)

    def _diagonal(self, n, p):
        return np.ones(n)
