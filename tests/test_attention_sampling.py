"""Sampling-based attention: exactness with all keys, unbiased normalisers, consistency."""

import numpy as np
import pytest

from krylovid.attention.exact import row_normalizer, softmax_attention
from krylovid.attention.sampling import SamplingAttentionResult, hyperattention, skeinformer_attention

N = 48


@pytest.fixture
def qkv(rng):
    Q, K, V = rng.standard_normal((3, 2, N, 6))
    return Q, K, V + 1.0  # a common mean makes relative errors meaningful


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_skeinformer_exact_with_all_columns(qkv):
    Q, K, V = qkv
    res = skeinformer_attention(Q, K, V, N, rng=0, return_info=True)
    assert isinstance(res, SamplingAttentionResult) and res.exact
    np.testing.assert_allclose(res.output, softmax_attention(Q, K, V), atol=1e-12)
    np.testing.assert_allclose(res.log_normalizer, row_normalizer(Q, K), atol=1e-12)


def test_skeinformer_error_decreases_with_samples(qkv):
    Q, K, V = qkv
    ref = softmax_attention(Q, K, V)
    errs = [
        np.mean([rel(skeinformer_attention(Q, K, V, c, rng=s, num_pilot=4), ref) for s in range(6)])
        for c in (4, 16, 40)
    ]
    assert errs[0] > errs[1] > errs[2]


def test_skeinformer_normalizer_unbiased(qkv):
    Q, K, V = qkv
    logD = row_normalizer(Q, K)
    ratios = np.array(
        [
            np.exp(skeinformer_attention(Q, K, V, 8, rng=s, num_pilot=2, return_info=True).log_normalizer - logD)
            for s in range(400)
        ]
    )
    mean = ratios.mean(axis=0)
    se = ratios.std(axis=0) / np.sqrt(ratios.shape[0])
    z = (mean - 1) / np.maximum(se, 1e-15)
    assert np.mean(np.abs(z) < 4) > 0.97  # E[D_hat] = D, row by row
    assert np.median(se) < 0.05


def test_skeinformer_pilot_rows_exact(qkv):
    Q, K, V = qkv
    ref = softmax_attention(Q, K, V)
    Y = skeinformer_attention(Q, K, V, 4, rng=3, num_pilot=N)  # every row is a pilot row
    np.testing.assert_allclose(Y, ref, atol=1e-12)


def test_hyperattention_exact_with_all_keys(qkv):
    Q, K, V = qkv
    for causal in (False, True):
        res = hyperattention(Q, K, V, block_size=8, num_samples=N, rng=1, causal=causal, return_info=True)
        assert res.exact
        np.testing.assert_allclose(res.output, softmax_attention(Q, K, V, causal=causal), atol=1e-12)
        np.testing.assert_allclose(res.log_normalizer, row_normalizer(Q, K, causal=causal), atol=1e-12)


def test_hyperattention_single_block_is_exact(qkv):
    Q, K, V = qkv  # one block holds every key: no residual needed
    np.testing.assert_allclose(
        hyperattention(Q, K, V, block_size=N, num_samples=0, rng=0), softmax_attention(Q, K, V), atol=1e-12
    )


def test_hyperattention_error_decreases_and_normalizer_unbiased(qkv):
    Q, K, V = qkv
    ref = softmax_attention(Q, K, V)
    errs = [np.mean([rel(hyperattention(Q, K, V, 8, s_, rng=s), ref) for s in range(6)]) for s_ in (4, 16, 40)]
    assert errs[0] > errs[1] > errs[2]
    logD = row_normalizer(Q, K)
    ratios = np.array(
        [np.exp(hyperattention(Q, K, V, 8, 8, rng=s, return_info=True).log_normalizer - logD) for s in range(300)]
    )
    z = (ratios.mean(0) - 1) / np.maximum(ratios.std(0) / np.sqrt(ratios.shape[0]), 1e-15)
    assert np.mean(np.abs(z) < 4) > 0.97


def test_hyperattention_blocks_follow_sorted_lsh(rng):
    # keys equal to queries: the sorted orders coincide, so with no residual each
    # query attends exactly to the block of its hash neighbours, which contains itself
    Q = rng.standard_normal((32, 5))
    V = np.eye(32)
    P = hyperattention(Q, Q, V, block_size=8, num_samples=0, rng=0, scale=1.0)
    assert np.all((P > 0).sum(-1) == 8)
    assert np.all(np.diag(P) > 0)
    np.testing.assert_allclose(P.sum(-1), 1.0, atol=1e-12)


def test_reproducible(qkv):
    Q, K, V = qkv
    assert np.array_equal(hyperattention(Q, K, V, 8, 8, rng=4), hyperattention(Q, K, V, 8, 8, rng=4))
    assert np.array_equal(skeinformer_attention(Q, K, V, 8, rng=4), skeinformer_attention(Q, K, V, 8, rng=4))


def test_strict_backend_float32(strict_xp, rng):
    xp = strict_xp
    Q, K, V = rng.standard_normal((3, 16, 4)).astype(np.float32)
    ref = softmax_attention(*(a.astype(np.float64) for a in (Q, K, V)), causal=True)
    Qs, Ks, Vs = (xp.asarray(a) for a in (Q, K, V))
    Y = hyperattention(Qs, Ks, Vs, 4, 16, rng=0, causal=True)
    assert Y.dtype == xp.float32
    np.testing.assert_allclose(np.asarray(Y), ref, atol=1e-5)
    Y2 = skeinformer_attention(Qs, Ks, Vs, 6, rng=0)
    assert Y2.dtype == xp.float32 and np.all(np.isfinite(np.asarray(Y2)))


def test_bad_input(qkv):
    Q, K, V = qkv
    with pytest.raises(ValueError, match="num_samples"):
        skeinformer_attention(Q, K, V, 0)
    with pytest.raises(ValueError, match="uniform_mix"):
        skeinformer_attention(Q, K, V, 4, uniform_mix=1.5)
    with pytest.raises(ValueError, match="num_pilot"):
        skeinformer_attention(Q, K, V, 4, num_pilot=N + 1)
    with pytest.raises(ValueError, match="block_size"):
        hyperattention(Q, K, V, 0, 4)
    with pytest.raises(ValueError, match="num_samples"):
        hyperattention(Q, K, V, 4, -1)
    with pytest.raises(ValueError, match="causal"):
        hyperattention(Q[..., :5, :], K, V, 4, 4, causal=True)
    with pytest.raises(TypeError, match="rng"):
        hyperattention(Q, K, V, 4, 4, rng="seed")


def test_cross_attention(rng):
    Q = rng.standard_normal((2, 17, 4))
    K = rng.standard_normal((2, 29, 4))
    V = rng.standard_normal((2, 29, 3))
    ref = softmax_attention(Q, K, V)
    np.testing.assert_allclose(hyperattention(Q, K, V, 5, 29, rng=0), ref, atol=1e-12)
    np.testing.assert_allclose(skeinformer_attention(Q, K, V, 29, rng=0), ref, atol=1e-12)
    assert hyperattention(Q, K, V, 5, 6, rng=0).shape == (2, 17, 3)
    assert skeinformer_attention(Q, K, V, 6, rng=0).shape == (2, 17, 3)
