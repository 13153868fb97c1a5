"""Evaluators of the two expensive terms of the objective (DESIGN §3).

For fixed kernel shape parameters, every evaluator gives, for an array of
shifts ``lam = sigma2 / c``,

* ``q(lam) = y^T (A + lam I)^{-1} y`` and
* ``l(lam) = log det(A + lam I_N)``,

with ``A = Phi Kbar Phi^T``, as lower/upper bounds (equal for the exact
methods), plus the posterior mean and variance of the impulse response.  The
objective ``F`` is assembled from them in :mod:`krylovid.sysid.objective`.

Methods: ``"cholesky"`` (dense ``N x N``, the reference), ``"qr"`` (Chen &
Ljung 2013), ``"lanczos"`` (Lanczos on ``y`` for ``q`` and stochastic Lanczos
quadrature for ``l``, as GP libraries do) and ``"krylov"`` (the augmented
estimator, :mod:`krylovid.sysid.krylov_evaluator`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from ..operators import LinearOperator
from .augmented import AugmentedKrylov, ShiftBounds

__all__ = ["ShiftState", "CholeskyEvaluator", "QREvaluator", "LanczosEvaluator", "PrimalOperator",
           "Posterior"]


@dataclass(frozen=True)
class Posterior:
    """Posterior of the FIR coefficients at one shift.

    Attributes
    ----------
    mean : ndarray of shape (n_tot,)
        ``Kbar Phi^T (A + lam I)^{-1} y`` (independent of ``c`` at fixed ``lam``).
    variance_over_c : ndarray of shape (n_tot,)
        ``diag(Kbar - Kbar Phi^T (A + lam I)^{-1} Phi Kbar)``; times ``c`` it is
        the posterior variance.
    exact : bool
        False when the variance comes from the Krylov projection.
    """

    mean: np.ndarray
    variance_over_c: np.ndarray
    exact: bool = True


class ShiftState:
    """Per-shape-parameter state: bounds of ``q`` and ``l`` for any shifts.

    Subclasses implement :meth:`bounds` and :meth:`posterior`; adaptive ones
    override :meth:`refine`.
    """

    method = "?"
    exact = True

    def bounds(self, lam) -> ShiftBounds:
        raise NotImplementedError

    def posterior(self, lam: float) -> Posterior:
        raise NotImplementedError

    def refine(self, gap_ok, warn: bool = True) -> bool:
        """Grow the approximation until ``gap_ok(self.bounds)`` holds; exact states return True."""
        return True

    def stats(self) -> dict:
        return {"subspace_dim": 0, "matvecs": 0}


def _exact_bounds(lam, q, l, dim=0) -> ShiftBounds:
    return ShiftBounds(lam, q, q.copy(), l, l.copy(), dim)


# ----------------------------------------------------------------------------- Cholesky
class CholeskyEvaluator:
    """Dense reference: ``Sigma/c = A + lam I`` formed (``N x N``) and Cholesky-factored per shift."""

    method = "cholesky"

    def __init__(self, problem, *, max_n: int = 20000):
        if problem.N > max_n:
            raise ValueError(f"method='cholesky' forms an N x N matrix; N={problem.N} exceeds max_n={max_n}")
        self.problem = problem
        self.Phi = problem.dense_regressor

    def prepare(self, params) -> "ShiftState":
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
        return _exact_bounds(lam, q, l)

    def posterior(self, lam) -> Posterior:
        cf = self._factor(lam)
        alpha = sla.cho_solve(cf, self.y, check_finite=False)
        mean = self.PK.T @ alpha
        W = sla.solve_triangular(cf[0], self.PK, lower=True, check_finite=False)
        var = np.diag(self.K) - np.sum(W * W, axis=0)
        return Posterior(mean, np.maximum(var, 0.0))


# ----------------------------------------------------------------------------- QR (Chen & Ljung)
class QREvaluator:
    """Chen & Ljung (2013): one thin QR of ``[Phi y]``, then an ``O(n^3)`` QR per evaluation.

    The triangular factor of ``[Phi y]`` is accumulated over row chunks
    (a tall-skinny QR), so memory stays ``O(chunk * n)`` even for large ``N``.
    """

    method = "qr"

    def __init__(self, problem, *, chunk_rows: int | None = None):
        self.problem = problem
        n, N = problem.n, problem.N
        chunk = chunk_rows or max(4 * (n + 1), 2048)
        R = None
        for start in range(0, N, chunk):
            stop = min(N, start + chunk)
            block = np.concatenate([problem.regressor_rows(start, stop), problem.y[start:stop, None]], axis=1)
            stack = block if R is None else np.concatenate([R, block], axis=0)
            R = np.linalg.qr(stack, mode="r")
        if R.shape[0] < n + 1:  # pragma: no cover (N > n is checked upstream)
            R = np.vstack([R, np.zeros((n + 1 - R.shape[0], n + 1))])
        self.R1, self.R2, self.r = R[:n, :n], R[:n, n], float(R[n, n])

    def prepare(self, params) -> "ShiftState":
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
        stack[n + 1:, :n] = np.sqrt(lam) * np.eye(n)
        R = np.linalg.qr(stack, mode="r")
        return R[:n, :n], R[:n, n], R[n, n]

    def bounds(self, lam) -> ShiftBounds:
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        q, l = np.empty_like(lam), np.empty_like(lam)
        for i, s in enumerate(lam):
            R3, _, R5 = self._factor(s)
            q[i] = R5 ** 2 / s
            l[i] = 2.0 * np.sum(np.log(np.abs(np.diag(R3)))) + (self.N - self.n) * np.log(s)
        return _exact_bounds(lam, q, l)

    def posterior(self, lam) -> Posterior:
        R3, R4, _ = self._factor(lam)
        mean = self.L @ sla.solve_triangular(R3, R4, lower=False, check_finite=False)
        LRinv = sla.solve_triangular(R3, self.L.T, lower=False, trans=1, check_finite=False).T
        return Posterior(mean, lam * np.sum(LRinv * LRinv, axis=1))


# ----------------------------------------------------------------------------- primal operator
class PrimalOperator(LinearOperator):
    """``A = Phi Kbar Phi^T`` (``N x N``) applied with FFT convolutions and the kernel's matmat."""

    def __init__(self, problem, params):
        self.problem, self.params = problem, params
        super().__init__((problem.N, problem.N), symmetric=True)

    def _matmat(self, X):
        p = self.problem
        return p.Phi.matmat(np.asarray(p.kernel.matmat(p.n, self.params, p.Phi.rmatmat(X))))


