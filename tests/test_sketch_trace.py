"""Stochastic trace estimators: unbiasedness, honest standard errors, error vs samples."""

import array_api_strict as xs
import numpy as np
import pytest

from krylovid.operators import Counted, Dense
from krylovid.sketch import hutchinson, hutchpp, xnystrace, xtrace
from krylovid.sketch.trace import _xnystrace_samples, _xtrace_samples

N = 60


def _sym(decay, seed=0, n=N):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (U * decay(np.arange(n))) @ U.T


A_SLOW = _sym(lambda i: 1.0 / (1.0 + i))  # trace ~ 4.7, slow decay
A_FAST = _sym(lambda i: 0.7**i, seed=1)  # fast decay: deflation wins
ESTIMATORS = [hutchinson, hutchpp, xtrace]


def _runs(fn, A, budget, seeds):
    return np.array([[r.estimate, r.std_error] for r in (fn(A, budget, rng=s) for s in seeds)])


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_unbiased_and_error_estimate_honest(fn):
    tr = np.trace(A_SLOW)
    runs = _runs(fn, A_SLOW, 24, range(150))
    est, se = runs[:, 0], runs[:, 1]
    assert abs(est.mean() - tr) < 4 * est.std(ddof=1) / np.sqrt(len(est))  # unbiased
    z = np.abs(est - tr) / se
    assert np.mean(z < 3) > 0.9 and np.max(z) < 8  # honest std errors
    assert 0.5 < np.mean(se) / np.sqrt(np.mean((est - tr) ** 2)) < 2.0  # right magnitude


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_error_shrinks_with_budget(fn):
    tr = np.trace(A_SLOW)
    rmse = [np.sqrt(np.mean((_runs(fn, A_SLOW, m, range(40))[:, 0] - tr) ** 2)) for m in (12, 48)]
    assert rmse[1] < 0.7 * rmse[0]


def test_deflation_beats_hutchinson_on_decaying_spectrum():
    tr = np.trace(A_FAST)
    err = {fn.__name__: np.sqrt(np.mean((_runs(fn, A_FAST, 30, range(30))[:, 0] - tr) ** 2)) for fn in ESTIMATORS}
    assert err["hutchpp"] < 0.2 * err["hutchinson"]
    assert err["xtrace"] < err["hutchpp"]


def test_hutchinson_exact_on_diagonal_with_signs():
    d = np.arange(1.0, 21.0)
    res = hutchinson(np.diag(d), 3, rng=0)
    assert res.estimate == pytest.approx(d.sum(), rel=1e-14)
    assert res.std_error == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(hutchinson(np.diag(d), 1, rng=0).std_error)  # one sample: no error bar


def test_hutchpp_exact_when_sketch_covers_rank():
    rng = np.random.default_rng(2)
    G = rng.standard_normal((N, 4))
    A = G @ G.T
    res = hutchpp(A, 15, rng=0)  # 5 sketch vectors >= rank 4
    assert res.estimate == pytest.approx(np.trace(A), rel=1e-10)
    assert res.num_matvecs == 15


def test_xtrace_low_rank_is_invariant_and_exact():
    rng = np.random.default_rng(3)
    G = rng.standard_normal((N, 3))
    res = xtrace(G @ G.T, 20, rng=0)
    assert res.info.status == "invariant" and res.std_error == 0.0
    assert res.estimate == pytest.approx(np.sum(G * G), rel=1e-10)


@pytest.mark.parametrize("distribution", ["gaussian", "rademacher", "sphere"])
def test_xtrace_distributions_unbiased(distribution):
    tr = np.trace(A_SLOW)
    est = np.array([xtrace(A_SLOW, 20, rng=s, distribution=distribution).estimate for s in range(100)])
    assert abs(est.mean() - tr) < 4 * est.std(ddof=1) / 10


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_matvec_count_and_nonsymmetric(fn):
    rng = np.random.default_rng(4)
    B = rng.standard_normal((30, 30))
    op = Counted(Dense(B))
    ests = [fn(op, 24, rng=s) for s in range(60)]
    assert all(r.num_matvecs == 24 for r in ests[:1]) and op.matvecs == 60 * 24
    mean = np.mean([r.estimate for r in ests])
    assert abs(mean - np.trace(B)) < 4 * np.std([r.estimate for r in ests]) / np.sqrt(60)


