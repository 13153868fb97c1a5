"""Tensor decompositions of stacked per-head projection weights: Tucker (HOSVD) and CP (ALS).

A projection ``W`` of shape ``(H * d_h, width)`` is naturally the 3-way tensor
``T[h, i, w] = W[h * d_h + i, w]`` (:func:`head_tensor`); stacking Q, K and V
adds a fourth mode.  Low multilinear rank of ``T`` means heads share
subspaces, which is what Tucker-compressed attention exploits.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._validation import check_array, check_int
from ..backend import Array, array_namespace, default_rng, svd, to_numpy
from ..info import KrylovInfo
from ..sketch import range_finder

__all__ = ["head_tensor", "TuckerResult", "tucker", "tucker_reconstruct", "CPResult", "cp_als", "cp_reconstruct"]


def head_tensor(W, num_heads):
    """Reshape ``W`` of shape ``(H * d_h, width)`` to the tensor ``(H, d_h, width)``.

    Examples
    --------
    >>> import numpy as np
    >>> head_tensor(np.zeros((6, 4)), 3).shape
    (3, 2, 4)
    """
    W = check_array(W, "W", ndim=2)
    xp = array_namespace(W)
    H = check_int(num_heads, "num_heads", minimum=1)
    if W.shape[0] % H:
        raise ValueError(f"W has {W.shape[0]} rows, not a multiple of num_heads={H}")
    return xp.reshape(W, (H, W.shape[0] // H, W.shape[1]))


def _unfold(xp, T, mode):
    return xp.reshape(xp.moveaxis(T, mode, 0), (T.shape[mode], -1))


def _mode_product(xp, T, M, mode):
    """``T x_mode M``: contracts mode ``mode`` of ``T`` with the columns of ``M`` (``(J, I_mode)``)."""
    out = xp.tensordot(M, T, axes=([1], [mode]))  # mode becomes axis 0
    return xp.moveaxis(out, 0, mode)


def tucker_reconstruct(core, factors):
    """Full tensor ``core x_1 U_1 x_2 U_2 ... x_N U_N``."""
    xp = array_namespace(core, *factors)
    T = core
    for mode, U in enumerate(factors):
        T = _mode_product(xp, T, U, mode)
    return T


def _size(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


@dataclass(frozen=True)
class TuckerResult:
    """Tucker decomposition ``T ~ core x_1 U_1 ... x_N U_N``.

    Attributes
    ----------
    core : array of shape ranks
    factors : tuple of arrays, ``U_i`` of shape (I_i, r_i) with orthonormal columns
    relative_error : float
        ``||T - T_hat||_F / ||T||_F``.
    compressed_size, original_size : int
        Number of stored values (core + factors) and of ``T``.
    info : KrylovInfo
    """

    core: Array
    factors: tuple
    relative_error: float
    compressed_size: int
    original_size: int
    info: KrylovInfo

    def reconstruct(self):
        """The full approximation ``T_hat``."""
        return tucker_reconstruct(self.core, self.factors)


def _check_tensor(T, name="T"):
    T = check_array(T, name)
    if T.ndim < 2:
        raise ValueError(f"{name} must have at least 2 modes, got shape {tuple(T.shape)}")
    return T


def tucker(T, ranks, method="hosvd", rng=None, oversample=10, power_iters=2) -> TuckerResult:
    """Truncated Tucker decomposition by (randomized) higher-order SVD.

    Parameters
    ----------
    T : array of shape (I_1, ..., I_N)
    ranks : sequence of int, length N
        Multilinear ranks ``r_i <= I_i`` (and ``r_i <= prod_{j != i} I_j``).
    method : {"hosvd", "randomized"}
        ``"hosvd"``: leading left singular vectors of each unfolding (dense SVD);
        ``"randomized"``: a randomized range finder on each unfolding
        (:func:`krylovid.sketch.range_finder`), then a small SVD to rotate and
        truncate to ``r_i``.
    rng : None, int or numpy.random.Generator
        For ``"randomized"``.
    oversample, power_iters : int
        Range-finder parameters for ``"randomized"``.

    Returns
    -------
    TuckerResult

    Notes
    -----
    HOSVD sets ``U_i`` = the ``r_i`` leading left singular vectors of the
    mode-``i`` unfolding ``T_(i)`` and ``core = T x_1 U_1^T ... x_N U_N^T``.  It
    is exact when every ``r_i`` is at least the rank of ``T_(i)`` and
    quasi-optimal otherwise: ``||T - T_hat||^2 <= sum_i sum_{j > r_i}
    sigma_j(T_(i))^2 <= N ||T - T_best||^2``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> T = np.einsum("ia,jb,kc,abc->ijk", *rng.standard_normal((3, 5, 2)), rng.standard_normal((2, 2, 2)))
    >>> tucker(T, (2, 2, 2)).relative_error < 1e-12
    True
    """
    T = _check_tensor(T)
    xp = array_namespace(T)
    ranks = tuple(int(check_int(r, "ranks", minimum=1)) for r in ranks)
    if len(ranks) != T.ndim:
        raise ValueError(f"ranks must have {T.ndim} entries (one per mode of T), got {len(ranks)}")
    if method not in ("hosvd", "randomized"):
        raise ValueError(f"method must be 'hosvd' or 'randomized', got {method!r}")
    gen = default_rng(rng)
    factors, matvecs = [], 0
    for mode, r in enumerate(ranks):
        A = _unfold(xp, T, mode)
        if r > min(A.shape):
            raise ValueError(f"ranks[{mode}]={r} exceeds the size {min(A.shape)} of the mode-{mode} unfolding")
        if method == "hosvd":
            U = svd(A)[0][:, :r]
        else:
            Qb = range_finder(A, r, oversample=oversample, power_iters=power_iters, rng=gen)
            U = Qb @ svd(Qb.T @ A)[0][:, :r]
            matvecs += Qb.shape[1] * (2 * power_iters + 2)
        factors.append(U)
    core = T
    for mode, U in enumerate(factors):
        core = _mode_product(xp, core, U.T, mode)
    approx = tucker_reconstruct(core, factors)
    nrm = float(to_numpy(xp.linalg.vector_norm(T)))
    err = float(to_numpy(xp.linalg.vector_norm(T - approx))) / nrm if nrm > 0 else 0.0
    size = _size(ranks) + sum(int(U.shape[0]) * int(U.shape[1]) for U in factors)
    info = KrylovInfo(
        "exact" if err < 1e-12 else "converged",
        1,
        matvecs,
        residual=err,
        message=f"{method} with multilinear ranks {ranks}",
    )
    return TuckerResult(core, tuple(factors), err, size, _size(T.shape), info)


# ----------------------------------------------------------------------------- CP
@dataclass(frozen=True)
class CPResult:
    """CP decomposition ``T ~ sum_r weights[r] a_r^(1) o ... o a_r^(N)``.

    Attributes
    ----------
    weights : array of shape (rank,)
    factors : tuple of arrays of shape (I_i, rank) with unit-norm columns
    relative_error : float
    history : tuple of float
        Relative error after every ALS sweep (non-increasing up to rounding).
    info : KrylovInfo
        ``"converged"`` when the error changed by less than ``tol`` between
        sweeps, else ``"max_iter"``.
    """

    weights: Array
    factors: tuple
    relative_error: float
    history: tuple
    info: KrylovInfo

    def reconstruct(self):
        """The full approximation."""
        return cp_reconstruct(self.weights, self.factors)


def _khatri_rao(xp, mats):
    """Column-wise Kronecker product, first matrix varying slowest (matches C-order unfolding)."""
    out = mats[0]
    for M in mats[1:]:
        out = xp.reshape(out[:, None, :] * M[None, :, :], (-1, out.shape[1]))
    return out


def cp_reconstruct(weights, factors):
    """Full tensor ``sum_r w_r a_r^(1) o ... o a_r^(N)``."""
    xp = array_namespace(weights, *factors)
    shape = tuple(int(F.shape[0]) for F in factors)
    return xp.reshape(_khatri_rao(xp, list(factors)) @ weights, shape)


def cp_als(T, rank, num_iters=200, rng=None, tol=1e-12) -> CPResult:
    """CP (CANDECOMP/PARAFAC) decomposition by alternating least squares.

    Parameters
    ----------
    T : array of shape (I_1, ..., I_N)
    rank : int
    num_iters : int
        Maximum number of ALS sweeps.
    rng : None, int or numpy.random.Generator
        Random initial factors.
    tol : float
        Stop when the relative error changes by less than ``tol``.

    Returns
    -------
    CPResult

    Notes
    -----
    Each sweep solves, for every mode ``i``, the linear least-squares problem
    ``min_A ||T_(i) - A (KR_{j != i} A_j)^T||_F`` through the normal equations
    with the Gram matrix ``*_{j != i} A_j^T A_j`` (Hadamard product) and a
    pseudo-inverse; every update cannot increase the error.

    Examples
    --------
    >>> import numpy as np
    >>> a, b, c = np.random.default_rng(0).standard_normal((3, 4, 2))
    >>> T = np.einsum("ir,jr,kr->ijk", a, b, c)
    >>> cp_als(T, 2, rng=0).relative_error < 1e-6
    True
    """
    T = _check_tensor(T)
    xp = array_namespace(T)
    R = check_int(rank, "rank", minimum=1)
    num_iters = check_int(num_iters, "num_iters", minimum=1)
    gen = default_rng(rng)
    N = T.ndim
    unfold = [_unfold(xp, T, m) for m in range(N)]
    F = [xp.asarray(gen.standard_normal((int(s), R)), dtype=T.dtype) for s in T.shape]
    nrm = float(to_numpy(xp.linalg.vector_norm(T)))
    hist, status = [], "max_iter"
    w = xp.ones((R,), dtype=T.dtype)
    for it in range(num_iters):
        for m in range(N):
            others = [F[j] for j in range(N) if j != m]
            G = xp.ones((R, R), dtype=T.dtype)
            for A in others:
                G = G * (A.T @ A)
            A_new = (unfold[m] @ _khatri_rao(xp, others)) @ xp.linalg.pinv(G)
            w = xp.linalg.vector_norm(A_new, axis=0)
            F[m] = A_new / xp.where(w > 0, w, xp.ones_like(w))
        err = float(to_numpy(xp.linalg.vector_norm(T - cp_reconstruct(w, F)))) / (nrm or 1.0)
        hist.append(err)
        if it > 0 and abs(hist[-2] - err) < tol:
            status = "converged"
            break
    info = KrylovInfo(status, len(hist), 0, residual=hist[-1], message=f"CP-ALS rank {R}", history=tuple(hist))
    return CPResult(w, tuple(F), hist[-1], tuple(hist), info)
