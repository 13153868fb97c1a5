"""Sparse / clustered attention against a dense masked-softmax reference."""

import numpy as np
import pytest

from krylovid.attention.exact import softmax_attention
from krylovid.attention.features import performer_attention
from krylovid.attention.sparse import (
    SparseAttentionResult,
    bigbird_attention,
    bigbird_block_mask,
    kmeans_attention,
    lsh_attention,
    scatterbrain_attention,
    sliding_window_attention,
    topk_attention,
)

N = 40


def masked_softmax(Q, K, V, keep, scale=None):
    """Reference: dense logits, -inf off the pattern, softmax (empty rows -> 0)."""
    scale = 1 / np.sqrt(Q.shape[-1]) if scale is None else scale
    S = np.where(keep, np.einsum("...id,...jd->...ij", Q, K) * scale, -np.inf)
    m = S.max(-1, keepdims=True)
    E = np.exp(S - np.where(np.isfinite(m), m, 0))
    Z = E.sum(-1, keepdims=True)
    return (E / np.where(Z > 0, Z, 1)) @ V


@pytest.fixture
def qkv(rng):
    return rng.standard_normal((3, 2, N, 6))


ii, jj = np.arange(N)[:, None], np.arange(N)[None, :]


@pytest.mark.parametrize("w", [0, 1, 7, 33])
def test_sliding_window_pattern(qkv, w):
    Q, K, V = qkv
    np.testing.assert_allclose(
        sliding_window_attention(Q, K, V, w), masked_softmax(Q, K, V, abs(ii - jj) <= w), atol=1e-13
    )
    keep_c = (jj <= ii) & (jj >= ii - w)
    res = sliding_window_attention(Q, K, V, w, causal=True, return_info=True)
    assert isinstance(res, SparseAttentionResult)
    np.testing.assert_allclose(res.output, masked_softmax(Q, K, V, keep_c), atol=1e-13)
    assert res.density == pytest.approx(keep_c.mean())


def test_sliding_window_exact_when_wide(qkv):
    Q, K, V = qkv
    np.testing.assert_allclose(sliding_window_attention(Q, K, V, N), softmax_attention(Q, K, V), atol=1e-12)
    np.testing.assert_allclose(
        sliding_window_attention(Q, K, V, N, causal=True), softmax_attention(Q, K, V, causal=True), atol=1e-12
    )


def test_bigbird_pattern_and_mask(qkv):
    Q, K, V = qkv
    res = bigbird_attention(Q, K, V, block_size=6, num_global=1, num_random=2, window_blocks=1, rng=3, return_info=True)
    M = res.block_mask
    nb = 7
    assert M.shape == (nb, nb) and M[0].all() and M[:, 0].all()
    for i in range(1, nb):  # window + exactly num_random extra blocks per non-global row
        base = (abs(np.arange(nb) - i) <= 1) | (np.arange(nb) == 0)
        assert M[i].sum() == base.sum() + 2 and np.all(M[i][base])
    tok = np.repeat(np.repeat(M, 6, 0), 6, 1)[:N, :N]
    np.testing.assert_allclose(res.output, masked_softmax(Q, K, V, tok), atol=1e-13)
    assert res.density == pytest.approx(tok.mean())
    again = bigbird_attention(Q, K, V, 6, 1, 2, 1, rng=3, return_info=True)
    assert np.array_equal(again.block_mask, M)


def test_bigbird_full_pattern_is_exact(qkv):
    Q, K, V = qkv
    np.testing.assert_allclose(
        bigbird_attention(Q, K, V, 8, num_global=0, num_random=0, window_blocks=5),
        softmax_attention(Q, K, V),
        atol=1e-12,
    )
    assert bigbird_block_mask(5, 0, 10, 0, rng=0).all()  # random blocks fill every row


@pytest.mark.parametrize("k", [1, 4, 17])
@pytest.mark.parametrize("causal", [False, True])
def test_topk_pattern(qkv, k, causal):
    Q, K, V = qkv
    S = np.einsum("...id,...jd->...ij", Q, K)
    if causal:
        S = np.where(jj <= ii, S, -np.inf)
    kth = np.sort(S, axis=-1)[..., ::-1][..., k - 1 : k]
    keep = (S >= kth) & np.isfinite(S)
    assert np.all(keep.sum(-1) == np.minimum(k, (ii[:, 0] + 1) if causal else N))
    np.testing.assert_allclose(topk_attention(Q, K, V, k, causal=causal), masked_softmax(Q, K, V, keep), atol=1e-13)


