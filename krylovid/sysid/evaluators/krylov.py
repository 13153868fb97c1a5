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

import warnings

import numpy as np

from ...backend import default_rng
from ..augmented import AugmentedKrylov, ShiftBounds
from ..gram import DualOperator, PrimalOperator, choose_formulation
from ..posterior import Posterior, dual_posterior
from .base import ShiftState

__all__ = ["KrylovEvaluator", "KrylovBudgetWarning"]


class KrylovBudgetWarning(RuntimeWarning):
    """The Krylov bounds did not meet the tolerance within the subspace budget."""


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
    truncate : bool
        Dual form with TC/DI kernels: run the estimator on the leading
        ``k x k`` block of ``G`` that holds all but ``1e-18`` of its trace;
        the rest (``eps = tr G22``) enters the certified bounds: ``eps / lam``
        on the log-det, a shift ``lam -> lam + eps`` on the data fit.
    """

    method = "krylov"

    def __init__(self, problem, *, formulation: str = "auto", block_size: int = 8, max_dim=None,
                 random_state=None, truncate: bool = True):
        if formulation not in ("auto", "primal", "dual"):
            raise ValueError(f"formulation must be 'auto', 'primal' or 'dual', got {formulation!r}")
        self.problem = problem
        self.formulation = choose_formulation(problem) if formulation == "auto" else formulation
        D = problem.n if self.formulation == "dual" else problem.N
        s = int(min(block_size, max(D - 1, 0)))
        self.Omega = default_rng(random_state).standard_normal((D, s))
        self.max_dim = max_dim
        self.truncate = bool(truncate)

    def prepare(self, params) -> ShiftState:
        return _KrylovState(self, params)


class _KrylovState(ShiftState):
    method = "krylov"
    exact = False

    def __init__(self, ev, params):
        p = ev.problem
        self.problem, self.params, self.dual = p, params, ev.formulation == "dual"
        self.k, self.tail_trace = p.n, 0.0
        if self.dual:
            z = np.asarray(p.kernel.sqrt_rmatmat(p.n, params, p.Phty[:, None]))[:, 0]
            diag_G = p.sqrt_gram_diagonal(params) if ev.truncate and p.kernel.sqrt_triangular else None
            if diag_G is not None:
                self.trace = float(np.sum(diag_G))
                k = p.kernel.truncation_index(p.n, params, p.gram, p.gram_prefix)
                self.k, self.tail_trace = k, float(np.sum(diag_G[k:]))
            else:
                self.trace = p.kernel_trace_gram(params)
            op, b = DualOperator(p, params, self.k), z[:self.k]
        else:
            self.trace = p.kernel_trace_gram(params)
            op, b = PrimalOperator(p, params), p.y
        trace = self.trace - self.tail_trace
        Omega = ev.Omega[:self.k] if self.dual else ev.Omega
        self.Omega = Omega
        self.est = AugmentedKrylov(op, b, trace=trace, Omega=Omega, max_dim=ev.max_dim)
        self.est.extend(2)
        self.status = "converged"
        self.history = []

    def bounds(self, lam) -> ShiftBounds:
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        b = self.est.bounds(lam)
        if not self.dual:
            return b
        p = self.problem
        # Truncated dual (eps = tr G22 > 0): with B = Phi L = [B1 B2] and A1 = B1 B1^T,
        # A1 <= A <= A1 + eps I, so for y_p = Phi g_LS
        # q1(lam + eps) <= y_p^T (A + lam)^{-1} y_p <= q1(lam) and
        # log det(A1 + lam) <= l(lam) <= log det(A1 + lam) + (n - k) log(1 + eps / ((n - k) lam)),
        # where q1(s) = (||y_p||^2 - z1^T (G11 + s)^{-1} z1) / s comes from the same space.
        # The residual r of the least-squares fit is orthogonal to range(Phi) and enters exactly.
        eps = self.tail_trace
        b_eps = self.est.bounds(lam + eps) if eps > 0 else b
        q_lo = p.ls_residual2 / lam + (p.fit2 - b_eps.q_upper) / (lam + eps)
        q_hi = p.ls_residual2 / lam + (p.fit2 - b.q_lower) / lam   # Galerkin: also the estimate
        m = p.n - self.k
        extra = (p.N - self.k) * np.log(lam)
        trunc = m * np.log1p(eps / (m * lam)) if m > 0 else 0.0
        l_hi = b.l_upper + extra + trunc
        return ShiftBounds(lam, q_lo, q_hi, b.l_lower + extra, l_hi, b.dim, q_est=q_hi, l_est=l_hi)

    def refine(self, gap_ok, warn: bool = True) -> bool:
        """Grow the space geometrically until ``gap_ok`` holds; ``False`` (and a warning) when it cannot."""
        while True:
            ok = gap_ok(self.bounds)
            self.history.append((self.est.dim, ok))
            if ok:
                return True
            if self.est.exhausted:
                break
            self.est.extend_to(max(self.est.dim + 1, int(self.est.dim * 1.3)))
        # Exhausted: the space is invariant up to the deflation tolerance (or at its budget) and the
        # bounds still do not meet the tolerance at some shift; report them as they are.
        self.status = "budget"
        why = "numerically invariant" if self.est.invariant else f"at its budget {self.est.max_dim}"
        if warn:
            warnings.warn(f"krylov: bounds did not meet the tolerance at subspace dimension {self.est.dim} "
                          f"({why}); the result is reported with its bounds", KrylovBudgetWarning, stacklevel=3)
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
                "formulation": "dual" if self.dual else "primal", "invariant": self.est.invariant,
                "dual_size": self.k if self.dual else None}
