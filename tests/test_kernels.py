"""Kernels of krylovid.sysid.kernels against their dense / literal forms (DESIGN §2 table)."""

import math

import numpy as np
import pytest

from krylovid.sysid.kernels import (
    KERNEL_NAMES,
    BlockDiagonalKernel,
    CallableKernel,
    DCKernel,
    Kernel,
    OperatorKernel,
    SSKernel,
    TCKernel,
    get_kernel,
)

SIZES = (1, 7, 60, 200)
PARAMS = {
    "TC": [{"beta": 0.8}, {"beta": 0.999}, {"beta": 1e-3}],
    "HF": [{"beta": 0.8}, {"beta": 0.999}, {"beta": 1e-3}],
    "DI": [{"beta": 0.8}, {"beta": 0.999}, {"beta": 1e-3}],
    "SS": [{"beta": 0.8}, {"beta": 0.999}, {"beta": 1e-3}],
    "DC": [
        {"alpha": 0.8, "rho": 0.5},
        {"alpha": 0.9, "rho": 0.999},
        {"alpha": 0.9, "rho": -0.999},
        {"alpha": 1e-3, "rho": 0.3},
        {"alpha": 0.999, "rho": -0.2},
    ],
    "SE": [{"h": 0.5}, {"h": 3.0}, {"h": 40.0}],
    "CS": [{}],
}
CASES = [(name, p) for name in KERNEL_NAMES for p in PARAMS[name]]


def literal(name, n, p):
    """Entry-by-entry evaluation of the table in DESIGN §2 (k, j = 1..n)."""
    K = np.zeros((n, n))
    for k in range(1, n + 1):
        for j in range(1, n + 1):
            m, mn = max(k, j), min(k, j)
            if name == "TC":
                v = p["beta"] ** m
            elif name == "DC":
                v = p["alpha"] ** ((k + j) / 2) * p["rho"] ** abs(k - j)
            elif name == "SS":
                v = p["beta"] ** (k + j + m) / 2 - p["beta"] ** (3 * m) / 6
            elif name == "SE":
                v = math.exp(-((k - j) ** 2) / (2 * p["h"] ** 2))
            elif name == "HF":
                v = (-1) ** (k + j) * p["beta"] ** m
            elif name == "DI":
                v = p["beta"] ** k if k == j else 0.0
            else:
                v = k * j * mn / 2 - mn**3 / 6
            K[k - 1, j - 1] = v
    return K


@pytest.mark.parametrize("name,p", CASES)
def test_dense_matches_literal_table(name, p):
    for n in (1, 7, 25):
        D = get_kernel(name).dense(n, p)
        L = literal(name, n, p)
        assert D.shape == (n, n) and D.dtype == np.float64
        np.testing.assert_allclose(D, L, rtol=1e-13, atol=1e-300)
        np.testing.assert_array_equal(D, D.T)


@pytest.mark.parametrize("name,p", CASES)
@pytest.mark.parametrize("n", SIZES)
def test_structured_products_match_dense(name, p, n):
    K = get_kernel(name)
    D = K.dense(n, p)
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 3))
    scale = np.linalg.norm(D) * np.linalg.norm(X)
    for Y in (K.matmat(n, p, X), K.operator(n, p).matmat(X)):
        assert np.all(np.isfinite(Y))
        assert np.linalg.norm(Y - D @ X) <= 1e-12 * scale
    y1 = K.matmat(n, p, X[:, 0])
    assert y1.shape == (n,) and np.allclose(y1, D @ X[:, 0], rtol=1e-12, atol=1e-12 * scale)
    L = K.sqrt(n, p)
    assert np.all(np.isfinite(L))
    assert np.linalg.norm(L @ L.T - D) <= 1e-12 * np.linalg.norm(D)
    Ls = np.linalg.norm(L) * np.linalg.norm(X)
    assert np.linalg.norm(K.sqrt_matmat(n, p, X) - L @ X) <= 1e-12 * Ls
    assert np.linalg.norm(K.sqrt_rmatmat(n, p, X) - L.T @ X) <= 1e-12 * Ls
    if K.fast_sqrt or n <= 60:
        Lop = K.sqrt_operator(n, p)
        assert np.linalg.norm(Lop.matmat(X) - L @ X) <= 1e-12 * Ls
        assert np.linalg.norm(Lop.T.matmat(X) - L.T @ X) <= 1e-12 * Ls
    assert K.trace(n, p) == pytest.approx(np.trace(D), rel=1e-12)


def test_tc_products_are_entrywise_accurate_for_tiny_beta():
    """Prefix/suffix sums keep relative accuracy even where entries are ~1e-300."""
    K, n, p = TCKernel(), 100, {"beta": 1e-3}
    x = np.linspace(1.0, 2.0, n)
    ref = literal("TC", n, p) @ x
    np.testing.assert_allclose(K.matmat(n, p, x), ref, rtol=1e-13)
    pd = {"alpha": 1e-3, "rho": 0.999}
    np.testing.assert_allclose(DCKernel().matmat(n, pd, x), literal("DC", n, pd) @ x, rtol=1e-12)


