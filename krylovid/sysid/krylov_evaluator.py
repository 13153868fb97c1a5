"""The ``"krylov"`` evaluator: the augmented estimator in primal or dual form.

* **primal** — the estimator runs on ``A = Phi Kbar Phi^T`` (``N x N``, FFT
  matvecs) with ``b = y``.
* **dual** — with ``Kbar = L L^T`` and ``M = Phi^T Phi`` it runs on the
  ``n x n`` matrix ``G = L^T M L`` with ``b = z = L^T Phi^T y``:
  ``log det(A + lam I_N) = (N - n) log lam + log det(G + lam I_n)`` and, with
  ``y = Phi g_LS + r`` (``r`` orthogonal to the range of ``Phi``),
  ``q(lam) = ||r||^2 / lam + (||Phi g_LS||^2 - z^T (G + lam I)^{-1} z) / lam``.
  The residual part is exact; only the fitted part goes through the estimator
  (DESIGN §3's guard against cancellation at high SNR).

``formulation="auto"`` picks the dual when the ``n x n`` Gram matrix is
affordable (``n <= dual_max_n``) and a dual matvec is cheaper than a primal one.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..backend import default_rng
from ..operators import LinearOperator
from .augmented import AugmentedKrylov, ShiftBounds
from .evaluators import Posterior, PrimalOperator, ShiftState

__all__ = ["KrylovEvaluator", "DualOperator", "dual_posterior", "KrylovBudgetWarning"]


class KrylovBudgetWarning(RuntimeWarning):
    """The Krylov bounds did not meet the tolerance within the subspace budget."""


class DualOperator(LinearOperator):
    """``G = L^T M L`` (``n x n``) with the kernel's square root ``L`` and the Gram ``M``."""

    def __init__(self, problem, params):
        self.problem, self.params = problem, params
        self.M = problem.gram
        super().__init__((problem.n, problem.n), symmetric=True)

    def _matmat(self, X):
        k, n, p = self.problem.kernel, self.problem.n, self.params
        return np.asarray(k.sqrt_rmatmat(n, p, self.M @ np.asarray(k.sqrt_matmat(n, p, X))))


def choose_formulation(problem, dual_max_n: int = 12000) -> str:
    """``"dual"`` when ``M`` fits (``n <= dual_max_n``) and ``2 n^2 <= 10 m (N + n) log2(N + n)``."""
    n, N, m = problem.n, problem.N, problem.num_inputs
    primal_cost = 10.0 * m * (N + n) * math.log2(N + n)
    return "dual" if n <= dual_max_n and 2.0 * n * n <= max(primal_cost, 4.0 * N * n / max(m, 1)) else "primal"


class KrylovEvaluator:
    """Augmented block Krylov evaluator (certified bounds, adaptive depth).

    Parameters
    ----------
    problem : FIRProblem
    formulation : {"auto", "primal", "dual"}
    block_size : int
        Columns of the random block ``Omega``.
    max_dim : int, optional
        Subspace budget (default: the operator's size).
    random_state : None, int or Generator
        Seeds ``Omega`` once; the same ``Omega`` is reused for every shape
        parameter (common random numbers), so the objective is a deterministic,
        smooth function of the hyperparameters.
    """

    method = "krylov"

    def __init__(self, problem, *, formulation: str = "auto", block_size: int = 8, max_dim=None,
                 random_state=None, fallback_max_n: int = 4000):
        if formulation not in ("auto", "primal", "dual"):
            raise ValueError(f"formulation must be 'auto', 'primal' or 'dual', got {formulation!r}")
        self.problem = problem
        self.formulation = choose_formulation(problem) if formulation == "auto" else formulation
        D = problem.n if self.formulation == "dual" else problem.N
        s = int(min(block_size, max(D - 1, 0)))
        self.Omega = default_rng(random_state).standard_normal((D, s))
        self.max_dim = max_dim
        self.fallback_max_n = fallback_max_n

    def prepare(self, params) -> "ShiftState":
        return _KrylovState(self, params)


