"""Low-rank / subspace approximations of softmax attention (one head).

Every function here returns ``P_hat @ V`` where ``P_hat`` is an approximation of
rank at most ``m`` of the row-stochastic attention matrix
``P = softmax(scale Q K^T)``.  All are linear in ``V``, so passing ``V = I``
returns ``P_hat`` itself; by Eckart–Young ``||P - P_hat|| >= ||P - P_m||`` for
the truncated SVD ``P_m`` (:func:`truncated_svd_attention`, the oracle), in the
Frobenius and the spectral norm.

Inputs are single heads: ``Q`` of shape ``(n_q, d)``, ``K`` ``(n_k, d)``, ``V``
``(n_k, d_v)``.  Loop over heads (or use ``numpy.vectorize``-style wrappers) for
batches.
"""

from __future__ import annotations

from .._validation import check_int
from ..backend import standard_normal, svd
from ..sketch import randomized_svd
from ._common import check_qkv
from .exact import AttentionOperator, attention_matrix, softmax_attention
from .nystrom import nystrom_attention, stable_pinv_apply  # re-exported: the Nyström family

__all__ = [
    "lowrank_attention",
    "nystrom_attention",
    "linformer_attention",
    "truncated_svd_attention",
    "stable_pinv_apply",
]


def _single_head(Q, K, V, scale, causal=False):
    t = check_qkv(Q, K, V, scale=scale, causal=causal)
    if t.Q.ndim != 2:
        raise ValueError(f"Q, K, V must be 2-D (one head), got Q of shape {tuple(t.Q.shape)}")
    return t


def _check_m(m, name, limit, what):
    m = check_int(m, name, minimum=1)
    if m > limit:
        raise ValueError(f"{name}={m} exceeds {what}={limit}")
    return m


def lowrank_attention(Q, K, V, rank, rng=None, power_iters=2, oversample=10, causal=False, scale=None):
    """Randomized SVD of ``P`` through implicit products: ``Y = U diag(s) (V_t @ V)``.

    Parameters
    ----------
    Q : array of shape (n_q, d)
    K : array of shape (n_k, d)
    V : array of shape (n_k, d_v)
    rank : int
        Rank ``m <= min(n_q, n_k)``.
    rng : None, int or numpy.random.Generator
    power_iters, oversample : int
        As in :func:`krylovid.sketch.randomized_svd`.
    causal : bool
    scale : float, optional
        Default ``1/sqrt(d)``.

    Returns
    -------
    array of shape (n_q, d_v)

    Notes
    -----
    ``P`` is applied as :class:`~krylovid.attention.exact.AttentionOperator`
    (blocked, never formed); the sketch costs ``(m + p)(2 q + 2)`` products with
    ``P`` or ``P^T``, each as expensive as exact attention with that many value
    columns — an analysis tool (near-optimal rank-``m`` error), not a speed-up.

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 20, 4))
    >>> Y = lowrank_attention(Q, K, V, rank=20, rng=0)
    >>> bool(np.allclose(Y, softmax_attention(Q, K, V)))
    True
    """
    t = _single_head(Q, K, V, scale, causal)
    m = _check_m(rank, "rank", min(t.n_q, t.n_k), "min(n_q, n_k)")
    P = AttentionOperator(t.Q, t.K, causal=causal, scale=t.scale)
    res = randomized_svd(P, m, oversample=oversample, power_iters=power_iters, rng=rng)
    return (res.U * res.s[None, :]) @ (res.Vt @ t.V)


def truncated_svd_attention(Q, K, V, rank, causal=False, scale=None):
    """The oracle ``P_m @ V`` with ``P_m`` the best rank-``m`` approximation of ``P`` (dense SVD).

    Forms the ``n_q x n_k`` matrix: small ``n`` only (a few thousand).

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 10, 4))
    >>> bool(np.allclose(truncated_svd_attention(Q, K, V, 10), softmax_attention(Q, K, V)))
    True
    """
    t = _single_head(Q, K, V, scale, causal)
    m = _check_m(rank, "rank", min(t.n_q, t.n_k), "min(n_q, n_k)")
    U, s, Vt = svd(attention_matrix(t.Q, t.K, causal=causal, scale=t.scale))
    return (U[:, :m] * s[None, :m]) @ (Vt[:m, :] @ t.V)


def linformer_attention(Q, K, V, proj_dim, rng=None, scale=None):
    """Linformer: keys and values projected along the sequence axis, ``softmax(Q (E K)^T) (E V)``.

    Parameters
    ----------
    Q : array of shape (n_q, d)
    K : array of shape (n_k, d)
    V : array of shape (n_k, d_v)
    proj_dim : int
        ``k``, the projected sequence length.
    rng : None, int or numpy.random.Generator
    scale : float, optional

    Returns
    -------
    array of shape (n_q, d_v)

    Notes
    -----
    Wang et al. (2020) learn ``E`` (``k x n``); without trained projections we
    use a fixed Gaussian ``E / sqrt(k)`` (entries ``N(0, 1/k)``), a
    Johnson–Lindenstrauss sketch.  The result has rank at most ``k`` but is not
    consistent: the error does not vanish at ``k = n`` because the softmax is
    taken over projected keys.

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 32, 4))
    >>> linformer_attention(Q, K, V, proj_dim=8, rng=0).shape
    (32, 4)
    """
    t = _single_head(Q, K, V, scale)
    k = check_int(proj_dim, "proj_dim", minimum=1)
    E = standard_normal(rng, (k, t.n_k), xp=t.xp, dtype=t.Q.dtype) / (k**0.5)
    return softmax_attention(t.Q, E @ t.K, E @ t.V, scale=t.scale)