@pytest.mark.parametrize(
    "name,p",
    [
        ("TC", {"beta": 0.7}),
        ("HF", {"beta": 0.95}),
        ("DI", {"beta": 0.6}),
        ("DC", {"alpha": 0.8, "rho": -0.7}),
        ("DC", {"alpha": 0.9, "rho": 0.95}),
    ],
)
def test_closed_form_logdet(name, p):
    K = get_kernel(name)
    for n in (1, 7, 30):
        sign, ref = np.linalg.slogdet(K.dense(n, p))
        assert sign == 1
        assert K.logdet(n, p) == pytest.approx(ref, rel=1e-10, abs=1e-10)


def test_closed_form_factors_are_triangular():
    L = TCKernel().sqrt(6, {"beta": 0.5})
    np.testing.assert_array_equal(L, np.triu(L))
    L = DCKernel().sqrt(6, {"alpha": 0.5, "rho": 0.3})
    np.testing.assert_array_equal(L, np.tril(L))


def test_generic_logdet_and_singular_ss():
    K = get_kernel("SE")
    D = K.dense(5, {"h": 0.7})
    assert K.logdet(5, {"h": 0.7}) == pytest.approx(np.linalg.slogdet(D)[1], rel=1e-10)
    assert SSKernel().logdet(3, {"beta": 0.5}) == pytest.approx(
        np.linalg.slogdet(SSKernel().dense(3, {"beta": 0.5}))[1], rel=1e-8
    )
    with pytest.raises(ValueError, match="singular"):
        SSKernel().logdet(60, {"beta": 0.5})


def test_ss_is_extremely_ill_conditioned_but_sqrt_is_fine():
    K, n, p = SSKernel(), 60, {"beta": 0.5}
    D = K.dense(n, p)
    w = np.linalg.eigvalsh(D)
    assert w[0] < 1e-15 * w[-1]  # no hope for a plain Cholesky-based inverse
    L = K.sqrt(n, p)
    assert np.linalg.norm(L @ L.T - D) <= 1e-13 * np.linalg.norm(D)


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_transforms_round_trip_and_grid(name):
    K = get_kernel(name)
    grid = K.default_grid(50)
    assert len(grid) >= 1
    for p in grid:
        K.check_params(p)
        z = K.to_unconstrained(p)
        assert z.shape == (len(K.param_names),) and np.all(np.isfinite(z))
        back = K.from_unconstrained(z)
        for k in K.param_names:
            assert back[k] == pytest.approx(p[k], rel=1e-12)
    # huge unconstrained values stay strictly inside the bounds
    for z0 in (-800.0, 800.0):
        p = K.from_unconstrained(np.full(len(K.param_names), z0))
        K.check_params(p)


def test_transforms_are_the_documented_maps():
    assert TCKernel().to_unconstrained({"beta": 0.75})[0] == pytest.approx(math.log(3))
    z = DCKernel().to_unconstrained({"alpha": 0.5, "rho": 0.5})
    assert z == pytest.approx([0.0, math.atanh(0.5)])
    assert get_kernel("SE").to_unconstrained({"h": math.e})[0] == pytest.approx(1.0)


def test_tc_grid_is_the_reference_multistart():
    assert [p["beta"] for p in TCKernel().default_grid()] == [0.5, 0.6, 0.7, 0.8, 0.9, 0.99]


@pytest.mark.parametrize(
    "params,exc,match",
    [
        ({"beta": 1.0}, ValueError, "beta"),
        ({"beta": 0.0}, ValueError, "beta"),
        ({"beta": float("nan")}, ValueError, "beta"),
        ({}, ValueError, "beta"),
        ({"beta": 0.5, "gamma": 1}, ValueError, "gamma"),
        ({"beta": "a"}, TypeError, "beta"),
        ({"beta": 0.5, "c": -1.0}, ValueError, "c"),
        ([0.5], TypeError, "params"),
    ],
)
def test_bad_params_raise_naming_the_parameter(params, exc, match):
    with pytest.raises(exc, match=match):
        TCKernel().dense(4, params)


def test_bad_arguments():
    K = TCKernel()
    with pytest.raises(ValueError, match="rho"):
        DCKernel().dense(3, {"alpha": 0.5, "rho": -1.0})
    with pytest.raises(ValueError, match="n"):
        K.dense(0, {"beta": 0.5})
    with pytest.raises(ValueError, match="rows"):
        K.matmat(4, {"beta": 0.5}, np.ones((3, 2)))
    with pytest.raises(ValueError, match="valid names"):
        get_kernel("XYZ")
    with pytest.raises(TypeError):
        get_kernel(3.5)
    assert K.check_params({"beta": 0.5, "c": 2.0}) == {"beta": 0.5}


def test_get_kernel_resolution():
    assert get_kernel("dc").name == "DC" and get_kernel(" Tc ").name == "TC"
    K = TCKernel()
    assert get_kernel(K) is K
    assert isinstance(get_kernel(lambda n: np.eye(n)), CallableKernel)
    assert isinstance(get_kernel(np.eye(3)), OperatorKernel)
    assert all(isinstance(get_kernel(nm), Kernel) for nm in KERNEL_NAMES)


