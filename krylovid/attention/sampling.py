"""Randomized sketching of the attention product: Skeinformer and HyperAttention.

Both estimate, for every query ``i``, the unnormalised sums
``N_i = sum_j exp(s_ij) v_j`` and ``D_i = sum_j exp(s_ij)`` (``s = scale Q K^T``)
from a subset of the keys with importance weights that make each sum
unbiased, and return the ratio ``N_i / D_i`` (a consistent, ratio-type
estimate of softmax attention).  With every key used they are exact.

Heads (all leading dimensions) are processed one at a time; the random draws
come from the one ``rng`` in order, so results are reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_in_range, check_int
from ..backend import Array, asarray, default_rng, standard_normal, uniform
from ._common import causal_mask, check_qkv, leading_shape, logsumexp, matmul_t, safe_exp_shift, softmax

__all__ = ["SamplingAttentionResult", "skeinformer_attention", "hyperattention"]


@dataclass(frozen=True)
class SamplingAttentionResult:
    """Output of a sampling-based attention estimate.

    Attributes
    ----------
    output : array of shape (..., n_q, d_v)
    log_normalizer : array of shape (..., n_q)
        ``log`` of the estimated row normaliser ``D_hat_i`` (an unbiased
        estimate of ``D_i = sum_j exp(s_ij)``; compare with
        :func:`~krylovid.attention.exact.row_normalizer`).
    num_samples : int
        Keys sampled per head.
    exact : bool
        True when every key was used (the output is exact attention).
    """

    output: Array
    log_normalizer: Array
    num_samples: int
    exact: bool


def _heads(t):
    """Flatten the leading dimensions: yields (Q, K, V) per head and a reshaper."""
    xp, lead = t.xp, leading_shape(t.Q)
    B = math.prod(lead)
    Qf = xp.reshape(t.Q, (B, t.n_q, t.d))
    Kf = xp.reshape(t.K, (B, t.n_k, t.d))
    Vf = xp.reshape(t.V, (B, t.n_k, int(t.V.shape[-1])))

    def unflatten(outs, logs):
        out = xp.reshape(xp.stack(outs, axis=0), lead + (t.n_q, int(t.V.shape[-1])))
        return out, xp.reshape(xp.stack(logs, axis=0), lead + (t.n_q,))

    return [(Qf[b, ...], Kf[b, ...], Vf[b, ...]) for b in range(B)], unflatten


def _ratio(xp, parts):
    """Combine weighted logit blocks ``[(S, logw, V), ...]`` into ``N/D`` and ``log D``.

    ``S`` (b, c) logits (``-inf`` = excluded), ``logw`` (c,) or scalar log
    weights, ``V`` (c, d_v).  A common row shift keeps every exponent <= 0.
    """
    Ls = [S + lw for S, lw, _ in parts]
    m = xp.max(Ls[0], axis=-1)
    for L in Ls[1:]:
        m = xp.maximum(m, xp.max(L, axis=-1))
    ms = safe_exp_shift(xp, m)
    num = den = None
    for L, (_, _, Vp) in zip(Ls, parts, strict=True):
        E = xp.exp(L - ms[:, None])
        n_, d_ = xp.matmul(E, Vp), xp.sum(E, axis=-1)
        num, den = (n_, d_) if num is None else (num + n_, den + d_)
    pos = den > 0
    out = num / xp.where(pos, den, xp.ones_like(den))[:, None]
    logd = xp.where(pos, xp.log(xp.where(pos, den, xp.ones_like(den))) + ms, xp.full_like(den, -xp.inf))
    return out, logd


def _exact_head(xp, Q, K, V, scale, causal=False):
    S = matmul_t(xp, Q, K) * scale
    if causal:
        S = xp.where(causal_mask(xp, int(Q.shape[0]), int(K.shape[0])), S, xp.full_like(S, -xp.inf))
    return xp.matmul(softmax(xp, S), V), logsumexp(xp, S)


# ----------------------------------------------------------------------------- Skeinformer
def _skein_head(xp, Q, K, V, scale, c, n_pilot, gamma, gen):
    n_q, n_k = int(Q.shape[0]), int(K.shape[0])
    pilot = np.sort(gen.choice(n_q, size=n_pilot, replace=False))
    pil = asarray(pilot, xp, dtype=xp.int64)
    Spil = matmul_t(xp, xp.take(Q, pil, axis=0), K) * scale
    Ppil = softmax(xp, Spil)
    score = xp.sqrt(xp.sum(Ppil * Ppil, axis=0)) * xp.sqrt(xp.sum(V * V, axis=-1))
    tot = xp.sum(score)
    p = score / xp.where(tot > 0, tot, xp.ones_like(tot))
    p = xp.where(tot > 0, (1 - gamma) * p + gamma / n_k, xp.full_like(p, 1.0 / n_k))
    cdf = xp.cumulative_sum(p)
    u = uniform(gen, (c,), xp=xp, dtype=p.dtype) * cdf[-1]
    idx = xp.clip(xp.searchsorted(cdf, u, side="right"), 0, n_k - 1)
    logw = -xp.log(xp.take(p, idx, axis=0) * c)
    S = matmul_t(xp, Q, xp.take(K, idx, axis=0)) * scale
    out, logd = _ratio(xp, [(S, logw, xp.take(V, idx, axis=0))])
    # pilot reuse: the pilot rows were computed exactly, use them
    pos = np.zeros(n_q, dtype=np.int64)
    pos[pilot] = np.arange(n_pilot)
    is_pil = np.zeros(n_q, dtype=bool)
    is_pil[pilot] = True
    posx, isx = asarray(pos, xp, dtype=xp.int64), asarray(is_pil, xp)
    ex_out = xp.take(xp.matmul(Ppil, V), posx, axis=0)
    ex_log = xp.take(logsumexp(xp, Spil), posx, axis=0)
    return xp.where(isx[:, None], ex_out, out), xp.where(isx, ex_log, logd)


def skeinformer_attention(
    Q, K, V, num_samples, rng=None, scale=None, num_pilot=None, uniform_mix=0.1, return_info=False
):
    """Skeinformer: importance sampling of key columns with estimated normalisers.

    Parameters
    ----------
    Q, K, V : arrays of shapes (..., n_q, d), (..., n_k, d), (..., n_k, d_v)
    num_samples : int
        Key columns ``c`` sampled (with replacement) per head;
        ``c >= n_k`` uses every key once (exact).
    rng : None, int or Generator
    scale : float, optional
        Default ``1/sqrt(d)``.
    num_pilot : int, optional
        Pilot query rows (default ``min(c, n_q)``).
    uniform_mix : float
        Weight ``gamma`` in ``[0, 1]`` of the uniform distribution mixed into
        the sampling probabilities (keeps them away from zero).
    return_info : bool
        Return a :class:`SamplingAttentionResult`.

    Returns
    -------
    array of shape (..., n_q, d_v) or SamplingAttentionResult

    Notes
    -----
    (Chen et al., 2022.)  1. *Pilot sampling*: ``d_p`` query rows ``J`` drawn
    uniformly; their attention rows ``P_J`` are computed exactly.
    2. Key ``j`` is sampled with probability
    ``p_j = (1 - gamma) ||P_J[:, j]|| ||v_j|| / Z + gamma / n_k``, an estimate
    of the optimal column-sampling probabilities for the product ``P V``.
    3. With ``c`` i.i.d. draws ``j_1..j_c``,
    ``N_hat_i = (1/c) sum_s exp(s_{i j_s}) v_{j_s} / p_{j_s}`` and
    ``D_hat_i = (1/c) sum_s exp(s_{i j_s}) / p_{j_s}`` are unbiased for
    ``N_i`` and ``D_i`` (row normalisation from the same sketch), and the
    output row is ``N_hat_i / D_hat_i``.  4. *Pilot reuse*: rows in ``J`` take
    their exact value.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.attention.exact import softmax_attention
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 16, 4))
    >>> Y = skeinformer_attention(Q, K, V, 16, rng=0)
    >>> bool(np.allclose(Y, softmax_attention(Q, K, V)))
    True
    """
    t = check_qkv(Q, K, V, scale=scale)
    c = check_int(num_samples, "num_samples", minimum=1)
    npil = min(c, t.n_q) if num_pilot is None else check_int(num_pilot, "num_pilot", minimum=1, maximum=t.n_q)
    gamma = check_in_range(uniform_mix, "uniform_mix", 0.0, 1.0, closed=True)
    gen, xp = default_rng(rng), t.xp
    heads, unflatten = _heads(t)
    exact = c >= t.n_k
    res = [
        _exact_head(xp, q, k, v, t.scale) if exact else _skein_head(xp, q, k, v, t.scale, c, npil, gamma, gen)
        for q, k, v in heads
    ]
    out, logd = unflatten([r[0] for r in res], [r[1] for r in res])
    return SamplingAttentionResult(out, logd, min(c, t.n_k), exact) if return_info else out


# ----------------------------------------------------------------------------- HyperAttention
def _sort_lsh(xp, X, H):
    """Sorting permutation of the rows of ``X`` by a Gray-ordered angular hash."""
    r = int(H.shape[1])
    bits = xp.astype(xp.matmul(X, H) > 0, xp.int64)  # (n, r), MSB first
    binary = xp.cumulative_sum(bits, axis=-1) % 2  # Gray -> binary rank
    weights = asarray(2 ** np.arange(r - 1, -1, -1, dtype=np.int64), xp, dtype=xp.int64)
    code = xp.sum(binary * weights, axis=-1)
    return xp.argsort(code, stable=True)


def _hyper_head(xp, Q, K, V, scale, b, s, H, gen, causal):
    n_q, n_k = int(Q.shape[0]), int(K.shape[0])
    pq, pk = _sort_lsh(xp, Q, H), _sort_lsh(xp, K, H)
    nb = -(-n_q // b)
    kb = [round(i * n_k / nb) for i in range(nb + 1)]
    blk_sorted = np.repeat(np.arange(nb), np.diff(kb))
    kblk = xp.take(asarray(blk_sorted, xp, dtype=xp.int64), xp.argsort(pk), axis=0)  # block of each key
    R = asarray(np.sort(gen.choice(n_k, size=s, replace=False)), xp, dtype=xp.int64)
    KR, VR, logw = xp.take(K, R, axis=0), xp.take(V, R, axis=0), math.log(n_k / s) if s else 0.0
    kblk_R = xp.take(kblk, R, axis=0)
    outs, logs = [], []
    for tb in range(nb):
        qi = pq[tb * b : min((tb + 1) * b, n_q)]
        kj = pk[kb[tb] : kb[tb + 1]]
        Qb = xp.take(Q, qi, axis=0)
        S = matmul_t(xp, Qb, xp.take(K, kj, axis=0)) * scale
        if causal:
            S = xp.where(kj[None, :] <= qi[:, None], S, xp.full_like(S, -xp.inf))
        parts = [(S, 0.0, xp.take(V, kj, axis=0))]
        if s:
            SR = matmul_t(xp, Qb, KR) * scale
            keep = xp.broadcast_to(kblk_R[None, :] != tb, SR.shape)
            if causal:
                keep = xp.logical_and(keep, R[None, :] <= qi[:, None])
            parts.append((xp.where(keep, SR, xp.full_like(SR, -xp.inf)), logw, VR))
        o, l = _ratio(xp, parts)
        outs.append(o)
        logs.append(l)
    inv = xp.argsort(pq)
    return xp.take(xp.concat(outs, axis=0), inv, axis=0), xp.take(xp.concat(logs, axis=0), inv, axis=0)


def hyperattention(
    Q, K, V, block_size, num_samples, rng=None, causal=False, scale=None, num_hash_bits=8, return_info=False
):
    """HyperAttention: sorted-LSH diagonal blocks plus a uniform residual of keys.

    Parameters
    ----------
    Q, K, V : arrays of shapes (..., n_q, d), (..., n_k, d), (..., n_k, d_v)
    block_size : int
        Queries per diagonal block ``b``.
    num_samples : int
        Keys ``s`` sampled uniformly without replacement for the residual
        (``0``: blocks only; ``>= n_k``: all keys, exact).
    rng : None, int or Generator
    causal : bool
        Mask both parts by the original positions (``j <= i``).
    scale : float, optional
    num_hash_bits : int
        Random hyperplanes of the angular hash.
    return_info : bool

    Returns
    -------
    array of shape (..., n_q, d_v) or SamplingAttentionResult

    Notes
    -----
    (Han et al., 2023.)  Queries and keys are hashed by the signs of ``r``
    random hyperplanes, ordered by the Gray-code rank of the hash (neighbours
    in the order differ in one hyperplane) and sorted.  The sorted queries are
    cut into blocks of ``b``, the sorted keys into as many contiguous blocks,
    and query block ``t`` attends exactly to key block ``t`` (where the large
    entries concentrate).  The rest of each row is estimated from ``s`` keys
    drawn uniformly without replacement with weight ``n_k / s`` (Horvitz-
    Thompson, so ``N_hat_i`` and ``D_hat_i`` are unbiased); sampled keys that
    lie in the query's own block are dropped to avoid double counting.
    The causal variant simply masks both parts; its early rows see few keys
    (the paper's recursive causal scheme is not implemented).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.attention.exact import softmax_attention
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 16, 4))
    >>> Y = hyperattention(Q, K, V, block_size=4, num_samples=16, rng=0)
    >>> bool(np.allclose(Y, softmax_attention(Q, K, V)))
    True
    """
    t = check_qkv(Q, K, V, scale=scale, causal=causal)
    b = check_int(block_size, "block_size", minimum=1)
    s = min(check_int(num_samples, "num_samples", minimum=0), t.n_k)
    r = check_int(num_hash_bits, "num_hash_bits", minimum=1, maximum=62)
    gen, xp = default_rng(rng), t.xp
    H = standard_normal(gen, (t.d, r), xp=xp, dtype=t.dtype)
    heads, unflatten = _heads(t)
    res = [_hyper_head(xp, q, k, v, t.scale, b, s, H, gen, causal) for q, k, v in heads]
    out, logd = unflatten([x[0] for x in res], [x[1] for x in res])
    return SamplingAttentionResult(out, logd, s, s == t.n_k) if return_info else out