def test_topk_exact_at_n(qkv):
    Q, K, V = qkv
    np.testing.assert_allclose(topk_attention(Q, K, V, N), softmax_attention(Q, K, V), atol=1e-12)
    np.testing.assert_allclose(
        topk_attention(Q, K, V, N, causal=True), softmax_attention(Q, K, V, causal=True), atol=1e-12
    )


def test_lsh_one_bucket_exact_and_pattern(qkv):
    Q, K, V = qkv
    np.testing.assert_allclose(lsh_attention(Q, K, V, 1), softmax_attention(Q, K, V), atol=1e-12)
    np.testing.assert_allclose(
        lsh_attention(Q, K, V, 1, causal=True), softmax_attention(Q, K, V, causal=True), atol=1e-12
    )
    # shared-QK: every query shares a bucket with its own key, so no row is empty;
    # the pattern equals the union of same-bucket pairs recomputed here by hand.
    res = lsh_attention(Q, Q, V, 4, num_hashes=2, rng=5, return_info=True)
    R = np.random.default_rng(5).standard_normal((2, 6, 2))
    U = Q / np.linalg.norm(Q, axis=-1, keepdims=True)
    XR = U[..., None, :, :] @ R
    h = np.argmax(np.concatenate([XR, -XR], -1), -1)  # (..., rounds, n)
    keep = np.any(h[..., :, None] == h[..., None, :], axis=-3)
    assert np.all(keep[..., ii[:, 0], ii[:, 0]])
    np.testing.assert_allclose(res.output, masked_softmax(Q, Q, V, keep), atol=1e-13)
    assert 0 < res.density < 1


def test_lsh_more_rounds_more_density(qkv):
    Q, K, V = qkv
    d1 = lsh_attention(Q, Q, V, 8, num_hashes=1, rng=0, return_info=True).density
    d4 = lsh_attention(Q, Q, V, 8, num_hashes=4, rng=0, return_info=True).density
    assert d4 > d1


def test_kmeans_one_cluster_exact_and_pattern(qkv):
    Q, K, V = qkv
    np.testing.assert_allclose(kmeans_attention(Q, K, V, 1, rng=0), softmax_attention(Q, K, V), atol=1e-12)
    res = kmeans_attention(Q, K, V, 3, num_iters=0, rng=2, return_info=True)
    # zero iterations: centroids are the sampled unit rows; labels recomputed by hand
    X = np.concatenate([Q, K], axis=-2)
    X = X / np.linalg.norm(X, axis=-1, keepdims=True)
    init = np.sort(np.random.default_rng(2).choice(2 * N, size=3, replace=False))
    lab = np.argmax(X @ np.swapaxes(X[..., init, :], -1, -2), axis=-1)
    keep = lab[..., :N, None] == lab[..., None, N:]
    np.testing.assert_allclose(res.output, masked_softmax(Q, K, V, keep), atol=1e-13)
    assert res.density == pytest.approx(keep.mean())


def test_kmeans_clusters_separated_data(rng):
    # two well separated directions: with 2 clusters each query only sees keys of its own group
    d = 4
    centers = np.eye(d)[:2] * 5
    lab = np.repeat([0, 1], 10)
    Q = centers[lab] + 0.1 * rng.standard_normal((20, d))
    K = centers[lab] + 0.1 * rng.standard_normal((20, d))
    V = rng.standard_normal((20, 3))
    keep = lab[:, None] == lab[None, :]
    np.testing.assert_allclose(
        kmeans_attention(Q, K, V, 2, num_iters=5, rng=0), masked_softmax(Q, K, V, keep), atol=1e-12
    )


def test_scatterbrain_exact_with_full_support(qkv):
    Q, K, V = qkv
    ref = softmax_attention(Q, K, V)
    np.testing.assert_allclose(scatterbrain_attention(Q, K, V, 8, window=N, rng=0), ref, atol=1e-11)
    np.testing.assert_allclose(scatterbrain_attention(Q, K, V, 8, topk=N, rng=0), ref, atol=1e-11)


