"""Routed attention: exact when the top keys cover every key, unbiased residual mass, known answers."""

import numpy as np
import pytest

from krylovid.attention.routed import routed_attention
from krylovid.attention.sampling import SamplingAttentionResult


def dense(Q, K, V):
    """Independent dense softmax attention and log row normalisers (NumPy, float64)."""
    S = np.einsum("...id,...jd->...ij", Q, K) / np.sqrt(Q.shape[-1])
    m = S.max(axis=-1, keepdims=True)
    E = np.exp(S - m)
    return (E @ V) / E.sum(-1, keepdims=True), np.log(E.sum(-1)) + m[..., 0]


@pytest.mark.parametrize("num_samples", [0, None])
def test_exact_when_top_keys_cover_every_key(rng, num_samples):
    Q, K, V = rng.standard_normal((3, 2, 40, 5))
    res = routed_attention(Q, K, V, num_keys=80, num_samples=num_samples, num_clusters=3, rng=0, return_info=True)
    ref, logd = dense(Q, K, V)
    assert isinstance(res, SamplingAttentionResult) and res.exact and res.num_samples == 0
    np.testing.assert_allclose(res.output, ref, atol=1e-12)
    np.testing.assert_allclose(res.log_normalizer, logd, atol=1e-12)


def test_constant_values_give_that_constant(rng):
    """Every output row is a convex combination of the values (or of value-cluster means)."""
    n = 300
    Q, K = 2.0 * rng.standard_normal((2, n, 8))
    V = np.tile([1.5, -2.0, 0.25], (n, 1))
    for g in (1, 7):
        Y = routed_attention(Q, K, V, num_keys=48, num_value_clusters=g, rng=1)
        np.testing.assert_allclose(Y, V, atol=1e-12)


def test_residual_mass_is_unbiased(rng):
    """The row normaliser estimate exp(log D_hat) averages to the exact D over the draws of the sample."""
    n = 200
    Q, K = 0.8 * rng.standard_normal((2, n, 4))
    V = rng.standard_normal((n, 2))
    _, logd = dense(Q, K, V)
    draws = np.array(
        [
            np.exp(
                routed_attention(Q, K, V, 40, num_samples=20, num_clusters=4, rng=seed, return_info=True).log_normalizer
            )
            for seed in range(300)
        ]
    )
    # the clusters (and so the top keys) change with the seed too: the estimate is unbiased
    # conditionally on them, hence unconditionally
    mean, se = draws.mean(axis=0), draws.std(axis=0) / np.sqrt(len(draws))
    z = (mean - np.exp(logd)) / np.maximum(se, 1e-300)
    assert np.mean(np.abs(z) < 3.5) > 0.97
    assert abs(np.mean(mean / np.exp(logd)) - 1) < 0.01


def test_error_falls_with_the_budget(rng):
    """On a head whose keys form a few tight groups the routed keys carry the weight."""
    n, d = 1024, 16
    centres = 3.0 * rng.standard_normal((16, d))
    K = centres[rng.integers(0, 16, n)] + 0.3 * rng.standard_normal((n, d))
    Q = centres[rng.integers(0, 16, n)] + 0.3 * rng.standard_normal((n, d))
    V = rng.standard_normal((n, 4)) + 1.0
    ref, _ = dense(Q, K, V)
    errs = [
        np.linalg.norm(routed_attention(Q, K, V, m, num_clusters=16, rng=0) - ref) / np.linalg.norm(ref)
        for m in (32, 128, 512)
    ]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.05


def test_float32_stays_float32(rng):
    Q, K, V = rng.standard_normal((3, 64, 8)).astype(np.float32)
    Y = routed_attention(Q, K, V, 16, rng=0)
    assert Y.dtype == np.float32 and np.all(np.isfinite(Y))


