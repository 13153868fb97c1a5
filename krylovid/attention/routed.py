"""Routed attention: exact logits on each query cluster's top keys, an importance-sampled mean-field residual.

For long inputs the weight of a row of ``P`` sits on a few hundred keys that
vary smoothly with the query, plus a long tail of small weights.  This method
spends a fixed budget of ``m`` exact logits per query on both:

1. *Routing*: the scaled queries are clustered (k-means, ``c`` clusters); the
   ``t`` keys with the largest logit against a cluster's centroid are the
   cluster's *top keys*, and every query of the cluster attends to them exactly.
2. *Residual*: per cluster, ``s`` of the other keys are drawn with replacement,
   the next keys by the centroid's logits with probability proportional to
   their centroid weight ``exp(mu . k_j)``, all others uniformly (with the
   centroid weight they hold, plus a fixed uniform share); they estimate, for
   every query of the cluster, the mass ``sum_{j not top} exp(s_ij)`` of the
   other keys (importance sampling, unbiased), and the residual's values are
   replaced by the mean value of the sampled key's value cluster (``g``
   k-means clusters of the keys; ``g = 1``: the mean of ``V``).

With ``t + s = m`` the work is two ``n_q x m`` products per head plus the
clustering, against ``n_q x n_k`` for exact attention; the result is exact
when the top keys cover every key (``t >= n_k``).

Where it helps: long sequences (n >= 4096) whose rows spread over more keys
than any budget holds, with values that vary little across the residual keys;
there it beats the low-rank methods on sharp heads (benchmarks/attention_long.py).
On the 72 real MiniLM heads at n = 512 (m = 128, 2 clusters) the version with
a uniform residual sample had a median relative error of 0.32 against 0.23
for sampled Nyström (largest 0.76 against 0.95): not a universal winner.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_in_range, check_int
from ..backend import asarray, default_rng, is_numpy, to_numpy, uniform
from ._common import check_qkv, matmul_t, safe_exp_shift
from .sampling import SamplingAttentionResult, _heads

__all__ = ["routed_attention"]

_MAX_FIT = 4096  # rows used to fit the k-means centroids (all rows are then assigned)
_CANDIDATES = 8  # the residual's importance candidates: the keys ranked t+1 .. max(8t, 1024) by the centroid's logits
_MIN_CANDIDATES = 1024
_LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(log2(e) x)


def _kmeans(xp, X, num_clusters, num_iters, gen):
    """Lloyd's k-means on at most ``_MAX_FIT`` sampled rows of ``X`` (N, d): ``(centroids, labels of all rows)``."""
    N = int(X.shape[0])
    fit = X
    if N > _MAX_FIT:
        fit = xp.take(X, asarray(np.sort(gen.choice(N, size=_MAX_FIT, replace=False)), xp, dtype=xp.int64), axis=0)
    init = np.sort(gen.choice(int(fit.shape[0]), size=num_clusters, replace=False))
    C = xp.take(fit, asarray(init, xp, dtype=xp.int64), axis=0)
    for _ in range(num_iters):
        lab = _nearest(xp, fit, C)
        S, cnt = _cluster_sums(xp, fit, lab, num_clusters)
        C = xp.where(cnt > 0, S / xp.where(cnt > 0, cnt, xp.ones_like(cnt)), C)  # empty clusters stay
    return C, _nearest(xp, X, C)


def _cluster_sums(xp, X, lab, c):
    """Sums (c, d) and counts (c, 1) of the rows of ``X`` by label."""
    if is_numpy(xp):  # sorted by label, summed by segments
        cnt = np.bincount(lab, minlength=c)
        starts = np.concatenate([[0], np.cumsum(cnt)[:-1]])
        order, _ = _cluster_order(lab, c)
        S = np.add.reduceat(X[order], np.minimum(starts, X.shape[0] - 1), axis=0)
        S[cnt == 0] = 0.0  # reduceat gives a row of X for an empty segment
        return S, cnt[:, None].astype(X.dtype)
    onehot = xp.astype(lab[:, None] == xp.arange(c)[None, :], X.dtype)  # (N, c)
    return xp.matmul(xp.matrix_transpose(onehot), X), xp.sum(onehot, axis=0)[:, None]


def _nearest(xp, X, C):
    """Index of the nearest centroid (Euclidean) of every row of ``X``."""
    D = matmul_t(xp, X, C)
    if is_numpy(xp):
        D -= 0.5 * np.einsum("ij,ij->i", C, C)
        return D.argmax(axis=1)
    return xp.argmax(D - 0.5 * xp.sum(C * C, axis=1)[None, :], axis=1)


