"""The ``"lanczos"`` evaluator: Lanczos on ``y`` for ``q``, SLQ for ``l`` (DESIGN §3, baselines)."""

from __future__ import annotations

import numpy as np

from ...sketch import slq_quadrature
from ..augmented import AugmentedKrylov, ShiftBounds
from ..gram import PrimalOperator
from ..posterior import dual_posterior
from .base import Posterior, ShiftState

__all__ = ["LanczosEvaluator"]


class LanczosEvaluator:
    """The "separate" baseline: Lanczos on ``y`` for ``q``, SLQ for ``l`` (primal operator).

    ``q`` carries the certified Lanczos bounds; ``l`` is a Monte Carlo estimate
    whose interval is ``+- 2`` standard errors (statistical, not certified).
    Probes are fixed per evaluator (common random numbers).

    Parameters
    ----------
    problem : FIRProblem
    num_probes : int
        Probe vectors of the stochastic Lanczos quadrature.
    num_iter : int
        Lanczos steps per probe.
    random_state : None, int or Generator

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> rng = np.random.default_rng(0)
    >>> p = FIRProblem(rng.standard_normal(80), rng.standard_normal(80), 5)
    >>> b = LanczosEvaluator(p, random_state=0).prepare({"beta": 0.5}).bounds([1.0])
    >>> bool(b.l_lower[0] <= b.l_upper[0])
    True
    """

    method = "lanczos"

    def __init__(self, problem, *, num_probes: int = 16, num_iter: int = 60, random_state=None):
        self.problem = problem
        self.num_probes, self.num_iter = int(num_probes), int(num_iter)
        self.seed = int(np.random.default_rng(random_state).integers(2**63 - 1))

    def prepare(self, params) -> ShiftState:
        return _LanczosState(self, params)


class _LanczosState(ShiftState):
    method = "lanczos"
    exact = False
    vectorized = True

    def __init__(self, ev, params):
        p = ev.problem
        A = PrimalOperator(p, params)
        self.trace = trace = p.kernel_trace_gram(params)
        self.q_est = AugmentedKrylov(A, p.y, trace=trace, block_size=0, max_dim=p.n + 1)
        self.q_est.extend_to(min(p.n + 1, 20))
        # the same probes (same seed) for every shape: common random numbers
        # A is positive semidefinite: Ritz values below 0 are rounding (clipped, or small shifts are refused)
        self.quad = slq_quadrature(A, ev.num_probes, min(ev.num_iter, p.n + 1), rng=ev.seed).clipped(0.0)
        self.problem, self.params = p, params

    def bounds(self, lam) -> ShiftBounds:
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        qb = self.q_est.bounds(lam)
        l, se, _ = self.quad.logdet(lam)
        return ShiftBounds(lam, qb.q_lower, qb.q_upper, l - 2 * se, l + 2 * se, self.q_est.dim, q_est=qb.q_est, l_est=l)

    def refine(self, gap_ok, warn: bool = True) -> bool:
        while True:
            if gap_ok(self.bounds, q_only=True):
                return True
            if self.q_est.exhausted:
                return False
            self.q_est.extend_to(int(self.q_est.dim * 1.5) + 5)

    def posterior(self, lam) -> Posterior:
        return dual_posterior(self.problem, self.params, lam)

    def stats(self) -> dict:
        return {"subspace_dim": self.q_est.dim, "matvecs": self.q_est.matvecs + self.quad.num_matvecs}