class _KrylovState(ShiftState):
    method = "krylov"
    exact = False

    def __init__(self, ev, params):
        p = ev.problem
        self.problem, self.params, self.dual = p, params, ev.formulation == "dual"
        trace = p.kernel_trace_gram(params)
        if self.dual:
            op = DualOperator(p, params)
            b = np.asarray(p.kernel.sqrt_rmatmat(p.n, params, p.Phty[:, None]))[:, 0]
        else:
            op, b = PrimalOperator(p, params), p.y
        self.Omega = ev.Omega
        self.est = AugmentedKrylov(op, b, trace=trace, Omega=ev.Omega, max_dim=ev.max_dim)
        self.est.extend(2)
        self.fallback_max_n = ev.fallback_max_n
        self.status = "converged"
        self.history = []

    def bounds(self, lam) -> ShiftBounds:
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        b = self.est.bounds(lam)
        if not self.dual:
            return b
        p = self.problem
        base = p.ls_residual2 / lam + p.fit2 / lam
        extra = (p.N - p.n) * np.log(lam)
        return ShiftBounds(lam, base - b.q_upper / lam, base - b.q_lower / lam,
                           b.l_lower + extra, b.l_upper + extra, b.dim)

    def refine(self, gap_ok) -> bool:
        """Grow the space geometrically until ``gap_ok`` holds; fall back or warn at the budget."""
        while True:
            ok = gap_ok(self.bounds)
            self.history.append((self.est.dim, ok))
            if ok:
                return True
            if self.est.exhausted:
                break
            self.est.extend_to(max(self.est.dim + 1, int(self.est.dim * 1.3)))
        if self.est.invariant:
            self.status = "invariant"
            return True
        self.status = "budget"
        warnings.warn(f"krylov: bounds did not meet the tolerance at subspace dimension {self.est.dim} "
                      f"(budget {self.est.max_dim}); the result is reported with its bounds",
                      KrylovBudgetWarning, stacklevel=3)
        return False

    def bound_history(self, lam) -> list:
        """``(dim, ShiftBounds)`` after each block step of a fresh build of the same space."""
        final = self.est
        fresh = AugmentedKrylov(final.A, final.b, trace=final.trace, Omega=self.Omega, max_dim=final.max_dim)
        out = []
        self.est = fresh
        try:
            while True:
                out.append((fresh.dim, self.bounds(lam)))
                if fresh.dim >= final.dim or fresh.exhausted:
                    break
                fresh.extend(1)
        finally:
            self.est = final
        return out

    def posterior(self, lam) -> Posterior:
        return dual_posterior(self.problem, self.params, lam, self.est if self.dual else None)

    def stats(self) -> dict:
        return {"subspace_dim": self.est.dim, "matvecs": self.est.matvecs, "status": self.status,
                "formulation": "dual" if self.dual else "primal", "invariant": self.est.invariant}


def dual_posterior(problem, params, lam: float, est: AugmentedKrylov | None = None,
                   rtol: float = 1e-12) -> Posterior:
    """Posterior mean ``L (G + lam)^{-1} z`` and variance ``lam diag(L (G + lam)^{-1} L^T)``.

    The mean is solved by CG on ``G + lam I`` preconditioned with the spectral
    information of the Krylov space (exact deflation of the captured
    eigenpairs); the variance uses the projection
    ``(G + lam)^{-1} ~ Q S (Theta + lam)^{-1} S^T Q^T + (I - Q Q^T) / lam``,
    exact when the space is invariant, otherwise an upper bound.
    """
    from ..krylov.cg import cg

    p = problem
    G = DualOperator(p, params)
    z = np.asarray(p.kernel.sqrt_rmatmat(p.n, params, p.Phty[:, None]))[:, 0]
    if est is None:
        est = AugmentedKrylov(G, z, trace=p.kernel_trace_gram(params), block_size=8, rng=0)
        est.extend_to(min(p.n, 200))
    Q, theta, S = est.basis()
    QS = Q @ S
    precond = _DeflatedInverse(QS, theta, lam)
    x0 = est.solve(lam)
    res = cg(G, z, x0=x0, rtol=rtol, atol=0.0, maxiter=max(200, p.n), M=precond, shift=lam)
    mean = np.asarray(p.kernel.sqrt_matmat(p.n, params, np.asarray(res.x)[:, None]))[:, 0]
    LQS = np.asarray(p.kernel.sqrt_matmat(p.n, params, QS))
    diagK = p.kernel_diagonal(params)
    var = lam * np.sum(LQS ** 2 / (theta + lam)[None, :], axis=1) + diagK - np.sum(LQS ** 2, axis=1)
    return Posterior(mean, np.maximum(var, 0.0), exact=bool(est.invariant))


class _DeflatedInverse(LinearOperator):
    """``V (Theta + lam)^{-1} V^T + (I - V V^T) / lam``: the Krylov-spectral preconditioner."""

    def __init__(self, V, theta, lam):
        self.V, self.w, self.lam = V, 1.0 / (theta + lam), lam
        super().__init__((V.shape[0], V.shape[0]), symmetric=True)

    def _matmat(self, X):
        C = self.V.T @ X
        return self.V @ (C * self.w[:, None]) + (X - self.V @ C) / self.lam