def _route(xp, G, t, n_cand):
    """Top keys (c, t) of every row of ``G`` (c, n_k), in any order, and the next ``n_cand - t`` (c, .) by index.

    The next keys (the candidates of the residual's importance sampling) are
    the keys ranked ``t + 1 .. n_cand`` by ``G``, sorted by key index.
    """
    c, n_k = int(G.shape[0]), int(G.shape[1])
    n_cand = min(n_cand, n_k)
    if t >= n_k:
        return xp.broadcast_to(xp.arange(n_k)[None, :], (c, n_k)), xp.zeros((c, 0), dtype=xp.int64)
    if is_numpy(xp):
        idx = np.argpartition(G, n_k - n_cand, axis=1)[:, n_k - n_cand :]
        sub = np.argpartition(np.take_along_axis(G, idx, axis=1), n_cand - t, axis=1)
        top = np.take_along_axis(idx, sub[:, n_cand - t :], axis=1)
        return top, np.sort(np.take_along_axis(idx, sub[:, : n_cand - t], axis=1), axis=1)
    order = xp.argsort(G, axis=1, descending=True)
    return order[:, :t], xp.sort(order[:, t:n_cand], axis=1)


def _sample_values(xp, K, V, R, g, num_iters, gen):
    """Values standing in for the sampled keys ``R``: the mean value of each one's value cluster, (s, d_v).

    ``g`` k-means clusters of the keys (``g = 1``: the mean of ``V`` for every key).
    """
    if g == 1:
        return xp.broadcast_to(xp.mean(V, axis=0)[None, :], (int(R.shape[0]), int(V.shape[1])))
    _, lab = _kmeans(xp, K, g, num_iters, gen)
    onehot = xp.astype(lab[:, None] == xp.arange(g)[None, :], V.dtype)  # (n_k, g)
    cnt = xp.sum(onehot, axis=0)[:, None]
    means = xp.matmul(xp.matrix_transpose(onehot), V) / xp.where(cnt > 0, cnt, xp.ones_like(cnt))
    return xp.take(means, xp.take(lab, R, axis=0), axis=0)


def _exp_shifted(xp, S, m):
    """``exp(max(S - m, log(tiny)))`` by rows, in place for NumPy (``S`` is a temporary).

    The floor changes weights below ``tiny`` (relative to the row's largest, 1)
    and avoids the exponential's slow path on subnormal results.
    """
    lo = math.log(float(xp.finfo(S.dtype).smallest_normal))
    if is_numpy(xp):
        S -= m[:, None]
        np.maximum(S, lo, out=S)
        return np.exp(S, out=S)
    return xp.exp(xp.maximum(S - m[:, None], xp.asarray(lo, dtype=S.dtype)))


def _routed_head(xp, Q, K, V, scale, t, s, c, g, mix, num_iters, gen):
    if is_numpy(xp):
        return _routed_head_numpy(np.asarray(Q), np.asarray(K), np.asarray(V), scale, t, s, c, g, mix, num_iters, gen)
    n_k, dv = int(K.shape[0]), int(V.shape[1])
    dt = Q.dtype
    Qs = Q * scale
    cent, lab = _kmeans(xp, Qs, c, num_iters, gen)
    G = matmul_t(xp, cent, K)  # (c, n_k): routing logits
    top, cand = _route(xp, G, t, max(_CANDIDATES * t, _MIN_CANDIDATES))  # (c, t): largest centroid logits
    t = int(top.shape[1])
    s = 0 if t >= n_k else s
    order = xp.argsort(lab, stable=True)
    Qp = xp.take(Qs, order, axis=0)  # queries sorted by cluster: contiguous slices
    bounds = np.concatenate([[0], np.cumsum(np.bincount(to_numpy(lab), minlength=c))]).tolist()
    Vt = xp.concat([V, xp.ones((n_k, 1), dtype=dt)], axis=1)  # [v_j, 1]: numerator and mass of each key
    if s:
        J, U = _residual(xp, K, V, G, top, cand, s, mix, g, num_iters, gen)
    outs, logs = [], []
    for k, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        if a == b:
            continue
        Kk, Vk = xp.take(K, top[k, :], axis=0), xp.take(Vt, top[k, :], axis=0)
        if s:
            Kk, Vk = xp.concat([Kk, xp.take(K, J[k, :], axis=0)], axis=0), xp.concat([Vk, U[k, ...]], axis=0)
        S = matmul_t(xp, Qp[a:b, :], Kk)  # the m logits of each query of cluster k
        mk = safe_exp_shift(xp, xp.max(S, axis=1))
        acc = xp.matmul(_exp_shifted(xp, S, mk), Vk)  # [numerator, normaliser]
        outs.append(acc[:, :dv] / acc[:, dv:])
        logs.append(xp.log(acc[:, dv]) + mk)
    inv = xp.argsort(order)
    return xp.take(xp.concat(outs, axis=0), inv, axis=0), xp.take(xp.concat(logs, axis=0), inv, axis=0)


