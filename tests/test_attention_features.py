"""Feature-map attention: unbiasedness, convergence in m, causal prefix sums vs dense masks."""

import numpy as np
import pytest

from krylovid.attention.exact import softmax_attention
from krylovid.attention.features import (
    CosformerFeatures,
    EluFeatures,
    FeatureMap,
    PositiveRandomFeatures,
    TrigRandomFeatures,
    cosformer_attention,
    gaussian_projection,
    kernel_attention,
    linear_attention,
    performer_attention,
    random_feature_attention,
)


def dense_kernel_attention(FQ, FK, V, causal):
    """Reference: form L = phi(Q) phi(K)^T densely, mask, normalise."""
    L = FQ @ np.swapaxes(FK, -1, -2)
    if causal:
        L = np.tril(L)
    return (L @ V) / L.sum(-1, keepdims=True)


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize(
    "feature_map",
    [EluFeatures(), PositiveRandomFeatures(5, 24, rng=1), TrigRandomFeatures(5, 12, rng=2), CosformerFeatures()],
)
@pytest.mark.parametrize("causal", [False, True])
def test_kernel_attention_matches_dense(rng, feature_map, causal):
    Q, K, V = rng.standard_normal((3, 2, 23, 5)) * 0.5
    ref = dense_kernel_attention(feature_map(Q, True), feature_map(K, False), V, causal)
    Y = kernel_attention(Q, K, V, feature_map, causal=causal, chunk_size=6)
    np.testing.assert_allclose(Y, ref, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("orthogonal", [True, False])
def test_positive_features_unbiased(orthogonal):
    x = np.array([[0.3, -0.2, 0.5, 0.1]])
    y = np.array([[0.2, 0.4, -0.1, 0.3]])
    exact = float(np.exp(x @ y.T)[0, 0])
    ests = []
    for seed in range(1500):
        f = PositiveRandomFeatures(4, 8, orthogonal=orthogonal, rng=seed, stabilize=False)
        ests.append(float((f(x, True) @ f(y, False).T)[0, 0]))
    ests = np.array(ests)
    assert np.all(ests > 0)
    se = ests.std() / np.sqrt(ests.size)
    assert abs(ests.mean() - exact) < 4 * se
    assert se < 0.02 * exact  # the check is informative


def test_trig_features_unbiased():
    x = np.array([[0.3, -0.2, 0.5]])
    y = np.array([[0.2, 0.4, -0.1]])
    exact = float(np.exp(x @ y.T)[0, 0])
    ests = np.array(
        [
            float((f(x, True) @ f(y, False).T)[0, 0])
            for f in (TrigRandomFeatures(3, 8, rng=s, stabilize=False) for s in range(1500))
        ]
    )
    se = ests.std() / np.sqrt(ests.size)
    assert abs(ests.mean() - exact) < 4 * se and se < 0.02 * exact


def test_gaussian_projection_orthogonal_blocks():
    W = gaussian_projection(6, 14, orthogonal=True, rng=0)
    assert W.shape == (14, 6)
    U = W[:6] / np.linalg.norm(W[:6], axis=1, keepdims=True)
    np.testing.assert_allclose(U @ U.T, np.eye(6), atol=1e-12)
    # chi-distributed norms: mean of |w|^2 over many rows ~ d
    big = gaussian_projection(6, 6000, rng=1)
    assert abs(np.mean(np.sum(big**2, axis=1)) - 6) < 0.3


@pytest.mark.parametrize("method", [performer_attention, random_feature_attention])
@pytest.mark.parametrize("causal", [False, True])
def test_error_decreases_with_num_features(rng, method, causal):
    Q, K, V = rng.standard_normal((3, 32, 8))
    Q, K = Q * 0.6, K * 0.6
    ref = softmax_attention(Q, K, V, causal=causal)
    errs = [np.mean([rel(method(Q, K, V, m, causal=causal, rng=s), ref) for s in range(4)]) for m in (8, 64, 512)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.25 and errs[0] > 2.5 * errs[2]  # Monte Carlo rate ~ m^(-1/2)


def test_performer_reproducible_and_float32(rng):
    Q, K, V = (rng.standard_normal((3, 10, 4)) * 0.5).astype(np.float32)
    a = performer_attention(Q, K, V, 16, rng=7)
    b = performer_attention(Q, K, V, 16, rng=7)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, performer_attention(Q, K, V, 16, rng=8))


def test_performer_stabilizer_handles_large_inputs(rng):
    Q, K, V = rng.standard_normal((3, 16, 4))
    Y = performer_attention(Q * 40, K * 40, V, 32, rng=0)  # exp(|x|^2) overflows without it
    assert np.all(np.isfinite(Y))


def test_linear_attention_closed_form(rng):
    Q, K, V = rng.standard_normal((3, 9, 3))

    def f(X):
        return np.where(X > 0, X + 1, np.exp(X))

    ref = dense_kernel_attention(f(Q), f(K), V, True)
    np.testing.assert_allclose(linear_attention(Q, K, V, causal=True), ref, atol=1e-12)


def test_cosformer_closed_form(rng):
    Q, K, V = rng.standard_normal((3, 7, 3))
    n = 7
    i = np.arange(n)
    W = np.maximum(Q, 0) @ np.maximum(K, 0).T * np.cos(np.pi * (i[:, None] - i[None, :]) / (2 * n))
    keep = W.sum(-1) > 0
    ref = (W @ V) / np.where(keep, W.sum(-1), 1)[:, None]
    np.testing.assert_allclose(cosformer_attention(Q, K, V)[keep], ref[keep], atol=1e-12)
    Wc = np.tril(W)
    kc = Wc.sum(-1) > 0
    np.testing.assert_allclose(
        cosformer_attention(Q, K, V, causal=True)[kc], ((Wc @ V) / np.where(kc, Wc.sum(-1), 1)[:, None])[kc], atol=1e-12
    )


def test_strict_backend(strict_xp, rng):
    xp = strict_xp
    Q, K, V = (rng.standard_normal((3, 12, 4)) * 0.5).astype(np.float32)
    ref = performer_attention(Q.astype(np.float64), K.astype(np.float64), V.astype(np.float64), 16, causal=True, rng=3)
    Y = performer_attention(xp.asarray(Q), xp.asarray(K), xp.asarray(V), 16, causal=True, rng=3)
    assert Y.dtype == xp.float32
    np.testing.assert_allclose(np.asarray(Y), ref, atol=1e-4)


def test_bad_input(rng):
    Q, K, V = rng.standard_normal((3, 6, 4))
    with pytest.raises(ValueError, match="num_features"):
        performer_attention(Q, K, V, 0)
    with pytest.raises(TypeError, match="num_features"):
        random_feature_attention(Q, K, V, 2.5)
    with pytest.raises(ValueError, match="V must have"):
        linear_attention(Q, K, V[:3])
    with pytest.raises(ValueError, match="causal"):
        cosformer_attention(Q[:4], K, V, causal=True)
    with pytest.raises(TypeError, match="feature_map"):
        kernel_attention(Q, K, V, feature_map=3)
    with pytest.raises(ValueError, match="d=5"):
        PositiveRandomFeatures(5, 8, rng=0)(Q, True)
    with pytest.raises(ValueError, match="Q contains NaN"):
        performer_attention(np.full((6, 4), np.nan), K, V, 4)
    with pytest.raises(NotImplementedError):
        FeatureMap()(Q, True)
