"""Tests for krylovid.attention.analysis against dense computations."""

import matplotlib
import numpy as np
import pytest

from krylovid.attention import analysis as AN
from krylovid.attention.lowrank import lowrank_attention, nystrom_attention, truncated_svd_attention


def _dense_P(Q, K, causal=False):
    S = Q @ K.T / np.sqrt(Q.shape[1])
    if causal:
        S = np.where(np.tril(np.ones_like(S, dtype=bool)), S, -np.inf)
    E = np.exp(S - S.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _qkv(seed, n=80, d=8, temp=1.0):
    rng = np.random.default_rng(seed)
    Q, K, V = rng.standard_normal((3, n, d))
    return temp * Q, temp * K, V


@pytest.mark.parametrize("method", ["lanczos", "randomized"])
@pytest.mark.parametrize("causal", [False, True])
def test_spectrum_matches_dense(method, causal):
    Q, K, _ = _qkv(0, temp=1.5)
    P = _dense_P(Q, K, causal)
    s = np.linalg.svd(P, compute_uv=False)
    res = AN.attention_spectrum(Q, K, 5, causal=causal, method=method, rng=0)
    np.testing.assert_allclose(res.singular_values, s[:5], rtol=1e-8 if method == "lanczos" else 1e-4)
    assert res.frobenius_norm == pytest.approx(np.linalg.norm(P), rel=1e-12)
    assert res.stable_rank == pytest.approx(np.linalg.norm(P) ** 2 / s[0] ** 2, rel=1e-8)
    with np.errstate(divide="ignore", invalid="ignore"):
        H = -np.sum(np.where(P > 0, P * np.log(P), 0.0), axis=1)
    np.testing.assert_allclose(res.row_entropy, H, atol=1e-10)
    assert res.mean_entropy == pytest.approx(H.mean())


def test_entropy_extremes_and_stable_rank_bounds():
    n = 16
    Q = np.zeros((n, 4))
    K = np.random.default_rng(1).standard_normal((n, 4))
    res = AN.attention_spectrum(Q, K, 1, rng=0)  # uniform rows: rank one, entropy log n
    np.testing.assert_allclose(res.row_entropy, np.log(n), atol=1e-12)
    assert res.stable_rank == pytest.approx(1.0, abs=1e-10)
    Qs = 50.0 * np.eye(n)[:, :n]  # near one-hot rows: P ~ I
    res = AN.attention_spectrum(Qs, 50.0 * np.eye(n), 3, rng=0)
    assert res.mean_entropy < 1e-6 and res.stable_rank == pytest.approx(n, rel=1e-6)


def test_error_measures_known_answers():
    Y_ref = np.array([[3.0, 0.0], [0.0, 4.0]])
    Y = Y_ref + np.array([[0.0, 0.0], [0.0, 1.0]])
    assert AN.relative_error(Y, Y_ref) == pytest.approx(1 / 5)
    assert AN.relative_error(Y, Y_ref, ord=2) == pytest.approx(1 / 4)
    assert AN.row_normalizer_error(np.log([1.0, 3.0]), np.log([1.0, 2.0])) == pytest.approx(0.5)
    assert AN.top1_retention(
        np.array([[0, 1.0], [1, 0], [1, 0]]), np.array([[0.4, 0.6], [0.1, 0.9], [0.7, 0.3]])
    ) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="shape"):
        AN.relative_error(Y[:1], Y_ref)
    with pytest.raises(ValueError, match="ord"):
        AN.relative_error(Y, Y_ref, ord=1)


