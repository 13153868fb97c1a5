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
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import array_namespace, standard_normal, to_numpy
from ..krylov import BlockLanczos

__all__ = ["AugmentedKrylov", "ShiftBounds"]


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
    max_dim : int, optional
        Budget on the subspace dimension (default ``D``).
    deflation_tol : float, optional
        Relative size below which new block directions are dropped (see
        :class:`~krylovid.krylov.BlockLanczos`); smaller keeps more of the
        small eigenvalues and lowers the floor of the bounds.

    Notes
    -----
    With ``A Q = Q T + Q_next B_next E_last^T`` and ``z(lam) = (T + lam I)^{-1} Q^T b``
    the Galerkin residual is ``r = -Q_next B_next z_last`` and
    ``q - q_hat = r^T (A + lam I)^{-1} r <= ||B_next z_last||^2 / lam``.  The
    log-det bounds follow from Cauchy interlacing (lower) and from the Schur
    complement on the orthogonal complement of the space with
    ``log(lam + mu) <= log lam + mu / lam`` (upper).

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
    >>> bool(bd.q_lower[0] <= exact * (1 + 1e-12) and exact <= bd.q_upper[0] * (1 + 1e-12))
    True
    """

    def __init__(self, A, b, *, trace: float, Omega=None, block_size: int = 8, rng=None,
                 max_dim: int | None = None, deflation_tol: float | None = None):
        xp = array_namespace(b)
        D = A.shape[0]
        if b.shape != (D,):
            raise ValueError(f"b must have shape ({D},), got {tuple(b.shape)}")
        if Omega is None and block_size > 0:
            Omega = standard_normal(rng, (D, block_size), xp=xp, dtype=b.dtype)
        start = b[:, None] if Omega is None or Omega.shape[1] == 0 else xp.concat([Omega, b[:, None]], axis=1)
        self.A, self.b, self.D = A, b, D
        self.trace = float(trace)
        self.max_dim = D if max_dim is None else min(int(max_dim), D)
        self._lanczos = BlockLanczos(A, start, deflation_tol=deflation_tol)
        self._qtb = np.zeros(0)
        self._spectral = None
        self._lanczos.extend(1)  # the space always holds at least the start block

    # ---------------------------------------------------------------- growth
    @property
    def dim(self) -> int:
        return int(self._lanczos.dim)

    @property
    def matvecs(self) -> int:
        return int(self._lanczos.matvecs)

    @property
    def invariant(self) -> bool:
        """True when the space is invariant under ``A`` (the estimates are exact)."""
        return bool(self._lanczos.invariant)

    @property
    def exhausted(self) -> bool:
        """True when the space cannot grow any more (invariant or at the budget)."""
        return self.invariant or self.dim >= self.max_dim

    def extend(self, num_blocks: int = 1) -> None:
        """Add ``num_blocks`` block Lanczos steps (fewer if the space saturates)."""
        if not self.exhausted:
            self._lanczos.extend(num_blocks)
            self._spectral = None

    def extend_to(self, dim: int) -> None:
        """Grow the space until its dimension reaches ``dim`` (or it saturates)."""
        dim = min(int(dim), self.max_dim)
        while self.dim < dim and not self.exhausted:
            self.extend(1)

    # ---------------------------------------------------------------- spectra
    def _spectrum(self):
        """Ritz values, ``S^T Q^T b`` and the residual coupling (host arrays, cached)."""
        if self._spectral is not None:
            return self._spectral
        lz = self._lanczos
        xp = array_namespace(self.b)
        d = self.dim
        old = self._qtb.shape[0]
        if d > old:
            new = to_numpy(xp.matmul(xp.permute_dims(lz.Q[:, old:d], (1, 0)), self.b))
            self._qtb = np.concatenate([self._qtb, np.asarray(new, dtype=np.float64)])
        T = np.asarray(to_numpy(lz.T), dtype=np.float64)
        theta, S = np.linalg.eigh((T + T.T) / 2)
        theta = np.maximum(theta, 0.0)
        coef = S.T @ self._qtb[:d]
        p_last = int(lz.block_sizes[-1]) if lz.block_sizes else 0
        Bn = np.asarray(to_numpy(lz.B_next), dtype=np.float64) if not self.invariant else np.zeros((0, p_last))
        coupling = Bn @ S[d - p_last:, :] if Bn.size else np.zeros((0, d))
        self._spectral = (theta, coef, coupling, S)
        return self._spectral

    def ritz_values(self) -> np.ndarray:
        """Eigenvalues of ``T = Q^T A Q`` (ascending), shape ``(d,)``."""
        return self._spectrum()[0].copy()

    def bounds(self, lam) -> ShiftBounds:
        """Certified bounds of ``q(lam)`` and ``l(lam)`` for an array of shifts ``lam > 0``."""
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        if np.any(~(lam > 0)):
            raise ValueError("lam must be positive")
        theta, coef, coupling, _ = self._spectrum()
        W = coef[:, None] / (theta[:, None] + lam[None, :])
        q_lo = np.sum(coef[:, None] * W, axis=0)
        q_gap = np.sum((coupling @ W) ** 2, axis=0) / lam if coupling.size else np.zeros_like(lam)
        l_lo = np.sum(np.log(theta[:, None] + lam[None, :]), axis=0) + (self.D - self.dim) * np.log(lam)
        # A restricted to the complement (dimension m = D - d) of the space is PSD with trace
        # t = tr A - tr T; by concavity sum log(1 + mu_i / lam) <= m log(1 + t / (m lam)) <= t / lam.
        m = self.D - self.dim
        tail = max(self.trace - float(np.sum(theta)), 0.0) if m > 0 else 0.0
        l_gap = m * np.log1p(tail / (m * lam)) if m > 0 else np.zeros_like(lam)
        return ShiftBounds(lam, q_lo, q_lo + q_gap, l_lo, l_lo + l_gap, self.dim, q_est=q_lo, l_est=l_lo + l_gap)

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
        return self._lanczos.Q[:, :self.dim], theta, S