def _residual(xp, K, V, G, top, cand, s, mix, g, num_iters, gen):
    """Residual keys ``J`` (c, s) of every cluster, their weighted stand-in values ``W [u_j, 1]`` (c, s, d_v + 1).

    Per cluster ``k`` the ``s`` keys are drawn with replacement from the keys
    that are not its top keys, with probability ``p_j = (1 - a_k) [j in C_k]
    exp(g_kj) / Z_C + a_k / (n_k - t)``: ``C_k`` the candidates (the next
    keys by the centroid's logits ``g_kj``: the queries of the cluster weight
    the keys roughly as their centroid does), ``Z_C`` and ``Z_F`` the sums of
    ``exp(g_kj)`` over the candidates and over the keys beyond them, and the
    uniform share ``a_k = mix + (1 - mix) Z_F / (Z_C + Z_F)`` (at least
    ``mix``: bounds the weights ``W = 1 / (s p_j)`` by ``(n_k - t) / (mix s)``).
    """
    c, dt = int(G.shape[0]), K.dtype
    J, pJ = _draw_residual(xp, G, top, cand, s, mix, gen)
    vals = _sample_values(xp, K, V, xp.reshape(J, (c * s,)), g, num_iters, gen)
    U = xp.concat([xp.reshape(vals, (c, s, int(V.shape[1]))), xp.ones((c, s, 1), dtype=dt)], axis=2)
    return J, U * xp.astype(1.0 / (s * pJ), dt)[:, :, None]


def _draw_residual(xp, G, top, cand, s, mix, gen):
    """Keys ``J`` (c, s) drawn with replacement by the mixture of :func:`_residual`, and their probabilities."""
    c, n_k, t, n_c = int(G.shape[0]), int(G.shape[1]), int(top.shape[1]), int(cand.shape[1])
    u = uniform(gen, (2, c, s), xp=xp, dtype=xp.float64)
    # uniform component: the r-th key that is not a top key (r + the number of top keys up to it)
    r = xp.clip(xp.astype(xp.floor(u[1, ...] * (n_k - t)), xp.int64), 0, n_k - t - 1)
    tops = xp.astype(xp.sort(top, axis=1), xp.int64)
    J = r + xp.astype(_searchsorted_rows(xp, tops - xp.arange(t, dtype=xp.int64)[None, :], r, "right"), xp.int64)
    if n_c == 0 or mix >= 1.0:
        return J, xp.full_like(u[1, ...], 1.0 / (n_k - t))
    # candidate component: inverse CDF of exp(centroid logit) over the candidates
    gmax = xp.max(G, axis=1, keepdims=True)
    wc = xp.exp(xp.astype(_take_rows(xp, G, cand) - gmax, xp.float64))
    z_c = xp.sum(wc, axis=1, keepdims=True)
    qc = wc / z_c
    cdf = xp.cumulative_sum(qc, axis=1)
    # the centroid's weight on the other keys goes to the uniform component
    z_all = _sum_exp(xp, G - gmax)
    z_top = xp.sum(xp.exp(xp.astype(_take_rows(xp, G, top) - gmax, xp.float64)), axis=1, keepdims=True)
    z_far = xp.clip(z_all - z_top - z_c, 0.0, None) if n_c < n_k - t else xp.zeros_like(z_c)
    mix = mix + (1.0 - mix) * z_far / (z_c + z_far)  # (c, 1)
    cand = xp.astype(cand, xp.int64)
    pos = xp.clip(_searchsorted_rows(xp, cdf, u[1, ...] * cdf[:, -1:], "right"), 0, n_c - 1)
    J = xp.where(u[0, ...] < mix, J, _take_rows(xp, cand, pos))
    # probability of the drawn key under the mixture (a uniform draw may be a candidate too)
    at = xp.clip(_searchsorted_rows(xp, cand, J, "left"), 0, n_c - 1)
    q = xp.where(_take_rows(xp, cand, at) == J, _take_rows(xp, qc, at), xp.zeros_like(qc[:, :1]))
    return J, (1.0 - mix) * q + mix / (n_k - t)