def test_scatterbrain_improves_on_performer_and_converges(rng):
    Q, K, V = rng.standard_normal((3, 48, 8))
    Q, K = 0.8 * Q, 0.8 * K
    ref = softmax_attention(Q, K, V)

    def rel(Y):
        return np.linalg.norm(Y - ref) / np.linalg.norm(ref)

    sb = {
        m: np.mean([rel(scatterbrain_attention(Q, K, V, m, window=4, topk=4, rng=s)) for s in range(4)])
        for m in (8, 64, 512)
    }
    pf = np.mean([rel(performer_attention(Q, K, V, 64, rng=s)) for s in range(4)])
    assert sb[8] > sb[64] > sb[512]
    assert sb[64] < pf  # the exact sparse part removes the largest errors


def test_strict_backend_float32(strict_xp, rng):
    xp = strict_xp
    Q, K, V = rng.standard_normal((3, 20, 4)).astype(np.float32)
    Qs, Ks, Vs = (xp.asarray(a) for a in (Q, K, V))
    Q64, K64, V64 = (a.astype(np.float64) for a in (Q, K, V))
    cases = [
        (lambda *a: sliding_window_attention(*a, 3, causal=True), None),
        (lambda *a: bigbird_attention(*a, 4, rng=1), None),
        (lambda *a: topk_attention(*a, 5, causal=True), None),
        (lambda *a: lsh_attention(*a, 4, 2, rng=0), None),
        (lambda *a: kmeans_attention(*a, 3, rng=1), None),
        (lambda *a: scatterbrain_attention(*a, 16, window=2, topk=3, rng=0), None),
    ]
    for f, _ in cases:
        Y = f(Qs, Ks, Vs)
        assert Y.dtype == xp.float32
        np.testing.assert_allclose(np.asarray(Y), f(Q64, K64, V64), atol=2e-4)


def test_bad_input(qkv):
    Q, K, V = qkv
    with pytest.raises(ValueError, match="window"):
        sliding_window_attention(Q, K, V, -1)
    with pytest.raises(ValueError, match="k must be"):
        topk_attention(Q, K, V, 0)
    with pytest.raises(ValueError, match="num_buckets"):
        lsh_attention(Q, K, V, 3)
    with pytest.raises(ValueError, match="num_clusters"):
        kmeans_attention(Q, K, V, 2 * N + 1)
    with pytest.raises(ValueError, match="block_size"):
        bigbird_attention(Q, K, V, 0)
    with pytest.raises(ValueError, match="same length"):
        bigbird_attention(Q[..., :5, :], K, V, 2)
    with pytest.raises(ValueError, match="support"):
        scatterbrain_attention(Q, K, V, 8)
    with pytest.raises(ValueError, match="num_features"):
        scatterbrain_attention(Q, K, V, 0, window=2)
    with pytest.raises(ValueError, match="K must have"):
        topk_attention(Q, K[..., :3], V, 2)
    with pytest.raises(TypeError, match="window"):
        sliding_window_attention(Q, K, V, 1.5)


def test_scatterbrain_large_logits_stay_finite(rng):
    Q, K, V = rng.standard_normal((3, 30, 4)) * 40  # logits ~ 1e3
    ref = softmax_attention(Q, K, V)
    Y = scatterbrain_attention(Q, K, V, 16, window=3, topk=2, rng=0)
    assert np.all(np.isfinite(Y))
    np.testing.assert_allclose(scatterbrain_attention(Q, K, V, 16, window=30, rng=0), ref, atol=1e-10)


@pytest.mark.parametrize(
    "method",
    [
        lambda Q, K, V: sliding_window_attention(Q, K, V, 40),
        lambda Q, K, V: topk_attention(Q, K, V, 29),
        lambda Q, K, V: lsh_attention(Q, K, V, 1),
        lambda Q, K, V: kmeans_attention(Q, K, V, 1, rng=0),
        lambda Q, K, V: scatterbrain_attention(Q, K, V, 4, topk=29, rng=0),
    ],
)
def test_cross_attention_exact_limits(rng, method):
    Q = rng.standard_normal((2, 17, 4))
    K = rng.standard_normal((2, 29, 4))
    V = rng.standard_normal((2, 29, 3))
    np.testing.assert_allclose(method(Q, K, V), softmax_attention(Q, K, V), atol=1e-12)
