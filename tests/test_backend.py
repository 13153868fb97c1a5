"""Tests of krylovid.backend: rng normalisation, host/device round trips, FFT and
small dense linear algebra, each against NumPy / SciPy as the independent reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from krylovid import backend as B


@pytest.fixture
def spd(rng):
    X = rng.standard_normal((6, 6))
    return X @ X.T + 6 * np.eye(6)


# ----------------------------------------------------------------------------- namespaces
def test_array_namespace_dispatch(strict_xp):
    xp = B.array_namespace(np.ones(2))
    assert B.is_numpy(xp) and not B.is_strict(xp) and not B.is_cupy(xp)
    assert B.is_numpy(B.array_namespace([1.0, 2.0], None, 3.0))  # lists -> NumPy, scalars ignored
    assert B.is_numpy(B.array_namespace())
    assert B.is_numpy(B.array_namespace(np.float64(1.0)))
    xs = B.array_namespace(strict_xp.ones(2), None, 1.5)
    assert B.is_strict(xs) and not B.is_numpy(xs)
    # the wrapped NumPy namespace returns plain ndarrays
    assert type(xp.asarray([1.0])) is np.ndarray


def test_mixing_namespaces_raises_typeerror(strict_xp):
    with pytest.raises(TypeError, match="mixed"):
        B.array_namespace(np.ones(2), strict_xp.ones(2))


# ----------------------------------------------------------------------------- rng
@pytest.mark.parametrize("seed", [0, 7, np.int64(7), 2**40])
def test_default_rng_from_int_matches_numpy(seed):
    g = B.default_rng(seed)
    assert isinstance(g, np.random.Generator)
    np.testing.assert_array_equal(g.standard_normal(5), np.random.default_rng(seed).standard_normal(5))


def test_default_rng_generator_is_returned_as_is_and_advances():
    g = np.random.default_rng(3)
    assert B.default_rng(g) is g
    a = B.standard_normal(g, (4,))
    b = B.standard_normal(g, (4,))
    assert not np.array_equal(a, b)  # successive calls advance the shared generator
    ref = np.random.default_rng(3)
    np.testing.assert_array_equal(np.concatenate([a, b]), ref.standard_normal(8))


def test_default_rng_seedsequence_and_none():
    ss = np.random.SeedSequence(42)
    np.testing.assert_array_equal(B.default_rng(ss).random(3), np.random.default_rng(ss).random(3))
    g1, g2 = B.default_rng(None), B.default_rng(None)
    assert isinstance(g1, np.random.Generator)
    assert not np.array_equal(g1.random(4), g2.random(4))  # fresh entropy each time


def test_default_rng_legacy_randomstate_is_deterministic():
    a = B.default_rng(np.random.RandomState(5)).random(3)
    b = B.default_rng(np.random.RandomState(5)).random(3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", ["1", 1.5, [1, 2], True, object()])
def test_default_rng_bad_type_raises_typeerror_naming_rng(bad):
    with pytest.raises(TypeError, match="rng"):
        B.default_rng(bad)


def test_default_rng_negative_seed_raises_valueerror():
    with pytest.raises(ValueError, match="rng"):
        B.default_rng(-1)


def test_random_draws_reproducible_and_distributed(strict_xp):
    z1 = B.standard_normal(11, (2000, 3))
    z2 = B.standard_normal(11, (2000, 3))
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_array_equal(z1, np.random.default_rng(11).standard_normal((2000, 3)))
    assert abs(z1.mean()) < 0.05 and abs(z1.std() - 1) < 0.05
    r = B.rademacher(11, (4000,))
    assert set(np.unique(r)) == {-1.0, 1.0} and abs(r.mean()) < 0.05
    u = B.uniform(11, (4000,), -2.0, 3.0)
    assert u.min() >= -2.0 and u.max() < 3.0 and abs(u.mean() - 0.5) < 0.1
    # same draws on the strict backend, in the requested dtype
    zs = B.standard_normal(11, (2000, 3), xp=strict_xp, dtype=strict_xp.float32)
    assert B.is_strict(B.array_namespace(zs)) and zs.dtype == strict_xp.float32
    np.testing.assert_allclose(B.to_numpy(zs), z1, rtol=1e-6)
    rs = B.rademacher(11, (4000,), xp=strict_xp)
    np.testing.assert_array_equal(B.to_numpy(rs), r)
    us = B.uniform(11, (4000,), -2.0, 3.0, xp=strict_xp)
    np.testing.assert_array_equal(B.to_numpy(us), u)


# ----------------------------------------------------------------------------- host <-> device
def test_to_numpy_and_asarray_round_trip(rng, strict_xp):
    x = rng.standard_normal((3, 4))
    xs = B.asarray(x, strict_xp)
    assert B.is_strict(B.array_namespace(xs))
    back = B.to_numpy(xs)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, x)
    assert B.to_numpy(x) is x
    np.testing.assert_array_equal(B.to_numpy([1.0, 2.0]), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(B.to_numpy(np.float64(2.5)), np.array(2.5))
    xn = B.asarray(xs, B.numpy_namespace())
    assert isinstance(xn, np.ndarray)
    np.testing.assert_array_equal(xn, x)
    x32 = B.asarray(x, strict_xp, dtype=strict_xp.float32)
    assert x32.dtype == strict_xp.float32
    np.testing.assert_allclose(B.to_numpy(x32), x, rtol=1e-6)


# ----------------------------------------------------------------------------- fft
@pytest.mark.parametrize("n", [None, 16, 23])
def test_rfft_irfft_match_numpy(rng, n, strict_xp):
    x = rng.standard_normal((11, 3))
    X = B.rfft(x, n=n, axis=0)
    np.testing.assert_allclose(X, np.fft.rfft(x, n=n, axis=0), atol=1e-12)
    L = 11 if n is None else n
    back = B.irfft(X, n=L, axis=0)
    np.testing.assert_allclose(back[:11], x, atol=1e-12)
    if L > 11:
        np.testing.assert_allclose(back[11:], 0.0, atol=1e-12)
    Xs = B.rfft(B.asarray(x, strict_xp), n=n, axis=0)
    assert B.is_strict(B.array_namespace(Xs))
    np.testing.assert_allclose(B.to_numpy(Xs), np.fft.rfft(x, n=n, axis=0), atol=1e-12)


# ----------------------------------------------------------------------------- linalg
def test_eigh_matches_numpy_and_symmetrises(rng, spd):
    w, V = B.eigh(spd)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(spd), rtol=1e-12)
    np.testing.assert_allclose(V @ np.diag(w) @ V.T, spd, atol=1e-11)
    # only the symmetric part is used
    N = rng.standard_normal((6, 6))
    np.testing.assert_allclose(B.eigh(spd + N - N.T)[0], w, rtol=1e-12)


def test_cholesky_matches_numpy(spd):
    L = B.cholesky(spd)
    np.testing.assert_allclose(L, np.linalg.cholesky(spd), atol=1e-12)
    np.testing.assert_allclose(B.cholesky(spd, lower=False), L.T, atol=0)
    with pytest.raises(np.linalg.LinAlgError):
        B.cholesky(-spd)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("trans", [False, True])
def test_solve_triangular_matches_dense_solve(rng, spd, lower, trans, strict_xp):
    L = np.linalg.cholesky(spd)
    T = L if lower else L.T
    Bm = rng.standard_normal((6, 2))
    ref = np.linalg.solve(T.T if trans else T, Bm)
    np.testing.assert_allclose(B.solve_triangular(T, Bm, lower=lower, trans=trans), ref, atol=1e-12)
    Xs = B.solve_triangular(B.asarray(T, strict_xp), B.asarray(Bm, strict_xp), lower=lower, trans=trans)
    assert B.is_strict(B.array_namespace(Xs))
    np.testing.assert_allclose(B.to_numpy(Xs), ref, atol=1e-12)


def test_qr_reduced(rng, strict_xp):
    A = rng.standard_normal((7, 3))
    Q, R = B.qr(A)
    assert Q.shape == (7, 3) and R.shape == (3, 3)
    np.testing.assert_allclose(Q.T @ Q, np.eye(3), atol=1e-14)
    np.testing.assert_allclose(Q @ R, A, atol=1e-13)
    np.testing.assert_allclose(np.tril(R, -1), 0.0, atol=0)
    Qs, Rs = B.qr(B.asarray(A, strict_xp))
    np.testing.assert_allclose(B.to_numpy(Qs) @ B.to_numpy(Rs), A, atol=1e-13)


def test_svd_thin(rng, strict_xp):
    A = rng.standard_normal((7, 4))
    U, s, Vt = B.svd(A)
    assert U.shape == (7, 4) and s.shape == (4,) and Vt.shape == (4, 4)
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False), rtol=1e-13)
    np.testing.assert_allclose((U * s) @ Vt, A, atol=1e-13)
    _, ss, _ = B.svd(B.asarray(A, strict_xp))
    np.testing.assert_allclose(B.to_numpy(ss), s, rtol=1e-13)


def test_float_dtype_and_eps(strict_xp):
    xp = B.numpy_namespace()
    f32, f64 = np.ones(2, np.float32), np.ones(2)
    assert B.float_dtype(xp, f32, f32) == xp.float32
    assert B.float_dtype(xp, f32, f64) == xp.float64
    assert B.float_dtype(xp) == xp.float64
    assert B.eps(xp) == np.finfo(np.float64).eps
    assert B.eps(xp, xp.float32) == np.finfo(np.float32).eps
    assert B.eps(strict_xp, strict_xp.float32) == np.finfo(np.float32).eps