def test_strict_backend(strict_xp, rng):
    xp = strict_xp
    Q, K, V = rng.standard_normal((3, 50, 4))
    ref, _ = dense(Q, K, V)
    Y = routed_attention(*(xp.asarray(a) for a in (Q, K, V)), 100, num_clusters=3, rng=0)
    np.testing.assert_allclose(np.asarray(Y), ref, atol=1e-12)
    Y = routed_attention(*(xp.asarray(a) for a in (Q, K, V)), 16, num_value_clusters=3, rng=0)
    np.testing.assert_allclose(np.asarray(Y), routed_attention(Q, K, V, 16, num_value_clusters=3, rng=0), atol=1e-12)


def test_residual_mass_is_unbiased_beyond_the_candidates(rng):
    """With keys beyond the importance candidates (n_k > 1024 + t) the mixture's draws keep D unbiased."""
    n = 1500
    Q, K = 0.6 * rng.standard_normal((2, n, 4))
    V = rng.standard_normal((n, 2))
    _, logd = dense(Q, K, V)
    rows = np.arange(0, n, 50)
    draws = np.array(
        [
            np.exp(routed_attention(Q, K, V, 16, num_clusters=3, rng=seed, return_info=True).log_normalizer[rows])
            for seed in range(300)
        ]
    )
    mean, se = draws.mean(axis=0), draws.std(axis=0) / np.sqrt(len(draws))
    z = (mean - np.exp(logd[rows])) / se
    assert np.mean(np.abs(z) < 3.5) > 0.95
    assert abs(np.mean(mean / np.exp(logd[rows])) - 1) < 0.01


@pytest.mark.parametrize("g", [1, 3])
@pytest.mark.parametrize("n, m", [(400, 40), (1500, 16)])
def test_numpy_path_is_the_array_api_path(strict_xp, rng, n, m, g):
    """The NumPy fast path (shift bound, vectorised draws) gives the estimator of the array-API path, draw for draw."""
    xp = strict_xp
    Q, K, V = rng.standard_normal((3, n, 6))
    kw = dict(num_keys=m, num_clusters=4, num_value_clusters=g, rng=7, return_info=True)
    ref = routed_attention(*(xp.asarray(a) for a in (Q, K, V)), **kw)
    res = routed_attention(Q, K, V, **kw)
    np.testing.assert_allclose(res.output, np.asarray(ref.output), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.log_normalizer, np.asarray(ref.log_normalizer), rtol=1e-12)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_shift_bound_far_above_the_row_maximum(rng, dtype, tol):
    """A key of huge norm orthogonal to the queries puts the NumPy path's row shift (a Cauchy-Schwarz bound)
    thousands above every logit: the underflowed rows are redone with their own maximum."""
    n, d = 200, 4
    Q = np.zeros((n, d))
    Q[:, :2] = 3.0 * rng.standard_normal((n, 2))
    K = np.zeros((n, d))
    K[:, :2] = rng.standard_normal((n, 2))
    K[0, 3] = 1e4  # logit 0 for every query, norm 1e4
    V = rng.standard_normal((n, 3))
    ref, logd = dense(Q, K, V)
    res = routed_attention(
        *(a.astype(dtype) for a in (Q, K, V)), n, num_samples=0, num_clusters=2, rng=0, return_info=True
    )
    assert res.exact and res.output.dtype == dtype
    np.testing.assert_allclose(res.output, ref, atol=tol)
    np.testing.assert_allclose(res.log_normalizer, logd, rtol=tol)


@pytest.mark.parametrize(
    "kw, err, match",
    [
        ({"num_keys": 0}, ValueError, "num_keys"),
        ({"num_keys": 8, "num_samples": 8}, ValueError, "num_samples"),
        ({"num_keys": 8, "num_clusters": 0}, ValueError, "num_clusters"),
        ({"num_keys": 8, "num_value_clusters": 0}, ValueError, "num_value_clusters"),
        ({"num_keys": 8, "num_iters": -1}, ValueError, "num_iters"),
        ({"num_keys": 2.5}, TypeError, "num_keys"),
        ({"num_keys": 8, "uniform_mix": 1.5}, ValueError, "uniform_mix"),
    ],
)
def test_bad_input(rng, kw, err, match):
    Q, K, V = rng.standard_normal((3, 10, 4))
    with pytest.raises(err, match=match):
        routed_attention(Q, K, V, **kw)
