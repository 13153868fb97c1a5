"""Base of the evaluators: the per-shape state and its exact bounds (DESIGN §3).

For fixed kernel shape parameters, every evaluator gives, for an array of
shifts ``lam = sigma2 / c``,

* ``q(lam) = y^T (A + lam I)^{-1} y`` and
* ``l(lam) = log det(A + lam I_N)``,

with ``A = Phi Kbar Phi^T``, as lower/upper bounds (equal for the exact
methods), plus the posterior mean and variance of the impulse response.  The
objective ``F`` is assembled from them in :mod:`krylovid.sysid.objective`.

An evaluator is built once per problem (``Evaluator(problem, **options)``)
and gives one :class:`ShiftState` per shape (``evaluator.prepare(params)``).
"""

from __future__ import annotations

import numpy as np

from ..augmented import ShiftBounds
from ..posterior import Posterior

__all__ = ["ShiftState", "Posterior", "exact_bounds"]


class ShiftState:
    """Per-shape-parameter state: bounds of ``q`` and ``l`` for any shifts.

    Subclasses implement :meth:`bounds` and :meth:`posterior`; adaptive ones
    override :meth:`refine`.

    Attributes
    ----------
    exact : bool
        Lower and upper bounds coincide (up to rounding).
    vectorized : bool
        :meth:`bounds` costs ``O(d)`` per shift (a closed form in ``lam``), so
        the tuner may evaluate it on dense grids; ``False`` for states that
        factorize once per shift.
    """

    method = "?"
    exact = True
    vectorized = False

    def bounds(self, lam) -> ShiftBounds:
        raise NotImplementedError

    def posterior(self, lam: float) -> Posterior:
        raise NotImplementedError

    def refine(self, gap_ok, warn: bool = True) -> bool:
        """Grow the approximation until ``gap_ok(self.bounds)`` holds; exact states return True."""
        return True

    def stats(self) -> dict:
        return {"subspace_dim": 0, "matvecs": 0}

    def trace_and_order(self):
        """``(tr A, n)``: the trace of ``A = Phi Kbar Phi^T`` and the FIR order, or ``None`` when unknown
        (used for the numerical floor of the shift, :func:`~krylovid.sysid.tuning.numerical_floor`)."""
        return None


def exact_bounds(lam, q, l, dim: int = 0) -> ShiftBounds:
    """:class:`ShiftBounds` of an exact evaluation (lower = upper).

    Examples
    --------
    >>> import numpy as np
    >>> b = exact_bounds(np.array([1.0]), np.array([2.0]), np.array([3.0]))
    >>> (float(b.q_upper[0]), float(b.l_lower[0]))
    (2.0, 3.0)
    """
    q, l = np.asarray(q, dtype=np.float64), np.asarray(l, dtype=np.float64)
    return ShiftBounds(lam, q, q.copy(), l, l.copy(), dim)
