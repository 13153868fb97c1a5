"""The ``"cholesky"`` evaluator: dense ``N x N`` reference (DESIGN §3, baselines)."""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..augmented import ShiftBounds
from .base import Posterior, ShiftState, exact_bounds

__all__ = ["CholeskyEvaluator"]


class CholeskyEvaluator:
    """Dense reference: ``Sigma/c = A + lam I`` formed (``N x N``) and Cholesky-factored per shift.

    Parameters
    ----------
    problem : FIRProblem
    max_n : int
        Largest ``N`` accepted (the matrix has ``N^2`` entries).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> rng = np.random.default_rng(0)
    >>> p = FIRProblem(rng.standard_normal(50), rng.standard_normal(50), 4)
    >>> b = CholeskyEvaluator(p).prepare({"beta": 0.5}).bounds([1.0])
    >>> A = p.dense_regressor @ p.kernel.dense(4, {"beta": 0.5}) @ p.dense_regressor.T + np.eye(50)
    >>> bool(np.isclose(b.l_lower[0], np.linalg.slogdet(A)[1]))
    True
    """

    method = "cholesky"

    def __init__(self, problem, *, max_n: int = 20000):
        if problem.N > max_n:
            raise ValueError(f"method='cholesky' forms an N x N matrix; N={problem.N} exceeds max_n={max_n}")
        self.problem = problem
        self.Phi = problem.dense_regressor

    def prepare(self, params) -> ShiftState:
        return _CholeskyState(self, params)


class _CholeskyState(ShiftState):
    method = "cholesky"

    def __init__(self, ev, params):
        p = ev.problem
        self.K = np.asarray(p.kernel.dense(p.n, params), dtype=np.float64)
        self.Phi, self.y = ev.Phi, p.y
        PK = self.Phi @ self.K
        self.PK = PK
        self.A = PK @ self.Phi.T
        self.A = (self.A + self.A.T) / 2

    def _factor(self, lam):
        S = self.A.copy()
        S[np.diag_indices_from(S)] += lam
        return sla.cho_factor(S, lower=True, check_finite=False)

    def bounds(self, lam) -> ShiftBounds:
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        q, l = np.empty_like(lam), np.empty_like(lam)
        for i, s in enumerate(lam):
            C, low = self._factor(s)
            w = sla.solve_triangular(C, self.y, lower=True, check_finite=False)
            q[i] = w @ w
            l[i] = 2.0 * np.sum(np.log(np.diag(C)))
        return exact_bounds(lam, q, l)

    def posterior(self, lam) -> Posterior:
        cf = self._factor(lam)
        alpha = sla.cho_solve(cf, self.y, check_finite=False)
        mean = self.PK.T @ alpha
        W = sla.solve_triangular(cf[0], self.PK, lower=True, check_finite=False)
        var = np.diag(self.K) - np.sum(W * W, axis=0)
        return Posterior(mean, np.maximum(var, 0.0))