def test_callable_and_operator_kernels():
    K = CallableKernel(
        lambda n, a: a ** np.abs(np.subtract.outer(np.arange(n), np.arange(n))),
        param_names=("a",),
        bounds={"a": (0.0, 1.0)},
    )
    D = K.dense(6, {"a": 0.3})
    np.testing.assert_allclose(D, literal("DC", 6, {"alpha": 1.0 - 1e-300, "rho": 0.3}), rtol=1e-12)
    L = K.sqrt(6, {"a": 0.3})
    np.testing.assert_allclose(L @ L.T, D, atol=1e-13)
    assert K.default_grid() == [{"a": 0.5}]
    with pytest.raises(ValueError, match="fn"):
        CallableKernel(lambda n: np.eye(n + 1)).dense(3, {})
    with pytest.raises(ValueError, match="a"):
        K.dense(3, {"a": 2.0})
    M = literal("SE", 5, {"h": 1.0})
    OK = OperatorKernel(M)
    X = np.random.default_rng(0).standard_normal((5, 2))
    np.testing.assert_allclose(OK.matmat(5, {}, X), M @ X)
    assert OK.trace(5) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="n"):
        OK.dense(4)


@pytest.mark.parametrize("name", ["TC", "DC", "SS"])
def test_block_diagonal_kernel(name):
    base = get_kernel(name)
    p = base.default_grid()[1]
    K = BlockDiagonalKernel(name, 3)
    n = 21
    D = K.dense(n, p)
    ref = np.kron(np.eye(3), base.dense(7, p))
    np.testing.assert_allclose(D, ref, rtol=1e-14, atol=0)
    X = np.random.default_rng(1).standard_normal((n, 4))
    np.testing.assert_allclose(K.matmat(n, p, X), ref @ X, atol=1e-13)
    L = K.sqrt(n, p)
    np.testing.assert_allclose(L @ L.T, ref, atol=1e-14)
    np.testing.assert_allclose(K.sqrt_matmat(n, p, X), L @ X, atol=1e-13)
    np.testing.assert_allclose(K.sqrt_rmatmat(n, p, X), L.T @ X, atol=1e-13)
    assert K.trace(n, p) == pytest.approx(np.trace(ref), rel=1e-12)
    assert K.param_names == base.param_names
    with pytest.raises(ValueError, match="multiple"):
        K.dense(20, p)
    with pytest.raises(ValueError, match="same kernel"):
        BlockDiagonalKernel(["TC", "DC"], 2)


@pytest.mark.parametrize("name", ["TC", "HF", "DC", "SS", "CS", "DI", "SE"])
def test_array_api_strict_products(name):
    xps = pytest.importorskip("array_api_strict")
    K = get_kernel(name)
    p = K.default_grid(80)[1] if K.param_names else {}
    n = 80
    X = np.random.default_rng(2).standard_normal((n, 2))
    Xs = xps.asarray(X)
    for meth in ("matmat", "sqrt_matmat", "sqrt_rmatmat"):
        ref = getattr(K, meth)(n, p, X)
        got = getattr(K, meth)(n, p, Xs)
        assert isinstance(got, type(Xs))
        np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    Ds = K.dense(n, p, xp=xps)
    assert isinstance(Ds, type(Xs))


def test_large_n_products_finite_and_accurate():
    """No overflow/NaN at n = 1500 for extreme parameters (generator forms would overflow)."""
    n = 1500
    x = np.random.default_rng(8).standard_normal(n)
    k = np.arange(1, n + 1, dtype=float)
    for name, p in [
        ("DC", {"alpha": 0.999, "rho": 0.999}),
        ("DC", {"alpha": 0.01, "rho": -0.999}),
        ("SS", {"beta": 0.999}),
        ("TC", {"beta": 1e-3}),
    ]:
        K = get_kernel(name)
        y = K.matmat(n, p, x)
        assert np.all(np.isfinite(y))
        rows = [0, 7, n // 2, n - 1]
        for r in rows:  # literal rows of the table, one at a time
            kk, jj = k[r], k
            m = np.maximum(kk, jj)
            if name == "DC":
                row = p["alpha"] ** ((kk + jj) / 2) * p["rho"] ** np.abs(kk - jj)
            elif name == "SS":
                row = p["beta"] ** (kk + jj + m) / 2 - p["beta"] ** (3 * m) / 6
            else:
                row = p["beta"] ** m
            assert abs(y[r] - row @ x) <= 1e-12 * (np.abs(row) @ np.abs(x)) + 1e-300


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not 0.0 < v < 1.0))
def test_property_out_of_bounds_beta_rejected(v):
    with pytest.raises(ValueError, match="beta"):
        TCKernel().check_params({"beta": v})


@settings(max_examples=60, deadline=None)
@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_property_from_unconstrained_always_valid(z1, z2):
    K = DCKernel()
    p = K.from_unconstrained([z1, z2])
    K.check_params(p)
    assert 0.0 < p["alpha"] < 1.0 and -1.0 < p["rho"] < 1.0
