"""The ``"cholesky"`` evaluator: dense ``N x N`` reference (DESIGN §3, baselines)."""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ...backend import cholesky, diagonal, is_numpy, solve_triangular, to_numpy
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
        self.xp = xp = p.xp
        self.K = (
            np.asarray(p.kernel.dense(p.n, params), dtype=np.float64)
            if is_numpy(xp)
            else p.kernel.dense(p.n, params, xp=xp)
        )
        self.Phi, self.y = ev.Phi, p.y
        PK = self.Phi @ self.K
        self.PK = PK
        self.A = PK @ _t(xp, self.Phi)
        self.A = (self.A + _t(xp, self.A)) / 2

    def trace_and_order(self):
        return float(to_numpy(self.xp.sum(diagonal(self.A)))), int(self.K.shape[0])

    def _factor(self, lam):
        xp = self.xp
        if not is_numpy(xp):
            C = cholesky(self.A + float(lam) * xp.eye(self.A.shape[0], dtype=self.A.dtype), lower=True)
            if not bool(xp.all(xp.isfinite(C))):  # CuPy returns NaN instead of raising
                raise np.linalg.LinAlgError("matrix is not positive definite")
            return C, True
        S = self.A.copy()
        S[np.diag_indices_from(S)] += lam
        return sla.cho_factor(S, lower=True, check_finite=False)

    def bounds(self, lam) -> ShiftBounds:
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        q, l = np.empty_like(lam), np.empty_like(lam)
        xp = self.xp
        for i, s in enumerate(lam):
            C, low = self._factor(s)
            if is_numpy(xp):
                w = sla.solve_triangular(C, self.y, lower=True, check_finite=False)
            else:
                w = solve_triangular(C, self.y, lower=True)
            q[i] = float(w @ w)
            l[i] = 2.0 * float(xp.sum(xp.log(diagonal(C))))
        return exact_bounds(lam, q, l)

    def posterior(self, lam) -> Posterior:
        xp = self.xp
        cf = self._factor(lam)
        if is_numpy(xp):
            alpha = sla.cho_solve(cf, self.y, check_finite=False)
            W = sla.solve_triangular(cf[0], self.PK, lower=True, check_finite=False)
        else:
            C = cf[0]
            alpha = solve_triangular(C, solve_triangular(C, self.y, lower=True), lower=True, trans=True)
            W = solve_triangular(C, self.PK, lower=True)
        mean = _t(xp, self.PK) @ alpha
        var = diagonal(self.K) - xp.sum(W * W, axis=0)
        return Posterior(mean, xp.clip(var, min=0.0))


def _t(xp, A):
    """Transpose (a view for NumPy)."""
    return A.T if is_numpy(xp) else xp.permute_dims(A, (1, 0))
