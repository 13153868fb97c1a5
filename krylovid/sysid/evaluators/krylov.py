"""The ``"krylov"`` evaluator: the augmented estimator in primal or dual form.

* **primal** — the estimator runs on ``A = Phi Kbar Phi^T`` (``N x N``, FFT
  matvecs) with ``b = y``.
* **dual** (R-factor) — with the thin QR ``Phi = Q1 R1``, ``w = Q1^T y`` and
  ``r = y - Q1 w`` it runs on ``H = R1 Kbar R1^T`` (``n x n``) with ``b = w``:
  ``q(lam) = ||r||^2 / lam + w^T (H + lam I)^{-1} w`` and
  ``log det(A + lam I_N) = (N - n) log lam + log det(H + lam I_n)``.  Both
  are sums of positive terms: no cancellation at small ``lam``, and the small
  eigenvalues of ``Phi^T Phi`` (low-pass inputs) are never squared.
* **gram** — the former dual on ``G = L^T M L`` (``M = Phi^T Phi`` from the
  input's autocorrelation, no QR of ``Phi``), with
  ``q = (||y||^2 - z^T (G + lam I)^{-1} z) / lam`` (Woodbury; exact whatever
  the accuracy of the least-squares solution): the difference cancels at small
  ``lam``; its rounding error enters the bounds,
  which therefore refuse to certify where it matters.  Used by ``"auto"`` only
  when the QR of ``Phi`` costs more than ``R_FACTOR_MAX_FLOPS`` and ``R1`` cannot come from the Cholesky
  factor of ``Phi^T Phi`` instead (ill-conditioned input, or ``n^3 / 3`` above that budget as well); a
  shape whose Gram bounds cannot certify then moves to the R-factor dual when the QR costs at most
  ``R_FACTOR_ESCALATE_FLOPS`` (``info["escalated_from_gram"]``).

``formulation="auto"`` picks a dual form when the ``n x n`` matrices are
affordable (``n <= dual_max_n``) and a dual matvec is cheaper than a primal one.
Every form grows its space (up to the operator's dimension by default) until
the bounds on ``F`` meet the tolerance; rounding, deflation drops and the
truncated tail are inside the bounds (:mod:`krylovid.sysid.augmented`).
"""

from __future__ import annotations

import warnings

import numpy as np

from ...backend import asarray, default_rng
from ..augmented import DEFLATED_TAIL_MAX_ENTRIES, AugmentedKrylov, ShiftBounds
from ..gram import DualOperator, PrimalOperator, RDualFactor, RDualOperator, choose_formulation
from ..posterior import Posterior, dual_posterior
from .base import ShiftState

__all__ = ["KrylovEvaluator", "KrylovBudgetWarning"]

