"""``Counted``: a wrapper that counts how many vectors an operator was applied to."""

from __future__ import annotations

from .base import LinearOperator

__all__ = ["Counted"]


class Counted(LinearOperator):
    """Wrap ``op`` and count its applications.

    Attributes
    ----------
    matvecs : int
        Number of vectors (columns) ``op`` was applied to, forward and adjoint.
    calls : int
        Number of block applications.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.operators import Dense
    >>> A = Counted(Dense(np.eye(3)))
    >>> _ = A @ np.ones((3, 2))
    >>> A.matvecs, A.calls
    (2, 1)
    """

    def __init__(self, op: LinearOperator):
        self.op = op
        self.matvecs = 0
        self.calls = 0
        super().__init__(op.shape, op.dtype, op.xp, symmetric=op.symmetric)

    def reset(self) -> None:
        self.matvecs = 0
        self.calls = 0

    def _matmat(self, X):
        self.matvecs += int(X.shape[1])
        self.calls += 1
        return self.op.matmat(X)

    def _rmatmat(self, X):
        self.matvecs += int(X.shape[1])
        self.calls += 1
        return self.op.rmatmat(X)
