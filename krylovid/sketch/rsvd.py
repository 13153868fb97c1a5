"""Randomized SVD and randomized symmetric eigendecomposition."""

from __future__ import annotations

from dataclasses import dataclass

from .._validation import check_int
from ..backend import Array, to_numpy
from ..info import KrylovInfo
from ._utils import as_operator, check_rank, symmetric_operator
from .rangefinder import range_finder

__all__ = ["SVDResult", "EighResult", "randomized_svd", "randomized_eigh"]


@dataclass(frozen=True)
class SVDResult:
    """Rank-``k`` approximation ``A ~ U diag(s) Vt``.

    Attributes
    ----------
    U : array of shape (m, k)
        Orthonormal left singular vectors.
    s : array of shape (k,)
        Singular values, descending.
    Vt : array of shape (k, n)
        Orthonormal right singular vectors (rows).
    info : KrylovInfo
        ``matvecs`` counts applications of ``A`` and ``A^T``; ``residual`` is
        the first discarded approximate singular value ``s_{k+1}`` (an
        estimate, from the oversampled sketch, of the optimal tail
        ``sigma_{k+1}``; ``nan`` without oversampling).
    """

    U: Array
    s: Array
    Vt: Array
    info: KrylovInfo


@dataclass(frozen=True)
class EighResult:
    """Rank-``k`` approximation ``A ~ V diag(w) V^T`` of a symmetric ``A``.

    Attributes
    ----------
    w : array of shape (k,)
        Eigenvalues of largest magnitude, sorted by decreasing ``|w|``.
    V : array of shape (n, k)
        Orthonormal eigenvectors.
    info : KrylovInfo
        ``residual``: magnitude of the first discarded Ritz value (or ``nan``).
    """

    w: Array
    V: Array
    info: KrylovInfo


def _info(matvecs, ell, k, full, tail, power_iters):
    status = "exact" if full else "converged"
    msg = f"one-pass randomized approximation with {ell} test vectors and {power_iters} power iterations" + (
        "; the sketch spans the whole space" if full else ""
    )
    return KrylovInfo(status, power_iters, matvecs, residual=tail, message=msg)


def randomized_svd(A, k, *, oversample=10, power_iters=2, rng=None, kind="gaussian"):
    """Randomized truncated SVD (Halko, Martinsson, Tropp 2011, Alg. 4.4 + 5.1).

    Parameters
    ----------
    A : array or LinearOperator of shape (m, n)
    k : int
        Rank, ``1 <= k <= min(m, n)``.
    oversample, power_iters, rng, kind
        As in :func:`~krylovid.sketch.range_finder`.

    Returns
    -------
    SVDResult

    Notes
    -----
    With ``Q = range_finder(A)`` (``l`` columns), ``B = Q^T A`` (``l`` more
    adjoint applications), ``B = U_B diag(s) Vt``; ``U = Q U_B``, truncated to
    ``k``.  Total applications: ``l (2 q + 2)``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 20))
    >>> res = randomized_svd(A, 3, rng=1)
    >>> bool(np.allclose(res.s, np.linalg.svd(A, compute_uv=False)[:3]))
    True
    """
    op = as_operator(A)
    m, n = op.shape
    k = check_rank(k, "k", min(m, n), "min(A.shape)")
    oversample = check_int(oversample, "oversample", minimum=0)
    power_iters = check_int(power_iters, "power_iters", minimum=0)
    xp = op.xp
    Q = range_finder(op, k, oversample=oversample, power_iters=power_iters, rng=rng, kind=kind)
    ell = Q.shape[1]
    B = op.rmatmat(Q).T  # (l, n) = Q^T A
    Ub, s, Vt = xp.linalg.svd(B, full_matrices=False)
    tail = float(to_numpy(s[k])) if ell > k else float("nan")
    info = _info(ell * (2 * power_iters + 2), ell, k, ell == min(m, n), tail, power_iters)
    return SVDResult(U=Q @ Ub[:, :k], s=s[:k], Vt=Vt[:k, :], info=info)


def randomized_eigh(A, k, *, oversample=10, power_iters=2, rng=None, kind="gaussian"):
    """Randomized eigendecomposition of a symmetric ``A`` (Rayleigh–Ritz on a sketch).

    Parameters
    ----------
    A : array or LinearOperator of shape (n, n)
        Symmetric (only ``matmat`` is used; the symmetry is assumed).
    k : int
        Number of eigenpairs, ``1 <= k <= n``.
    oversample, power_iters, rng, kind
        As in :func:`~krylovid.sketch.range_finder`.

    Returns
    -------
    EighResult
        The ``k`` Ritz pairs of largest magnitude.

    Notes
    -----
    ``Q = range_finder(A)``, ``T = Q^T A Q = S diag(theta) S^T``, ``V = Q S``.
    Ritz values interlace the eigenvalues of ``A``.  Applications:
    ``l (2 q + 2)``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag([5.0, -4.0, 1e-3, 1e-3, 0.0])
    >>> res = randomized_eigh(A, 2, rng=0)
    >>> np.round(res.w, 8).tolist()
    [5.0, -4.0]
    """
    op = symmetric_operator(A)
    n = op.shape[0]
    k = check_rank(k, "k", n, "A.shape[0]")
    oversample = check_int(oversample, "oversample", minimum=0)
    power_iters = check_int(power_iters, "power_iters", minimum=0)
    xp = op.xp
    Q = range_finder(op, k, oversample=oversample, power_iters=power_iters, rng=rng, kind=kind)
    ell = Q.shape[1]
    T = Q.T @ op.matmat(Q)
    theta, S = xp.linalg.eigh((T + T.T) / 2)
    order = xp.argsort(-xp.abs(theta), stable=True)
    theta = xp.take(theta, order)
    S = xp.take(S, order, axis=1)
    tail = float(to_numpy(xp.abs(theta[k]))) if ell > k else float("nan")
    info = _info(ell * (2 * power_iters + 2), ell, k, ell == n, tail, power_iters)
    return EighResult(w=theta[:k], V=Q @ S[:, :k], info=info)