def _sum_exp(xp, X):
    """Row sums (c, 1) of ``exp(X)`` in float64 (``X`` a temporary: overwritten for NumPy)."""
    if is_numpy(xp):
        np.exp(X, out=X)
        return X.sum(axis=1, keepdims=True, dtype=np.float64)
    return xp.sum(xp.astype(xp.exp(X), xp.float64), axis=1, keepdims=True)


def _take_rows(xp, A, idx):
    """``A[k, idx[k, r]]`` (c, s) for ``A`` (c, L) and integer ``idx`` (c, s)."""
    if is_numpy(xp):
        return np.take_along_axis(A, idx, axis=1)
    return xp.stack([xp.take(A[k, :], idx[k, :], axis=0) for k in range(int(A.shape[0]))], axis=0)


def _searchsorted_rows(xp, A, x, side):
    """Row-wise ``searchsorted(A[k], x[k], side)`` (c, s) for rows ``A`` (c, L) sorted increasingly."""
    c, L = int(A.shape[0]), int(A.shape[1])
    if is_numpy(xp):  # one search on the rows laid end to end, shifted apart
        lo = min(A.min(), x.min())
        off = (np.arange(c) * (max(A.max(), x.max()) - lo + 1))[:, None]
        i = np.searchsorted((A - lo + off).ravel(), (x - lo + off).ravel(), side=side).reshape(x.shape)
        return i - (np.arange(c) * L)[:, None]
    return xp.stack([xp.searchsorted(A[k, :], x[k, :], side=side) for k in range(c)], axis=0)


def _cluster_order(lab, c):
    """Queries sorted by cluster (stable) and the slice bounds of each cluster."""
    small = np.int16 if c <= np.iinfo(np.int16).max else np.int64  # int16: NumPy's radix sort
    order = np.argsort(lab.astype(small), kind="stable")
    return order, np.concatenate([[0], np.cumsum(np.bincount(lab, minlength=c))]).tolist()


