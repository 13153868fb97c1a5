"""Tests for krylovid.attention.lowrank against dense attention and the truncated-SVD bound."""

import numpy as np
import pytest

from krylovid.attention import lowrank as LR


def _dense_P(Q, K, scale=None):
    """Independent dense reference: row-softmax of scale Q K^T."""
    s = 1 / np.sqrt(Q.shape[1]) if scale is None else scale
    S = s * Q @ K.T
    E = np.exp(S - S.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _qk(seed, n=96, d=8, temp=1.0):
    rng = np.random.default_rng(seed)
    Q, K, V = rng.standard_normal((3, n, d))
    return temp * Q, temp * K, V


METHODS = {
    "lowrank": lambda Q, K, V, m, s: LR.lowrank_attention(Q, K, V, m, rng=s),
    "segment_means": lambda Q, K, V, m, s: LR.nystrom_attention(Q, K, V, m),
    "sampled": lambda Q, K, V, m, s: LR.nystrom_attention(Q, K, V, m, "sampled", rng=s),
    "skyformer": lambda Q, K, V, m, s: LR.nystrom_attention(Q, K, V, m, "skyformer", rng=s),
    "linformer": lambda Q, K, V, m, s: LR.linformer_attention(Q, K, V, m, rng=s),
    "truncated_svd": lambda Q, K, V, m, s: LR.truncated_svd_attention(Q, K, V, m),
}


@pytest.mark.parametrize("name", ["lowrank", "segment_means", "sampled", "truncated_svd"])
def test_exact_at_full_rank(name):
    Q, K, V = _qk(0, n=40)
    ref = _dense_P(Q, K) @ V
    out = METHODS[name](Q, K, V, 40, 1)  # the default pseudo-inverse rank is chosen on held-out rows
    np.testing.assert_allclose(out, ref, atol=1e-10)


def test_regularised_pinv_beats_exact_pinv_below_full_rank():
    Q, K, V = _qk(9, n=128, temp=1.5)
    ref = _dense_P(Q, K) @ V
    for name in ("segment_means", "sampled"):
        e_reg = np.linalg.norm(LR.nystrom_attention(Q, K, V, 32, name, rng=0) - ref)
        e_exact = np.linalg.norm(LR.nystrom_attention(Q, K, V, 32, name, rng=0, rcond=1e-13) - ref)
        assert e_reg < e_exact


def test_skyformer_exact_with_all_points():
    Q, K, V = _qk(1, n=24, temp=0.7)
    out = LR.nystrom_attention(Q, K, V, 48, "skyformer", rng=0)
    np.testing.assert_allclose(out, _dense_P(Q, K) @ V, atol=1e-8)


@pytest.mark.parametrize("name", list(METHODS))
def test_error_not_below_truncated_svd_bound(name):
    Q, K, _ = _qk(2, n=64, temp=0.8)
    P = _dense_P(Q, K)
    s = np.linalg.svd(P, compute_uv=False)
    I = np.eye(64)
    for m in (4, 16, 32):
        P_hat = METHODS[name](Q, K, I, m, 0)  # V = I returns the approximate matrix itself
        assert np.linalg.matrix_rank(P_hat, tol=1e-9 * max(1.0, np.abs(P_hat).max())) <= m
        assert np.linalg.norm(P - P_hat) >= np.sqrt(np.sum(s[m:] ** 2)) * (1 - 1e-9)
        assert np.linalg.norm(P - P_hat, 2) >= s[m] * (1 - 1e-9)


def test_truncated_svd_error_is_eckart_young():
    Q, K, V = _qk(3, n=50)
    P = _dense_P(Q, K)
    U, s, Vt = np.linalg.svd(P)
    for m in (3, 10):
        np.testing.assert_allclose(
            LR.truncated_svd_attention(Q, K, V, m), U[:, :m] @ np.diag(s[:m]) @ Vt[:m] @ V, atol=1e-12
        )


@pytest.mark.parametrize("name", ["lowrank", "segment_means", "skyformer"])
def test_error_decreases_with_m(name):
    Q, K, V = _qk(4, n=128, temp=0.5)
    ref = _dense_P(Q, K) @ V
    med = [np.median([np.linalg.norm(METHODS[name](Q, K, V, m, s) - ref) for s in range(3)]) for m in (4, 32, 128)]
    assert med[0] > med[1] > med[2]


def test_sampled_nystrom_error_shrinks_with_landmarks():
    Q, K, V = _qk(5, n=128, temp=0.3)
    ref = _dense_P(Q, K) @ V
    med = [
        np.median([np.linalg.norm(LR.nystrom_attention(Q, K, V, m, "sampled", rng=s) - ref) for s in range(5)])
        for m in (4, 96)
    ]
    assert med[1] < 0.5 * med[0]


def test_lowrank_close_to_optimal_and_reproducible():
    Q, K, V = _qk(6, n=128, temp=0.4)
    P = _dense_P(Q, K)
    s = np.linalg.svd(P, compute_uv=False)
    I = np.eye(128)
    err = np.linalg.norm(LR.lowrank_attention(Q, K, I, 16, rng=0, power_iters=3) - P)
    assert err <= 1.1 * np.sqrt(np.sum(s[16:] ** 2))
    a, b = (LR.linformer_attention(Q, K, V, 8, rng=3) for _ in range(2))
    np.testing.assert_array_equal(a, b)


def test_bad_inputs():
    Q, K, V = _qk(7, n=10)
    with pytest.raises(ValueError, match="rank"):
        LR.lowrank_attention(Q, K, V, 11)
    with pytest.raises(ValueError, match="num_landmarks"):
        LR.nystrom_attention(Q, K, V, 0)
    with pytest.raises(ValueError, match="num_landmarks"):
        LR.nystrom_attention(Q, K, V, 21, "skyformer")
    with pytest.raises(ValueError, match="method"):
        LR.nystrom_attention(Q, K, V, 4, "landmark")
    with pytest.raises(ValueError, match="V"):
        LR.linformer_attention(Q, K, V[:5], 4)
    with pytest.raises(ValueError, match="2-D"):
        LR.truncated_svd_attention(Q[None], K[None], V[None], 2)
    with pytest.raises(TypeError, match="proj_dim"):
        LR.linformer_attention(Q, K, V, 2.5)
    with pytest.raises(ValueError, match="Q"):
        LR.nystrom_attention(np.full_like(Q, np.nan), K, V, 4)
    with pytest.raises(ValueError, match="rcond"):
        LR.nystrom_attention(Q, K, V, 4, rcond=-1.0)


def test_array_api_strict_backend():
    xs = pytest.importorskip("array_api_strict")
    Q, K, V = _qk(8, n=24)
    cases = {
        "lowrank": lambda Q, K, V: LR.lowrank_attention(Q, K, V, 6, rng=0),
        "segment_means": lambda Q, K, V: LR.nystrom_attention(Q, K, V, 6),
        "sampled": lambda Q, K, V: LR.nystrom_attention(Q, K, V, 6, "sampled", rng=0),
        "skyformer": lambda Q, K, V: LR.nystrom_attention(Q, K, V, 6, "skyformer", rng=0),
        "linformer": lambda Q, K, V: LR.linformer_attention(Q, K, V, 6, rng=0),
        "truncated_svd": lambda Q, K, V: LR.truncated_svd_attention(Q, K, V, 6),
    }
    for name, fn in cases.items():
        out = fn(*(xs.asarray(a) for a in (Q, K, V)))
        assert "array_api_strict" in type(out).__module__, name
        np.testing.assert_allclose(np.asarray(out), fn(Q, K, V), atol=1e-10, err_msg=name)


def test_stable_pinv_apply_matches_numpy_pinv():
    rng = np.random.default_rng(10)
    A = rng.standard_normal((6, 3)) @ rng.standard_normal((3, 5))  # rank 3
    B = rng.standard_normal((6, 2))
    np.testing.assert_allclose(LR.stable_pinv_apply(A, B), np.linalg.pinv(A, rcond=1e-12) @ B, atol=1e-10)
    # a cutoff above the smallest kept singular value truncates like a rank-2 pseudo-inverse
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    rc = (s[1] + s[2]) / 2 / s[0]
    np.testing.assert_allclose(
        LR.stable_pinv_apply(A, B, rcond=rc), Vt[:2].T @ np.diag(1 / s[:2]) @ U[:, :2].T @ B, atol=1e-10
    )