_EPS = float(np.finfo(np.float64).eps)
#: ``"auto"`` uses the R-factor dual up to this many flops for the thin QR of ``Phi`` (``2 N n^2``).
R_FACTOR_MAX_FLOPS = 2e11
#: ... and escalates a shape from the Gram form to the R-factor dual when the Gram bounds cannot certify, up to
#: this many flops for that QR (N = 1e5, n = 2000: 8e11, about a minute on one core; N = 1e6, n = 1e4: never).
R_FACTOR_ESCALATE_FLOPS = 4e12
FORMULATIONS = ("auto", "primal", "dual", "gram")
#: Default columns of ``Omega``; a dual form of more than ``LARGE_BLOCK_MIN_N`` coefficients uses
#: ``LARGE_BLOCK_SIZE``: each block step is one pass over the dense ``n x n`` factor and the basis, so wider
#: blocks cost less per dimension (TC, N = 1e6, n = 1e4, beta = 0.99: 2.2x faster per dimension at 32 than at 8).
BLOCK_SIZE, LARGE_BLOCK_SIZE, LARGE_BLOCK_MIN_N = 8, 32, 2000
#: Relative trace of the truncated tail of a TC/DI dual; when the bounds need more, it shrinks by
#: ``TAIL_SHRINK`` per rebuild, and below ``TAIL_RTOL_MIN`` the whole dual is used.
TAIL_RTOL, TAIL_SHRINK, TAIL_RTOL_MIN = 1e-18, 1e-6, 1e-250
#: Deflation threshold (relative to ||A||) of the n x n dual forms: drops enter the bounds as a perturbation
#: of T, and these spaces may grow to their full dimension anyway, so only rounding-level directions go.
DUAL_DEFLATION_TOL = 16 * _EPS
#: ``||R1 (L L^T - Kbar) R1^T|| / ||H||`` bound for kernels whose square root is a clipped eigendecomposition
#: (measured up to 16 eps ||Kbar|| for ``L L^T - Kbar`` with SS/SE at n = 100..300, and
#: ``||R1|| ||L|| <= 1.4 ||R1 L||``): four times that.
DENSE_SQRT_MISMATCH = 128 * _EPS
#: The R-factor dual attaches the square-root rounding model (:meth:`AugmentedKrylov.attach_factor`) when its
#: bounds still fail at this fraction of the full dimension (or at the budget; the early attach only where the
#: deflated remainder of :meth:`AugmentedKrylov.deflated_tail` is affordable): the model's deflated remainder and
#: residual then certify high-SNR values below the full dimension (DC, N = 3000, n = 300, SNR 1e4: 168 instead of
#: 300), at the price of an SVD of ``B^T Q`` per step (a method="krylov" fit at N = 3000..4000 is 0-30 % slower,
#: measured side by side; the exact spectral path is the default at those sizes).  At 0.1 the 30-value sweeps of
#: N = 1e4, n = 1000, SNR 1e4 certify at 126-130 instead of 502-514 (DC, SS; 0.26 / 0.50 s instead of 0.88 /
#: 1.04 s CPU) but those krylov fits take 25-45 % longer (same run).
FACTOR_ATTACH_FRACTION = 0.5


def _cheap_r(problem) -> bool:
    """Whether ``R1`` comes from the Cholesky factor of ``Phi^T Phi`` (``n^3 / 3`` flops, well-conditioned
    inputs: :attr:`FIRProblem.gram_r_factor`) at a cost below ``R_FACTOR_MAX_FLOPS``: then the R-factor dual
    (no cancellation, square-root rounding model) is affordable even where the tall QR is not."""
    return problem.n**3 / 3.0 <= R_FACTOR_MAX_FLOPS and getattr(problem, "gram_r_factor", None) is not None


class KrylovBudgetWarning(RuntimeWarning):
    """The Krylov bounds did not meet the tolerance within the subspace budget."""


