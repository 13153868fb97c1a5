"""The ``"spectral"`` evaluator: one SVD per shape serves every shift exactly (DESIGN §3, "Which path when").

With the thin QR ``[Phi y] = [Q1 q] [[R1, w], [0, r]]`` and any square root
``Kbar = L L^T``, ``A = Phi Kbar Phi^T = Q1 B B^T Q1^T`` with ``B = R1 L``
(``n x n``).  With the SVD ``B = U diag(s) V^T`` and ``c = U^T w``, for every
shift ``lam > 0``, in ``O(n)`` and without cancellation:

* ``q(lam) = y^T (A + lam I)^{-1} y = r^2 / lam + sum_i c_i^2 / (s_i^2 + lam)``,
* ``l(lam) = log det(A + lam I_N) = (N - n) log lam + sum_i log(s_i^2 + lam)``,
* posterior mean ``L V diag(s / (s^2 + lam)) c`` and variance over ``c``
  ``lam * diag(L V diag(1 / (s^2 + lam)) V^T L^T)``.

``R1`` never squares the data's condition number (the Gram matrix
``Phi^T Phi`` is not formed), and singular values of ``B`` are accurate to
``eps ||B||`` in absolute terms, so the small eigenvalues that low-pass inputs
create are kept.  Per shape only ``s`` and ``c`` are computed, by the
bidiagonal route of :mod:`.bidiag` (no singular vectors: about the cost of the
singular values alone); the posterior at the optimum comes from the QR factor
``R`` of ``[B; sqrt(lam) I]`` (``R^T R = B^T B + lam I``, no squaring of ``B``):
mean ``L R^{-1} R^{-T} B^T w`` and variance over ``c`` ``lam diag(L (R^T R)^{-1} L^T)``.

**Truncation** (kernels with an upper-triangular square root and a cheap
Gram diagonal, i.e. TC and DI): the leading ``k`` columns of ``B`` are
``[R1_k L_k; 0]``; the rest, ``A2 = Q1 B2 B2^T Q1^T`` with
``0 <= A2 <= eps I``, ``eps = tr(B2^T B2)``, enters certified bounds:
``l`` within ``[l_k, l_k + m log(1 + eps / (m lam))]`` (``m = n - k``) and
``q`` within ``[q_k(lam + eps), q_k(lam)]`` (the shift applies to the ``R1``-range part only:
``r^2 / lam`` is exact).  ``k`` starts where the prior's
tail holds ``1e-16`` of the trace and :meth:`refine` grows it (a thousand times
less trace left out per step) until the bounds on ``F`` meet the tolerance (at
``k = n`` the state is exact).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

from ...backend import is_numpy, svd, to_numpy
from ..augmented import ShiftBounds
from ..gram import truncation_index
from .base import Posterior, ShiftState
from .bidiag import projected_svd

__all__ = ["SpectralEvaluator"]

#: Each refinement of a truncated block leaves out this many times less of the prior's trace.
REFINE_FACTOR = 1e3
#: A truncation index above this share of ``n`` is replaced by ``n`` (cost ``(k / n)^3`` of the full block).
FULL_SHARE = 0.75
#: Block size of LAPACK's ``dtpqrt`` (triangular-pentagonal QR) in the posterior.
_TPQRT_NB = 32

#: Entries of ``R1 L`` below this are flushed to zero (they are below the rounding level of any entry that matters).
_FLUSH = 1e-250


class SpectralEvaluator:
    """Exact spectral evaluator: SVD of ``R1 L`` once per shape, every shift in ``O(n)``.

    Parameters
    ----------
    problem : FIRProblem
    truncate : bool
        For TC/DI kernels, start from the leading block of ``R1 L`` that holds
        all but ``trunc_rtol`` of ``tr(L^T Phi^T Phi L)`` (bounds as in the
        module notes; refined to the tolerance of the caller).
    trunc_rtol : float
        Relative trace left out by the first truncation.
    truncate_min_n : int
        Truncate only from this order on: below it one full factorization
        (about 1.5 ms at ``n = 125``) is cheaper than the adaptive search over
        ``lam`` that a truncated state needs (measured 2-3 ms more per shape
        at ``n = 125``; at ``n = 400`` truncation saves 17-20 ms per small-``beta`` shape).
    projection : {"auto", "bidiagonal", "svd"}
        How each shape gets ``s`` and ``c = U^T w`` (:func:`~.bidiag.projected_svd`):
        ``"auto"`` takes the bidiagonal route without singular vectors where
        LAPACK allows (about half the cost of an SVD with vectors), ``"svd"``
        the full SVD.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> from krylovid.sysid.evaluators import CholeskyEvaluator
    >>> rng = np.random.default_rng(0)
    >>> p = FIRProblem(rng.standard_normal(60), rng.standard_normal(60), 6)
    >>> a = SpectralEvaluator(p).prepare({"beta": 0.6}).bounds([0.1, 10.0])
    >>> b = CholeskyEvaluator(p).prepare({"beta": 0.6}).bounds([0.1, 10.0])
    >>> bool(np.allclose(a.q_lower, b.q_lower) and np.allclose(a.l_upper, b.l_lower))
    True
    """

    method = "spectral"

    def __init__(
        self,
        problem,
        *,
        truncate: bool = True,
        trunc_rtol: float = 1e-16,
        truncate_min_n: int = 200,
        projection: str = "auto",
    ):
        if projection not in ("auto", "bidiagonal", "svd"):
            raise ValueError(f"projection must be 'auto', 'bidiagonal' or 'svd', got {projection!r}")
        self.projection = projection
        self.problem = problem
        self.truncate = bool(truncate)
        self.trunc_rtol = float(trunc_rtol)
        self.truncate_min_n = int(truncate_min_n)
        rf = problem.r_factor
        self.R1, self.w, self.r2 = rf.R1, rf.w, rf.residual_norm**2

    def prepare(self, params) -> ShiftState:
        return _SpectralState(self, params)


def _stacked_r(B, lam: float, *, triangular: bool) -> np.ndarray:
    """Upper-triangular ``R`` of the QR factorization of ``[B; sqrt(lam) I]`` (``R^T R = B^T B + lam I``), with
    no squaring of ``B``; ``dtpqrt`` (``O(k^3 / 1.5)``) when ``B`` is upper triangular, a dense QR otherwise."""
    k = B.shape[0]
    root = np.sqrt(lam) * np.eye(k)
    if triangular:
        R, _, _, info = lapack.dtpqrt(k, min(k, _TPQRT_NB), np.triu(B), root)
        if info == 0:
            return np.triu(R)
    return sla.qr(np.vstack([B, root]), mode="r", check_finite=False)[0][:k]


class _SpectralState(ShiftState):
    method = "spectral"
    vectorized = True

    def __init__(self, ev, params):
        p = ev.problem
        self.ev, self.problem, self.params = ev, p, params
        self.n, self.N = p.n, p.N
        self.diag_G = None
        k = p.n
        if ev.truncate and p.kernel.sqrt_triangular and p.n >= ev.truncate_min_n:
            self.diag_G = p.sqrt_gram_diagonal(params)
            if self.diag_G is not None:
                k = self._size(truncation_index(self.diag_G, ev.trunc_rtol))
        self.factorizations = 0
        self._factor(k)

    @property
    def exact(self) -> bool:
        return self.k == self.n

    def _block(self, k: int) -> np.ndarray:
        """The leading ``k x k`` block of ``B = R1 L`` (the whole ``B`` at ``k = n``), C-ordered."""
        ev, p, n = self.ev, self.problem, self.n
        if not is_numpy(p.xp):
            return self._block_xp(k)
        if k == n:
            B = np.asarray(p.kernel.sqrt_rmatmat(n, self.params, ev.R1.T)).T
        else:
            # columns j < k of an upper-triangular L only mix rows < k: B[:k, :k] = R1[:k, :k] L[:k, :k]
            E = np.zeros((n, k))
            E[:k] = ev.R1[:k, :k].T
            B = np.asarray(p.kernel.sqrt_rmatmat(n, self.params, E))[:k].T
        B = np.ascontiguousarray(B)
        B[np.abs(B) < _FLUSH] = 0.0  # subnormal entries slow the SVD down by orders of magnitude
        return B

    def _block_xp(self, k: int):
        """:meth:`_block` in a non-NumPy namespace: formed on the device, flushed there too."""
        ev, p, n, xp = self.ev, self.problem, self.n, self.problem.xp
        R1t = xp.permute_dims(ev.R1, (1, 0))
        if k == n:
            B = xp.permute_dims(p.kernel.sqrt_rmatmat(n, self.params, R1t), (1, 0))
        else:
            E = xp.concat([R1t[:k, :k], xp.zeros((n - k, k), dtype=R1t.dtype)], axis=0)
            B = xp.permute_dims(p.kernel.sqrt_rmatmat(n, self.params, E)[:k, :], (1, 0))
        return xp.where(xp.abs(B) < _FLUSH, 0.0, B)

    def _factor(self, k: int) -> None:
        """Singular values of the leading ``k x k`` block of ``B`` and ``c = U^T w[:k]`` (no singular vectors)."""
        ev = self.ev
        sv = projected_svd(self._block(k), ev.w[:k], method=ev.projection)
        s, c = to_numpy(sv.s), to_numpy(sv.c)  # length k: the only data that come to the host per shape
        self.k, self.s2, self.c2 = k, s * s, c * c
        self.w2_tail = float(ev.w[k:] @ ev.w[k:])
        self.eps = float(np.sum(self.diag_G[k:])) if k < self.n else 0.0
        self.factorizations += 1

    def _q(self, lam, shift=0.0, inv=None):
        """``q`` of the leading block at ``lam`` with the ``R1``-range part shifted by ``shift`` (the residual
        ``r`` is orthogonal to the range of ``A``: its ``r^2 / lam`` is exact whatever the truncation);
        ``inv``: ``1 / (s^2 + lam + shift)`` when already at hand."""
        ls = lam + shift
        if inv is None:
            inv = 1.0 / (self.s2[:, None] + ls[None, :])
        return self.ev.r2 / lam + self.w2_tail / ls + self.c2 @ inv

    def bounds(self, lam) -> ShiftBounds:
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        if not np.all(lam > 0):
            raise ValueError("lam must be positive")
        D = self.s2[:, None] + lam[None, :]
        q_hi = self._q(lam, inv=1.0 / D)
        l_lo = (self.N - self.k) * np.log(lam) + np.log(D).sum(axis=0)
        if self.k == self.n:
            return ShiftBounds(lam, q_hi, q_hi, l_lo, l_lo, self.n)
        m = self.n - self.k
        q_lo = self._q(lam, self.eps)
        l_hi = l_lo + m * np.log1p(self.eps / (m * lam))
        return ShiftBounds(lam, q_lo, q_hi, l_lo, l_hi, self.k, q_est=q_hi, l_est=l_lo)

    def trace_and_order(self):
        return float(np.sum(self.s2)) + self.eps, self.n

    def refine(self, gap_ok, warn: bool = True) -> bool:
        """Grow the truncation index until ``gap_ok(self.bounds)`` holds (exact at ``k = n``): each step leaves
        out ``REFINE_FACTOR`` times less of the trace (the bounds' gaps scale with it) and adds at least a quarter."""
        while not gap_ok(self.bounds):
            if self.k == self.n:  # pragma: no cover - exact bounds always meet any tolerance
                return False
            tail = self.eps / max(float(np.sum(self.diag_G)), np.finfo(float).tiny)
            k = max(truncation_index(self.diag_G, tail / REFINE_FACTOR), -(-5 * self.k // 4))
            self._factor(self._size(k))
        return True

    def _size(self, k: int) -> int:
        """``k``, or ``n`` when the leading block would hold more than ``FULL_SHARE`` of it (not worth a second
        factorization: the cost grows like ``k^3``)."""
        return self.n if k >= FULL_SHARE * self.n else int(k)

    def posterior(self, lam) -> Posterior:
        """Posterior from the current truncation; with a truncated block the mean and variance are those of
        the prior restricted to its first ``k`` whitened coordinates, plus the (unreduced) prior variance of
        the rest: exact up to the tail's share of the trace (``Posterior.exact`` is False then).  NumPy: from
        the QR factor of ``[B; sqrt(lam) I]`` (backward stable like the ``"qr"`` evaluator, no SVD with
        vectors); other backends: from the backend's SVD."""
        p, ev, n, k = self.problem, self.ev, self.n, self.k
        if not is_numpy(p.xp):
            return self._posterior_xp(float(lam))
        B = self._block(k)
        R = _stacked_r(B, lam, triangular=p.kernel.sqrt_triangular)  # R^T R = B^T B + lam I
        Lk = np.asarray(p.kernel.sqrt_matmat(n, self.params, np.eye(n, k)))  # the first k columns of L
        Y = sla.solve_triangular(R, Lk.T, trans="T", check_finite=False)  # R^{-T} L_k^T
        z = sla.solve_triangular(R, B.T @ ev.w[:k], trans="T", check_finite=False)
        mean = Y.T @ z  # L_k (B^T B + lam I)^{-1} B^T w
        var = lam * np.sum(Y * Y, axis=0)  # lam diag(L_k (B^T B + lam I)^{-1} L_k^T)
        if k < n:
            E = np.zeros((n, n - k))
            E[np.arange(k, n), np.arange(n - k)] = 1.0
            L2 = np.asarray(p.kernel.sqrt_matmat(n, self.params, E))
            var = var + np.sum(L2 * L2, axis=1)
        return Posterior(mean, var, exact=k == n)

    def _posterior_xp(self, lam: float) -> Posterior:
        """:meth:`posterior` in a non-NumPy namespace (the backend's SVD; everything stays on the device)."""
        p, ev, n, k, xp = self.problem, self.ev, self.n, self.k, self.problem.xp
        U, s, Vt = svd(self._block(k))
        s2 = s * s
        V = xp.concat([xp.permute_dims(Vt, (1, 0)), xp.zeros((n - k, k), dtype=Vt.dtype)], axis=0)
        LV = p.kernel.sqrt_matmat(n, self.params, V)
        c = xp.permute_dims(U, (1, 0)) @ ev.w[:k]
        mean = LV @ (s * c / (s2 + lam))
        var = lam * xp.sum(LV * LV / (s2 + lam)[None, :], axis=1)
        if k < n:
            L2 = p.kernel.sqrt_matmat(n, self.params, xp.eye(n, n - k, k=-k, dtype=V.dtype))
            var = var + xp.sum(L2 * L2, axis=1)
        return Posterior(mean, var, exact=k == n)

    def stats(self) -> dict:
        return {
            "subspace_dim": self.k,
            "matvecs": 0,
            "factorizations": self.factorizations,
            "truncated": self.k < self.n,
        }