# ----------------------------------------------------------------------------- Lanczos + SLQ
class LanczosEvaluator:
    """The "separate" baseline: Lanczos on ``y`` for ``q``, SLQ for ``l`` (primal operator).

    ``q`` carries the certified Lanczos bounds; ``l`` is a Monte Carlo estimate
    whose interval is ``+- 2`` standard errors (statistical, not certified).
    Probes are fixed per evaluator (common random numbers).
    """

    method = "lanczos"

    def __init__(self, problem, *, num_probes: int = 16, num_iter: int = 60, random_state=None):
        self.problem = problem
        self.num_probes, self.num_iter = int(num_probes), int(num_iter)
        self.seed = int(np.random.default_rng(random_state).integers(2**63 - 1))

    def prepare(self, params) -> "ShiftState":
        return _LanczosState(self, params)


class _LanczosState(ShiftState):
    method = "lanczos"
    exact = False

    def __init__(self, ev, params):
        from ..sketch import slq_quadrature

        p = ev.problem
        A = PrimalOperator(p, params)
        self.trace = trace = p.kernel_trace_gram(params)
        self.q_est = AugmentedKrylov(A, p.y, trace=trace, block_size=0, max_dim=p.n + 1)
        self.q_est.extend_to(min(p.n + 1, 20))
        # the same probes (same seed) for every shape: common random numbers
        self.quad = slq_quadrature(A, ev.num_probes, min(ev.num_iter, p.n + 1), rng=ev.seed)
        self.problem, self.params = p, params

    def bounds(self, lam) -> ShiftBounds:
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        qb = self.q_est.bounds(lam)
        l, se, _ = self.quad.logdet(lam)
        return ShiftBounds(lam, qb.q_lower, qb.q_upper, l - 2 * se, l + 2 * se, self.q_est.dim,
                           q_est=qb.q_est, l_est=l)

    def refine(self, gap_ok, warn: bool = True) -> bool:
        while True:
            if gap_ok(self.bounds, q_only=True):
                return True
            if self.q_est.exhausted:
                return False
            self.q_est.extend_to(int(self.q_est.dim * 1.5) + 5)

    def posterior(self, lam) -> Posterior:
        from .krylov_evaluator import dual_posterior

        return dual_posterior(self.problem, self.params, lam)

    def stats(self) -> dict:
        return {"subspace_dim": self.q_est.dim, "matvecs": self.q_est.matvecs + self.quad.num_matvecs}