class KrylovEvaluator:
    """Augmented block Krylov evaluator (certified bounds, adaptive depth).

    Parameters
    ----------
    problem : FIRProblem
    formulation : {"auto", "primal", "dual", "gram"}
        See the module notes.
    block_size : int, optional
        Columns of the random block ``Omega`` (default ``BLOCK_SIZE``; ``LARGE_BLOCK_SIZE``
        for a dual form larger than ``LARGE_BLOCK_MIN_N``).
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
    rounding : float, optional
        Rounding allowance ``delta`` of the estimator (default: automatic, see
        :class:`~krylovid.sysid.AugmentedKrylov`).  A large value makes the bounds
        deliberately wide (tests of the uncertified paths); a given value also
        keeps the square-root model off.
    factor_rounding : float, optional
        Backward-error bound ``delta_B`` of the square-root rounding model used
        by the R-factor dual when the lam-shift model cannot certify (default:
        automatic, see :meth:`~krylovid.sysid.AugmentedKrylov.attach_factor`).
    deflation_tol : float, optional
        Relative deflation threshold of the block Lanczos process (default
        ``DUAL_DEFLATION_TOL`` for the dual forms, the Lanczos default for the primal).
    """

    method = "krylov"

    def __init__(
        self,
        problem,
        *,
        formulation: str = "auto",
        block_size: int | None = None,
        max_dim=None,
        random_state=None,
        truncate: bool = True,
        rounding: float | None = None,
        deflation_tol: float | None = None,
        factor_rounding: float | None = None,
    ):
        if formulation not in FORMULATIONS:
            raise ValueError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
        self.problem = problem
        #: ``"auto"`` may move a shape whose Gram-form bounds cannot certify to the R-factor dual (see ``refine``)
        self.escalate = formulation == "auto"
        if formulation == "auto":
            formulation = choose_formulation(problem)
            if formulation == "dual" and 2.0 * problem.N * problem.n**2 > R_FACTOR_MAX_FLOPS and not _cheap_r(problem):
                formulation = "gram"
        self.formulation = formulation
        self.rounding, self.deflation_tol = rounding, deflation_tol
        self.factor_rounding = factor_rounding
        D = problem.n if self.formulation != "primal" else problem.N
        if block_size is None:
            large = self.formulation != "primal" and D > LARGE_BLOCK_MIN_N
            block_size = LARGE_BLOCK_SIZE if large else BLOCK_SIZE
        s = int(min(block_size, max(D - 1, 0)))
        # drawn on the host and moved to the data's namespace: the same Omega on every backend
        self.Omega = asarray(default_rng(random_state).standard_normal((D, s)), problem.xp, dtype=problem.xp.float64)
        self.max_dim = max_dim
        self.truncate = bool(truncate)

    def prepare(self, params) -> ShiftState:
        return _KrylovState(self, params)


