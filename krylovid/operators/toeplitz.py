"""``Toeplitz``: a Toeplitz matrix applied by FFT (circulant embedding).

``T[i, j] = c[i - j]`` for ``i >= j`` and ``r[j - i]`` for ``j > i``, shape
``(m, n)`` for any ``m`` and ``n``.  A block of ``k`` columns costs
``O(k (m + n) log(m + n))``; the transpose is the matching correlation and uses
the same precomputed spectrum (conjugated).
"""

from __future__ import annotations

from scipy.fft import next_fast_len

from .._validation import check_array
from ..backend import array_namespace, asarray, irfft, rfft
from .base import LinearOperator

__all__ = ["Toeplitz"]


class Toeplitz(LinearOperator):
    """Toeplitz operator from its first column and first row.

    Parameters
    ----------
    c : array of shape (m,)
        First column.
    r : array of shape (n,), optional
        First row; ``r[0]`` is ignored (``c[0]`` is the diagonal).  Default
        ``c`` itself (a symmetric Toeplitz matrix).

    Notes
    -----
    ``T`` is the top-left ``m x n`` block of the circulant ``C`` of order
    ``L >= m + n - 1`` with first column ``[c, 0, ..., 0, r[n-1], ..., r[1]]``;
    ``C = F^* diag(lam) F``, so ``T x = (C [x; 0])[:m]`` and
    ``T^T y = (C^T [y; 0])[:n]`` with ``C^T = F^* diag(conj(lam)) F``.

    Examples
    --------
    >>> import numpy as np
    >>> T = Toeplitz(np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0]))
    >>> T.to_dense().round(12).tolist()
    [[1.0, 4.0], [2.0, 1.0], [3.0, 2.0]]
    """

    def __init__(self, c, r=None):
        c = check_array(c, "c", ndim=1)
        symmetric = r is None
        r = c if r is None else check_array(r, "r", ndim=1, xp=array_namespace(c), dtype=c.dtype)
        xp = array_namespace(c)
        m, n = c.shape[0], r.shape[0]
        self.c, self.r = c, r
        self.fft_len = next_fast_len(m + n - 1, real=True)
        col = xp.zeros(self.fft_len, dtype=c.dtype)
        col[:m] = c
        if n > 1:
            col[self.fft_len - n + 1 :] = xp.flip(r[1:])
        self._spec = rfft(col)
        self._spec_conj = xp.conj(self._spec)
        super().__init__((m, n), c.dtype, xp, symmetric=symmetric and m == n)

    def _apply(self, X, spec, rows):
        Xf = rfft(X, n=self.fft_len, axis=0)
        return irfft(spec[:, None] * Xf, n=self.fft_len, axis=0)[:rows, :]

    def _matmat(self, X):
        return self._apply(X, self._spec, self.shape[0])

    def _rmatmat(self, X):
        return self._apply(X, self._spec_conj, self.shape[1])

    def to_dense(self):
        xp = self.xp
        m, n = self.shape
        i = xp.arange(m)[:, None]
        j = xp.arange(n)[None, :]
        d = i - j
        lower = xp.take(self.c, xp.reshape(xp.clip(d, 0, m - 1), (-1,)))
        upper = xp.take(self.r, xp.reshape(xp.clip(-d, 0, n - 1), (-1,)))
        out = xp.where(xp.reshape(d >= 0, (-1,)), lower, upper)
        return asarray(xp.reshape(out, (m, n)), xp, dtype=self.dtype)
