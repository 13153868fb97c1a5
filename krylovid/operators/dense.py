"""Explicit operators: ``Dense`` (a stored matrix), ``Diagonal`` and ``Identity``."""

from __future__ import annotations

from .._validation import check_array
from ..backend import array_namespace
from .base import LinearOperator

__all__ = ["Dense", "Diagonal", "Identity"]


class Dense(LinearOperator):
    """A stored matrix ``M`` of shape ``(m, n)``.

    Parameters
    ----------
    M : array of shape (m, n)
        The matrix (NumPy, CuPy or any array-API array).
    symmetric : bool, optional
        Declare ``M`` symmetric.  Default: detected for square ``M``
        (exact equality ``M == M^T``).

    Examples
    --------
    >>> import numpy as np
    >>> A = Dense(np.array([[2.0, 1.0], [1.0, 3.0]]))
    >>> A.symmetric
    True
    """

    def __init__(self, M, *, symmetric: bool | None = None):
        M = check_array(M, "M", ndim=2, min_size=0)
        xp = array_namespace(M)
        if symmetric is None:
            symmetric = M.shape[0] == M.shape[1] and bool(xp.all(M == M.T))
        self.M = M
        super().__init__(M.shape, M.dtype, xp, symmetric=symmetric)

    def _matmat(self, X):
        return self.M @ X

    def _rmatmat(self, X):
        return self.M.T @ X

    def to_dense(self):
        return self.M


class Diagonal(LinearOperator):
    """``diag(d)`` for a vector ``d`` of shape ``(n,)``.

    Examples
    --------
    >>> import numpy as np
    >>> Diagonal(np.array([1.0, 2.0])).matmat(np.ones((2, 2))).tolist()
    [[1.0, 1.0], [2.0, 2.0]]
    """

    def __init__(self, d):
        d = check_array(d, "d", ndim=1)
        self.d = d
        super().__init__((d.shape[0], d.shape[0]), d.dtype, array_namespace(d), symmetric=True)

    def _matmat(self, X):
        return self.d[:, None] * X

    def to_dense(self):
        # eye * d broadcasts d along the columns: no fancy-index assignment,
        # which array-api-strict (and the standard) do not support.
        return self.xp.eye(self.shape[0], dtype=self.dtype) * self.d[None, :]


class Identity(LinearOperator):
    """The ``n x n`` identity.

    Examples
    --------
    >>> import numpy as np
    >>> Identity(3).matvec(np.arange(3.0)).tolist()
    [0.0, 1.0, 2.0]
    """

    def __init__(self, n: int, *, xp=None, dtype=None):
        super().__init__((n, n), dtype, xp, symmetric=True)

    def _matmat(self, X):
        return X
