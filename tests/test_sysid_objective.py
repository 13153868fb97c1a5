"""Every evaluator of F against the dense Cholesky reference (DESIGN §2–§3)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from krylovid.operators import Dense
from krylovid.sysid import AugmentedKrylov, FIRProblem, evaluate_objective, objective
from krylovid.sysid.evaluators import CholeskyEvaluator, KrylovBudgetWarning
from krylovid.sysid.krylov_evaluator import KrylovEvaluator

SHAPES = {
    "TC": {"beta": 0.8},
    "DC": {"alpha": 0.8, "rho": 0.6},
    "SS": {"beta": 0.9},
    "SE": {"h": 4.0},
    "HF": {"beta": 0.7},
    "DI": {"beta": 0.85},
    "CS": {},
}


# Scale of c per kernel: CS entries grow like n^3, so its c is scaled down to keep
# cond(Sigma) (and hence the rounding error of the dense reference) comparable.
C_SCALE = {"CS": 1e-4}


def make_data(N, n_true=30, snr=10.0, inputs=1, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((N, inputs))
    y0 = np.zeros(N)
    for j in range(inputs):
        g = 0.8 ** np.arange(1, n_true + 1) * np.cos(0.5 * np.arange(n_true) + j)
        y0 += np.convolve(u[:, j], np.r_[0.0, g])[:N]
    y = y0 + np.sqrt(np.var(y0) / snr) * rng.standard_normal(N)
    return (u[:, 0] if inputs == 1 else u), y


def exact_F(u, y, order, kernel, hp, delay=1, initial="zero", sigma2=None):
    """F from the definition with dense matrices (independent of the library's evaluators)."""
    p = FIRProblem(u, y, order, kernel=kernel, delay=delay, initial=initial)
    Phi = p.dense_regressor
    K = np.asarray(p.kernel.dense(p.n, {k: v for k, v in hp.items() if k != "c"}))
    s2 = p.ls_noise_variance if sigma2 is None else sigma2
    c = np.atleast_1d(hp["c"])
    out = []
    for ci in c:
        Sigma = ci * Phi @ K @ Phi.T + s2 * np.eye(p.N)
        sign, logdet = np.linalg.slogdet(Sigma)
        out.append(p.y @ np.linalg.solve(Sigma, p.y) + logdet)
    return np.array(out)


@pytest.mark.parametrize("kernel", list(SHAPES))
@pytest.mark.parametrize("method", ["krylov", "qr"])
def test_methods_agree_with_dense_reference_all_kernels(kernel, method):
    u, y = make_data(240)
    hp = {"c": np.array([0.05, 1.0, 30.0]) * C_SCALE.get(kernel, 1.0), **SHAPES[kernel]}
    ref = exact_F(u, y, 40, kernel, hp)
    F = objective(u, y, order=40, kernel=kernel, hyperparameters=hp, method=method, random_state=1)
    np.testing.assert_allclose(F, ref, rtol=1e-8)
    Fc = objective(u, y, order=40, kernel=kernel, hyperparameters=hp, method="cholesky")
    np.testing.assert_allclose(Fc, ref, rtol=1e-9)


@pytest.mark.parametrize("snr", [1.0, 10.0, 1e4])
@pytest.mark.parametrize("formulation", ["primal", "dual", "gram"])
def test_krylov_primal_and_dual_at_all_snr(snr, formulation):
    """Pure Krylov in each form: bounds contain the dense F, certified values are within rtol; the R-factor
    dual certifies every value, the primal and Gram forms may refuse at small lam (high SNR, large c) and say so."""
    u, y = make_data(400, snr=snr, seed=2)
    hp = {"c": np.array([1e-3, 0.3, 1e2]), "beta": 0.85}
    ref = exact_F(u, y, 60, "TC", hp)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluate_objective(
            u,
            y,
            order=60,
            kernel="TC",
            hyperparameters=hp,
            method="krylov",
            formulation=formulation,
            random_state=0,
            fallback_max_n=0,
        )
    assert res.info["formulation"] == formulation
    tol = 1e-9 * np.abs(ref)  # the dense reference's own rounding
    assert np.all(res.F_lower <= ref + tol) and np.all(ref <= res.F_upper + tol)
    np.testing.assert_allclose(res.F[res.certified], ref[res.certified], rtol=1e-8)
    warned = any(issubclass(w.category, KrylovBudgetWarning) for w in caught)
    assert warned == (not np.all(res.certified)) == (res.info["status"] == "budget")
    if formulation == "dual":
        assert np.all(res.certified) and res.info["status"] == "converged"


@pytest.mark.parametrize("delay,initial", [(0, "zero"), (1, "drop"), (3, "drop"), (2, "zero")])
def test_delay_and_initial_conditions(delay, initial):
    u, y = make_data(300, seed=3)
    hp = {"c": 0.5, "beta": 0.8}
    ref = exact_F(u, y, 35, "TC", hp, delay=delay, initial=initial)[0]
    for method in ("krylov", "qr", "cholesky"):
        F = objective(
            u, y, order=35, kernel="TC", hyperparameters=hp, method=method, delay=delay, initial=initial, random_state=0
        )
        assert abs(F - ref) <= 1e-8 * abs(ref), method


def test_two_inputs_block_diagonal_prior():
    u, y = make_data(360, inputs=2, seed=4)
    hp = {"c": np.array([0.2, 2.0]), "alpha": 0.7, "rho": 0.4}
    ref = exact_F(u, y, 30, "DC", hp)
    for method in ("krylov", "qr", "cholesky"):
        F = objective(u, y, order=30, kernel="DC", hyperparameters=hp, method=method, random_state=0)
        np.testing.assert_allclose(F, ref, rtol=1e-8, err_msg=method)


def test_fixed_noise_variance_and_larger_N():
    u, y = make_data(2000, snr=10.0, seed=5)
    hp = {"c": np.array([0.1, 1.0]), "beta": 0.9}
    ref = objective(u, y, order=80, kernel="TC", hyperparameters=hp, noise_variance=0.05, method="cholesky")
    for method in ("krylov", "qr"):
        F = objective(
            u, y, order=80, kernel="TC", hyperparameters=hp, noise_variance=0.05, method=method, random_state=0
        )
        np.testing.assert_allclose(F, ref, rtol=1e-8)


def test_lanczos_baseline_q_exact_logdet_within_its_interval():
    u, y = make_data(300, seed=6)
    hp = {"c": np.array([0.1, 1.0, 10.0]), "beta": 0.8}
    ref = exact_F(u, y, 40, "TC", hp)
    res = evaluate_objective(u, y, order=40, kernel="TC", hyperparameters=hp, method="lanczos", random_state=0)
    # F's interval is +-2 standard errors of the SLQ log-det (statistical); allow 2 more.
    half = 0.5 * (res.F_upper - res.F_lower)
    assert np.all(np.abs(res.F - ref) <= 2 * half + 1e-8 * np.abs(ref))
    assert np.all(half > 0)


def test_scalar_c_returns_float_and_array_matches_loop():
    u, y = make_data(200, seed=7)
    cs = np.array([0.01, 0.1, 1.0, 10.0])
    vec = objective(u, y, order=25, kernel="TC", hyperparameters={"c": cs, "beta": 0.7}, random_state=0)
    for c, v in zip(cs, vec, strict=True):
        s = objective(u, y, order=25, kernel="TC", hyperparameters={"c": c, "beta": 0.7}, random_state=0)
        assert isinstance(s, float)
        assert abs(s - v) <= 1e-9 * abs(v)


def test_augmented_bounds_bracket_and_tighten_before_saturation():
    """On a matrix with slowly decaying spectrum the bounds are loose at first and always bracket."""
    rng = np.random.default_rng(0)
    D = 300
    V, _ = np.linalg.qr(rng.standard_normal((D, D)))
    ev = 1.0 / np.arange(1, D + 1) ** 1.5
    A = (V * ev) @ V.T
    b = rng.standard_normal(D)
    lam = np.array([1e-3, 1e-2, 1e-1])
    q = np.array([b @ np.linalg.solve(A + s * np.eye(D), b) for s in lam])
    l = np.array([np.linalg.slogdet(A + s * np.eye(D))[1] for s in lam])
    est = AugmentedKrylov(Dense(A), b, trace=np.trace(A), block_size=4, rng=1)
    gaps = []
    for dim in (10, 30, 60, 120):
        est.extend_to(dim)
        bd = est.bounds(lam)
        tol = 1e-10 * np.abs(q)
        assert np.all(bd.q_lower <= q + tol) and np.all(q <= bd.q_upper + tol)
        assert np.all(bd.l_lower <= l + 1e-10) and np.all(l <= bd.l_upper + 1e-10)
        gaps.append((bd.q_upper - bd.q_lower)[0] + (bd.l_upper - bd.l_lower)[0])
    assert all(g2 < g1 for g1, g2 in zip(gaps, gaps[1:], strict=False))
    assert not est.invariant


def test_low_rank_space_saturates_and_is_exact():
    rng = np.random.default_rng(1)
    Fm = rng.standard_normal((200, 7))
    A = Fm @ Fm.T
    b = rng.standard_normal(200)
    est = AugmentedKrylov(Dense(A), b, trace=np.trace(A), block_size=3, rng=0)
    est.extend_to(11)
    assert est.invariant and est.dim <= 7 + 4 and not est.complete
    lam = np.array([1e-4, 1.0])
    q = np.array([b @ np.linalg.solve(A + s * np.eye(200), b) for s in lam])
    l = np.array([np.linalg.slogdet(A + s * np.eye(200))[1] for s in lam])
    bd = est.bounds(lam)
    assert np.all(bd.q_lower <= q) and np.all(q <= bd.q_upper)
    assert np.all(bd.l_lower <= l) and np.all(l <= bd.l_upper)
    # rounding (delta = 8 eps ||A|| ~ 7e-13) is inside the bounds: relative width ~ 2 delta / lam at lam = 1e-4
    assert np.all(bd.q_upper - bd.q_lower <= 1e-7 * q)
    # growing further restarts in the complement instead of calling the deflated space exact
    est.extend_to(200)
    assert est.complete and est.dim == 200
    bd = est.bounds(lam)
    assert np.all(bd.l_lower <= l) and np.all(l <= bd.l_upper) and np.all(bd.l_upper - bd.l_lower <= 3e-9 * np.abs(l))


def test_common_random_numbers_make_F_deterministic():
    u, y = make_data(300, seed=8)
    p = FIRProblem(u, y, 50, kernel="TC")
    ev = KrylovEvaluator(p, random_state=3, max_dim=12)
    ev2 = KrylovEvaluator(p, random_state=3, max_dim=12)
    lam = np.array([0.1])
    b1 = ev.prepare({"beta": 0.9}).bounds(lam)
    b2 = ev2.prepare({"beta": 0.9}).bounds(lam)
    assert b1.q_lower[0] == b2.q_lower[0] and b1.l_lower[0] == b2.l_lower[0]


def test_budget_exceeded_warns_and_reports_status():
    u, y = make_data(400, snr=1e4, seed=9)
    hp = {"c": 1e3, "beta": 0.97}
    with pytest.warns(RuntimeWarning, match="did not meet"):
        res = evaluate_objective(
            u,
            y,
            order=120,
            kernel="TC",
            hyperparameters=hp,
            method="krylov",
            max_dim=12,
            random_state=0,
            fallback_max_n=0,
        )
    assert res.info["status"] == "budget"
    ref = objective(u, y, order=120, kernel="TC", hyperparameters=hp, method="cholesky")
    assert res.F_lower[0] <= ref <= res.F_upper[0] and res.F_upper[0] - res.F_lower[0] > 1e-6 * abs(ref)
    with pytest.warns(RuntimeWarning, match="fell back to the exact QR"):
        fb = evaluate_objective(
            u, y, order=120, kernel="TC", hyperparameters=hp, method="krylov", max_dim=12, random_state=0
        )
    # SNR 1e4 and c = 1e3: cond(Sigma) ~ 1e10, so the two exact evaluators agree to ~1e-8 only
    assert fb.info["status"] == "fallback" and abs(fb.F[0] - ref) <= 1e-7 * abs(ref)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kernel": "XYZ"}, "kernel"),
        ({"hyperparameters": {"c": 1.0, "beta": 1.5}}, "beta"),
        ({"hyperparameters": {"c": -1.0, "beta": 0.5}}, "c"),
        ({"hyperparameters": {"beta": 0.5}}, "c"),
        ({"method": "magic"}, "method"),
        ({"noise_variance": -2.0}, "noise_variance"),
        ({"noise_variance": "ml"}, "noise_variance"),
        ({"order": 0}, "order"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    u, y = make_data(100, seed=10)
    args = {"order": 10, "kernel": "TC", "hyperparameters": {"c": 1.0, "beta": 0.5}}
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        objective(u, y, **args)


def test_cholesky_refuses_huge_N():
    u, y = make_data(400, seed=11)
    p = FIRProblem(u, y, 20)
    with pytest.raises(ValueError, match="max_n"):
        CholeskyEvaluator(p, max_n=100)


@pytest.mark.parametrize("kernel,shape", [("TC", {"beta": 0.8}), ("DI", {"beta": 0.75})])
def test_truncated_dual_is_exact_and_certified(kernel, shape):
    """Long FIR with fast decay: the dual runs on a leading block and still matches the dense F."""
    u, y = make_data(700, seed=12)
    hp = {"c": np.array([1e-2, 1.0, 1e2]), **shape}
    ref = objective(u, y, order=300, kernel=kernel, hyperparameters=hp, method="cholesky")
    res = evaluate_objective(
        u, y, order=300, kernel=kernel, hyperparameters=hp, method="krylov", formulation="dual", random_state=0
    )
    assert res.info["dual_size"] < 200
    np.testing.assert_allclose(res.F, ref, rtol=1e-8)
    assert np.all(res.F_lower <= ref + 1e-9 * np.abs(ref)) and np.all(ref <= res.F_upper + 1e-9 * np.abs(ref))
    full = evaluate_objective(
        u,
        y,
        order=300,
        kernel=kernel,
        hyperparameters=hp,
        method="krylov",
        formulation="dual",
        truncate=False,
        random_state=0,
    )
    assert full.info["dual_size"] == 300
    np.testing.assert_allclose(full.F, ref, rtol=1e-8)


def test_truncated_posterior_matches_cholesky():
    from krylovid import KernelFIR

    u, y = make_data(700, seed=13)
    mk = KernelFIR(order=250, kernel="TC", method="krylov", random_state=0).fit(u, y)
    assert mk.info_["formulation"] == "dual" and mk.info_["certified"]
    mq = KernelFIR(order=250, kernel="TC", method="qr").fit(u, y)
    assert abs(mk.objective_ - mq.objective_) <= 1e-6 * abs(mq.objective_)
    np.testing.assert_allclose(mk.impulse_response_, mq.impulse_response_, rtol=1e-3, atol=1e-6)
