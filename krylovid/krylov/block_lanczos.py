"""Resumable block Lanczos with full reorthogonalization and rank-revealing deflation.

:class:`BlockLanczos` builds an orthonormal basis ``Q`` of the block Krylov
space ``span{B, AB, A^2 B, ...}`` one block step at a time, so that a caller
(the augmented estimator of :mod:`krylovid.sysid`) can enlarge the space until
its certified bounds meet a tolerance.  Dependent directions are deflated; when
the next block is empty the space is invariant and the projection is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_int
from ..backend import Array, asarray
from ..info import KrylovInfo
from ._common import host, machine_eps, prepare_block, prepare_operator, working_dtype

__all__ = ["BlockLanczos", "BlockLanczosResult", "block_lanczos"]

_REORTH = ("full", "local")
#: Kept directions weaker than this fraction of ||A||_est get one more
#: orthogonalization pass (their orthogonality would otherwise degrade as eps*||A||/s).
_EXTRA_PASS_RATIO = 1e-3


@dataclass(frozen=True)
class BlockLanczosResult:
    """Snapshot of a block Lanczos process: ``A Q = Q T + Q_next B_next E_last^T``.

    Attributes
    ----------
    Q : array of shape (n, d)
        Orthonormal basis of the block Krylov space.
    T : array of shape (d, d)
        ``Q^T A Q``: symmetric block tridiagonal (dense storage).
    Q_next : array of shape (n, p)
        Next orthonormal block, orthogonal to ``Q`` (``p = 0`` when invariant).
    B_next : array of shape (p, p_last)
        Coupling of ``Q_next`` to the last block of ``Q``.
    block_sizes : tuple of int
        Sizes of the blocks of ``Q`` (their sum is ``d``).
    info : KrylovInfo
        ``"invariant"`` (exact projection), ``"max_iter"`` (the requested
        steps were run) or ``"breakdown"`` (non-finite operator output).
    """

    Q: Array
    T: Array
    Q_next: Array
    B_next: Array
    block_sizes: tuple
    info: KrylovInfo


class BlockLanczos:
    """Resumable block Lanczos process on a symmetric ``A`` started from ``B``.

    Parameters
    ----------
    A : LinearOperator or array of shape (n, n)
        Symmetric operator.
    B : array of shape (n, s) or (n,)
        Starting block; it may be rank deficient (only its range matters) but
        not zero.
    reorth : {"full", "local"}
        ``"full"``: each new block is orthogonalized against the whole basis
        (classical block Gram-Schmidt: once against the last two blocks, once
        against all, and a second time against all where the DGKS criterion
        asks for it);
        ``"local"``: twice against the previous and current blocks only.
    deflation_tol : float, optional
        Relative rank threshold.  A direction of the new block is dropped when
        its singular value is below ``deflation_tol * ||A||_est``
        (``deflation_tol`` alone for the column-normalized starting block).
        Default ``max(1000, sqrt(n)) * eps``.

    Attributes
    ----------
    Q, T, Q_next, B_next, dim, block_sizes, matvecs, invariant, num_blocks
        See the properties.

    Notes
    -----
    After construction no block step has been run: ``Q`` is empty and
    ``Q_next B_next = B`` (the orthonormalized starting block and its
    coefficients).  Each call of :meth:`extend` appends ``Q_next`` to ``Q`` as
    block ``Q_k`` and computes, with ``W = A Q_k`` (one block matvec),

    ``A_k = Q_k^T W``, ``W <- W - Q (Q^T W)`` (a local pass, one full pass and
    a second where the first cancelled much: DGKS), ``W = Q_{k+1} B_k``

    by a QR of ``W`` followed by an SVD of its small triangular factor;
    singular values below the threshold are dropped (deflation).  Then
    ``A Q = Q T + Q_{k+1} B_k E_k^T`` up to rounding and the dropped parts,
    where ``T`` has diagonal blocks ``A_k`` and off-diagonal blocks ``B_k``.
    Only ``p x p`` matrices and the ``d x d`` ``T`` live on the host; the basis
    stays on the device of ``A`` in a growing row-major buffer.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> F = rng.standard_normal((50, 4))
    >>> bl = BlockLanczos(F @ F.T, rng.standard_normal((50, 2)))
    >>> bl.extend(10).invariant       # rank-4 A: the space saturates
    True
    >>> T = bl.T
    >>> np.allclose(np.sort(np.linalg.eigvalsh(T))[-4:], np.linalg.eigvalsh(F.T @ F))
    True
    """

    def __init__(self, A, B, *, reorth: str = "full", deflation_tol=None):
        op = prepare_operator(A)
        self._op, self._xp, self._n = op, op.xp, op.shape[0]
        self._dtype = working_dtype(op, B)
        B = prepare_block(B, self._n, self._xp, dtype=self._dtype)
        if reorth not in _REORTH:
            raise ValueError(f"reorth must be one of {_REORTH}, got {reorth!r}")
        self._reorth = reorth
        self._eps = machine_eps(self._xp, self._dtype)
        self._rel_tol = self._check_tol(deflation_tol)
        self._Qt = self._xp.zeros((min(self._n, max(64, 4 * B.shape[1])), self._n), dtype=self._dtype)
        self._T = np.zeros((self._Qt.shape[0],) * 2)
        self._P = np.zeros_like(self._T)
        self._dim, self._matvecs = 0, 0
        self._sizes: list[int] = []
        self._norm_est, self._invariant, self._breakdown = 0.0, False, False
        self._dropped2 = 0.0
        self._start(B)

    # ------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        """Dimension ``d`` of the basis ``Q``."""
        return self._dim

    @property
    def block_sizes(self) -> list:
        """Sizes of the blocks of ``Q``."""
        return list(self._sizes)

    @property
    def num_blocks(self) -> int:
        """Number of block steps run."""
        return len(self._sizes)

    @property
    def matvecs(self) -> int:
        """Number of vectors ``A`` was applied to."""
        return self._matvecs

    @property
    def invariant(self) -> bool:
        """Whether the space is invariant (the next block is empty after deflation)."""
        return self._invariant

    @property
    def norm_estimate(self) -> float:
        """Running lower estimate of ``||A||_2`` used to scale the deflation threshold."""
        return self._norm_est

    @property
    def dropped_norm(self) -> float:
        """Frobenius norm of everything deflation has dropped from the recurrence.

        ``A Q = Q T + Q_next B_next E_last^T + Z`` holds with ``||Z||_F`` at most
        this value (up to rounding): each dropped direction of a new block is a
        residual that ``T`` does not see.  Zero when nothing was dropped.
        """
        return float(np.sqrt(self._dropped2))

    @property
    def Q(self):
        """Orthonormal basis, array of shape ``(n, d)``."""
        return self._Qt[: self._dim, :].T

    @property
    def T(self):
        """``Q^T A Q``, symmetric block tridiagonal array of shape ``(d, d)``."""
        return asarray(self._T[: self._dim, : self._dim].copy(), self._xp, dtype=self._dtype)

    @property
    def projection(self):
        """``Q^T A Q`` as computed by the reorthogonalization (all blocks, not only the tridiagonal band).

        Equal to :attr:`T` up to rounding and deflation drops: a block started after a restart
        (:meth:`restart`) can see directions an earlier step dropped, and then the entries outside
        the band are what makes this the true Rayleigh quotient.  Symmetric array of shape ``(d, d)``
        (``"full"`` reorthogonalization; with ``"local"`` only the band and its neighbours are filled).
        """
        return asarray(self._P[: self._dim, : self._dim].copy(), self._xp, dtype=self._dtype)

    @property
    def Q_next(self):
        """Next orthonormal block, array of shape ``(n, p)`` (``p = 0`` when invariant)."""
        return self._Q_next

    @property
    def B_next(self):
        """Coupling block of shape ``(p, p_last)``: ``A Q - Q T = Q_next B_next`` on the last block."""
        return asarray(self._B_next.copy(), self._xp, dtype=self._dtype)

    # ------------------------------------------------------------ public
    def extend(self, num_blocks: int = 1) -> BlockLanczos:
        """Run up to ``num_blocks`` more block steps; returns ``self``.

        Stops early (setting :attr:`invariant`) when the next block is empty
        after deflation, or on non-finite operator output (status
        ``"breakdown"`` in :meth:`result`).
        """
        num_blocks = check_int(num_blocks, "num_blocks", minimum=0)
        for _ in range(num_blocks):
            if self._invariant or self._breakdown:
                break
            self._step()
        return self

    def restart(self, B) -> int:
        """Continue an invariant process in the complement of ``Q`` with a new block.

        ``B`` (shape ``(n, s)``) is orthogonalized twice against ``Q`` and
        becomes the next block with a zero coupling to the last one, so
        ``T = Q^T A Q`` stays block tridiagonal and the basis can grow to the
        full dimension ``n`` (deflation may have declared a subspace invariant
        that is only invariant up to the drop tolerance).  Returns the number
        of new directions (0 when ``B`` lies in the span of ``Q``).
        """
        if not self._invariant:
            raise ValueError("restart: the space is not invariant; extend it instead")
        if self._breakdown or self._dim >= self._n:
            return 0
        xp = self._xp
        B = prepare_block(B, self._n, xp, dtype=self._dtype)
        W, _ = self._project(B, 0, self._dim)
        norms = host(xp.sqrt(xp.sum(B * B, axis=0)))
        Qn, _, _ = self._orth_rank(W, self._rel_tol * float(max(norms.max(), 1e-300)), self._n - self._dim)
        if Qn is None or Qn.shape[1] == 0:
            return 0
        pp = self._sizes[-1] if self._sizes else 0
        self._Q_next, self._B_next = Qn, np.zeros((Qn.shape[1], pp))
        self._invariant = False
        return int(Qn.shape[1])

    def result(self) -> BlockLanczosResult:
        """Frozen snapshot of the current state."""
        if self._breakdown:
            status, msg = "breakdown", "A returned non-finite values; the last step was discarded"
        elif self._invariant:
            status, msg = "invariant", f"block Krylov space invariant at dimension {self._dim}"
        else:
            status, msg = "max_iter", f"ran {self.num_blocks} block steps (dimension {self._dim})"
        res = float(np.linalg.norm(self._B_next, 2)) if self._B_next.size else 0.0
        info = KrylovInfo(status=status, iterations=self.num_blocks, matvecs=self._matvecs, residual=res, message=msg)
        return BlockLanczosResult(
            Q=self.Q, T=self.T, Q_next=self._Q_next, B_next=self.B_next, block_sizes=tuple(self._sizes), info=info
        )

    # ------------------------------------------------------------ internals
    def _check_tol(self, tol) -> float:
        if tol is None:
            return max(1000.0, float(np.sqrt(self._n))) * self._eps
        tol = float(tol)
        if not (np.isfinite(tol) and 0 <= tol < 1):
            raise ValueError(f"deflation_tol must lie in [0, 1), got {tol}")
        return tol

    def _start(self, B) -> None:
        xp = self._xp
        cn = host(xp.sqrt(xp.sum(B * B, axis=0)))
        nz = np.flatnonzero(cn > 0)
        if nz.size == 0:
            raise ValueError("B is zero: the Krylov space it generates is empty")
        Bn = xp.take(B, asarray(nz, xp, dtype=xp.int64), axis=1) / asarray(cn[nz], xp, dtype=self._dtype)
        Qn, C, _ = self._orth_rank(Bn, self._rel_tol, self._n)
        if Qn.shape[1] == 0:  # pragma: no cover - normalized non-zero columns have rank >= 1
            raise ValueError("B is numerically zero")
        coef = np.zeros((C.shape[0], B.shape[1]))
        coef[:, nz] = C * cn[nz]
        self._Q_next, self._B_next = Qn, coef

    def _orth_rank(self, W, abs_tol, max_rank):
        """Rank-revealing orthonormalization ``W ~ Qn C`` (QR, then SVD of R on the host)."""
        xp = self._xp
        Qw, R = xp.linalg.qr(W, mode="reduced")
        U, S, Vt = np.linalg.svd(host(R), full_matrices=False)
        if not np.all(np.isfinite(S)):
            return None, None, S
        r = min(int(np.count_nonzero(S > abs_tol)), max_rank)
        Qn = Qw @ asarray(U[:, :r], xp, dtype=self._dtype)
        self._last_drop2 = float(np.sum(S[r:] ** 2))
        return Qn, S[:r, None] * Vt[:r, :], S

    def _basis(self, lo: int, hi: int):
        return self._Qt[lo:hi, :]

    def _project(self, W, lo: int, hi: int):
        """``W <- W - Q (Q^T W)`` twice against basis rows ``lo:hi``; returns W and the coefficients."""
        Qb = self._basis(lo, hi)
        H = Qb @ W
        W = W - Qb.T @ H
        H2 = Qb @ W
        W = W - Qb.T @ H2
        return W, H + H2

    def _project_full(self, W, d: int, p: int):
        """``W <- W - Q (Q^T W)`` against the whole basis (rows ``0:d+p``); returns W and the coefficients.

        A local pass against the last two blocks removes the large (three-term)
        components, then one full pass; a second full pass runs only when the
        full pass removed more than ``1 - 1/sqrt(2)`` of some column's norm
        (the DGKS criterion: after a pass that cancels little, the column is
        orthogonal to working precision, so "twice is enough" is rarely needed).
        """
        xp, hi = self._xp, d + p
        lo = d - self._sizes[-1] if self._sizes else d
        Ql = self._basis(lo, hi)
        H0 = Ql @ W
        W = W - Ql.T @ H0
        before = xp.sum(W * W, axis=0)
        Qb = self._basis(0, hi)
        H = Qb @ W
        W = W - Qb.T @ H
        H[lo:hi, :] = H[lo:hi, :] + H0
        if bool(xp.any(xp.sum(W * W, axis=0) < 0.5 * before)):
            H2 = Qb @ W
            W = W - Qb.T @ H2
            H = H + H2
        return W, H

    def _ensure_capacity(self, need: int) -> None:
        cap = self._Qt.shape[0]
        if need <= cap:
            return
        new_cap = min(self._n, max(2 * cap, need))
        Qt = self._xp.zeros((new_cap, self._n), dtype=self._dtype)
        Qt[: self._dim, :] = self._Qt[: self._dim, :]
        T = np.zeros((new_cap, new_cap))
        T[: self._dim, : self._dim] = self._T[: self._dim, : self._dim]
        P = np.zeros((new_cap, new_cap))
        P[: self._dim, : self._dim] = self._P[: self._dim, : self._dim]
        self._Qt, self._T, self._P = Qt, T, P

    def _step(self) -> None:
        xp, d = self._xp, self._dim
        Qk = self._Q_next
        p = int(Qk.shape[1])
        self._ensure_capacity(d + p)
        self._Qt[d : d + p, :] = Qk.T
        W = self._op.matmat(Qk)
        self._matvecs += p
        colmax = float(xp.max(xp.sqrt(xp.sum(W * W, axis=0))))
        lo = 0 if self._reorth == "full" or not self._sizes else d - self._sizes[-1]
        W, H = self._project_full(W, d, p) if self._reorth == "full" else self._project(W, lo, d + p)
        Ak = host(H[d - lo :, :])
        Ak = (Ak + Ak.T) / 2
        if not (np.isfinite(colmax) and np.all(np.isfinite(Ak))):
            self._breakdown = True
            return
        self._norm_est = max(self._norm_est, colmax, float(np.linalg.norm(Ak, 2)))
        Qn, Bk, S = self._orth_rank(W, self._rel_tol * self._norm_est, self._n - d - p)
        if Qn is None:
            self._breakdown = True
            return
        self._dropped2 += self._last_drop2
        if Bk.shape[0] and S[Bk.shape[0] - 1] < _EXTRA_PASS_RATIO * self._norm_est:
            Qn, Bk = self._polish(Qn, Bk, lo, d + p)
        col = host(H)
        self._P[lo : d + p, d : d + p] = col
        self._P[d : d + p, lo : d + p] = col.T
        self._P[d : d + p, d : d + p] = Ak
        self._commit(Ak, Bk, Qn, p)

    def _polish(self, Qn, Bk, lo, hi):
        """One more projection of weak new directions, then re-orthonormalization."""
        Qn, _ = self._project(Qn, lo, hi)
        Qn, R = self._xp.linalg.qr(Qn, mode="reduced")
        return Qn, host(R) @ Bk

    def _commit(self, Ak, Bk, Qn, p) -> None:
        d = self._dim
        self._T[d : d + p, d : d + p] = Ak
        if self._sizes:
            pp = self._sizes[-1]
            self._T[d : d + p, d - pp : d] = self._B_next
            self._T[d - pp : d, d : d + p] = self._B_next.T
        self._dim, self._Q_next, self._B_next = d + p, Qn, Bk
        self._sizes.append(p)
        if Qn.shape[1] == 0:
            self._invariant = True


def block_lanczos(A, B, num_blocks, **kw) -> BlockLanczosResult:
    """Run ``num_blocks`` block Lanczos steps; see :class:`BlockLanczos`.

    Parameters
    ----------
    A : LinearOperator or array of shape (n, n)
        Symmetric operator.
    B : array of shape (n, s) or (n,)
        Starting block.
    num_blocks : int
        Maximum number of block steps (fewer when the space becomes invariant).
    **kw
        ``reorth``, ``deflation_tol`` (see :class:`BlockLanczos`).

    Returns
    -------
    BlockLanczosResult

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag(np.arange(1.0, 7.0))
    >>> res = block_lanczos(A, np.eye(6)[:, :2] + 1.0, 5)
    >>> res.info.status, res.Q.shape
    ('invariant', (6, 6))
    """
    num_blocks = check_int(num_blocks, "num_blocks", minimum=1)
    return BlockLanczos(A, B, **kw).extend(num_blocks).result()
