"""``Shifted(A, shift)``: ``A + shift * I`` with ``A`` and the shift kept apart.

Keeping the shift separate is what lets Krylov methods reuse one subspace of
``A`` for every shift (shift invariance of Krylov spaces).
"""

from __future__ import annotations

from .._validation import _as_scalar
from .base import LinearOperator

__all__ = ["Shifted"]


class Shifted(LinearOperator):
    """``A + shift * I`` for a square operator ``A`` and real ``shift``.

    Parameters
    ----------
    A : LinearOperator of shape (n, n)
    shift : float

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.operators import Dense
    >>> S = Shifted(Dense(np.eye(2)), 3.0)
    >>> S.to_dense().tolist()
    [[4.0, 0.0], [0.0, 4.0]]
    """

    def __init__(self, A: LinearOperator, shift: float):
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be square to be shifted, got shape {A.shape}")
        self.A = A
        self.shift = _as_scalar(shift, "shift")
        super().__init__(A.shape, A.dtype, A.xp, symmetric=A.symmetric)

    def with_shift(self, shift: float) -> Shifted:
        """The same ``A`` with another shift (no recomputation)."""
        return Shifted(self.A, shift)

    def _matmat(self, X):
        return self.A.matmat(X) + self.shift * X

    def _rmatmat(self, X):
        return self.A.rmatmat(X) + self.shift * X