def test_error_curve_and_bound():
    Q, K, V = _qkv(2, n=64, temp=0.7)
    I = np.eye(64)
    ms = (4, 16, 64, 128)
    bound = AN.truncated_svd_bound(Q, K, V, ms=ms)
    np.testing.assert_array_equal(bound.ms, [4, 16, 64])  # 128 > n dropped
    P = _dense_P(Q, K)
    s = np.linalg.svd(P, compute_uv=False)
    np.testing.assert_allclose(
        bound.matrix_error, [np.sqrt(np.sum(s[m:] ** 2)) / np.linalg.norm(P) for m in (4, 16, 64)], atol=1e-12
    )
    oracle = AN.error_curve(Q, K, I, lambda Q, K, V, m, r: truncated_svd_attention(Q, K, V, m), ms=ms, seeds=(0,))
    np.testing.assert_allclose(oracle.median, bound.matrix_error, atol=1e-12)
    curve = AN.error_curve(
        Q, K, I, lambda Q, K, V, m, r: lowrank_attention(Q, K, V, m, rng=r), ms=ms, seeds=(0, 1, 2), label="rsvd"
    )
    assert curve.errors.shape == (3, 3) and curve.times.shape == (3, 3) and curve.label == "rsvd"
    assert np.all(curve.errors >= bound.matrix_error[:, None] - 1e-12)
    assert curve.median[0] > curve.median[1] > curve.median[2]
    assert np.all(curve.low <= curve.median) and np.all(curve.median <= curve.high)
    # output error on a subset of rows equals the error of those rows of the full output
    rows = np.arange(0, 64, 5)
    sub = AN.error_curve(Q, K, V, lambda Q, K, V, m, r: nystrom_attention(Q, K, V, m), ms=(8,), seeds=(0,), rows=rows)
    Y = nystrom_attention(Q, K, V, 8)
    ref = (P @ V)[rows]
    assert sub.median[0] == pytest.approx(np.linalg.norm(Y[rows] - ref) / np.linalg.norm(ref), rel=1e-10)
    bound2 = AN.truncated_svd_bound(Q, K, ms=(4,), ord=2)
    assert bound2.matrix_error[0] == pytest.approx(s[4] / s[0])


def test_stratify_by_entropy():
    H = np.array([0.1, 0.5, 2.0, 2.2, 4.0, 4.5])
    vals = np.array([[1, 10], [2, 20], [3, 30], [4, 40], [5, 50], [6, 60]], dtype=float)
    s = AN.stratify_by_entropy(H, vals, num_bins=3)
    assert s.counts.tolist() == [2, 2, 2]
    np.testing.assert_allclose(s.medians, [[1.5, 15], [3.5, 35], [5.5, 55]])
    with pytest.raises(ValueError, match="values"):
        AN.stratify_by_entropy(H, vals[:3])


def test_plot_headless():
    matplotlib.use("Agg")
    Q, K, V = _qkv(3, n=32)
    c = AN.error_curve(Q, K, V, lambda Q, K, V, m, r: nystrom_attention(Q, K, V, m), ms=(4, 8), seeds=(0,), label="nys")
    fig, ax = AN.plot_error_curves([c], bound=AN.truncated_svd_bound(Q, K, ms=(4, 8)))
    assert [line.get_label() for line in ax.get_lines()] == ["nys", "truncated SVD"]
    with pytest.raises(TypeError, match="curves"):
        AN.plot_error_curves([1.0])


def test_bad_inputs():
    Q, K, V = _qkv(4, n=10)
    with pytest.raises(ValueError, match="k"):
        AN.attention_spectrum(Q, K, 11)
    with pytest.raises(ValueError, match="method"):
        AN.attention_spectrum(Q, K, 2, method="power")
    with pytest.raises(ValueError, match="K"):
        AN.attention_spectrum(Q, K[:, :3], 2)
    with pytest.raises(TypeError, match="method_fn"):
        AN.error_curve(Q, K, V, None)
    with pytest.raises(ValueError, match="ms"):
        AN.error_curve(Q, K, V, lambda *a: V, ms=(64,))


def test_array_api_strict_backend():
    xs = pytest.importorskip("array_api_strict")
    Q, K, _ = _qkv(5, n=24)
    ref = AN.attention_spectrum(Q, K, 3, rng=0)
    out = AN.attention_spectrum(xs.asarray(Q), xs.asarray(K), 3, rng=0)
    np.testing.assert_allclose(out.singular_values, ref.singular_values, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(out.row_entropy), ref.row_entropy, atol=1e-12)
    assert AN.relative_error(xs.asarray(Q), xs.asarray(K)) == pytest.approx(AN.relative_error(Q, K))


def test_error_curve_flags_worse_than_zero_output():
    Q, K, V = _qkv(3, n=32, temp=0.5)
    ref = _dense_P(Q, K) @ V
    scales = {2: -1.5, 4: 0.5}  # output = c * exact: relative error |1 - c| (2.5 and 0.5)
    curve = AN.error_curve(Q, K, V, lambda Q, K, V, m, r: scales[m] * ref, ms=(2, 4), seeds=(0,))
    np.testing.assert_allclose(curve.median, [2.5, 0.5])
    np.testing.assert_array_equal(curve.worse_than_zero, [True, False])