def _routed_head_numpy(Q, K, V, scale, t, s, c, g, mix, num_iters, gen):
    """:func:`_routed_head` for one NumPy head: the same draws and estimator, fewer passes over the logits.

    Each query's shift is an upper bound of its ``m`` logits instead of their
    maximum: with ``mu`` its cluster's centroid, ``q . k_j <= mu . k_j + |q - mu|
    |k_j|`` (Cauchy–Schwarz), so ``b = max_j mu . k_j + |q - mu| max_j |k_j|``
    over the cluster's keys bounds the row (``mu . k_j`` are the routing logits,
    already computed).  ``-b`` enters the logit product as one more column
    (``[q, -b] [k, 1]^T``, in base 2 for ``exp2``), so a cluster takes one
    product, one exponential in place and one product with ``[V, 1]``.  Rows
    whose sum falls below ``n_k tiny / eps`` (``b`` so far above the row maximum
    that its largest terms underflow) are redone with their own maximum.
    """
    n_q, d = Q.shape
    n_k, dv = K.shape[0], V.shape[1]
    dt = Q.dtype
    Qs = Q * dt.type(scale)
    cent, lab = _kmeans(np, Qs, c, num_iters, gen)
    G = cent @ K.T  # (c, n_k): routing logits
    top, cand = _route(np, G, t, max(_CANDIDATES * t, _MIN_CANDIDATES))
    t = top.shape[1]
    s = 0 if t >= n_k else s
    J, U = _residual(np, K, V, G, top, cand, s, mix, g, num_iters, gen) if s else (None, None)
    keys = np.concatenate([top, J], axis=1) if s else top
    order, bounds = _cluster_order(lab, c)
    b, spread = _shift_bounds(Qs, K, cent, lab, G, keys, order, bounds)
    Qa = np.empty((n_q, d + 1), dt)
    np.multiply(Qs[order], dt.type(_LOG2E), out=Qa[:, :d])
    np.multiply(b[order], dt.type(-_LOG2E), out=Qa[:, d])
    m = t + s
    Kb, Vb, wb = np.empty((m, d + 1), dt), np.empty((m, dv), dt), np.ones(m, dt)
    Kb[:, d] = 1.0
    lo = dt.type(np.log2(np.finfo(dt).tiny))
    S = np.empty((max(e - a for a, e in zip(bounds, bounds[1:], strict=False)), m), dt)
    num, l = np.empty((n_q, dv), dt), np.empty(n_q, dt)  # numerators and normalisers in cluster order
    for k, (i0, i1) in enumerate(zip(bounds, bounds[1:], strict=False)):
        if i0 == i1:
            continue
        Kb[:, :d], Vb[:t] = K[keys[k]], V[top[k]]
        if s:
            Vb[t:], wb[t:] = U[k, :, :dv], U[k, :, dv]
        Sk = S[: i1 - i0]
        np.matmul(Qa[i0:i1], Kb.T, out=Sk)  # log2(e) (s_ij - b_i) <= 0
        if _LOG2E * spread[k] > -lo:  # exp2 is many times slower on subnormal results
            np.maximum(Sk, lo, out=Sk)
        np.exp2(Sk, out=Sk)
        np.matmul(Sk, Vb, out=num[i0:i1])  # d_v columns: [V, 1] would be off the BLAS kernel's tile
        np.matmul(Sk, wb, out=l[i0:i1])
    num /= l[:, None]
    inv = np.empty_like(order)
    inv[order] = np.arange(n_q)
    l = l[inv]
    out, logd = num[inv], np.log(l) + b
    bad = np.nonzero(l < n_k * float(np.finfo(dt).tiny / np.finfo(dt).eps))[0]
    for k in np.unique(lab[bad]):  # shift far above the row maximum: these rows with their own maximum
        rows = bad[lab[bad] == k]
        Vk = np.concatenate([V[top[k]], np.ones((t, 1), dt)], axis=1)
        Vk = np.concatenate([Vk, U[k]]) if s else Vk
        S = Qs[rows] @ K[keys[k]].T
        mk = S.max(axis=1)
        accb = _exp_shifted(np, S, mk) @ Vk
        out[rows], logd[rows] = accb[:, :dv] / accb[:, dv:], np.log(accb[:, dv]) + mk
    return out, logd


def _shift_bounds(Qs, K, cent, lab, G, keys, order, bounds):
    """Row shifts ``b_i >= max_j s_ij`` over each query's keys, and per cluster an upper bound of ``b_i - s_ij``.

    ``b_i = max_j mu . k_j + |q_i - mu| max_j |k_j|`` (``mu`` the centroid of
    ``q_i``'s cluster, ``j`` over the cluster's keys); since also ``s_ij >=
    min_j mu . k_j - |q_i - mu| max_j |k_j|``, ``b_i - s_ij <= max - min of the
    routing logits + 2 max_i |q_i - mu| max_j |k_j|`` in the cluster.
    """
    knorm = np.sqrt(np.einsum("ij,ij->i", K, K))
    Gk = np.take_along_axis(G, keys, axis=1)
    gmax, gmin, kmax = Gk.max(axis=1), Gk.min(axis=1), knorm[keys].max(axis=1)
    D = Qs - cent[lab]
    dist = np.sqrt(np.einsum("ij,ij->i", D, D))
    dmax = np.zeros(G.shape[0], dist.dtype)
    np.maximum.at(dmax, lab, dist)
    return gmax[lab] + dist * kmax[lab], gmax - gmin + 2.0 * dmax * kmax


