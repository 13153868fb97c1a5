"""The augmented block Krylov estimator (DESIGN §3).

For a symmetric positive semidefinite operator ``A`` (``D x D``) and a vector
``b``, ONE orthonormal basis ``Q`` of the block Krylov space
``K_q(A, [Omega, b])`` gives, for every shift ``lam > 0`` at ``O(d)`` cost,

* ``q(lam) = b^T (A + lam I)^{-1} b`` with certified bounds
  ``q_hat <= q <= q_hat + ||B_next z_last(lam)||^2 / lam``, and
* ``l(lam) = log det(A + lam I)`` with certified bounds
  ``l_hat <= l <= l_hat + m log(1 + (tr A - tr T) / (m lam)) <= l_hat + (tr A - tr T) / lam``
  (``m = D - d``),

where ``T = Q^T A Q = S diag(theta) S^T``.  The random block ``Omega`` captures
the dominant eigenspace of ``A``, which deflates it for the ``b``-part and
gives the log-determinant for free.

Floating point (DESIGN §3, item 6).  Three things the exact-arithmetic bounds
do not see enter them here:

* **deflation drops** — directions dropped from a block are a residual ``Z``
  of the recurrence (``||Z||_F`` tracked by the Lanczos process); it enters
  the data-fit residual bound; ``T`` is the explicitly computed projection
  ``Q^T A Q`` (all blocks, :attr:`BlockLanczos.projection`), so a later block
  that sees a dropped direction keeps the Galerkin value a lower bound; a
  space declared invariant below the full dimension is continued with a
  fresh random block in its complement instead of being called exact;
* **rounding** — the computed operator, ``T`` and its eigenvalues are those of
  some ``A'`` with ``A - delta I <= A' <= A + delta I``, ``delta = rounding``
  (default ``8 eps ||A||``: four times the backward error measured for the
  FIR operators against extended precision); since ``q`` decreases and ``l`` increases in
  ``lam``, every bound is evaluated at the shift moved by ``delta`` in the safe
  direction, and below ``lam <= delta`` only the Galerkin lower bound and the
  trivial bounds ``q <= ||b||^2 / lam`` and ``l >= D log lam`` remain: the
  estimator refuses to certify there;
* **the trace remainder** ``tr A - tr T`` carries a rounding guard, and a
  remainder more negative than the guard (an inconsistent ``trace``) makes the
  log-det upper bound infinite instead of being clipped to zero.

Square-root rounding model (:meth:`AugmentedKrylov.attach_factor`).  The shift
model above costs a relative error ``delta / lam``: hopeless once
``lam / ||A|| ~ 1e-10`` (high SNR).  When ``A = B B^T`` with a factor ``B``
(``D x m``) whose products are cheap (the R-factor dual: ``B = R1 L``), the
rounding is structured and costs ``~ delta_B / sqrt(lam)`` instead:

* ``W = fl(B^T Q)`` equals ``B'^T Q`` exactly for some ``B' = B + E`` with
  ``||E|| <= delta_B`` (backward error of the products and of the SVD of
  ``W``).  Ritz values are the squared singular values of ``W`` — ``W^T W`` is
  never formed — so they and the Galerkin value are *exact* for the one
  operator ``A' = B' B'^T`` (up to the orthogonality defect
  ``||Q^T Q - I|| <= eta``, which only rescales ``lam`` by ``1 +- eta``).
* Log-det (any ``d``): by Weyl each singular value of ``B^T Q_o`` (``Q_o``
  the orthonormal polar factor of ``Q``) lies within ``delta_B`` of one of
  ``W (Q^T Q)^{-1/2}``, so interlacing for ``A`` itself gives
  ``sum log((s_i - delta_B)_+^2 + lam) <= l - (D - d) log lam`` and, with the
  trace remainder, the matching upper bound with ``s_i + delta_B``: the error
  per eigenvalue is at most ``2 s delta_B / (s^2 + lam) <= delta_B / sqrt(lam)``,
  and only eigenvalues near ``lam`` come close to it.
* Data fit on a complete space (``d = D``): with ``M = A + lam``,
  ``M' = A' + lam``, ``x' = M'^{-1} b`` and ``A' - A = E B'^T + B E^T``,
  ``q - q' = x^T (A' - A) x'`` gives
  ``|q - q'| <= delta_B ||x'|| (||B'^T x'|| (1 + t/2) + sqrt(q)) + t^2 ||B'^T x'||^2``
  with ``t = delta_B / sqrt(lam)`` (using ``||M^{-1} B|| <= 1 / (2 sqrt(lam))``);
  ``||x'||`` and ``||B'^T x'||`` come from the Ritz representation.  The
  rounding of ``Q^T b`` (``||dc|| <= DOT_FACTOR eps sqrt(D) ||b||``) adds
  ``2 ||dc|| ||x'|| + ||dc||^2 / lam``.
* Data fit on a smaller space: ``||M^{-1/2} (M' - M) M^{-1/2}|| <= kappa =
  2 t + t^2`` (since ``||M^{-1/2} B|| <= 1``), so ``(1 - kappa) q' <= q <=
  (1 + kappa) q'``; the residual bound of ``q'`` is formed for ``A'``: the
  unstructured rounding of the recurrence (``sqrt(d) delta`` of the shift
  model), ``||B|| delta_B ||x'||`` and ``delta_B ||B'^T x'||`` enter the
  residual norm, i.e. squared, at second order.

* Deflated remainder and residual (:meth:`AugmentedKrylov.deflated_tail`,
  when ``D m <= DEFLATED_TAIL_MAX_ENTRIES``).  Once the space has captured
  all but a rounding-level part of ``A``, the trace remainder
  ``tr A - ||W||_F^2`` is a cancelling difference whose guard
  (``~ eps d ||A||``) dominates the log-det bound ``tail / lam``, and the
  recurrence's residual carries ``sqrt(d) delta ||x'||``; both then stop
  shrinking as the space grows, and before this only the complete space
  certified high-SNR values.  With the explicit factor, ``P = B - Q (Q^T B)``
  gives both directly: ``tr(Q_perp^T A Q_perp) = ||(I - Pi) B||_F^2 <=
  ||P||_F^2`` (``Pi`` the orthogonal projector onto the space: ``Q Q^T B``
  is one candidate fit, so no orthogonality of ``Q`` is assumed) and the
  residual of the Galerkin solution ``Q z`` for ``B' B'^T`` is
  ``b_perp - (I - Pi) B' W z`` with ``||(I - Pi) B' W z|| <= ||P W z|| +
  delta_B ||W z||``; the rounding of ``P`` (products and explicit ``B``) is
  added to both.  With that residual the data fit gets the second-order model
  of the complete space (``||x'|| <= ||z|| + ||r'|| / lam``,
  ``||B'^T x'|| <= ||W z|| + ||r'|| / (2 sqrt(lam))``).  Measured (DC,
  N = 3000, n = 300, SNR 1e4, 30 scales around the optimum): the bounds
  certify every value from dimension 128 on instead of only at 300 (the
  evaluator, which attaches the factor at half the dimension, stops at 168).

* Second moment of the unexplored part (same condition): with ``s2 =
  ||P^T P||_F^2 >= sum mu_i^2`` (``mu_i`` its eigenvalues) the log-det gap
  is no longer only Jensen's ``m log(1 + t / (m lam))`` over the trivial
  ``0``: a quadratic minorant of ``log(1 + x / lam)`` (:func:`log_minorants`)
  raises the lower bound to ``alpha t' - beta s2`` (``t'``: the trace left
  in the Schur complement after the coupling to the space), and the
  curvature of the logarithm takes the variance term ``(s2 - t^2 / m) /
  (2 (lam + sqrt(s2))^2)`` off the upper one (details and rounding in
  :meth:`AugmentedKrylov._second_moment_terms`).  This is what a flat
  unexplored floor needs (a dense kernel square root's rounding floor, a
  low-pass input's small singular values): measured with the factor from the
  first block (``python benchmarks/bound_study.py``), TC, N = 3000, n = 300,
  SNR 1e4: low-pass 298 -> 34, white 197 -> 108; SS white 300 -> 247.

Both models are rigorous; :meth:`AugmentedKrylov.bounds` keeps the tighter
side of each bound.  The model is measured, like ``ROUNDING_FACTOR``: against
long-double products (``R1`` and ``L`` taken as exact), the backward error
``||fl(B^T Q) - B^T Q||`` of ``B = R1 L`` for an orthonormal ``Q`` is
0.4..2.0 eps ||B|| for TC/DC (structured O(n) square roots) and 1.6..5.9
eps ||B|| for SS/SE (dense clipped-eigendecomposition square roots), white
and low-pass inputs (cond(R1) up to 5e7), n = 100, 300 and 800; and
``||R1|| ||L|| <= 1.4 ||R1 L||`` there, so the Householder backward error of
``R1`` (columnwise ``eps``-level in ``Phi``) is of the same size.  The default
``delta_B = FACTOR_ROUNDING eps sqrt(m) ||B||_est`` (20, 35 and 57 eps ||B||
at n = 100, 300 and 800) covers both with a margin of five or more.  The certificate is
for the prior ``L L^T`` of the factor (the clipped eigendecomposition for
SS/SE, as in the exact QR and spectral evaluators; within ``16 eps ||Kbar||``
of ``Kbar``) and for the computed R factor of ``[Phi y]`` (not modelled: the
backward error of an ``R1`` taken from the Cholesky factor of ``Phi^T Phi``,
which :class:`~krylovid.sysid.FIRProblem` uses only when ``cond(R1) <= 1e3``,
is relative to ``Phi^T Phi``, not to ``Phi``); against a
long-double reference (Householder QR of ``[Phi y]`` and of
``[B^T; sqrt(lam) I]``, checked against 40-digit mpmath) every certified value
lies inside its bounds (tests/test_sysid_certification.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import array_namespace, asarray, default_rng, svd, to_numpy
from ..krylov import BlockLanczos

__all__ = ["AugmentedKrylov", "ShiftBounds", "log_minorants"]

_EPS = float(np.finfo(np.float64).eps)
#: ``delta = ROUNDING_FACTOR * eps * ||A||``: the backward error of the FIR operators' matvecs, measured against
#: extended-precision products (TC/DC/SS/SE, white and low-pass inputs, n = 100..300), is 1.2..1.8 eps ||A||;
#: the factor covers it and the rounding of the projection ``T`` with a margin of two.
ROUNDING_FACTOR = 8.0
#: Square-root model: ``delta_B = FACTOR_ROUNDING * eps * sqrt(m) * ||B||_est`` bounds the backward error of the
#: computed ``W = B^T Q`` and of its SVD (see the module notes for the measurements behind it).
FACTOR_ROUNDING = 2.0
#: ``||Q^T Q - I|| <= ORTH_FACTOR * eps * d``: orthogonality of the basis (full reorthogonalization, twice).
ORTH_FACTOR = 4.0
#: ``||fl(Q^T b) - Q^T b|| <= DOT_FACTOR * eps * sqrt(D) * ||b||``.
DOT_FACTOR = 4.0
#: :meth:`AugmentedKrylov.deflated_tail` forms ``B`` explicitly only up to this many entries (128 MiB in float64).
DEFLATED_TAIL_MAX_ENTRIES = 2**24
#: The directly measured remainder replaces the difference ``tr A - ||W||_F^2`` once that is below this many
#: times its rounding allowance (the guard dominates the bound), and the direct residual the recurrence's once
#: the latter's rounding part exceeds this fraction of it (inverse).
DIRECT_TAIL_RATIO = 100.0
#: Seed of the restart blocks when no ``rng`` is given (common random numbers across operators).
_RESTART_SEED = 20240607


@dataclass(frozen=True)
class ShiftBounds:
    """Certified bounds of ``q(lam)`` and ``l(lam)`` on an array of shifts.

    Attributes
    ----------
    lam : ndarray of shape (k,)
    q_lower, q_upper : ndarray of shape (k,)
        Bounds of ``b^T (A + lam I)^{-1} b``.
    l_lower, l_upper : ndarray of shape (k,)
        Bounds of ``log det(A + lam I)``.
    dim : int
        Dimension of the Krylov space they come from.
    q_est, l_est : ndarray of shape (k,), optional
        Point estimates (Galerkin for ``q``; for ``l`` the Ritz values plus the
        unexplored trace spread over the complement).  Default: midpoints.
    """

    lam: np.ndarray
    q_lower: np.ndarray
    q_upper: np.ndarray
    l_lower: np.ndarray
    l_upper: np.ndarray
    dim: int
    q_est: np.ndarray | None = None
    l_est: np.ndarray | None = None

    def estimates(self):
        """``(q_est, l_est)``, midpoints of the bounds where no estimate was given."""
        q = 0.5 * (self.q_lower + self.q_upper) if self.q_est is None else self.q_est
        l = 0.5 * (self.l_lower + self.l_upper) if self.l_est is None else self.l_est
        return q, l


def log_minorants(lam, num: int = 57):
    """Quadratic minorants ``alpha x - beta x^2 <= log(1 + x / lam)`` for all ``x >= 0``.

    Each is the parabola through the origin tangent to ``g(x) = log(1 + x / lam)`` at a point ``x0``
    (``num`` points, ``x0 / lam`` in ``[1e-6, 1e8]``); it stays below ``g`` when ``x0`` lies beyond the
    inflection point ``1 / sqrt(2 beta) - lam`` of ``g - alpha x + beta x^2`` (convex there with its minimum
    0 at ``x0``, concave before it with non-negative ends).  Tangent points before it get ``alpha = beta =
    0`` (the trivial minorant).  With ``sum x_i = t`` and ``sum x_i^2 <= s2``:
    ``sum g(x_i) >= max_k (alpha_k t - beta_k s2)``.

    Parameters
    ----------
    lam : ndarray of shape (k,)
        Positive shifts.
    num : int
        Tangent points per shift.

    Returns
    -------
    alpha, beta : ndarrays of shape (num, k), non-negative

    Examples
    --------
    >>> import numpy as np
    >>> alpha, beta = log_minorants(np.array([1e-3]))
    >>> x = np.geomspace(1e-9, 1e9, 200)
    >>> bool(np.all(alpha * x - beta * x**2 <= np.log1p(x / 1e-3) + 1e-12))
    True
    """
    lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
    r = np.geomspace(1e-6, 1e8, int(num))[:, None]
    x0 = lam[None, :] * r
    g, gp = np.log1p(r), 1.0 / (lam[None, :] * (1.0 + r))
    beta = (g - x0 * gp) / (x0 * x0)
    alpha = gp + 2.0 * beta * x0
    valid = 1.0 / np.sqrt(2.0 * beta) - lam[None, :] <= x0
    return np.where(valid, alpha, 0.0), np.where(valid, beta, 0.0)


def _host_normal(rng, shape, xp, dtype):
    """Gaussian block drawn by the host generator and moved to ``xp``: the same numbers on every backend
    (CuPy's own generator would make the random blocks, hence the results, depend on the device)."""
    return asarray(rng.standard_normal(shape), xp, dtype=dtype)


class AugmentedKrylov:
    """Joint estimator of ``b^T (A + lam I)^{-1} b`` and ``log det(A + lam I)``.

    Parameters
    ----------
    A : LinearOperator of shape (D, D)
        Symmetric positive semidefinite.
    b : array of shape (D,)
        The data vector.
    trace : float
        ``tr A`` computed exactly (needed for the log-det upper bound).
    Omega : array of shape (D, s), optional
        Random block (common random numbers: pass the same one for every
        operator of a family).  Drawn from ``rng`` when omitted; ``s = 0``
        (``block_size=0``) gives plain Lanczos on ``b`` (no log-det bound
        beyond the trace bound).
    block_size : int
        Columns of ``Omega`` when it is drawn here.
    rng : None, int or Generator
        Source of ``Omega`` and of the restart blocks (default: a fixed seed,
        so that restarts are common random numbers too).
    max_dim : int, optional
        Budget on the subspace dimension (default ``D``).
    deflation_tol : float, optional
        Relative size below which new block directions are dropped (see
        :class:`~krylovid.krylov.BlockLanczos`); smaller keeps more of the
        small eigenvalues and lowers the floor of the bounds.
    rounding : float, optional
        Absolute bound ``delta`` on the rounding error of the operator and of
        the projection (default ``8 eps ||A||_est``); see the module notes.

    Notes
    -----
    With ``A Q = Q T + Q_next B_next E_last^T + Z`` (``Z``: deflation drops) and
    ``z(lam) = (T + lam I)^{-1} Q^T b`` the Galerkin value ``q_hat = b^T Q z`` is a
    lower bound for any subspace (variational principle), and the residual
    ``r = b - (A + lam I) Q z`` has ``||r|| <= ||b_perp|| + ||B_next z_last|| + ||Z||_F ||z||``
    (``b_perp``: the part of ``b`` outside the space), so
    ``q - q_hat = r^T (A + lam I)^{-1} r <= ||r||^2 / lam``.  The log-det bounds
    follow from Cauchy interlacing (lower) and from the Schur complement on the
    orthogonal complement of the space with ``log(lam + mu) <= log lam + mu / lam``
    (upper).  Rounding is carried by the shift ``lam -/+ delta``.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.operators import Dense
    >>> rng = np.random.default_rng(0)
    >>> F = rng.standard_normal((50, 5)); A = F @ F.T; b = rng.standard_normal(50)
    >>> est = AugmentedKrylov(Dense(A), b, trace=np.trace(A), block_size=2, rng=0)
    >>> est.extend_to(50)
    >>> bd = est.bounds(np.array([0.5]))
    >>> exact = b @ np.linalg.solve(A + 0.5 * np.eye(50), b)
    >>> bool(bd.q_lower[0] <= exact <= bd.q_upper[0])
    True
    """

    def __init__(
        self,
        A,
        b,
        *,
        trace: float,
        Omega=None,
        block_size: int = 8,
        rng=None,
        max_dim: int | None = None,
        deflation_tol: float | None = None,
        rounding: float | None = None,
    ):
        xp = array_namespace(b)
        D = A.shape[0]
        if b.shape != (D,):
            raise ValueError(f"b must have shape ({D},), got {tuple(b.shape)}")
        self._rng = default_rng(_RESTART_SEED if rng is None else rng)
        if Omega is None and block_size > 0:
            Omega = _host_normal(self._rng, (D, block_size), xp, b.dtype)
        start = b[:, None] if Omega is None or Omega.shape[1] == 0 else xp.concat([Omega, b[:, None]], axis=1)
        if rounding is not None and not (np.isfinite(rounding) and rounding >= 0):
            raise ValueError(f"rounding must be a finite number >= 0, got {rounding!r}")
        self.A, self.b, self.D = A, b, D
        self.trace = float(trace)
        self.rounding = rounding
        self.max_dim = D if max_dim is None else min(int(max_dim), D)
        self._restart_size = max(1, int(start.shape[1]) - 1)
        self.deflation_tol = deflation_tol
        self._lanczos = BlockLanczos(A, start, deflation_tol=deflation_tol)
        self._qtb = np.zeros(0)
        self._spectral = None
        self._factor, self._W, self._fspectral = None, None, None
        self._factor_dense, self._direct_tail = None, None
        self.factor_rounding, self.factor_mismatch = None, 0.0
        self._stuck = False
        self._lanczos.extend(1)  # the space always holds at least the start block
        self.b_norm = float(to_numpy(xp.sqrt(xp.sum(b * b))))
        Q = self._lanczos.Q
        perp = b - xp.matmul(Q, xp.matmul(xp.permute_dims(Q, (1, 0)), b))
        #: ``||b - Q Q^T b||`` after the start block; it only shrinks as the space grows.
        self.b_perp = float(to_numpy(xp.sqrt(xp.sum(perp * perp))))

    # ---------------------------------------------------------------- growth
    @property
    def dim(self) -> int:
        return int(self._lanczos.dim)

    @property
    def matvecs(self) -> int:
        return int(self._lanczos.matvecs)

    @property
    def invariant(self) -> bool:
        """True when the current Lanczos process is numerically invariant (up to its deflation drops)."""
        return bool(self._lanczos.invariant)

    @property
    def complete(self) -> bool:
        """True when the space is the whole ``D``-dimensional space (no trace remainder)."""
        return self.dim >= self.D

    @property
    def dropped_norm(self) -> float:
        """``||Z||_F``: what deflation dropped from the recurrence (enters the bounds)."""
        return self._lanczos.dropped_norm

    @property
    def exhausted(self) -> bool:
        """True when the space cannot grow any more (whole space, budget, or breakdown)."""
        return self._stuck or self.dim >= self.max_dim

    def extend(self, num_blocks: int = 1) -> None:
        """Add ``num_blocks`` block Lanczos steps (fewer at the budget).

        A process that became invariant below the budget is continued with a
        fresh random block in the complement of the space (:meth:`BlockLanczos.restart`).
        """
        for _ in range(int(num_blocks)):
            if self.exhausted:
                return
            lz = self._lanczos
            if lz.invariant:
                size = min(self._restart_size, self.max_dim - self.dim)
                B = _host_normal(self._rng, (self.D, size), array_namespace(self.b), self.b.dtype)
                if lz.restart(B) == 0:
                    self._stuck = True
                    return
            before = lz.dim
            lz.extend(1)
            self._spectral = self._fspectral = None
            if lz.dim == before and not lz.invariant:  # breakdown (non-finite operator output)
                self._stuck = True
                return

    def extend_to(self, dim: int) -> None:
        """Grow the space until its dimension reaches ``dim`` (or the budget)."""
        dim = min(int(dim), self.max_dim)
        while self.dim < dim and not self.exhausted:
            self.extend(1)

    # ---------------------------------------------------------------- spectra
    def _spectrum(self):
        """Ritz values, ``S^T Q^T b``, the residual coupling and ``S`` (host arrays, cached)."""
        if self._spectral is not None:
            return self._spectral
        lz = self._lanczos
        xp = array_namespace(self.b)
        d = self.dim
        old = self._qtb.shape[0]
        if d > old:
            new = to_numpy(xp.matmul(xp.permute_dims(lz.Q[:, old:d], (1, 0)), self.b))
            self._qtb = np.concatenate([self._qtb, np.asarray(new, dtype=np.float64)])
        T = np.asarray(to_numpy(lz.projection), dtype=np.float64)
        theta, S = np.linalg.eigh((T + T.T) / 2)
        theta = np.maximum(theta, 0.0)
        coef = S.T @ self._qtb[:d]
        p_last = int(lz.block_sizes[-1]) if lz.block_sizes else 0
        Bn = np.asarray(to_numpy(lz.B_next), dtype=np.float64) if not self.invariant else np.zeros((0, p_last))
        coupling = Bn @ S[d - p_last :, :] if Bn.size else np.zeros((0, d))
        self._spectral = (theta, coef, coupling, S)
        return self._spectral

    def ritz_values(self) -> np.ndarray:
        """Eigenvalues of ``T = Q^T A Q`` (ascending), shape ``(d,)``."""
        return self._spectrum()[0].copy()

    def norm_estimate(self) -> float:
        """Lower estimate of ``||A||_2`` (largest Ritz value or block norm seen)."""
        theta = self._spectrum()[0]
        return float(max(self._lanczos.norm_estimate, theta[-1] if theta.size else 0.0))

    def rounding_delta(self) -> float:
        """``delta``: the rounding allowance on the operator (see the module notes)."""
        if self.rounding is not None:
            return float(self.rounding)
        # with a factor attached the bounds are for B B^T, which A's matvecs approximate to factor_mismatch
        return (ROUNDING_FACTOR * _EPS + self.factor_mismatch) * self.norm_estimate()

    def _galerkin(self, s):
        """``q_hat(s)`` and the residual norm bound at shifts ``s > 0``."""
        theta, coef, coupling, _ = self._spectrum()
        W = coef[:, None] / (theta[:, None] + s[None, :])
        q = np.sum(coef[:, None] * W, axis=0)
        res = np.sqrt(np.sum((coupling @ W) ** 2, axis=0)) if coupling.size else np.zeros_like(s)
        drop = self.dropped_norm
        if drop > 0:
            res = res + drop * np.sqrt(np.sum(W * W, axis=0))
        return q, res + self.b_perp

    def _tail(self) -> float:
        """``tr A - tr T`` plus its rounding guard; ``inf`` when it is negative beyond the guard."""
        theta = self._spectrum()[0]
        raw = self.trace - float(np.sum(theta))
        guard = self._trace_guard()
        if raw < -guard:
            return np.inf
        return max(raw, 0.0) + guard

    def _trace_guard(self) -> float:
        """Rounding guard of ``tr A - tr T``."""
        return 4.0 * _EPS * (abs(self.trace) + self.dim * self.norm_estimate())

    def _logdet_ritz(self, s):
        theta = self._spectrum()[0]
        return np.sum(np.log(theta[:, None] + s[None, :]), axis=0) + (self.D - self.dim) * np.log(s)

    def _logdet_gap(self, s):
        m = self.D - self.dim
        if m <= 0:
            return np.zeros_like(s)
        tail = self._tail()
        return m * np.log1p(tail / (m * s)) if np.isfinite(tail) else np.full_like(s, np.inf)

    # ---------------------------------------------------------------- square-root model
    @property
    def has_factor(self) -> bool:
        """Whether the square-root rounding model is in use (:meth:`attach_factor`)."""
        return self._factor is not None

    def attach_factor(self, factor, *, rounding: float | None = None, mismatch: float = 0.0) -> None:
        """Use the square-root rounding model: ``A = B B^T`` with ``B = factor``.

        Parameters
        ----------
        factor : LinearOperator of shape (D, m)
            ``rmatmat(X)`` gives ``B^T X``.  The bounds then hold for ``B B^T``
            (the operator that ``A``'s matvecs approximate).
        rounding : float, optional
            Absolute bound ``delta_B`` on the backward error of ``W = B^T Q``
            (default ``FACTOR_ROUNDING * eps * sqrt(m) * ||B||_est``).
        mismatch : float
            Bound on ``||A - B B^T|| / ||A||`` for the operator the Lanczos
            process applies (its error enters the residual bound, squared).
        """
        if factor.shape[0] != self.D:
            raise ValueError(f"factor must have {self.D} rows, got shape {factor.shape}")
        if rounding is not None and not (np.isfinite(rounding) and rounding >= 0):
            raise ValueError(f"rounding must be a finite number >= 0, got {rounding!r}")
        if not (np.isfinite(mismatch) and mismatch >= 0):
            raise ValueError(f"mismatch must be a finite number >= 0, got {mismatch!r}")
        self._factor, self._W, self._fspectral = factor, None, None
        self._factor_dense, self._direct_tail = None, None
        self.factor_rounding, self.factor_mismatch = rounding, float(mismatch)

    def _factor_spectrum(self):
        """Ritz values from the SVD of ``W = B^T Q`` (never ``W^T W``), with ``S``, coefficients and coupling."""
        if self._fspectral is not None:
            return self._fspectral
        xp = array_namespace(self.b)
        lz, d = self._lanczos, self.dim
        self._spectrum()  # Q^T b up to date
        old = 0 if self._W is None else int(self._W.shape[1])
        if d > old:
            Wn = self._factor.rmatmat(lz.Q[:, old:d])
            self._W = Wn if self._W is None else xp.concat([self._W, Wn], axis=1)
        m = int(self._W.shape[0])
        if d <= m:
            _, sv, Vt = svd(self._W)
            sv, Vt = np.asarray(to_numpy(sv), dtype=np.float64), np.asarray(to_numpy(Vt), dtype=np.float64)
        else:  # more basis vectors than columns of B: W has a null space, keep a complete V
            _, sv, Vt = np.linalg.svd(np.asarray(to_numpy(self._W), dtype=np.float64), full_matrices=True)
            sv = np.concatenate([sv, np.zeros(d - m)])
        theta, S = sv[::-1] ** 2, Vt[::-1].T
        coef = S.T @ self._qtb[:d]
        p_last = int(lz.block_sizes[-1]) if lz.block_sizes else 0
        Bn = np.asarray(to_numpy(lz.B_next), dtype=np.float64) if not self.invariant else np.zeros((0, p_last))
        coupling = Bn @ S[d - p_last :, :] if Bn.size else np.zeros((0, d))
        self._fspectral = (theta, coef, coupling, float(np.sum(sv**2)), S)
        return self._fspectral

    def factor_delta(self) -> float:
        """``delta_B``: the backward-error bound of the square-root model (see the module notes)."""
        if self.factor_rounding is not None:
            return float(self.factor_rounding)
        theta = self._factor_spectrum()[0]
        norm_b = np.sqrt(max(self.norm_estimate(), float(theta[-1]) if theta.size else 0.0))
        return FACTOR_ROUNDING * _EPS * np.sqrt(self._factor.shape[1]) * norm_b

    def deflated_tail(self) -> float:
        """Bound of ``tr(Q_perp^T B B^T Q_perp)`` from the deflated factor ``P = B - Q (Q^T B)``.

        The trace remainder ``tr A - ||W||_F^2`` is a difference of two numbers
        of the size of ``tr A``: its rounding guard (``~ eps d ||A||``) stays when
        the true remainder falls below it, and at small ``lam`` the log-det
        bound ``tail / lam`` is then limited by the guard, not by the space.
        Here the remainder is computed directly: ``||(I - Pi) B||_F <= ||B -
        Q Q^T B||_F`` (``Pi`` the orthogonal projector onto the space; the
        right side is the residual of one candidate least-squares fit, so the
        bound needs no orthogonality of ``Q``), plus the rounding of the two
        products and of the explicit ``B`` (``sqrt(min(D, m)) delta_B`` in the
        Frobenius norm).  ``inf`` when ``D m`` exceeds
        ``DEFLATED_TAIL_MAX_ENTRIES`` or no factor is attached.
        """
        out = self._deflated()
        return np.inf if out is None else out[0]

    def _deflated(self):
        """``(tail, P W S, e_P, ||fl(P)||_F, ||fl(P^T P)||_F)`` for the current space, cached; ``None`` when not
        affordable.

        ``tail``: :meth:`deflated_tail`.  ``P W S`` (``D x d``, Ritz basis, in
        the data's namespace): ``P W S y`` is the part of ``A Q S y`` outside the
        space, i.e. the Galerkin residual of the square-root model without the
        recurrence's rounding.  ``e_P``: bound of ``||fl(P) - (I - Q
        Q^T) B||`` (products and explicit ``B``).  Costs one explicit ``B``
        (kept) and ``6 D d m + 2 D m^2`` flops per dimension.
        """
        if self._factor is None:
            return None
        D, d = self.D, self.dim
        m = int(self._factor.shape[1])
        if D * m > DEFLATED_TAIL_MAX_ENTRIES:
            return None
        if self._direct_tail is not None and self._direct_tail[0] == d:
            return self._direct_tail[1:]
        xp = array_namespace(self.b)
        S = self._factor_spectrum()[4]
        if self._factor_dense is None:
            dense = getattr(self._factor, "dense", None)
            if dense is None:
                dense = xp.permute_dims(self._factor.rmatmat(xp.eye(D, dtype=self.b.dtype)), (1, 0))
            self._factor_dense = dense
        Bd = self._factor_dense
        Q = self._lanczos.Q[:, :d]
        P = Bd - xp.matmul(Q, xp.matmul(xp.permute_dims(Q, (1, 0)), Bd))
        fro2 = float(to_numpy(xp.sum(P * P)))
        bfro = float(np.sqrt(to_numpy(xp.sum(Bd * Bd))))
        PWS = xp.matmul(xp.matmul(P, self._W), asarray(S, xp, dtype=P.dtype))
        # |fl(Q^T B) - Q^T B| <= gamma_D |Q|^T |B|, |fl(Q C) - Q C| <= gamma_d |Q| |C|, one subtraction:
        # in the Frobenius norm at most 2 (D + d + 3) eps sqrt(d) ||B||_F (gamma_k <= 1.01 k eps, ||Q||_F <= 2 sqrt(d))
        e_prod = 2.0 * (D + d + 3) * _EPS * np.sqrt(max(d, 1)) * bfro
        e_P = e_prod + np.sqrt(min(D, m)) * self.factor_delta()
        fro = np.sqrt(fro2 * (1.0 + (D * m + 2) * _EPS))  # the sum of squares, rounded
        # second moment of the unexplored part: ||P^T P||_F (P^T P never enters a bound squared again)
        PtP = xp.matmul(xp.permute_dims(P, (1, 0)), P)
        f = float(np.sqrt(to_numpy(xp.sum(PtP * PtP))))
        self._direct_tail = (d, (fro + e_P) ** 2, PWS, e_P, fro, f)
        return self._direct_tail[1:]

    def _second_moment_terms(self, lam, tail, theta, eta, dB, wfro2, deflated):
        """What the second moment of the unexplored part adds to the log-det lower bound and takes off the
        Jensen gap (see the module notes); both arrays of shape ``lam.shape``, never negative.

        With ``V = B^T Q_o`` and ``T = V^T V`` the exact projection, ``l = log det(T + lam) + m log lam +
        sum_i g(nu_i)`` (``g(x) = log(1 + x / lam)``; ``nu_i`` the eigenvalues of the Schur complement's
        excess over ``lam``, ``0 <= nu_i <= mu_i``, the eigenvalues of the unexplored part ``Q_perp^T A
        Q_perp``).  Their trace is ``t' = t - ||P V (T + lam)^{-1/2}||_F^2`` (``P = (I - Pi) B``, ``t =
        ||P||_F^2``) and ``sum nu^2 <= s2 = ||P^T P||_F^2``.  Lower: the best quadratic minorant
        ``alpha x - beta x^2 <= g`` (tangent at ``x0``, valid for ``x0`` beyond the inflection of
        ``g - alpha x + beta x^2``) gives ``sum g(nu) >= alpha t' - beta s2``.  Upper (Fischer: ``nu -> mu``):
        with ``xbar = t_u / m`` (``t_u >= t``) and ``-g'' >= 1 / (lam + max(sqrt(s2), xbar))^2`` between
        any ``mu_i`` and ``xbar``, ``sum g(mu) <= m g(xbar) - (s2 - t_u^2 / m) / (2 (lam + max(sqrt(s2),
        xbar))^2)``.

        Rounding: the computed ``P`` is within ``e = e_P + 2 eta ||W||_F`` of ``(I - Pi) B`` (Frobenius), so
        ``t >= (||P|| - e)^2`` and ``sqrt(s2)`` is within ``gamma_D ||P||^2 + 2 ||P|| e + e^2`` of the
        computed ``||P^T P||_F``.  ``M(V) = V (V^T V + lam)^{-1/2}`` (singular values below 1) is
        ``2 / sqrt(lam)``-Lipschitz, and ``W = B'^T Q`` is within ``dB + 2 eta ||W||`` of ``V``: the coupling
        from ``P W S (Theta + lam)^{-1/2}`` is within ``e + (||P|| + e) 2 (dB + 2 eta ||W||) / sqrt(lam)``
        (plus the rounding of that product) of the exact one.
        """
        _, PWS, e_P, pfro, f = deflated
        xp = array_namespace(self.b)
        D, d = self.D, self.dim
        m = D - d
        wn = float(np.sqrt(theta[-1])) if theta.size else 0.0
        e = e_P + 2.0 * eta * np.sqrt(wfro2)
        e_f = (D + 2) * _EPS * pfro * pfro + 2.0 * pfro * e + e * e
        s_hi, s_lo = f + e_f, max(f - e_f, 0.0)  # bounds of sqrt(s2)
        t_lo = max(pfro - e, 0.0) ** 2
        col2 = np.asarray(to_numpy(xp.sum(PWS * PWS, axis=0)), dtype=np.float64)
        sl = np.sqrt(lam)
        coup = (1.0 + eta) * np.sqrt(np.sum(col2[:, None] / (theta[:, None] + lam[None, :]), axis=0))
        e_g = 2.0 * (int(self._factor.shape[1]) + 2 * d) * _EPS * pfro * wn * np.sqrt(d)  # rounding of P W S
        coup = coup + e_g / sl + e + (pfro + e) * 2.0 * (dB + 2.0 * eta * wn) / sl
        t_schur = np.maximum(t_lo - coup * coup, 0.0)
        alpha, beta = log_minorants(lam)
        # (1 - 1e-12): the minorants touch g at their tangent points, where rounding decides the side
        add_lo = (1.0 - 1e-12) * np.maximum(np.max(alpha * t_schur[None, :] - beta * s_hi * s_hi, axis=0), 0.0)
        var = max(s_lo * s_lo - tail * tail / m, 0.0) if m > 0 else 0.0
        # the Taylor remainder runs between x and xbar: -g'' >= 1 / (lam + max(s_hi, xbar))^2 there
        cut_hi = 0.5 * var / (lam + max(s_hi, tail / max(m, 1))) ** 2
        return add_lo, cut_hi

    def _sqrt_bounds(self, lam):
        """Bounds of ``q`` and ``l`` at shifts ``lam`` from the square-root model (see the module notes)."""
        theta, coef, coupling, wfro2, _ = self._factor_spectrum()
        D, d = self.D, self.dim
        dB = self.factor_delta()
        normA = max(self.norm_estimate(), float(theta[-1]) if theta.size else 0.0)
        sl = np.sqrt(lam)
        t = dB / sl
        kap = 2.0 * t + t * t
        eta = min(ORTH_FACTOR * _EPS * d, 0.5)
        dc = DOT_FACTOR * _EPS * np.sqrt(D) * self.b_norm  # ||fl(Q^T b) - Q^T b||
        Z = coef[:, None] / (theta[:, None] + lam[None, :])  # (W^T W + lam)^{-1} Q^T b in the Ritz basis
        qc = np.sum(coef[:, None] * Z, axis=0)
        slack = (1.0 + eta) / (1.0 - eta)  # norms in the basis Q instead of an orthonormal Q_o = Q (Q^T Q)^{-1/2}
        zn = slack * np.sqrt(np.sum(Z * Z, axis=0))
        wz = slack * np.sqrt(np.sum(theta[:, None] * Z * Z, axis=0))
        e_c = 2.0 * dc * zn + dc * dc / lam
        lo_g = np.maximum(qc - e_c, 0.0) / (1.0 + eta)  # Galerkin value of (B' B'^T, b) on span Q
        hi_g = (qc + e_c) / (1.0 - eta)
        # Weyl: the singular values of B^T Q_o lie within dB of those of W (Q_o) = W (Q^T Q)^{-1/2}
        sv = np.sqrt(theta)
        s_lo = np.maximum(sv / np.sqrt(1.0 + eta) - dB, 0.0)
        s_hi = sv / np.sqrt(1.0 - eta) + dB
        ok = kap < 1.0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            l_lo = np.sum(np.log(s_lo[:, None] ** 2 + lam[None, :]), axis=0) + (D - d) * np.log(lam)
            l_hi = np.sum(np.log(s_hi[:, None] ** 2 + lam[None, :]), axis=0) + (D - d) * np.log(lam)
            if self.complete:  # Q spans the whole space: the Galerkin value is q' itself, no residual
                q_hi_k = np.where(ok, (1.0 + kap) * hi_g, self.b_norm**2 / lam)
                # second order in dB: |q - q'| <= dB ||x'|| (||B'^T x'|| (1 + t/2) + sqrt(q)) + t^2 ||B'^T x'||^2
                e_A = dB * zn * (wz * (1.0 + 0.5 * t) + np.sqrt(q_hi_k)) + t * t * wz * wz
                q_lo = np.maximum(lo_g - e_A, np.where(ok, (1.0 - kap) * lo_g, 0.0))
                q_hi = np.minimum(hi_g + e_A, q_hi_k)
                gap = np.zeros_like(lam)
            else:
                rho = np.sqrt(d) * self.rounding_delta() + np.sqrt(normA) * dB + self.factor_mismatch * normA
                res_round = self.b_perp + (self.dropped_norm + rho) * zn + dB * wz
                res = res_round + (np.sqrt(np.sum((coupling @ Z) ** 2, axis=0)) if coupling.size else 0.0)
                q_lo = np.where(ok, (1.0 - kap) * lo_g, 0.0)
                q_hi = np.where(ok, (1.0 + kap) * (hi_g + res**2 / lam), np.inf)
                # the deflated factor (None where unaffordable; cached per dimension) serves the residual, the
                # remainder and the second moment below; the first two take it where rounding dominates
                deflated = self._deflated()
                if deflated is not None and np.any(res_round > DIRECT_TAIL_RATIO**-1 * res):
                    # residual of the Galerkin solution for B' B'^T measured directly, without the recurrence:
                    # (I - Pi) B' W z = (I - Pi) P W z + (I - Pi) E W z, so ||r'|| <= ||b_perp|| + ||P W z||
                    # + (dB + e_P) ||W z|| + ||dc|| (the rounding of Q^T b, the only Q-component of r')
                    _, PWS, e_P, pfro, _ = deflated
                    xp = array_namespace(self.b)
                    R = xp.matmul(PWS, asarray(Z, xp, dtype=PWS.dtype))  # D x k: no squaring of PWS
                    pwz = np.asarray(to_numpy(xp.sqrt(xp.sum(R * R, axis=0))), dtype=np.float64)
                    # rounding of P W S and of its product with Z: gamma_(m + 2 d) ||P||_F ||W|| ||Z||
                    e_pw = 2.0 * (int(self._factor.shape[1]) + 2 * d) * _EPS * pfro * np.sqrt(normA) * zn
                    res_d = self.b_perp + slack * pwz + e_pw + (dB + e_P) * wz + dc
                    res = np.minimum(res, res_d)
                    q_hi_p = hi_g + res**2 / lam  # bound of q' (the Galerkin value is its lower bound)
                    q_hi_k = np.where(ok, (1.0 + kap) * q_hi_p, self.b_norm**2 / lam)
                    # second order in dB as on a complete space, with ||x' - Q z|| <= ||r'|| / lam and
                    # ||B'^T (x' - Q z)|| <= ||r'|| / (2 sqrt(lam))
                    xn, bx = zn + res / lam, wz + res / (2.0 * sl)
                    e_A = dB * xn * (bx * (1.0 + 0.5 * t) + np.sqrt(q_hi_k)) + t * t * bx * bx
                    q_lo = np.maximum(q_lo, lo_g - e_A)
                    q_hi = np.minimum(q_hi, np.minimum(q_hi_p + e_A, q_hi_k))
                m = D - d
                # tr(Q_o^T A Q_o) = ||B^T Q_o||_F^2 >= (||W||_F / sqrt(1 + eta) - sqrt(d) dB)^2
                low_tr = max(np.sqrt(wfro2 / (1.0 + eta)) - np.sqrt(d) * dB, 0.0) ** 2
                guard = self._trace_guard() + self.factor_mismatch * normA * D
                raw = self.trace - low_tr
                tail = np.inf if raw < -guard else max(raw, 0.0) + guard
                guard_bound = not np.isfinite(tail) or raw < DIRECT_TAIL_RATIO * (guard + wfro2 - low_tr)
                if deflated is not None and guard_bound:
                    # the difference is mostly rounding guard: the remainder measured directly
                    tail = min(tail, deflated[0])
                gap = m * np.log1p(tail / (m * lam)) if np.isfinite(tail) else np.full_like(lam, np.inf)
                if deflated is not None and np.isfinite(tail) and tail > 0:
                    add_lo, cut_hi = self._second_moment_terms(lam, tail, theta, eta, dB, wfro2, deflated)
                    l_lo = l_lo + add_lo
                    gap = gap - cut_hi
            l_hi = l_hi + gap
        ritz = np.sum(np.log(theta[:, None] + lam[None, :]), axis=0) + (D - d) * np.log(lam)
        return q_lo, q_hi, l_lo, l_hi, qc, ritz + 0.5 * gap

    def bounds(self, lam) -> ShiftBounds:
        """Bounds of ``q(lam)`` and ``l(lam)`` for an array of shifts ``lam > 0``, rounding included."""
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        if np.any(~(lam > 0)):
            raise ValueError("lam must be positive")
        delta = self.rounding_delta()
        b2 = self.b_norm**2
        q_lo = self._galerkin(lam + delta)[0]  # variational: a lower bound for any subspace
        l_hi = self._logdet_ritz(lam + delta) + self._logdet_gap(lam + delta)
        low = lam - delta
        ok = low > 0
        q_hi = b2 / lam
        l_lo = self.D * np.log(lam)
        if np.any(ok):
            s = low[ok]
            qg, res = self._galerkin(s)
            q_hi = q_hi.copy() if np.ndim(q_hi) else np.full_like(lam, q_hi)
            q_hi[ok] = np.minimum(qg + res**2 / s, b2 / lam[ok])
            l_lo[ok] = np.maximum(self._logdet_ritz(s), l_lo[ok])
        q_est = self._galerkin(lam)[0]
        l_est = self._logdet_ritz(lam) + self._logdet_gap(lam)
        if self.has_factor:  # both models are rigorous: keep the tighter side of each
            q_lo2, q_hi2, l_lo2, l_hi2, q_est, l_est = self._sqrt_bounds(lam)
            q_lo, q_hi = np.maximum(q_lo, q_lo2), np.minimum(q_hi, q_hi2)
            l_lo, l_hi = np.maximum(l_lo, l_lo2), np.minimum(l_hi, l_hi2)
        q_est = np.clip(q_est, q_lo, q_hi)
        l_est = np.clip(l_est, l_lo, l_hi)
        return ShiftBounds(lam, q_lo, q_hi, l_lo, l_hi, self.dim, q_est=q_est, l_est=l_est)

    def solve(self, lam: float):
        """Galerkin approximation ``Q (T + lam I)^{-1} Q^T b`` of ``(A + lam I)^{-1} b``."""
        theta, coef, _, S = self._spectrum()
        xp = array_namespace(self.b)
        d = self.dim
        y = S @ (coef / (theta + lam))
        return xp.matmul(self._lanczos.Q[:, :d], xp.asarray(y, dtype=self.b.dtype))

    def basis(self):
        """The orthonormal basis ``Q`` of shape ``(D, d)`` and the eigenvectors ``S`` of ``T``."""
        theta, _, _, S = self._spectrum()
        return self._lanczos.Q[:, : self.dim], theta, S
