"""Sparse and clustered attention: sliding window, BigBird, top-k, LSH, k-means, Scatterbrain.

Every method keeps, for each query, a subset of the keys and applies the exact
softmax on that subset (``-inf`` elsewhere); Scatterbrain adds a Performer
estimate of the entries outside the subset.  The patterns are evaluated in
query blocks (``O(block * n_k)`` memory), never as a full ``n x n`` array.
For the window and BigBird patterns only the keys of the pattern are touched;
top-k, LSH and k-means patterns depend on the data and are evaluated on full
key rows of a query block (cost ``O(n_q n_k d)``, as a reference
implementation of the pattern rather than a fast kernel).

A query with no key in its pattern (possible for LSH / k-means with separate
queries and keys) gets a zero output row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_int
from ..backend import Array, asarray, default_rng, standard_normal
from ._common import causal_mask, check_qkv, leading_shape, masked_logits, matmul_t, softmax
from .features import PositiveRandomFeatures

__all__ = [
    "SparseAttentionResult",
    "sliding_window_attention",
    "bigbird_attention",
    "bigbird_block_mask",
    "topk_attention",
    "lsh_attention",
    "kmeans_attention",
    "scatterbrain_attention",
]

_QBLOCK = 256  # query rows per block of the data-dependent patterns


@dataclass(frozen=True)
class SparseAttentionResult:
    """Output of a sparse attention method with its pattern statistics.

    Attributes
    ----------
    output : array of shape (..., n_q, d_v)
    density : float
        Fraction of (query, key) pairs computed exactly (averaged over batch).
    block_mask : numpy.ndarray or None
        Block-level pattern ``(n_blocks, n_blocks)`` (BigBird only).
    """

    output: Array
    density: float
    block_mask: np.ndarray | None = None


def _qblocks(n, b=_QBLOCK):
    return [(s, min(s + b, n)) for s in range(0, n, b)]


def _masked_softmax_rows(xp, S, keep, V):
    """``softmax(S masked by keep) @ V`` and the number of kept entries."""
    P = softmax(xp, masked_logits(xp, S, keep), axis=-1)
    return xp.matmul(P, V), float(xp.sum(xp.astype(keep, xp.float64)))


def _num_pairs(t):
    """Number of (query, key) pairs over all batch/head entries, as a float."""
    return float(t.n_q * t.n_k * math.prod(leading_shape(t.Q)))


def _and_causal(xp, keep, causal, i0, i1, n_k):
    """``keep`` restricted to ``j <= i`` for query rows ``i0:i1`` when ``causal``."""
    if causal:
        keep = xp.logical_and(keep, causal_mask(xp, i1 - i0, n_k, row_offset=i0))
    return keep


def _run_blocked(t, keep_fn, qblock=_QBLOCK):
    """Masked softmax over query blocks; ``keep_fn(S, i0, i1)`` gives the pattern."""
    xp = t.xp
    outs, kept = [], 0.0
    for i0, i1 in _qblocks(t.n_q, qblock):
        S = matmul_t(xp, t.Q[..., i0:i1, :], t.K) * t.scale
        keep = keep_fn(S, i0, i1)
        keep = xp.broadcast_to(keep, S.shape)
        out, k = _masked_softmax_rows(xp, S, keep, t.V)
        outs.append(out)
        kept += k
    return xp.concat(outs, axis=-2), kept / _num_pairs(t)


def _finish(out, density, return_info, block_mask=None):
    return SparseAttentionResult(out, density, block_mask) if return_info else out


def sliding_window_attention(Q, K, V, window, causal=False, scale=None, return_info=False):
    """Local attention: query ``i`` attends to keys ``|i - j| <= window``.

    Parameters
    ----------
    Q, K, V : arrays of shapes (..., n_q, d), (..., n_k, d), (..., n_k, d_v)
    window : int
        Half-width ``w >= 0``; with ``causal`` the keys ``i - w <= j <= i``.
    causal : bool
    scale : float, optional
        Default ``1/sqrt(d)``.
    return_info : bool
        Return a :class:`SparseAttentionResult` instead of the array.

    Returns
    -------
    array of shape (..., n_q, d_v) or SparseAttentionResult

    Notes
    -----
    Query blocks of ``b = max(window, 32)`` rows touch only the key slab
    ``[i0 - w, i1 + w)``: cost ``O(n (b + 2w) d)``.  ``window >= n - 1`` is
    exact attention.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.attention.exact import softmax_attention
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 10, 4))
    >>> bool(np.allclose(sliding_window_attention(Q, K, V, 9), softmax_attention(Q, K, V)))
    True
    """
    t = check_qkv(Q, K, V, scale=scale, causal=causal)
    w = check_int(window, "window", minimum=0)
    xp = t.xp
    b = max(min(w, 1024), 32)
    outs, kept = [], 0.0
    for i0, i1 in _qblocks(t.n_q, b):
        j0, j1 = max(0, i0 - w), min(t.n_k, i1 + (0 if causal else w))
        if j0 >= j1:  # no key in reach (only when n_q > n_k + window)
            outs.append(xp.zeros(leading_shape(t.Q) + (i1 - i0, int(t.V.shape[-1])), dtype=t.dtype))
            continue
        S = matmul_t(xp, t.Q[..., i0:i1, :], t.K[..., j0:j1, :]) * t.scale
        i = xp.arange(i0, i1)[:, None]
        j = xp.arange(j0, j1)[None, :]
        keep = xp.logical_and(j >= i - w, j <= i if causal else j <= i + w)
        out, k = _masked_softmax_rows(xp, S, xp.broadcast_to(keep, S.shape), t.V[..., j0:j1, :])
        outs.append(out)
        kept += k
    return _finish(xp.concat(outs, axis=-2), kept / _num_pairs(t), return_info)


def bigbird_block_mask(num_blocks, num_global, num_random, window_blocks, rng=None) -> np.ndarray:
    """BigBird block pattern (host boolean ``(num_blocks, num_blocks)``).

    Block ``i`` attends to block ``j`` when ``|i - j| <= window_blocks``, when
    either is one of the first ``num_global`` (global) blocks, or when ``j`` is
    one of ``num_random`` blocks drawn uniformly without replacement from the
    blocks not yet in row ``i`` (non-global rows only).

    Examples
    --------
    >>> bigbird_block_mask(4, 1, 0, 0).astype(int).tolist()
    [[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1]]
    """
    nb = check_int(num_blocks, "num_blocks", minimum=1)
    g = check_int(num_global, "num_global", minimum=0)
    r = check_int(num_random, "num_random", minimum=0)
    w = check_int(window_blocks, "window_blocks", minimum=0)
    gen = default_rng(rng)
    idx = np.arange(nb)
    M = np.abs(idx[:, None] - idx[None, :]) <= w
    M[:g, :] = True
    M[:, :g] = True
    for i in range(g, nb):
        free = np.flatnonzero(~M[i])
        if r and free.size:
            M[i, gen.choice(free, size=min(r, free.size), replace=False)] = True
    return M


def bigbird_attention(
    Q, K, V, block_size, num_global=1, num_random=1, window_blocks=1, rng=None, scale=None, return_info=False
):
    """BigBird / Longformer block-sparse attention (global + window + random blocks).

    Parameters
    ----------
    Q, K, V : arrays of shapes (..., n, d), (..., n, d), (..., n, d_v)
        Self attention: ``n_q == n_k`` required.
    block_size : int
        Token block size (the last block may be shorter).
    num_global : int
        Number of leading global blocks (attend to / attended by all).
    num_random : int
        Random key blocks per non-global query block.
    window_blocks : int
        Block half-width of the sliding window.
    rng : None, int or Generator
        Draws the random blocks (shared over batch and heads).
    scale : float, optional
    return_info : bool
        Return a :class:`SparseAttentionResult` with the block mask.

    Returns
    -------
    array of shape (..., n, d_v) or SparseAttentionResult

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.attention.exact import softmax_attention
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 12, 4))
    >>> Y = bigbird_attention(Q, K, V, block_size=4, num_global=1, num_random=0, window_blocks=2)
    >>> bool(np.allclose(Y, softmax_attention(Q, K, V)))
    True
    """
    t = check_qkv(Q, K, V, scale=scale)
    if t.n_q != t.n_k:
        raise ValueError(f"bigbird_attention is self attention: Q and K need the same length, got {t.n_q} and {t.n_k}")
    b = check_int(block_size, "block_size", minimum=1)
    nb = -(-t.n_q // b)
    M = bigbird_block_mask(nb, num_global, num_random, window_blocks, rng)
    xp = t.xp
    outs, kept = [], 0
    for i in range(nb):
        i0, i1 = i * b, min((i + 1) * b, t.n_q)
        cols = np.concatenate([np.arange(j * b, min((j + 1) * b, t.n_k)) for j in np.flatnonzero(M[i])])
        ci = asarray(cols, xp, dtype=xp.int64)
        Kc, Vc = xp.take(t.K, ci, axis=-2), xp.take(t.V, ci, axis=-2)
        P = softmax(xp, matmul_t(xp, t.Q[..., i0:i1, :], Kc) * t.scale, axis=-1)
        outs.append(xp.matmul(P, Vc))
        kept += (i1 - i0) * cols.size
    return _finish(xp.concat(outs, axis=-2), kept / float(t.n_q * t.n_k), return_info, M)


def topk_attention(Q, K, V, k, causal=False, scale=None, return_info=False):
    """Top-k attention: each query keeps its ``k`` largest logits (exact selection).

    Parameters
    ----------
    Q, K, V : arrays of shapes (..., n_q, d), (..., n_k, d), (..., n_k, d_v)
    k : int
        Keys kept per query (``k >= n_k``: exact attention).
    causal : bool
        Select among the admissible keys ``j <= i``.
    scale : float, optional
    return_info : bool

    Returns
    -------
    array of shape (..., n_q, d_v) or SparseAttentionResult

    Notes
    -----
    The threshold of row ``i`` is its ``k``-th largest logit (a sort per
    query block); entries tied with the threshold are all kept, so a row may
    keep more than ``k`` keys when logits tie.

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 6, 2))
    >>> topk_attention(Q, K, V, 1, return_info=True).density == 1 / 6
    True
    """
    t = check_qkv(Q, K, V, scale=scale, causal=causal)
    kk = check_int(k, "k", minimum=1)
    xp = t.xp

    def keep_fn(S, i0, i1):
        if causal:
            S = masked_logits(xp, S, causal_mask(xp, i1 - i0, t.n_k, row_offset=i0))
        if kk >= t.n_k:
            return xp.isfinite(S)
        thr = xp.sort(S, axis=-1, descending=True)[..., kk - 1 : kk]
        return xp.logical_and(S >= thr, xp.isfinite(S))

    out, dens = _run_blocked(t, keep_fn)
    return _finish(out, dens, return_info)


def _unit(xp, X):
    n = xp.sqrt(xp.sum(X * X, axis=-1, keepdims=True))
    return X / xp.where(n > 0, n, xp.ones_like(n))


def _angular_hash(xp, X, R):
    """Reformer hash ``argmax([x R, -x R])`` for rotations ``R`` (h, d, nb/2)."""
    XR = xp.matmul(_unit(xp, X)[..., None, :, :], R)  # (..., h, n, nb/2)
    return xp.argmax(xp.concat([XR, -XR], axis=-1), axis=-1)


def lsh_attention(Q, K, V, num_buckets, num_hashes=1, rng=None, causal=False, scale=None, return_info=False):
    """Reformer-style angular LSH bucket attention.

    Queries and keys are unit-normalised and hashed with the same random
    rotations ``R``: ``h(x) = argmax([x R, -x R])`` (``num_buckets`` buckets).
    Query ``i`` attends (exact softmax) to the keys sharing its bucket in at
    least one of the ``num_hashes`` rounds (the union, which is what
    Reformer's multi-round attention with duplicate correction computes).

    Q and K are *not* shared here (general cross attention); pass ``K = Q``
    for Reformer's shared-QK setting.  A query whose buckets hold no key
    returns zeros.

    Parameters
    ----------
    Q, K, V : arrays of shapes (..., n_q, d), (..., n_k, d), (..., n_k, d_v)
    num_buckets : int
        Even number of buckets, or 1 (exact attention).
    num_hashes : int
        Hash rounds.
    rng : None, int or Generator
    causal : bool
    scale : float, optional
    return_info : bool

    Returns
    -------
    array of shape (..., n_q, d_v) or SparseAttentionResult

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.attention.exact import softmax_attention
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 8, 4))
    >>> bool(np.allclose(lsh_attention(Q, K, V, 1), softmax_attention(Q, K, V)))
    True
    """
    t = check_qkv(Q, K, V, scale=scale, causal=causal)
    nbk = check_int(num_buckets, "num_buckets", minimum=1)
    if nbk > 1 and nbk % 2:
        raise ValueError(f"num_buckets must be 1 or even (angular LSH uses +/- projections), got {nbk}")
    nh = check_int(num_hashes, "num_hashes", minimum=1)
    xp = t.xp
    if nbk == 1:
        hq = xp.zeros(leading_shape(t.Q) + (nh, t.n_q), dtype=xp.int64)
        hk = xp.zeros(leading_shape(t.K) + (nh, t.n_k), dtype=xp.int64)
    else:
        R = standard_normal(rng, (nh, t.d, nbk // 2), xp=xp, dtype=t.dtype)
        hq, hk = _angular_hash(xp, t.Q, R), _angular_hash(xp, t.K, R)

    def keep_fn(S, i0, i1):
        same = xp.any(hq[..., i0:i1, None] == hk[..., None, :], axis=-3)
        return _and_causal(xp, same, causal, i0, i1, t.n_k)

    out, dens = _run_blocked(t, keep_fn)
    return _finish(out, dens, return_info)


def _spherical_kmeans(xp, X, num_clusters, num_iters, gen):
    """Batched spherical k-means on unit rows ``X`` (..., N, d); returns centroids (..., c, d)."""
    N = int(X.shape[-2])
    init = np.sort(gen.choice(N, size=num_clusters, replace=False))
    C = xp.take(X, asarray(init, xp, dtype=xp.int64), axis=-2)
    for _ in range(num_iters):
        lab = xp.argmax(matmul_t(xp, X, C), axis=-1)
        onehot = xp.astype(lab[..., None] == xp.arange(num_clusters), X.dtype)  # (..., N, c)
        S = xp.matmul(xp.matrix_transpose(onehot), X)  # (..., c, d)
        cnt = xp.sum(onehot, axis=-2)[..., None]
        C = xp.where(cnt > 0, _unit(xp, S), C)  # empty clusters keep their centroid
    return C


def kmeans_attention(Q, K, V, num_clusters, num_iters=10, rng=None, causal=False, scale=None, return_info=False):
    """Routing attention: queries attend to the keys of their k-means cluster.

    Spherical k-means (cosine similarity) is run on the unit-normalised rows
    of ``[Q; K]`` per batch/head, initialised at ``num_clusters`` distinct rows
    drawn from ``rng``.  Query ``i`` attends (exact softmax) to the keys whose
    nearest centroid is its own (Routing Transformer, Roy et al. 2021).
    A query whose cluster holds no key returns zeros.

    Parameters
    ----------
    Q, K, V : arrays of shapes (..., n_q, d), (..., n_k, d), (..., n_k, d_v)
    num_clusters : int
        ``1 <= num_clusters <= n_q + n_k`` (1: exact attention).
    num_iters : int
        Lloyd iterations.
    rng : None, int or Generator
    causal : bool
    scale : float, optional
    return_info : bool

    Returns
    -------
    array of shape (..., n_q, d_v) or SparseAttentionResult

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.attention.exact import softmax_attention
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 8, 4))
    >>> bool(np.allclose(kmeans_attention(Q, K, V, 1, rng=0), softmax_attention(Q, K, V)))
    True
    """
    t = check_qkv(Q, K, V, scale=scale, causal=causal)
    c = check_int(num_clusters, "num_clusters", minimum=1, maximum=t.n_q + t.n_k)
    it = check_int(num_iters, "num_iters", minimum=0)
    xp = t.xp
    X = _unit(xp, xp.concat([t.Q, t.K], axis=-2))
    C = _spherical_kmeans(xp, X, c, it, default_rng(rng))
    lab = xp.argmax(matmul_t(xp, X, C), axis=-1)
    lq, lk = lab[..., : t.n_q], lab[..., t.n_q :]

    def keep_fn(S, i0, i1):
        return _and_causal(xp, lq[..., i0:i1, None] == lk[..., None, :], causal, i0, i1, t.n_k)

    out, dens = _run_blocked(t, keep_fn)
    return _finish(out, dens, return_info)


def scatterbrain_attention(
    Q, K, V, num_features, window=None, topk=None, rng=None, scale=None, orthogonal=True, return_info=False
):
    """Scatterbrain: exact sparse part plus a Performer low-rank estimate of the rest.

    The unnormalised attention ``A = exp(scale Q K^T)`` is approximated by
    ``A_hat = L + S`` with ``L = phi(Q) phi(K)^T`` (positive random features)
    and ``S = mask * (A - L)``: exact on the sparse support, the random-feature
    estimate elsewhere.  Output ``A_hat V / (A_hat 1)`` (Chen et al., 2021).

    Parameters
    ----------
    Q, K, V : arrays of shapes (..., n_q, d), (..., n_k, d), (..., n_k, d_v)
    num_features : int
        Performer features ``m``.
    window : int, optional
        Sliding-window support ``|i - j| <= window``.
    topk : int, optional
        Top-k support per query (union with the window when both are given).
        At least one of ``window`` and ``topk`` is required.
    rng : None, int or Generator
    scale : float, optional
    orthogonal : bool
    return_info : bool

    Returns
    -------
    array of shape (..., n_q, d_v) or SparseAttentionResult

    Notes
    -----
    Queries are stabilised by their largest log-feature ``c_i`` and keys by
    the global largest ``c_K``; each row is then brought to the common scale
    ``exp(-r_i)``, ``r_i = max(c_i + c_K, max_{j in support} s_ij)``, for both
    the feature part and the exact entries, so no exponent is positive.  Entries of ``A_hat``
    are positive, so the normaliser is too.  A support covering every key
    gives exact attention.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.attention.exact import softmax_attention
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 8, 4))
    >>> Y = scatterbrain_attention(Q, K, V, 16, window=8, rng=0)
    >>> bool(np.allclose(Y, softmax_attention(Q, K, V)))
    True
    """
    t = check_qkv(Q, K, V, scale=scale)
    if window is None and topk is None:
        raise ValueError("scatterbrain_attention needs a sparse support: give window and/or topk")
    w = None if window is None else check_int(window, "window", minimum=0)
    kk = None if topk is None else check_int(topk, "topk", minimum=1)
    xp = t.xp
    r = math.sqrt(t.scale)
    fmap = PositiveRandomFeatures(t.d, num_features, orthogonal=orthogonal, rng=rng, stabilize=False)
    ZQ, ZK = fmap.log_features(t.Q * r), fmap.log_features(t.K * r)
    cq = xp.max(ZQ, axis=-1, keepdims=True)  # (..., n_q, 1)
    ck = xp.max(xp.max(ZK, axis=-1, keepdims=True), axis=-2, keepdims=True)  # (..., 1, 1)
    FQ, FK = xp.exp(ZQ - cq), xp.exp(ZK - ck)
    num = xp.matmul(FQ, xp.matmul(xp.matrix_transpose(FK), t.V))
    den = xp.sum(FQ * xp.sum(FK, axis=-2)[..., None, :], axis=-1)
    nums, dens, kept = [], [], 0.0
    for i0, i1 in _qblocks(t.n_q):
        S = matmul_t(xp, t.Q[..., i0:i1, :], t.K) * t.scale
        keep = _support(xp, S, i0, i1, t.n_k, w, kk)
        base = cq[..., i0:i1, :] + ck  # log scale of the feature part
        Smax = xp.max(xp.where(keep, S, xp.full_like(S, -xp.inf)), axis=-1, keepdims=True)
        shift = xp.maximum(base, Smax)  # common row scale, no overflow
        g = xp.exp(base - shift)
        low = matmul_t(xp, FQ[..., i0:i1, :], FK) * g
        corr = xp.where(keep, xp.exp(S - shift) - low, xp.zeros_like(low))
        nums.append(num[..., i0:i1, :] * g + xp.matmul(corr, t.V))
        dens.append(den[..., i0:i1] * g[..., 0] + xp.sum(corr, axis=-1))
        kept += float(xp.sum(xp.astype(xp.broadcast_to(keep, S.shape), xp.float64)))
    num, den = xp.concat(nums, axis=-2), xp.concat(dens, axis=-1)
    out = num / den[..., None]
    return _finish(out, kept / _num_pairs(t), return_info)


def _support(xp, S, i0, i1, n_k, w, k):
    keep = None
    if w is not None:
        i = xp.arange(i0, i1)[:, None]
        j = xp.arange(n_k)[None, :]
        keep = xp.broadcast_to(xp.abs(j - i) <= w, S.shape)
    if k is not None:
        top = S >= xp.sort(S, axis=-1, descending=True)[..., min(k, n_k) - 1 : min(k, n_k)]
        keep = top if keep is None else xp.logical_or(keep, top)
    return keep
