"""The TC family: tuned/correlated (TC), high-frequency (HF) and diagonal (DI) kernels."""

from __future__ import annotations

import math

import numpy as np

from ...backend import diagonal, numpy_namespace, to_numpy
from .base import _BETA_GRID, Kernel, _cumsum, _geom_sum, _index, _pow, _rcumsum, ones_gram_diagonal

__all__ = ["TCKernel", "HFKernel", "DIKernel"]


class TCKernel(Kernel):
    """Tuned/correlated kernel ``Kbar[k, j] = beta^max(k, j)``.

    Notes
    -----
    ``Kbar = U D U^T`` with ``U`` the upper-triangular matrix of ones and
    ``D = diag(beta^k (1 - beta))`` for ``k < n``, ``D_nn = beta^n``; hence
    ``Kbar x`` = prefix sum, scaling by ``D``, suffix sum (``O(n)``),
    ``L = U D^{1/2}`` is a square root and
    ``log det Kbar = (n(n+1)/2) log beta + (n-1) log(1-beta)``.

    Examples
    --------
    >>> TCKernel().trace(3, {"beta": 0.5})
    0.875
    """

    name = "TC"
    param_names = ("beta",)
    bounds = {"beta": (0.0, 1.0)}
    fast_matmat = fast_sqrt = sqrt_triangular = True

    def default_grid(self, n=None):
        return [{"beta": b} for b in _BETA_GRID]

    def _d(self, n, beta, xp):
        k = _index(xp, n)
        d = _pow(xp, beta, k) * (1.0 - beta)
        return xp.where(k == n, _pow(xp, beta, k), d)

    def _dense(self, n, p):
        k = np.arange(1, n + 1, dtype=float)
        return p["beta"] ** np.maximum(k[:, None], k[None, :])

    def _matmat(self, n, p, X, xp):
        return _rcumsum(xp, self._d(n, p["beta"], xp)[:, None] * _cumsum(xp, X))

    def _sqrt_dense(self, n, p):
        s = np.sqrt(to_numpy(self._d(n, p["beta"], numpy_namespace())))
        return np.triu(np.ones((n, n))) * s[None, :]

    def _sqrt_matmat(self, n, p, X, xp):
        return _rcumsum(xp, xp.sqrt(self._d(n, p["beta"], xp))[:, None] * X)

    def _sqrt_rmatmat(self, n, p, X, xp):
        return xp.sqrt(self._d(n, p["beta"], xp))[:, None] * _cumsum(xp, X)

    def _trace(self, n, p):
        return _geom_sum(p["beta"], n)

    def _diagonal(self, n, p):
        return to_numpy(_pow(numpy_namespace(), p["beta"], _index(numpy_namespace(), n)))

    def _sqrt_gram_diagonal(self, n, p, M, ones_prefix):
        # L = U D^{1/2}: diag(L^T M L) = D * diag(U^T M U)
        S = ones_gram_diagonal(M) if ones_prefix is None else ones_prefix
        return to_numpy(self._d(n, p["beta"], numpy_namespace())) * S

    def _logdet(self, n, p):
        b = p["beta"]
        return 0.5 * n * (n + 1) * math.log(b) + (n - 1) * math.log1p(-b)


class HFKernel(TCKernel):
    """High-frequency kernel ``Kbar[k, j] = (-1)^(k+j) beta^max(k, j)``: ``S Kbar_TC S``, ``S = diag((-1)^k)``.

    Examples
    --------
    >>> HFKernel().dense(2, {"beta": 0.5}).tolist()
    [[0.5, -0.25], [-0.25, 0.25]]
    """

    name = "HF"

    @staticmethod
    def _sign(n, xp):
        return 2.0 * ((_index(xp, n) + 1.0) % 2.0) - 1.0

    def _dense(self, n, p):
        s = np.where(np.arange(1, n + 1) % 2 == 0, 1.0, -1.0)
        return s[:, None] * super()._dense(n, p) * s[None, :]

    def _matmat(self, n, p, X, xp):
        s = self._sign(n, xp)[:, None]
        return s * super()._matmat(n, p, s * X, xp)

    def _sqrt_dense(self, n, p):
        s = np.where(np.arange(1, n + 1) % 2 == 0, 1.0, -1.0)
        return s[:, None] * super()._sqrt_dense(n, p)

    def _sqrt_matmat(self, n, p, X, xp):
        return self._sign(n, xp)[:, None] * super()._sqrt_matmat(n, p, X, xp)

    def _sqrt_rmatmat(self, n, p, X, xp):
        return super()._sqrt_rmatmat(n, p, self._sign(n, xp)[:, None] * X, xp)

    def _sqrt_gram_diagonal(self, n, p, M, ones_prefix):
        return None  # L^T M L = L_TC^T (S M S) L_TC needs the prefix sums of S M S, not of M


class DIKernel(Kernel):
    """Diagonal kernel ``Kbar = diag(beta^k)``.

    Examples
    --------
    >>> DIKernel().dense(2, {"beta": 0.5}).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """

    name = "DI"
    param_names = ("beta",)
    bounds = {"beta": (0.0, 1.0)}
    fast_matmat = fast_sqrt = sqrt_triangular = True

    def default_grid(self, n=None):
        return [{"beta": b} for b in _BETA_GRID]

    def _diag(self, n, p, xp, half=False):
        return _pow(xp, p["beta"], _index(xp, n) * (0.5 if half else 1.0))

    def _dense(self, n, p):
        return np.diag(to_numpy(self._diag(n, p, numpy_namespace())))

    def _matmat(self, n, p, X, xp):
        return self._diag(n, p, xp)[:, None] * X

    def _sqrt_dense(self, n, p):
        return np.diag(to_numpy(self._diag(n, p, numpy_namespace(), half=True)))

    def _sqrt_matmat(self, n, p, X, xp):
        return self._diag(n, p, xp, half=True)[:, None] * X

    _sqrt_rmatmat = _sqrt_matmat

    def _diagonal(self, n, p):
        return to_numpy(self._diag(n, p, numpy_namespace()))

    def _sqrt_gram_diagonal(self, n, p, M, ones_prefix):
        diag_m = np.diag(M) if isinstance(M, np.ndarray) else to_numpy(diagonal(M))
        return to_numpy(self._diag(n, p, numpy_namespace())) * diag_m

    def _trace(self, n, p):
        return _geom_sum(p["beta"], n)

    def _logdet(self, n, p):
        return 0.5 * n * (n + 1) * math.log(p["beta"])