class _KrylovState(ShiftState):
    method = "krylov"
    exact = False
    vectorized = True

    def __init__(self, ev, params):
        self.problem, self.params, self.form, self._ev = ev.problem, params, ev.formulation, ev
        self.dual = self.form != "primal"
        self.escalated = False  # moved from the Gram form to the R-factor dual by ``refine``
        self.status = "converged"
        self.history = []
        self._tail_tol = TAIL_RTOL
        self._build(truncate=ev.truncate)

    def _build(self, truncate: bool) -> None:
        """The operator, data vector and estimator; ``truncate``: leading block of a TC/DI dual."""
        p, params, ev = self.problem, self.params, self._ev
        self.k, self.tail_trace = p.n, 0.0
        if self.dual:
            diag_G = p.sqrt_gram_diagonal(params) if truncate and p.kernel.sqrt_triangular else None
            if diag_G is not None:
                self.trace = float(np.sum(diag_G))
                k = p.kernel.truncation_index(p.n, params, p.gram, p.gram_prefix, rel_tol=self._tail_tol)
                self.k, self.tail_trace = k, float(np.sum(diag_G[k:]))
            else:
                self.trace = p.kernel_trace_gram(params)
            if self.form == "dual":
                rf = p.r_factor
                op, b = RDualOperator(rf.R1, p.kernel, params, self.k), rf.w[: self.k]
                self.w_rest2 = float(rf.w[self.k :] @ rf.w[self.k :])
                self.resid2 = rf.residual_norm**2
            else:
                z = p.kernel.sqrt_rmatmat(p.n, params, p.Phty[:, None])[:, 0]
                op, b = DualOperator(p, params, self.k), z[: self.k]
        else:
            self.trace = p.kernel_trace_gram(params)
            op, b = PrimalOperator(p, params), p.y
        trace = self.trace - self.tail_trace
        self.Omega = ev.Omega[: self.k, :] if self.dual else ev.Omega
        # the n x n duals grow to their full dimension when needed: keep (almost) every direction
        tol = ev.deflation_tol if ev.deflation_tol is not None else (DUAL_DEFLATION_TOL if self.dual else None)
        self.est = AugmentedKrylov(
            op, b, trace=trace, Omega=self.Omega, max_dim=ev.max_dim, rounding=ev.rounding, deflation_tol=tol
        )
        self.est.extend(2)

    def bounds(self, lam) -> ShiftBounds:
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        b = self.est.bounds(lam)
        if not self.dual:
            return b
        p = self.problem
        # Truncation (eps = tr G22 > 0): with B = Phi L = [B1 B2] and A1 = B1 B1^T, A1 <= A <= A1 + eps I,
        # so q1(lam + eps) <= q(lam) <= q1(lam) and
        # log det(A1 + lam) <= l(lam) <= log det(A1 + lam) + (n - k) log(1 + eps / ((n - k) lam)).
        eps = self.tail_trace
        b_eps = self.est.bounds(lam + eps) if eps > 0 else b
        m = p.n - self.k
        extra = (p.N - self.k) * np.log(lam)
        trunc = m * np.log1p(eps / (m * lam)) if m > 0 else 0.0
        l_lo, l_hi = b.l_lower + extra, b.l_upper + extra + trunc
        l_est = np.clip(b.l_est + extra + 0.5 * trunc, l_lo, l_hi)
        if self.form == "dual":
            # q1(s) = w_k^T (H_k + s)^{-1} w_k + ||w_rest||^2 / s: a sum of positive terms, and the LS
            # residual r (orthogonal to range(Phi)) enters exactly as ||r||^2 / lam.
            r2, wr2 = self.resid2, self.w_rest2
            q_lo = r2 / lam + b_eps.q_lower + wr2 / (lam + eps)
            q_hi = r2 / lam + b.q_upper + wr2 / lam
            q_est = r2 / lam + b.q_est + wr2 / lam
        else:
            # Gram form (Woodbury): q1(s) = (||y||^2 - z1^T (G11 + s)^{-1} z1) / s, whatever the accuracy of
            # the computed LS solution (splitting ||y||^2 into ||r||^2 + ||Phi g_LS||^2 holds only for the exact
            # one: with g_LS from CG or a rank-truncated solve on a low-pass input, N = 1e5, n = 2000, the split
            # was off by 2 r^T Phi g and moved F by 1.9 outside its bounds).  The difference cancels at small s;
            # its rounding (a few eps ||y||^2 per term) enters both bounds; q1 >= 0 (q1(s) >= ||r*||^2 / s).
            y2 = p.y_norm2
            rnd = 8.0 * _EPS * np.sqrt(self.k) * y2
            q_lo = np.maximum(y2 - b_eps.q_upper - rnd, 0.0) / (lam + eps)
            q_hi = (y2 - b.q_lower + rnd) / lam
            q_est = (y2 - b.q_est) / lam
        q_est = np.clip(q_est, q_lo, q_hi)
        return ShiftBounds(lam, q_lo, q_hi, l_lo, l_hi, b.dim, q_est=q_est, l_est=l_est)

    def trace_and_order(self):
        return self.trace, self.problem.n

    def refine(self, gap_ok, warn: bool = True) -> bool:
        """Grow the space geometrically until ``gap_ok`` holds; ``False`` (and a warning) when it cannot."""
        while True:
            ok = gap_ok(self.bounds)
            self.history.append((self.est.dim, ok))
            if ok:
                self.status = "converged"
                return True
            if self.form == "dual" and not self.est.has_factor and self._ev.rounding is None:
                # early where the deflated remainder and residual are affordable (they need the factor)
                early = self.est.dim >= FACTOR_ATTACH_FRACTION * self.est.D and self.k**2 <= DEFLATED_TAIL_MAX_ENTRIES
                if self.est.exhausted or early:
                    # rounding is what the bounds cannot resolve at small lam: the square-root model
                    self._attach_factor(self.est)
                    continue
            if self.est.exhausted:
                if self.form == "gram" and self._ev.escalate and self._r_factor_affordable():
                    # the Gram form's cancellation is what the bounds cannot resolve (high SNR): the R-factor
                    # dual has none; its tall QR is paid once per problem (cached), as the exact paths do
                    self.form, self.escalated = "dual", True
                    self._build(truncate=self._ev.truncate)
                    continue
                if self.k < self.problem.n and self.est.max_dim >= self.k and self._tail_blocks(gap_ok):
                    # the truncated tail (shift eps = tr G22) is what the bounds cannot resolve: a longer
                    # leading block (tail 1e-6 times smaller: for TC k grows by 14 / log10(1 / beta)), then
                    # the whole dual
                    self._tail_tol *= TAIL_SHRINK
                    self._build(truncate=self._tail_tol > TAIL_RTOL_MIN)
                    continue
                break
            self.est.extend_to(max(self.est.dim + 1, int(self.est.dim * 1.3)))
        # Exhausted: the space is invariant up to the deflation tolerance (or at its budget) and the
        # bounds still do not meet the tolerance at some shift; report them as they are.
        self.status = "budget"
        why = "numerically invariant" if self.est.invariant else f"at its budget {self.est.max_dim}"
        if warn:
            warnings.warn(
                f"krylov: bounds did not meet the tolerance at subspace dimension {self.est.dim} "
                f"({why}); the result is reported with its bounds",
                KrylovBudgetWarning,
                stacklevel=3,
            )
        return False

    def _r_factor_affordable(self) -> bool:
        """The thin QR of ``Phi`` within ``R_FACTOR_ESCALATE_FLOPS`` (or already computed)."""
        p = self.problem
        if "r_factor" in getattr(p, "__dict__", {}):
            return True
        return hasattr(p, "r_factor") and 2.0 * p.N * p.n**2 <= R_FACTOR_ESCALATE_FLOPS

    def _tail_blocks(self, gap_ok) -> bool:
        """Whether the truncated tail is what keeps ``gap_ok`` from holding: it would hold without the tail's
        terms (a decision only; those bounds are not certified)."""
        eps = self.tail_trace
        self.tail_trace = 0.0
        try:
            return bool(gap_ok(self.bounds))
        finally:
            self.tail_trace = eps

    def _attach_factor(self, est) -> None:
        """Square-root rounding model for ``est`` (R-factor dual): ``B = R1 L`` (see :mod:`..augmented`)."""
        p = self.problem
        factor = RDualFactor(p.r_factor.R1, p.kernel, self.params, self.k)
        # dense square roots (clipped eigendecompositions) differ from the kernel's matmat by ~16 eps ||Kbar||
        mismatch = 0.0 if factor.dense is None else DENSE_SQRT_MISMATCH
        est.attach_factor(factor, rounding=self._ev.factor_rounding, mismatch=mismatch)

    def bound_history(self, lam) -> list:
        """``(dim, ShiftBounds)`` after each block step of a fresh build of the same space."""
        final = self.est
        fresh = AugmentedKrylov(
            final.A,
            final.b,
            trace=final.trace,
            Omega=self.Omega,
            max_dim=final.max_dim,
            rounding=final.rounding,
            deflation_tol=final.deflation_tol,
        )
        if final.has_factor:
            self._attach_factor(fresh)
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
        return dual_posterior(self.problem, self.params, lam, self.est if self.form == "gram" else None)

    def stats(self) -> dict:
        return {
            "subspace_dim": self.est.dim,
            "matvecs": self.est.matvecs,
            "status": self.status,
            "formulation": self.form,
            "escalated_from_gram": self.escalated,
            "invariant": self.est.invariant,
            "complete": self.est.complete,
            "dropped_norm": self.est.dropped_norm,
            "rounding": self.est.rounding_delta(),
            "rounding_model": "square-root" if self.est.has_factor else "shift",
            "factor_rounding": self.est.factor_delta() if self.est.has_factor else None,
            "dual_size": self.k if self.dual else None,
        }
