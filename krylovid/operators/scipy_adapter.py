"""Adapters between krylovid operators and ``scipy.sparse.linalg.LinearOperator``."""

from __future__ import annotations

import numpy as np

from ..backend import is_numpy, numpy_namespace
from .base import LinearOperator

__all__ = ["FromScipy", "to_scipy"]


class FromScipy(LinearOperator):
    """A SciPy ``LinearOperator`` or sparse matrix as a krylovid operator (NumPy only)."""

    def __init__(self, A, *, symmetric: bool = False):
        import scipy.sparse.linalg as spla

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
    """A ``scipy.sparse.linalg.LinearOperator`` view of a NumPy-backed krylovid operator."""
    import scipy.sparse.linalg as spla

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
