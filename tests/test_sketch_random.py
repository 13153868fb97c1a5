"""Random test matrices and the subsampled randomized Hartley transform."""

import array_api_strict as xs
import numpy as np
import pytest
from array_api_compat import array_namespace, is_array_api_strict_namespace

from krylovid.sketch import (
    SKETCH_KINDS,
    gaussian_matrix,
    hartley_transform,
    orthogonal_matrix,
    rademacher_matrix,
    sketch_matrix,
    srht_matrix,
    srht_sketch,
)


def _is_strict(x):
    return is_array_api_strict_namespace(array_namespace(x))


def _dense_hartley(n):
    j = np.arange(n)
    ang = 2 * np.pi * np.outer(j, j) / n
    return (np.cos(ang) + np.sin(ang)) / np.sqrt(n)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 15])
def test_hartley_matches_dense_definition(n):
    X = np.random.default_rng(n).standard_normal((n, 3))
    np.testing.assert_allclose(hartley_transform(X), _dense_hartley(n) @ X, atol=1e-12)


def test_hartley_is_orthogonal_involution():
    X = np.random.default_rng(0).standard_normal((12, 4))
    HX = hartley_transform(X)
    np.testing.assert_allclose(np.linalg.norm(HX, axis=0), np.linalg.norm(X, axis=0))
    np.testing.assert_allclose(hartley_transform(HX), X, atol=1e-12)


def test_srht_rows_orthogonal_and_isotropic_on_average():
    n, k = 16, 6
    S = srht_sketch(np.eye(n), k, rng=3)  # (k, n) = the sketching matrix
    assert S.shape == (k, n)
    np.testing.assert_allclose(S @ S.T, (n / k) * np.eye(k), atol=1e-12)
    mean_StS = sum(srht_sketch(np.eye(n), k, rng=s).T @ srht_sketch(np.eye(n), k, rng=s) for s in range(400)) / 400
    assert np.abs(mean_StS - np.eye(n)).max() < 0.25  # E[S^T S] = I


def test_srht_matrix_consistent_with_sketch_and_scaled():
    n, k = 10, 4
    Om = srht_matrix(n, k, rng=5)
    np.testing.assert_allclose(Om.T @ Om, n * np.eye(k), atol=1e-10)
    np.testing.assert_allclose(Om.T, np.sqrt(k) * srht_sketch(np.eye(n), k, rng=5), atol=1e-12)
    x = np.random.default_rng(1).standard_normal(n)
    np.testing.assert_allclose(srht_sketch(x, k, rng=5), srht_sketch(x[:, None], k, rng=5)[:, 0])


def test_srht_sketch_preserves_norm_in_expectation():
    x = np.random.default_rng(2).standard_normal(64)
    sq = [np.sum(srht_sketch(x, 16, rng=s) ** 2) for s in range(300)]
    assert abs(np.mean(sq) / np.sum(x**2) - 1) < 0.05


def test_gaussian_and_rademacher_moments():
    G = gaussian_matrix(400, 50, rng=0)
    assert abs(G.mean()) < 0.02 and abs(G.var() - 1) < 0.03
    R = rademacher_matrix(400, 50, rng=0)
    assert set(np.unique(R).tolist()) == {-1.0, 1.0}
    assert abs(R.mean()) < 0.02


def test_orthogonal_matrix_orthonormal():
    Q = orthogonal_matrix(20, 7, rng=1)
    np.testing.assert_allclose(Q.T @ Q, np.eye(7), atol=1e-12)


@pytest.mark.parametrize("kind", SKETCH_KINDS)
def test_dispatcher_reproducible_and_seed_dependent(kind):
    A = sketch_matrix(kind, 12, 3, rng=7)
    assert A.shape == (12, 3)
    np.testing.assert_array_equal(A, sketch_matrix(kind, 12, 3, rng=7))
    assert not np.array_equal(A, sketch_matrix(kind, 12, 3, rng=8))
    gen = np.random.default_rng(0)
    assert not np.array_equal(sketch_matrix(kind, 12, 3, rng=gen), sketch_matrix(kind, 12, 3, rng=gen))


@pytest.mark.parametrize("kind", SKETCH_KINDS)
def test_array_api_strict_and_float32(kind):
    A = sketch_matrix(kind, 9, 4, rng=0, xp=xs)
    assert _is_strict(A) and A.shape == (9, 4)
    np.testing.assert_allclose(np.asarray(A), sketch_matrix(kind, 9, 4, rng=0), atol=1e-12)
    B = sketch_matrix(kind, 9, 4, rng=0, dtype=np.float32)
    assert B.dtype == np.float32


def test_srht_sketch_strict_matches_numpy():
    X = np.random.default_rng(0).standard_normal((11, 2))
    out = srht_sketch(xs.asarray(X), 5, rng=1)
    assert _is_strict(out)
    np.testing.assert_allclose(np.asarray(out), srht_sketch(X, 5, rng=1), atol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="kind"):
        sketch_matrix("cauchy", 4, 2)
    with pytest.raises(ValueError, match="k"):
        orthogonal_matrix(3, 4)
    with pytest.raises(ValueError, match="k"):
        srht_matrix(3, 4)
    with pytest.raises(ValueError, match="k"):
        srht_sketch(np.ones((3, 2)), 4)
    with pytest.raises(ValueError, match="k"):
        gaussian_matrix(3, 0)
    with pytest.raises(TypeError, match="n"):
        gaussian_matrix(2.5, 1)
    with pytest.raises(ValueError, match="X"):
        srht_sketch(np.array([[np.nan], [1.0]]), 1)
    with pytest.raises(TypeError, match="rng"):
        gaussian_matrix(3, 1, rng="seed")
