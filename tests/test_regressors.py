"""FIR regressor, Gram matrix and least squares vs literal dense constructions."""

import numpy as np
import pytest

from krylovid.sysid.regressors import FIRRegressor, LSResult, fir_regressor, ls_fir


def literal_phi(u, order, delay, initial):
    """Row t (0-based) = [u_i(t-d), ..., u_i(t-d-order+1)] per input, zero before the start."""
    u = np.asarray(u, dtype=float).reshape(len(u), -1)
    N, m = u.shape
    first = order + delay - 1 if initial == "drop" else 0
    rows = []
    for t in range(first, N):
        row = []
        for i in range(m):
            for k in range(order):
                s = t - delay - k
                row.append(u[s, i] if s >= 0 else 0.0)
        rows.append(row)
    return np.array(rows).reshape(N - first, m * order)


CASES = [(m, d, init) for m in (1, 2) for d in (0, 1, 3) for init in ("zero", "drop")]


@pytest.mark.parametrize("m,delay,initial", CASES)
def test_regressor_matches_literal(m, delay, initial):
    rng = np.random.default_rng(10 * m + delay)
    N, n = 37, 6
    u = rng.standard_normal((N, m)) if m > 1 else rng.standard_normal(N)
    Phi = fir_regressor(u, n, delay=delay, initial=initial)
    R = literal_phi(u, n, delay, initial)
    assert isinstance(Phi, FIRRegressor) and Phi.shape == R.shape
    np.testing.assert_array_equal(Phi.dense(), R)
    np.testing.assert_array_equal(Phi.rows, np.arange(N - R.shape[0], N))
    X = rng.standard_normal((m * n, 3))
    Y = rng.standard_normal((R.shape[0], 3))
    tol = 1e-12 * np.linalg.norm(R, 2)
    assert np.abs(Phi.matmat(X) - R @ X).max() <= tol * np.abs(X).max() * 4
    assert np.abs(Phi.rmatmat(Y) - R.T @ Y).max() <= tol * np.abs(Y).max() * 4
    np.testing.assert_allclose(Phi.matvec(X[:, 0]), R @ X[:, 0], atol=1e-12 * np.abs(R).sum())
    G = Phi.gram()
    np.testing.assert_allclose(G, R.T @ R, atol=1e-12 * np.trace(R.T @ R))
    assert Phi.trace_gram() == pytest.approx(np.sum(R * R), rel=1e-12)


def test_gram_long_record_relative_accuracy():
    rng = np.random.default_rng(3)
    u = rng.standard_normal((3000, 2))
    Phi = fir_regressor(u, 40, delay=2, initial="drop")
    R = Phi.dense()
    ref = R.T @ R
    assert np.abs(Phi.gram() - ref).max() <= 1e-12 * np.abs(ref).max()


def test_small_example_and_adjoint_identity():
    Phi = fir_regressor(np.array([1.0, 2.0, 3.0, 4.0]), 2, delay=0)
    np.testing.assert_array_equal(Phi.dense(), [[1, 0], [2, 1], [3, 2], [4, 3]])
    rng = np.random.default_rng(0)
    P = fir_regressor(rng.standard_normal(500), 30, delay=1)
    x, y = rng.standard_normal(30), rng.standard_normal(500)
    assert P.matvec(x) @ y == pytest.approx(x @ P.rmatvec(y), rel=1e-12)


def test_regressor_bad_input():
    with pytest.raises(ValueError, match="initial"):
        fir_regressor(np.ones(10), 3, initial="zeros")
    with pytest.raises(ValueError, match="delay"):
        fir_regressor(np.ones(10), 3, delay=-1)
    with pytest.raises(ValueError, match="order"):
        fir_regressor(np.ones(10), 0)
    with pytest.raises(ValueError, match="order"):
        fir_regressor(np.ones(5), 5, initial="drop", delay=1)
    with pytest.raises(ValueError, match="u"):
        fir_regressor(np.ones((3, 2, 2)), 2)


def test_array_api_strict_regressor():
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(4)
    u = rng.standard_normal((50, 2))
    P, Ps = fir_regressor(u, 5, initial="drop"), fir_regressor(xps.asarray(u), 5, initial="drop")
    X = rng.standard_normal((10, 2))
    np.testing.assert_allclose(np.asarray(Ps.matmat(xps.asarray(X))), P.matmat(X), atol=1e-12)
    Y = rng.standard_normal((P.shape[0], 2))
    np.testing.assert_allclose(np.asarray(Ps.rmatmat(xps.asarray(Y))), P.rmatmat(Y), atol=1e-12)
    np.testing.assert_allclose(np.asarray(Ps.gram()), P.gram(), atol=1e-11)


