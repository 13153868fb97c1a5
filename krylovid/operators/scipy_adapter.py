"""Adapters between krylovid operators and ``scipy.sparse.linalg.LinearOperator``."""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla

from ..backend import is_numpy, numpy_namespace
from .base import LinearOperator

__all__ = ["FromScipy", "to_scipy"]


class FromScipy(LinearOperator):
    """A SciPy ``LinearOperator`` or sparse matrix as a krylovid operator (NumPy only).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> op = FromScipy(sp.diags([1.0, 2.0, 3.0]), symmetric=True)
    >>> op.shape, op.matvec(np.ones(3)).tolist()
    ((3, 3), [1.0, 2.0, 3.0])
    """

    def __init__(self, A, *, symmetric: bool = False):
        self.A = spla.aslinearoperator(A)
        dtype = np.result_type(self.A.dtype, np.float64) if self.A.dtype.kind != "f" else self.A.dtype
        if np.dtype(dtype).kind == "c":
            raise TypeError("A: complex operators are not supported")
        super().__init__(self.A.shape, dtype, numpy_namespace(), symmetric=symmetric)

    def _matmat(self, X):
        return np.asarray(self.A.matmat(np.asarray(X)))

    def _rmatmat(self, X):
        return np.asarray(self.A.rmatmat(np.asarray(X)))


def to_scipy(op: LinearOperator):
    """A ``scipy.sparse.linalg.LinearOperator`` view of a NumPy-backed krylovid operator.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.sparse.linalg import cg as scipy_cg
    >>> from krylovid.operators import Dense
    >>> A = to_scipy(Dense(np.diag([1.0, 2.0, 4.0]), symmetric=True))
    >>> x, status = scipy_cg(A, np.ones(3), rtol=1e-12)
    >>> status, np.round(x, 6).tolist()
    (0, [1.0, 0.5, 0.25])
    """
    if not is_numpy(op.xp):
        raise TypeError("op: only NumPy-backed operators can be handed to SciPy")
    return spla.LinearOperator(
        op.shape,
        dtype=op.dtype,
        matvec=lambda x: op.matvec(np.asarray(x).reshape(-1)),
        rmatvec=lambda x: op.rmatvec(np.asarray(x).reshape(-1)),
        matmat=op.matmat,
        rmatmat=op.rmatmat,
    )
