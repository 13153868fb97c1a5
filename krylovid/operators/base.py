"""The ``LinearOperator`` base class and its algebra (sum, product, scaling, transpose).

Operators are block-first: the one required hook is ``_matmat(X)`` acting on a
block ``X`` of shape ``(n, k)``; ``matvec`` is the ``k = 1`` case.  The adjoint
hook ``_rmatmat`` defaults to ``_matmat`` for operators declared symmetric.
All operators here are real (the adjoint is the transpose).
"""

from __future__ import annotations

import numbers

from ..backend import numpy_namespace

__all__ = ["LinearOperator", "Sum", "Product", "Scaled", "Transposed"]


class LinearOperator:
    """Abstract real linear operator of shape ``(m, n)``.

    Subclasses call ``super().__init__(shape, dtype, xp, symmetric=...)`` and
    implement ``_matmat`` (and ``_rmatmat`` unless symmetric).

    Parameters
    ----------
    shape : tuple of int
        ``(m, n)``.
    dtype : dtype
        Floating dtype of the result of a matvec.
    xp : namespace, optional
        Array namespace the operator computes in (default NumPy).
    symmetric : bool
        Whether ``A^T = A`` (then ``rmatmat`` is ``matmat``).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.operators import Dense
    >>> A = Dense(np.eye(3))
    >>> (A @ np.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """

    # Make NumPy defer to ``__rmatmul__``/``__rmul__`` (``y @ A`` with ``y`` an
    # ndarray would otherwise treat ``A`` as a 0-d object array and fail).
    __array_ufunc__ = None

    def __init__(self, shape, dtype=None, xp=None, *, symmetric: bool = False):
        if len(shape) != 2 or any(int(s) < 0 for s in shape):
            raise ValueError(f"shape must be a pair of non-negative integers, got {shape}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.xp = numpy_namespace() if xp is None else xp
        self.dtype = self.xp.float64 if dtype is None else dtype
        self.symmetric = bool(symmetric)
        if self.symmetric and self.shape[0] != self.shape[1]:
            raise ValueError(f"a symmetric operator must be square, got shape {self.shape}")

    # ---------------------------------------------------------------- hooks
    def _matmat(self, X):
        raise NotImplementedError(f"{type(self).__name__} must implement _matmat")

    def _rmatmat(self, X):
        if self.symmetric:
            return self._matmat(X)
        raise NotImplementedError(f"{type(self).__name__} does not implement _rmatmat")

    # ---------------------------------------------------------------- public
    @property
    def ndim(self) -> int:
        return 2

    def _check_block(self, X, rows: int, what: str):
        if not hasattr(X, "shape") or X.ndim != 2 or X.shape[0] != rows:
            got = getattr(X, "shape", type(X).__name__)
            raise ValueError(f"{what}: X must have shape ({rows}, k) for an operator of shape {self.shape}, got {got}")

    def matmat(self, X):
        """``A @ X`` for a block ``X`` of shape ``(n, k)``; returns ``(m, k)``."""
        self._check_block(X, self.shape[1], "matmat")
        return self._matmat(X)

    def rmatmat(self, X):
        """``A^T @ X`` for a block ``X`` of shape ``(m, k)``; returns ``(n, k)``."""
        self._check_block(X, self.shape[0], "rmatmat")
        return self._rmatmat(X)

    def matvec(self, x):
        """``A @ x`` for ``x`` of shape ``(n,)``; returns ``(m,)``."""
        if not hasattr(x, "shape") or x.ndim != 1 or x.shape[0] != self.shape[1]:
            raise ValueError(f"matvec: x must have shape ({self.shape[1]},), got {getattr(x, 'shape', None)}")
        return self._matmat(x[:, None])[:, 0]

    def rmatvec(self, x):
        """``A^T @ x`` for ``x`` of shape ``(m,)``; returns ``(n,)``."""
        if not hasattr(x, "shape") or x.ndim != 1 or x.shape[0] != self.shape[0]:
            raise ValueError(f"rmatvec: x must have shape ({self.shape[0]},), got {getattr(x, 'shape', None)}")
        return self._rmatmat(x[:, None])[:, 0]

    def to_dense(self):
        """Dense ``(m, n)`` matrix (applies the operator to the identity; small sizes only)."""
        return self.matmat(self.xp.eye(self.shape[1], dtype=self.dtype))

    @property
    def T(self) -> LinearOperator:
        return self if self.symmetric else Transposed(self)

    def __matmul__(self, other):
        if isinstance(other, LinearOperator):
            return Product(self, other)
        if getattr(other, "ndim", None) == 1:
            return self.matvec(other)
        return self.matmat(other)

    def __rmatmul__(self, other):
        if isinstance(other, LinearOperator):
            return Product(other, self)
        if getattr(other, "ndim", None) == 1:
            return self.rmatvec(other)
        return self.rmatmat(other.T).T

    def __add__(self, other):
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Sum(self, other)

    def __sub__(self, other):
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Sum(self, Scaled(other, -1.0))

    def __mul__(self, alpha):
        if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
            return Scaled(self, float(alpha))
        return NotImplemented

    __rmul__ = __mul__

    def __neg__(self):
        return Scaled(self, -1.0)

    def __repr__(self) -> str:
        return f"<{self.shape[0]}x{self.shape[1]} {type(self).__name__}>"


def _same_xp(*ops):
    xps = {id(op.xp) for op in ops}
    if len(xps) > 1:
        raise TypeError("operators computing in different array namespaces cannot be combined")
    return ops[0].xp


class Sum(LinearOperator):
    """``A_1 + A_2 + ...`` of operators of equal shape (also ``A + B``).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.operators import Dense, Identity
    >>> S = Sum(Dense(np.diag([1.0, 2.0])), Identity(2))
    >>> S.to_dense().tolist(), (Dense(np.eye(2)) + Identity(2)).to_dense().tolist()
    ([[2.0, 0.0], [0.0, 3.0]], [[2.0, 0.0], [0.0, 2.0]])
    """

    def __init__(self, *ops: LinearOperator):
        if not ops:
            raise ValueError("Sum needs at least one operator")
        shape = ops[0].shape
        for op in ops:
            if op.shape != shape:
                raise ValueError(f"Sum: shapes differ, {shape} vs {op.shape}")
        self.ops = tuple(ops)
        super().__init__(shape, ops[0].dtype, _same_xp(*ops), symmetric=all(op.symmetric for op in ops))

    def _matmat(self, X):
        out = self.ops[0].matmat(X)
        for op in self.ops[1:]:
            out = out + op.matmat(X)
        return out

    def _rmatmat(self, X):
        out = self.ops[0].rmatmat(X)
        for op in self.ops[1:]:
            out = out + op.rmatmat(X)
        return out


class Product(LinearOperator):
    """``A_1 A_2 ... A_k`` (applied right to left; also ``A @ B``).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.operators import Dense
    >>> A, B = np.array([[1.0, 2.0]]), np.array([[1.0], [3.0]])
    >>> P = Product(Dense(A), Dense(B))
    >>> P.shape, P.to_dense().tolist()
    ((1, 1), [[7.0]])
    """

    def __init__(self, *ops: LinearOperator):
        if not ops:
            raise ValueError("Product needs at least one operator")
        for left, right in zip(ops[:-1], ops[1:], strict=True):
            if left.shape[1] != right.shape[0]:
                raise ValueError(f"Product: inner dimensions differ, {left.shape} @ {right.shape}")
        self.ops = tuple(ops)
        super().__init__((ops[0].shape[0], ops[-1].shape[1]), ops[0].dtype, _same_xp(*ops))

    def _matmat(self, X):
        for op in reversed(self.ops):
            X = op.matmat(X)
        return X

    def _rmatmat(self, X):
        for op in self.ops:
            X = op.rmatmat(X)
        return X


class Scaled(LinearOperator):
    """``alpha * A`` for a real scalar ``alpha`` (also ``alpha * A``).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.operators import Dense
    >>> Scaled(Dense(np.eye(2)), 3.0).matvec(np.ones(2)).tolist()
    [3.0, 3.0]
    """

    def __init__(self, op: LinearOperator, alpha: float):
        self.op, self.alpha = op, float(alpha)
        super().__init__(op.shape, op.dtype, op.xp, symmetric=op.symmetric)

    def _matmat(self, X):
        return self.alpha * self.op.matmat(X)

    def _rmatmat(self, X):
        return self.alpha * self.op.rmatmat(X)


class Transposed(LinearOperator):
    """``A^T`` of a real operator (also ``A.T``); its own transpose is ``A`` again.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.operators import Dense
    >>> A = Dense(np.array([[1.0, 2.0, 3.0]]))
    >>> Transposed(A).shape, Transposed(A).matvec(np.array([2.0])).tolist(), Transposed(A).T is A
    ((3, 1), [2.0, 4.0, 6.0], True)
    """

    def __init__(self, op: LinearOperator):
        self.op = op
        super().__init__((op.shape[1], op.shape[0]), op.dtype, op.xp)

    def _matmat(self, X):
        return self.op.rmatmat(X)

    def _rmatmat(self, X):
        return self.op.matmat(X)

    @property
    def T(self):
        return self.op
