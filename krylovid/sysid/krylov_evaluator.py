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
    """``G = L^T M L`` (``n x n``), or its leading ``k x k`` block, with ``Kbar = L L^T`` and ``M = Phi^T Phi``.

    The leading block is used for kernels whose square root is upper
    triangular (TC, DI): then ``G[:k, :k] = L_k^T M[:k, :k] L_k`` only needs
    ``M``'s leading block, and the trailing coordinates, whose prior variance
    decays geometrically, are accounted for by the certificate (see
    ``_KrylovState``).
    """

    def __init__(self, problem, params, k: int | None = None):
        self.problem, self.params = problem, params
        n = problem.n
        self.k = n if k is None else int(k)
        self.M = problem.gram if self.k == n else np.ascontiguousarray(problem.gram[:self.k, :self.k])
        super().__init__((self.k, self.k), symmetric=True)

    def _pad(self, X):
        if self.k == self.problem.n:
            return X
        out = np.zeros((self.problem.n, X.shape[1]))
        out[:self.k] = X
        return out

    def _matmat(self, X):
        ker, n, p, k = self.problem.kernel, self.problem.n, self.params, self.k
        LX = np.asarray(ker.sqrt_matmat(n, p, self._pad(X)))[:k]
        return np.asarray(ker.sqrt_rmatmat(n, p, self._pad(self.M @ LX)))[:k]


def dual_diagonal(problem, params):
    """``diag(G) = diag(L^T M L)`` in ``O(n)`` for TC and DI (``None`` for other kernels)."""
    from .kernels import DIKernel, TCKernel

    ker = problem.kernel
    if type(ker) is TCKernel:
        from ..backend import numpy_namespace

        D = np.asarray(ker._d(problem.n, params["beta"], numpy_namespace()))
        return D * problem.gram_prefix
    if type(ker) is DIKernel:
        return params["beta"] ** np.arange(1, problem.n + 1) * np.diag(problem.gram)
    return None


def truncation_index(diag_G, rel_tol: float = 1e-18, minimum: int = 16) -> int:
    """Smallest ``k`` with ``sum(diag_G[k:]) <= rel_tol * sum(diag_G)`` (at least ``minimum``)."""
    tail = np.cumsum(diag_G[::-1])[::-1]
    total = tail[0]
    idx = np.nonzero(tail <= rel_tol * total)[0]
    k = int(idx[0]) if idx.size else diag_G.size
    return int(min(diag_G.size, max(k, minimum)))


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

    def prepare(self, params) -> "ShiftState":
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
            diag_G = dual_diagonal(p, params) if ev.truncate else None
            if diag_G is not None:
                self.trace = float(np.sum(diag_G))
                k = truncation_index(diag_G)
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
    if est is None:
        z = np.asarray(p.kernel.sqrt_rmatmat(p.n, params, p.Phty[:, None]))[:, 0]
        est = AugmentedKrylov(DualOperator(p, params), z, trace=p.kernel_trace_gram(params), block_size=8, rng=0)
        est.extend_to(min(p.n, 200))
    G, z, k = est.A, est.b, est.D   # the (possibly leading-block) dual operator and vector
    Q, theta, S = est.basis()
    QS = Q @ S
    res = cg(G, z, x0=est.solve(lam), rtol=rtol, atol=0.0, maxiter=max(200, k), M=_DeflatedInverse(QS, theta, lam),
             shift=lam)
    pad = np.zeros((p.n, QS.shape[1] + 1))
    pad[:k, 0], pad[:k, 1:] = np.asarray(res.x), QS
    LX = np.asarray(p.kernel.sqrt_matmat(p.n, params, pad))
    mean, LQS = LX[:, 0], LX[:, 1:]
    diagK = _kernel_diagonal(p, params)
    var = lam * np.sum(LQS ** 2 / (theta + lam)[None, :], axis=1) + diagK - np.sum(LQS ** 2, axis=1)
    return Posterior(mean, np.maximum(var, 0.0), exact=bool(est.invariant and k == p.n))


def _kernel_diagonal(problem, params):
    """``diag(Kbar)``: closed form for TC (suffix sums of ``D``) and DI, else from column blocks."""
    from ..backend import numpy_namespace
    from .kernels import DIKernel, TCKernel

    ker, n = problem.kernel, problem.n
    if type(ker) is TCKernel:
        D = np.asarray(ker._d(n, params["beta"], numpy_namespace()))
        return np.cumsum(D[::-1])[::-1]
    if type(ker) is DIKernel:
        return params["beta"] ** np.arange(1, n + 1)
    return problem.kernel_diagonal(params)


class _DeflatedInverse(LinearOperator):
    """``V (Theta + lam)^{-1} V^T + (I - V V^T) / lam``: the Krylov-spectral preconditioner."""

    def __init__(self, V, theta, lam):
        self.V, self.w, self.lam = V, 1.0 / (theta + lam), lam
        super().__init__((V.shape[0], V.shape[0]), symmetric=True)

    def _matmat(self, X):
        C = self.V.T @ X
        return self.V @ (C * self.w[:, None]) + (X - self.V @ C) / self.lam
