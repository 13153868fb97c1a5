"""Private helpers shared by the sketching modules: operator coercion and checks."""

from __future__ import annotations

from .._validation import check_array, check_int
from ..backend import array_namespace
from ..operators import Dense, LinearOperator, aslinearoperator, is_scipy_operator

__all__ = ["SymmetricView", "symmetric_operator", "as_operator", "check_rank", "check_output_finite", "orthonormalize"]


def as_operator(A, name: str = "A", *, square: bool = False, symmetric: bool = False) -> LinearOperator:
    """Coerce ``A`` (array, krylovid or SciPy operator) to a ``LinearOperator``.

    Arrays are validated (2-D, finite, real, non-empty).  ``square`` refuses
    non-square input; ``symmetric`` declares the wrapped array symmetric so
    that ``rmatmat`` is ``matmat`` (the caller asserts the symmetry).
    """
    if A is None:
        raise TypeError(f"{name} is required, got None")
    if isinstance(A, LinearOperator):
        op = A
    elif hasattr(A, "shape") and hasattr(A, "dtype") and not is_scipy_operator(A):
        M = check_array(A, name, ndim=2)
        op = Dense(M, symmetric=True if (symmetric and M.shape[0] == M.shape[1]) else None)
    elif isinstance(A, (list, tuple)):
        M = check_array(A, name, ndim=2)
        op = Dense(M, symmetric=True if (symmetric and M.shape[0] == M.shape[1]) else None)
    else:
        try:
            op = aslinearoperator(A, symmetric=symmetric)
        except TypeError:
            raise TypeError(f"{name}: expected an array or a linear operator, got {type(A).__name__}") from None
    m, n = op.shape
    if m == 0 or n == 0:
        raise ValueError(f"{name} is empty (shape {op.shape})")
    if square and m != n:
        raise ValueError(f"{name} must be square, got shape {op.shape}")
    return op


def check_rank(k, name: str, limit: int, what: str) -> int:
    """An integer ``1 <= k <= limit`` with a message saying what bounds it."""
    k = check_int(k, name, minimum=1)
    if k > limit:
        raise ValueError(f"{name} must be <= {what} = {limit}, got {k}")
    return k


def check_output_finite(Y, name: str = "A") -> None:
    """Raise ``ValueError`` when an operator produced NaN or inf (one host sync)."""
    xp = array_namespace(Y)
    if not bool(xp.all(xp.isfinite(Y))):
        raise ValueError(f"{name} produced NaN or inf values when applied to the test matrix")


def orthonormalize(Y):
    """Orthonormal basis ``Q`` of shape ``(m, l)`` of the columns of ``Y`` (reduced QR)."""
    xp = array_namespace(Y)
    Q, _ = xp.linalg.qr(Y, mode="reduced")
    return Q


class SymmetricView(LinearOperator):
    """``A`` declared symmetric: ``rmatmat`` applies ``A`` (the caller asserts ``A = A^T``)."""

    def __init__(self, op: LinearOperator):
        self.op = op
        super().__init__(op.shape, op.dtype, op.xp, symmetric=True)

    def _matmat(self, X):
        return self.op.matmat(X)


def symmetric_operator(A, name: str = "A") -> LinearOperator:
    """A square operator whose ``rmatmat`` is ``matmat`` (symmetry assumed, not checked)."""
    op = as_operator(A, name, square=True, symmetric=True)
    return op if op.symmetric else SymmetricView(op)
