"""The exact spectral evaluator against dense references (issue 10 item 1)."""

import numpy as np
import pytest
from scipy.signal import lfilter

from krylovid.sysid import FIRProblem, evaluate_objective
from krylovid.sysid.evaluators import SpectralEvaluator, make_evaluator
from krylovid.sysid.objective import F_bounds

PARAMS = {
    "TC": {"beta": 0.9},
    "DC": {"alpha": 0.85, "rho": 0.7},
    "SS": {"beta": 0.9},
    "SE": {"h": 4.0},
    "HF": {"beta": 0.8},
    "DI": {"beta": 0.7},
    "CS": {},
}


def lowpass_input(N, pole, rng, order=2):
    """White noise through ``order`` first-order low-pass sections (pole 0: white)."""
    u = rng.standard_normal(N)
    for _ in range(order if pole else 0):
        u = lfilter([1.0 - pole], [1.0, -pole], u)
    return u


def make_data(N, n, pole, snr, rng, inputs=1):
    u = np.column_stack([lowpass_input(N, pole, rng) for _ in range(inputs)])
    g = 0.85 ** np.arange(1, n + 1) * np.sin(0.4 * np.arange(1, n + 1))
    y = sum(np.convolve(u[:, j], np.r_[0.0, g])[:N] for j in range(inputs))
    y = y + np.std(y) / np.sqrt(snr) * rng.standard_normal(N)
    return (u[:, 0] if inputs == 1 else u), y


def dense_reference(problem, params, c, sigma2):
    """F, posterior mean and variance from the definition with dense N x N matrices, and the relative
    accuracy of that reference (``1e-15 cond(Sigma)``, at least ``1e-10``)."""
    Phi = problem.dense_regressor
    K = problem.kernel.dense(problem.n, params)
    Sigma = c * Phi @ K @ Phi.T + sigma2 * np.eye(problem.N)
    F = problem.y @ np.linalg.solve(Sigma, problem.y) + np.linalg.slogdet(Sigma)[1]
    KPt = c * K @ Phi.T
    mean = KPt @ np.linalg.solve(Sigma, problem.y)
    var = np.diag(c * K - KPt @ np.linalg.solve(Sigma, KPt.T))
    return F, mean, var, max(1e-10, 1e-15 * np.linalg.cond(Sigma))


@pytest.mark.parametrize("kernel", list(PARAMS))
@pytest.mark.parametrize("pole,snr", [(0.0, 10.0), (0.9, 1.0), (0.97, 1e4), (0.995, 100.0)])
def test_spectral_F_and_posterior_match_dense(kernel, pole, snr):
    rng = np.random.default_rng(3)
    u, y = make_data(240, 30, pole, snr, rng)
    p = FIRProblem(u, y, 30, kernel=kernel)
    cond = np.linalg.cond(p.gram)
    if pole >= 0.97:
        assert cond > 1e6  # the low-pass inputs are what the check is about
    params, sigma2 = PARAMS[kernel], p.ls_noise_variance
    state = SpectralEvaluator(p).prepare(params)
    for c in (1e-3, 1.0, 1e3):
        lam = np.array([sigma2 / c])
        assert state.refine(lambda bounds_fn: True)
        lo, hi, _ = F_bounds(state.bounds(lam), p.N, sigma2)
        F, mean, var, acc = dense_reference(p, params, c, sigma2)
        assert lo[0] == hi[0]  # exact at k = n
        assert abs(lo[0] - F) <= acc * abs(F)
        post = state.posterior(lam[0])
        assert np.allclose(post.mean, mean, rtol=100 * acc, atol=100 * acc * np.max(np.abs(mean)))
        assert np.allclose(c * post.variance_over_c, var, rtol=1e3 * acc, atol=1e3 * acc * np.max(np.abs(var)))


@pytest.mark.parametrize("delay,initial,inputs", [(0, "zero", 1), (3, "drop", 1), (1, "zero", 2), (2, "drop", 2)])
def test_spectral_options_and_two_inputs(delay, initial, inputs):
    rng = np.random.default_rng(5)
    u, y = make_data(300, 20, 0.95, 30.0, rng, inputs=inputs)
    p = FIRProblem(u, y, 20, kernel="TC", delay=delay, initial=initial)
    sigma2 = p.ls_noise_variance
    for c in (0.01, 10.0):
        res = evaluate_objective(
            u,
            y,
            order=20,
            kernel="TC",
            hyperparameters={"c": c, "beta": 0.8},
            method="spectral",
            delay=delay,
            initial=initial,
        )
        F, _, _, acc = dense_reference(p, {"beta": 0.8}, c, sigma2)
        assert abs(res.F[0] - F) <= acc * abs(F)


def test_truncated_bounds_contain_the_truth_and_refine_to_the_tolerance():
    rng = np.random.default_rng(7)
    u, y = make_data(400, 120, 0.0, 100.0, rng)
    p = FIRProblem(u, y, 120, kernel="TC")
    params, sigma2 = {"beta": 0.5}, p.ls_noise_variance
    state = make_evaluator("spectral", p, trunc_rtol=1e-10, truncate_min_n=0).prepare(params)
    assert state.k < p.n and not state.exact  # beta = 0.5: the prior's tail is truncated
    c0 = 10.0
    _, mean, var, acc0 = dense_reference(p, params, c0, sigma2)
    assert make_evaluator("spectral", p).prepare(params).exact  # n = 120: below truncate_min_n
    default = make_evaluator("spectral", p, truncate_min_n=0).prepare(params)  # tail below 1e-16 of the trace
    assert default.k < p.n
    post = default.posterior(sigma2 / c0)  # from the truncated factors (plus the tail's prior variance)
    assert not post.exact
    assert np.allclose(post.mean, mean, rtol=100 * acc0, atol=100 * acc0 * np.max(np.abs(mean)))
    assert np.allclose(c0 * post.variance_over_c, var, rtol=1e3 * acc0, atol=1e3 * acc0 * np.max(var))
    lam = sigma2 / np.logspace(-3, 3, 7)
    F = np.array([dense_reference(p, params, sigma2 / s, sigma2)[0] for s in lam])
    acc = max(dense_reference(p, params, sigma2 / s, sigma2)[3] for s in lam)
    lo, hi, _ = F_bounds(state.bounds(lam), p.N, sigma2)
    tol = acc * np.abs(F)
    assert np.all(lo <= F + tol) and np.all(F <= hi + tol)
    assert np.any(hi - lo > 1e-8 * np.abs(F))  # the truncation is visible in the bounds ...

    def tight(bounds_fn):
        b_lo, b_hi, _ = F_bounds(bounds_fn(lam), p.N, sigma2)
        return bool(np.all(b_hi - b_lo <= 1e-12 * np.abs(b_lo)))

    assert state.refine(tight)  # ... and refine closes it
    lo, hi, _ = F_bounds(state.bounds(lam), p.N, sigma2)
    assert np.all(np.abs(0.5 * (lo + hi) - F) <= tol)


def test_spectral_is_registered_and_validates_its_options():
    rng = np.random.default_rng(0)
    p = FIRProblem(rng.standard_normal(80), rng.standard_normal(80), 5)
    assert make_evaluator("spectral", p).method == "spectral"
    with pytest.raises(ValueError, match="projection"):
        SpectralEvaluator(p, projection="nope")
