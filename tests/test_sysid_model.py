"""KernelFIR: same optimum for every method, literature-level fits, sklearn conventions, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from krylovid import KernelFIR
from krylovid.sysid.metrics import fit
from krylovid.sysid.simulate import bank


def system_data(N=500, snr=10.0, seed=0, order_true=40, inputs=1):
    rng = np.random.default_rng(seed)
    gs = [0.85 ** np.arange(1, order_true + 1) * np.cos(0.4 * np.arange(order_true) + j) for j in range(inputs)]
    u = rng.standard_normal((N, inputs))
    y0 = sum(np.convolve(u[:, j], np.r_[0.0, gs[j]])[:N] for j in range(inputs))
    y = y0 + np.sqrt(np.var(y0) / snr) * rng.standard_normal(N)
    return (u[:, 0] if inputs == 1 else u), y, (gs[0] if inputs == 1 else np.array(gs))


@pytest.mark.parametrize("kernel", ["TC", "SS"])
def test_krylov_reaches_the_cholesky_optimum(kernel):
    u, y, g0 = system_data(seed=1)
    mk = KernelFIR(order=50, kernel=kernel, method="krylov", random_state=0).fit(u, y)
    mc = KernelFIR(order=50, kernel=kernel, method="cholesky").fit(u, y)
    assert abs(mk.objective_ - mc.objective_) <= 1e-6 * abs(mc.objective_)
    assert abs(fit(g0, mk.impulse_response_[:40]) - fit(g0, mc.impulse_response_[:40])) <= 0.1
    for key in mc.hyperparameters_:
        assert mk.hyperparameters_[key] == pytest.approx(mc.hyperparameters_[key], rel=1e-3)
    # the optima agree to ~1e-4 in the hyperparameters, so the posteriors agree to that level
    np.testing.assert_allclose(mk.impulse_response_std_, mc.impulse_response_std_, rtol=1e-3)


def test_qr_and_krylov_agree_on_dc_with_ml_noise():
    u, y, _ = system_data(N=400, seed=2)
    mq = KernelFIR(order=40, kernel="DC", method="qr", noise_variance="ml").fit(u, y)
    mk = KernelFIR(order=40, kernel="DC", method="krylov", noise_variance="ml", random_state=1).fit(u, y)
    assert abs(mk.objective_ - mq.objective_) <= 1e-6 * abs(mq.objective_)
    assert mk.noise_variance_ == pytest.approx(mq.noise_variance_, rel=1e-3)


def test_posterior_matches_dense_formulas():
    u, y, _ = system_data(N=300, seed=3)
    m = KernelFIR(order=30, kernel="TC", random_state=0).fit(u, y)
    hp, s2 = m.hyperparameters_, m.noise_variance_
    from krylovid.sysid.kernels import get_kernel
    from krylovid.sysid.regressors import fir_regressor

    Phi = fir_regressor(u, 30).dense()
    K = hp["c"] * get_kernel("TC").dense(30, {"beta": hp["beta"]})
    Sigma = Phi @ K @ Phi.T + s2 * np.eye(300)
    mean = K @ Phi.T @ np.linalg.solve(Sigma, y)
    cov = K - K @ Phi.T @ np.linalg.solve(Sigma, Phi @ K)
    np.testing.assert_allclose(m.impulse_response_, mean, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(m.impulse_response_std_, np.sqrt(np.diag(cov)), rtol=1e-6, atol=1e-12)


def test_fits_on_simulated_bank_are_in_the_literature_range():
    """TC on fast 30th-order systems at SNR 10 (N = 500): the literature reports fits around 80-90."""
    fits = []
    for d in bank("fast", 10, 4, N=500, rng=0):
        m = KernelFIR(order=50, kernel="TC", random_state=0).fit(d.u, d.y)
        g = np.zeros_like(d.g0)
        g[:50] = m.impulse_response_
        fits.append(fit(d.g0, g))
    assert 75 <= np.median(fits) <= 98


def test_two_inputs_and_predict_score():
    u, y, g0 = system_data(N=600, seed=4, inputs=2, order_true=30)
    m = KernelFIR(order=30, kernel="TC", random_state=0).fit(u, y)
    assert m.impulse_response_.shape == (2, 30) and m.impulse_response_std_.shape == (2, 30)
    assert fit(g0.ravel(), m.impulse_response_.ravel()) > 85
    # at SNR 10 the output fit is limited by the noise: compare with the true system's own score
    y0 = sum(np.convolve(u[:, j], np.r_[0.0, g0[j]])[:600] for j in range(2))
    assert m.score(u, y) >= fit(y, y0) - 2.0
    assert m.predict(u).shape == (600,)
    with pytest.raises(ValueError, match="input column"):
        m.predict(u[:, 0])


def test_reproducible_and_sklearn_conventions():
    u, y, _ = system_data(N=300, seed=5)
    m = KernelFIR(order=30, kernel="TC", random_state=7)
    params = m.get_params()
    assert params["order"] == 30 and params["random_state"] == 7
    clone = type(m)(**params)
    assert clone.get_params() == params
    a = m.fit(u, y)
    assert a is m
    b = clone.fit(u, y)
    assert a.objective_ == b.objective_
    np.testing.assert_array_equal(a.impulse_response_, b.impulse_response_)
    assert m.set_params(kernel="DC") is m and m.kernel == "DC"
    with pytest.raises(ValueError, match="invalid parameter"):
        m.set_params(colour="red")
    info = a.info_
    for key in ("method", "subspace_dim", "matvecs", "F_lower", "F_upper", "wall_time_s", "status"):
        assert key in info
    assert info["F_lower"] <= a.objective_ <= info["F_upper"]


def test_lam_curve_brackets_exact_and_convergence_tightens():
    u, y, _ = system_data(N=300, seed=6)
    m = KernelFIR(order=40, kernel="TC", method="krylov", random_state=0).fit(u, y)
    curve = m.lam_curve(num=15, exact=True)
    tol = 1e-8 * np.abs(curve.F_exact)
    assert np.all(curve.F_lower <= curve.F_exact + tol) and np.all(curve.F_exact <= curve.F_upper + tol)
    conv = m.convergence_
    assert len(conv) >= 2
    gaps = [hi - lo for _, lo, hi in conv]
    assert gaps[-1] <= gaps[0] and gaps[-1] <= 1e-6 * abs(m.objective_)
    assert KernelFIR(order=10, method="qr").fit(u, y).convergence_ == []


def test_fixed_noise_variance_and_progress_callback():
    u, y, _ = system_data(N=300, seed=8)
    calls = []
    m = KernelFIR(order=30, noise_variance=0.02, progress=lambda k, p, F: calls.append((k, F)), random_state=0).fit(
        u, y
    )
    assert m.noise_variance_ == 0.02
    assert len(calls) == m.info_["n_evaluations"] and calls[0][0] == 1


@pytest.mark.parametrize(
    "u_bad,y_bad,order,match",
    [
        ("nan", None, 20, "u"),
        (None, "short", 20, "length|y"),
        ("zero", None, 20, "u"),
        (None, None, 400, "data|order"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(u_bad, y_bad, order, match):
    u, y, _ = system_data(N=300, seed=9)
    if u_bad == "nan":
        u = u.copy()
        u[5] = np.nan
    if u_bad == "zero":
        u = np.zeros_like(u)
    if y_bad == "short":
        y = y[:-3]
    with pytest.raises(ValueError, match=match):
        KernelFIR(order=order).fit(u, y)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kernel": "nope"}, "kernel"),
        ({"method": "fast"}, "method"),
        ({"noise_variance": 0.0}, "noise_variance"),
        ({"tol": 2.0}, "tol"),
        ({"initial": "warm"}, "initial"),
        ({"delay": -1}, "delay"),
    ],
)
def test_bad_options(kwargs, match):
    u, y, _ = system_data(N=200, seed=10)
    with pytest.raises((ValueError, TypeError), match=match):
        KernelFIR(order=10, **kwargs).fit(u, y)


def test_unfitted_model_refuses_predict():
    with pytest.raises(RuntimeError, match="not fitted"):
        KernelFIR(order=5).predict(np.ones(10))


@pytest.mark.parametrize("kernel", ["TC", "SS"])
def test_qr_and_krylov_agree_on_low_snr_bank(kernel):
    """At SNR 1 the objective has a flat c -> 0 plateau; every method must still find the same minimum."""
    for d in bank("fast", 1, 4, N=200, rng=5):
        fq = KernelFIR(order=20, kernel=kernel, method="qr").fit(d.u, d.y).objective_
        fk = KernelFIR(order=20, kernel=kernel, method="krylov", random_state=0).fit(d.u, d.y).objective_
        assert abs(fq - fk) <= 1e-6 * abs(fq)