@pytest.mark.parametrize("initial", ["zero", "drop"])
@pytest.mark.parametrize("method", ["qr", "normal"])
def test_ls_fir_matches_lstsq(initial, method):
    rng = np.random.default_rng(5)
    N, n = 400, 25
    u = rng.standard_normal((N, 2))
    g0 = np.concatenate([0.8 ** np.arange(n), (-0.6) ** np.arange(n)])
    y0 = literal_phi(u, n, 1, "zero") @ g0
    sigma = np.sqrt(np.var(y0) / 1e4)  # SNR 1e4
    y = y0 + sigma * rng.standard_normal(N)
    res = ls_fir(u, y, n, initial=initial, method=method)
    assert isinstance(res, LSResult) and res.method == method and not res.rank_deficient
    R = literal_phi(u, n, 1, initial)
    y_eff = y[res.rows]
    g_ref = np.linalg.lstsq(R, y_eff, rcond=None)[0]
    np.testing.assert_allclose(res.g, g_ref, rtol=0, atol=1e-11 * np.abs(g_ref).max())
    r_ref = y_eff - R @ g_ref
    assert res.dof == len(y_eff) - 2 * n
    assert res.residual_variance == pytest.approx(r_ref @ r_ref / res.dof, rel=1e-9)
    assert res.residual_variance == pytest.approx(sigma**2, rel=0.3)


def test_ls_fir_bad_input():
    with pytest.raises(ValueError, match="y"):
        ls_fir(np.random.default_rng(0).standard_normal(50), np.ones(49), 5)
    with pytest.raises(ValueError, match="method"):
        ls_fir(np.random.default_rng(0).standard_normal(50), np.ones(50), 5, method="svd")


# ----------------------------------------------------------------------------- data checks
from krylovid.sysid.data import check_data, effective_length  # noqa: E402

_rng = np.random.default_rng(9)
_U, _Y = _rng.standard_normal(40), _rng.standard_normal(40)


def test_check_data_accepts_and_converts():
    u, y = check_data(list(range(1, 31)), np.arange(30, dtype=np.float32), 5)
    assert u.shape == (30, 1) and y.shape == (30,) and u.dtype == y.dtype == np.float64
    u, y = check_data(_rng.standard_normal((40, 2)), _Y[:, None], 5, delay=0, initial="drop")
    assert u.shape == (40, 2) and y.shape == (40,)
    assert effective_length(40, 5, 2, "drop") == 34 and effective_length(40, 5, 2, "zero") == 40


@pytest.mark.parametrize(
    "u,y,kw,exc,match",
    [
        (np.array([1.0, np.nan] * 20), _Y, {}, ValueError, "u"),
        (_U, np.r_[_Y[:-1], np.inf], {}, ValueError, "y"),
        (_U, _Y[:-1], {}, ValueError, "length"),
        (_U, _Y, {"order": 40}, ValueError, "order"),
        (_U, _Y, {"order": 20, "initial": "drop"}, ValueError, "order"),
        (np.c_[_U, _U], _Y, {"order": 20}, ValueError, "order"),
        (np.ones(40), _Y, {}, ValueError, "u.*constant"),
        (np.zeros(40), _Y, {}, ValueError, "u.*zero"),
        (np.c_[_U, np.zeros(40)], _Y, {}, ValueError, "column 1"),
        (np.array([]), np.array([]), {}, ValueError, "u"),
        (np.ones((40, 1, 1)), _Y, {}, ValueError, "u"),
        (_U, np.ones((40, 2)), {}, ValueError, "y"),
        (np.array(["a"] * 40), _Y, {}, TypeError, "u"),
        ("abc", _Y, {}, TypeError, "u"),
        (_U + 1j, _Y, {}, TypeError, "u"),
        (_U, _Y, {"order": 2.5}, TypeError, "order"),
        (_U, _Y, {"order": 0}, ValueError, "order"),
        (_U, _Y, {"delay": -1}, ValueError, "delay"),
        (_U, _Y, {"delay": 40}, ValueError, "delay"),
        (_U, _Y, {"initial": "free"}, ValueError, "initial"),
    ],
)
def test_check_data_rejects(u, y, kw, exc, match):
    kw = {"order": 5, **kw}
    order = kw.pop("order")
    with pytest.raises(exc, match=match):
        check_data(u, y, order, **kw)