def routed_attention(
    Q,
    K,
    V,
    num_keys,
    num_samples=None,
    num_clusters=None,
    num_value_clusters=1,
    num_iters=3,
    rng=None,
    scale=None,
    uniform_mix=0.1,
    return_info=False,
):
    """Routed sparse attention with an importance-sampled mean-field residual (``m`` exact logits per query).

    Parameters
    ----------
    Q : array of shape (..., n_q, d)
    K : array of shape (..., n_k, d)
    V : array of shape (..., n_k, d_v)
    num_keys : int
        Budget ``m``: exact logits per query, ``t = m - s`` top keys of the
        query's cluster plus ``s`` sampled keys.  ``t >= n_k``: exact attention.
    num_samples : int, optional
        Keys ``s`` sampled per cluster for the residual (default ``m // 8``;
        ``0``: top keys only, the residual ignored).
    num_clusters : int, optional
        Query clusters ``c`` (default ``ceil(n_q / 512)``; more clusters route
        better and cost more: the routing, the candidates and the residual's
        draws take ``O(c n_k)``).
    num_value_clusters : int
        Key clusters ``g`` whose mean values stand in for the residual's
        values (``1``: the mean of ``V``).
    num_iters : int
        Lloyd iterations of the k-means (fitted on at most 4096 rows).
    rng : None, int or numpy.random.Generator
    scale : float, optional
        Default ``1/sqrt(d)``.
    uniform_mix : float in [0, 1]
        Share of the uniform distribution in the residual's sampling
        probabilities (bounds the importance weights by ``(n_k - t) /
        (uniform_mix s)``).
    return_info : bool
        Return a :class:`~krylovid.attention.sampling.SamplingAttentionResult`
        (output, estimated log row normalisers, samples, exactness).

    Returns
    -------
    array of shape (..., n_q, d_v) or SamplingAttentionResult

    Notes
    -----
    Query ``i`` in cluster ``k`` (centroid ``mu_k``) with top keys ``T_k`` gets
    ``(sum_{j in T_k} a_ij v_j + M_i vbar_i) / (sum_{j in T_k} a_ij + M_i)``
    with ``a_ij = exp(s_ij)`` and the residual mass
    ``M_i = (1/s) sum_{r=1..s} a_{i J_r} / p_{J_r}``, the keys ``J_r`` drawn
    independently from ``p_j = (1 - a_k) [j in C_k] exp(mu_k . k_j) / Z_C +
    a_k / (n_k - t)`` on the keys outside ``T_k``: ``C_k`` the candidates,
    the keys ranked ``t + 1 .. max(8 t, 1024)`` by the centroid's logits,
    ``Z_C`` their sum of ``exp(mu_k . k_j)``, ``Z_F`` that of the keys beyond
    them and ``a_k = mix + (1 - mix) Z_F / (Z_C + Z_F)``.  ``M_i`` is unbiased
    for ``sum_{j not in T_k} a_ij`` given the clusters (``uniform_mix > 0`` or
    candidates covering every other key), and of low variance when the
    queries weight the keys like their centroid;
    ``M_i vbar_i = (1/s) sum_r a_{i J_r} u_{J_r} / p_{J_r}``, ``u_j`` the mean
    value of key ``j``'s value cluster.  Replacing ``v_j`` by ``u_j`` removes
    the sampling noise of the residual's values (which dominates importance
    estimates of the output when the top keys hold only part of the mass) at
    the price of a bias where values vary within a value cluster; ``g = n_k``
    is plain importance sampling.  The top keys come from the centroid's
    logits, so queries far from their centroid may miss some of their own
    largest keys.  Work per head: ``O(n_q m (d + d_v) + (c + g) (n + 4096 i) d)``;
    the row shift (the maximum of the ``m`` logits, or for NumPy an upper bound
    of it from the centroid's logits) keeps every exponent ``<= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.attention.exact import softmax_attention
    >>> rng = np.random.default_rng(0)
    >>> Q, K, V = rng.standard_normal((3, 64, 8))
    >>> Y = routed_attention(Q, K, V, num_keys=64, num_samples=0, rng=0)  # every key is a top key
    >>> bool(np.allclose(Y, softmax_attention(Q, K, V)))
    True
    >>> routed_attention(Q, K, V, num_keys=16, rng=0).shape
    (64, 8)
    """
    t = check_qkv(Q, K, V, scale=scale)
    m = check_int(num_keys, "num_keys", minimum=1)
    s = m // 8 if num_samples is None else check_int(num_samples, "num_samples", minimum=0, maximum=m - 1)
    s = min(s, t.n_k)
    c = math.ceil(t.n_q / 512) if num_clusters is None else check_int(num_clusters, "num_clusters", minimum=1)
    c = min(c, t.n_q)
    g = min(check_int(num_value_clusters, "num_value_clusters", minimum=1), t.n_k)
    it = check_int(num_iters, "num_iters", minimum=0)
    mix = check_in_range(uniform_mix, "uniform_mix", 0.0, 1.0, closed=True)
    gen, xp = default_rng(rng), t.xp
    heads, unflatten = _heads(t)
    res = [_routed_head(xp, q, k, v, t.scale, m - s, s, c, g, mix, it, gen) for q, k, v in heads]
    out, logd = unflatten([r[0] for r in res], [r[1] for r in res])
    exact = m - s >= t.n_k
    return SamplingAttentionResult(out, logd, 0 if exact else s, exact) if return_info else out
