"""The ``"qr"`` evaluator: Chen & Ljung (2013) (DESIGN §3, baselines)."""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..augmented import ShiftBounds
from .base import Posterior, ShiftState, exact_bounds

__all__ = ["QREvaluator"]


class QREvaluator:
    """Chen & Ljung (2013): one thin QR of ``[Phi y]``, then an ``O(n^3)`` QR per evaluation.

    The triangular factor of ``[Phi y]`` is the problem's cached
    :attr:`~krylovid.sysid.FIRProblem.r_factor` (a tall-skinny QR over row
    chunks: memory ``O(chunk * n)`` even for large ``N``).

    Parameters
    ----------
    problem : FIRProblem
    chunk_rows : int, optional
        Rows per block of the tall-skinny QR (when the factor is not cached yet).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> from krylovid.sysid.evaluators import CholeskyEvaluator
    >>> rng = np.random.default_rng(0)
    >>> p = FIRProblem(rng.standard_normal(50), rng.standard_normal(50), 4)
    >>> a = QREvaluator(p).prepare({"beta": 0.5}).bounds([0.3])
    >>> b = CholeskyEvaluator(p).prepare({"beta": 0.5}).bounds([0.3])
    >>> bool(np.isclose(a.q_lower[0], b.q_lower[0]) and np.isclose(a.l_lower[0], b.l_lower[0]))
    True
    """

    method = "qr"

    def __init__(self, problem, *, chunk_rows: int | None = None):
        self.problem = problem
        rf = problem.compute_r_factor(chunk_rows) if chunk_rows else problem.r_factor
        self.R1, self.R2, self.r = rf.R1, rf.w, rf.residual_norm

    def prepare(self, params) -> ShiftState:
        return _QRState(self, params)


class _QRState(ShiftState):
    method = "qr"

    def __init__(self, ev, params):
        p = ev.problem
        self.n, self.N = p.n, p.N
        self.L = np.asarray(p.kernel.sqrt(p.n, params), dtype=np.float64)
        self.R1L = ev.R1 @ self.L
        self.R2, self.r = ev.R2, ev.r

    def _factor(self, lam):
        n = self.n
        stack = np.zeros((2 * n + 1, n + 1))
        stack[:n, :n] = self.R1L
        stack[:n, n] = self.R2
        stack[n, n] = self.r
        stack[n + 1 :, :n] = np.sqrt(lam) * np.eye(n)
        R = np.linalg.qr(stack, mode="r")
        return R[:n, :n], R[:n, n], R[n, n]

    def bounds(self, lam) -> ShiftBounds:
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        q, l = np.empty_like(lam), np.empty_like(lam)
        for i, s in enumerate(lam):
            R3, _, R5 = self._factor(s)
            q[i] = R5**2 / s
            l[i] = 2.0 * np.sum(np.log(np.abs(np.diag(R3)))) + (self.N - self.n) * np.log(s)
        return exact_bounds(lam, q, l)

    def posterior(self, lam) -> Posterior:
        R3, R4, _ = self._factor(lam)
        mean = self.L @ sla.solve_triangular(R3, R4, lower=False, check_finite=False)
        LRinv = sla.solve_triangular(R3, self.L.T, lower=False, trans=1, check_finite=False).T
        return Posterior(mean, lam * np.sum(LRinv * LRinv, axis=1))