@pytest.mark.parametrize("fn", ESTIMATORS + [xnystrace])
def test_array_api_strict_matches_numpy(fn):
    a = fn(xs.asarray(A_SLOW), 12, rng=5)
    b = fn(A_SLOW, 12, rng=5)
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)


@pytest.mark.parametrize("fn", ESTIMATORS)
def test_bad_input(fn):
    with pytest.raises(ValueError, match="square"):
        fn(np.ones((4, 3)), 6)
    bad = np.eye(4)
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="A"):
        fn(bad, 6)
    with pytest.raises(ValueError, match="num_"):
        fn(np.eye(4), 0)
    with pytest.raises(TypeError, match="num_"):
        fn(np.eye(4), 6.5)
    with pytest.raises(ValueError, match="distribution"):
        fn(np.eye(4), 6, distribution="cauchy")


# ------------------------------------------------------------- leave-one-out identities
def test_xtrace_samples_equal_brute_force_leave_one_out():
    rng = np.random.default_rng(6)
    n, m = 25, 5
    B = rng.standard_normal((n, n))
    A = B + B.T
    Om = rng.standard_normal((n, m))
    Y = A @ Om
    Q, R = np.linalg.qr(Y)
    vals, _ = _xtrace_samples(Dense(A), Om, Y, Q, R, False)
    for i in range(m):
        Qi, _ = np.linalg.qr(np.delete(Y, i, axis=1))
        P = np.eye(n) - Qi @ Qi.T
        ref = np.trace(Qi.T @ A @ Qi) + Om[:, i] @ P @ A @ P @ Om[:, i]  # Hutch++ without omega_i
        assert vals[i] == pytest.approx(ref, rel=1e-9)


def test_xnystrace_samples_equal_brute_force_leave_one_out():
    rng = np.random.default_rng(7)
    n, m = 25, 5
    A = _sym(lambda i: 1.0 + i / 10, seed=7, n=n)
    Om = rng.standard_normal((n, m))
    Y = A @ Om
    vals = _xnystrace_samples(Y, Om, 0.0, False)
    for i in range(m):
        Oi, Yi = np.delete(Om, i, axis=1), np.delete(Y, i, axis=1)
        Ah = Yi @ np.linalg.solve(Oi.T @ Yi, Yi.T)  # Nystrom without omega_i
        ref = np.trace(Ah) + Om[:, i] @ (A - Ah) @ Om[:, i]
        assert vals[i] == pytest.approx(ref, rel=1e-9)


def test_xnystrace_unbiased_and_accurate_on_psd():
    for A in (A_SLOW, A_FAST):
        tr = np.trace(A)
        runs = _runs(xnystrace, A, 20, range(100))
        assert abs(runs[:, 0].mean() - tr) < 4 * runs[:, 0].std(ddof=1) / 10
        assert np.median(np.abs(runs[:, 0] - tr) / runs[:, 1]) < 3  # error bar right order
    err_ny = np.sqrt(np.mean((_runs(xnystrace, A_FAST, 24, range(30))[:, 0] - np.trace(A_FAST)) ** 2))
    err_x = np.sqrt(np.mean((_runs(xtrace, A_FAST, 24, range(30))[:, 0] - np.trace(A_FAST)) ** 2))
    assert err_ny < 0.5 * err_x  # PSD structure pays off


def test_xnystrace_fallback_and_bad_input():
    res = xnystrace(np.zeros((10, 10)), 4, rng=0)
    assert res.info.status == "fallback" and res.estimate == 0.0
    with pytest.raises(ValueError, match="square"):
        xnystrace(np.ones((4, 3)), 3)
    with pytest.raises(ValueError, match="num_matvecs"):
        xnystrace(np.eye(4), 1)
