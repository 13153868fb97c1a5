"""Shared input handling for the Krylov solvers, and :class:`ConvergenceWarning`.

Every solver of :mod:`krylovid.krylov` accepts a square operator (a
:class:`~krylovid.operators.LinearOperator` or a 2-D array) and one vector or a
block of vectors.  The helpers here turn that input into an operator and a
floating array of the operator's namespace, or raise a ``ValueError`` /
``TypeError`` naming the argument (DESIGN section 6).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array
from ..backend import array_namespace, eps, to_numpy
from ..operators import LinearOperator, aslinearoperator, is_scipy_operator

__all__ = [
    "ConvergenceWarning",
    "prepare_operator",
    "prepare_vector",
    "prepare_block",
    "vector_norm",
    "working_dtype",
    "machine_eps",
    "host",
]

#: Relative asymmetry above which a dense ``A`` is refused by the symmetric solvers.
_SYMMETRY_TOL = 1e-10


class ConvergenceWarning(RuntimeWarning):
    """An iterative method stopped (budget, breakdown) without meeting its tolerance."""


def prepare_operator(A, name: str = "A", *, symmetric: bool = True) -> LinearOperator:
    """``A`` as a square :class:`LinearOperator`.

    Arrays are wrapped by :func:`~krylovid.operators.aslinearoperator`; when
    ``symmetric`` is requested and ``A`` is a stored matrix, its symmetry is
    checked (relative to its largest entry) since the symmetric methods
    silently give wrong answers otherwise.  Abstract operators are trusted.
    """
    if A is None:
        raise TypeError(f"{name} is required, got None")
    if not isinstance(A, LinearOperator):
        if not hasattr(A, "shape"):
            raise TypeError(f"{name} must be a LinearOperator or a 2-D array, got {type(A).__name__}")
        if len(A.shape) != 2:
            raise ValueError(f"{name} must be 2-dimensional, got shape {tuple(A.shape)}")
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"{name} must be square, got shape {tuple(A.shape)}")
        if symmetric and hasattr(A, "dtype") and not is_scipy_operator(A):
            _check_dense_symmetric(A, name)
        try:
            A = aslinearoperator(A, symmetric=True if symmetric else None)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be square, got shape {A.shape}")
    if A.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {A.shape})")
    return A


def _check_dense_symmetric(M, name: str) -> None:
    M = check_array(M, name, ndim=2)
    xp = array_namespace(M)
    scale = float(xp.max(xp.abs(M)))
    asym = float(xp.max(xp.abs(M - M.T)))
    if asym > _SYMMETRY_TOL * max(scale, np.finfo(np.float64).tiny):
        raise ValueError(f"{name} must be symmetric (max |A - A^T| = {asym:.3g}, max |A| = {scale:.3g})")


def working_dtype(op: LinearOperator, x):
    """float32 only when both the operator and the vector are float32, else float64."""
    xp = op.xp
    both32 = str(op.dtype) == "float32" and str(getattr(x, "dtype", "")) == "float32"
    return xp.float32 if both32 else xp.float64


def prepare_vector(b, n: int, xp, name: str = "b", *, allow_zero: bool = False, dtype=None):
    """``b`` as a finite 1-D float array of namespace ``xp`` and length ``n``."""
    b = check_array(b, name, ndim=1, xp=xp, dtype=dtype)
    if b.shape[0] != n:
        raise ValueError(f"{name} must have length {n} to match the operator, got {b.shape[0]}")
    if not allow_zero and not bool(xp.any(b != 0)):
        raise ValueError(f"{name} is the zero vector: the Krylov space it generates is empty")
    return b


def prepare_block(B, n: int, xp, name: str = "B", *, dtype=None):
    """``B`` as a finite 2-D float array ``(n, k)`` of namespace ``xp`` (1-D -> one column)."""
    B = check_array(B, name, ndim=(1, 2), xp=xp, dtype=dtype)
    if B.ndim == 1:
        B = B[:, None]
    if B.shape[0] != n:
        raise ValueError(f"{name} must have {n} rows to match the operator, got shape {tuple(B.shape)}")
    return B


def vector_norm(x, xp) -> float:
    """Euclidean norm of a 1-D array as a host float."""
    return float(xp.linalg.vector_norm(x))


def machine_eps(xp, dtype) -> float:
    """Machine epsilon of the working dtype."""
    return eps(xp, dtype)


def host(x) -> np.ndarray:
    """Small array to the host (the explicit device -> host boundary)."""
    return np.asarray(to_numpy(x), dtype=np.float64)
