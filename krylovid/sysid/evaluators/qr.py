"""The ``"qr"`` evaluator: Chen & Ljung (2013) (DESIGN §3, baselines)."""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sla

from ...backend import diagonal, is_numpy, solve_triangular, to_numpy
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
        self.n, self.N, self.xp = p.n, p.N, p.xp
        if is_numpy(self.xp):
            self.L = np.asarray(p.kernel.sqrt(p.n, params), dtype=np.float64)
        else:  # built on the device by the kernel's square-root products
            self.L = p.kernel.sqrt_matmat(p.n, params, self.xp.eye(p.n, dtype=self.xp.float64))
        self.R1L = ev.R1 @ self.L
        self.R2, self.r = ev.R2, ev.r

    def trace_and_order(self):
        return float(to_numpy(self.xp.sum(self.R1L * self.R1L))), self.n

    def _factor(self, lam):
        n, xp = self.n, self.xp
        if is_numpy(xp):
            stack = np.zeros((2 * n + 1, n + 1))
            stack[:n, :n] = self.R1L
            stack[:n, n] = self.R2
            stack[n, n] = self.r
            stack[n + 1 :, :n] = np.sqrt(lam) * np.eye(n)
            R = np.linalg.qr(stack, mode="r")
        else:
            f64 = xp.float64
            top = xp.concat([self.R1L, self.R2[:, None]], axis=1)
            mid = xp.concat([xp.zeros((1, n), dtype=f64), xp.full((1, 1), self.r, dtype=f64)], axis=1)
            low = xp.concat([math.sqrt(lam) * xp.eye(n, dtype=f64), xp.zeros((n, 1), dtype=f64)], axis=1)
            R = xp.linalg.qr(xp.concat([top, mid, low], axis=0), mode="reduced")[1]
        return R[:n, :n], R[:n, n], float(R[n, n])

    def bounds(self, lam) -> ShiftBounds:
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        q, l = np.empty_like(lam), np.empty_like(lam)
        xp = self.xp
        for i, s in enumerate(lam):
            R3, _, R5 = self._factor(s)
            q[i] = R5**2 / s
            l[i] = 2.0 * float(xp.sum(xp.log(xp.abs(diagonal(R3))))) + (self.N - self.n) * np.log(s)
        return exact_bounds(lam, q, l)

    def posterior(self, lam) -> Posterior:
        lam = float(lam)
        R3, R4, _ = self._factor(lam)
        xp = self.xp
        if is_numpy(xp):
            mean = self.L @ sla.solve_triangular(R3, R4, lower=False, check_finite=False)
            LRinv = sla.solve_triangular(R3, self.L.T, lower=False, trans=1, check_finite=False).T
        else:
            mean = self.L @ solve_triangular(R3, R4, lower=False)
            LRinv = xp.permute_dims(
                solve_triangular(R3, xp.permute_dims(self.L, (1, 0)), lower=False, trans=True), (1, 0)
            )
        return Posterior(mean, lam * xp.sum(LRinv * LRinv, axis=1))
