"""The 1-D shape search of the tuner (_parabola_min, _vertex) against closed-form minima."""

import zlib

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.signal import lfilter

from krylovid.sysid import FIRProblem, KernelFIR
from krylovid.sysid.evaluators import make_evaluator
from krylovid.sysid.evaluators.base import ShiftState
from krylovid.sysid.objective import F_bounds
from krylovid.sysid.simulate import random_system, simulate_data
from krylovid.sysid.tuning import (
    Z_HARD,
    SearchLimitWarning,
    _moment_shift,
    _parabola_min,
    _vertex,
    numerical_floor,
    profile_shift,
    tune,
)


def test_vertex_of_a_parabola_and_non_convex_points():
    f = lambda z: 3.0 * (z - 0.7) ** 2 - 2.0  # noqa: E731
    v, fv = _vertex([(0.0, f(0.0)), (2.0, f(2.0)), (1.0, f(1.0))])
    assert np.isclose(v, 0.7) and np.isclose(fv, -2.0)
    assert np.isnan(_vertex([(0.0, 0.0), (1.0, 1.0), (2.0, 0.0)])[0])  # concave: no vertex
    assert np.isnan(_vertex([(0.0, 0.0), (0.0, 1.0), (2.0, 0.0)])[0])  # coincident points


@pytest.mark.parametrize(
    "f, zmin",
    [
        (lambda z: np.exp(z) - 2.0 * z, np.log(2.0)),  # skewed profile
        (lambda z: np.cosh(3.0 * (z - 1.3)) + 0.1 * z**3, None),
        (lambda z: (z - 0.1) ** 4 + (z - 0.1) ** 2, 0.1),
    ],
)
def test_parabola_min_reaches_the_minimum_to_the_tolerance(f, zmin):
    calls = []

    def g(z):
        calls.append(z)
        return float(f(z))

    a, b, c = -2.0, 0.5, 3.0
    z, fz = _parabola_min(g, a, b, c, g(a), g(b), g(c), 1e-12, 60)
    grid = np.linspace(a, c, 200001)
    ref = float(np.min(f(grid))) if zmin is None else float(f(zmin))
    assert fz - ref <= 1e-9 * max(abs(ref), 1.0)
    assert fz == pytest.approx(float(f(z)))
    assert len(calls) <= 3 + 20


def test_known_points_are_used_as_fit_points_and_save_evaluations():
    f = lambda z: np.exp(z) - 2.0 * z  # noqa: E731
    count = {"plain": 0, "known": 0}

    def counted(key):
        def g(z):
            count[key] += 1
            return float(f(z))

        return g

    a, b, c = -1.0, 0.8, 2.0
    known = [(0.6, f(0.6)), (0.75, f(0.75))]
    z1, f1 = _parabola_min(counted("plain"), a, b, c, f(a), f(b), f(c), 1e-12, 60)
    z2, f2 = _parabola_min(counted("known"), a, b, c, f(a), f(b), f(c), 1e-12, 60, known)
    ref = f(np.log(2.0))
    assert f1 - ref <= 1e-10 and f2 - ref <= 1e-10
    assert count["known"] < count["plain"]


def test_flat_profile_stops_on_the_bracket_width():
    calls = []

    def g(z):
        calls.append(z)
        return 1.0  # flat: golden steps shrink the bracket until it is narrower than ZTOL

    _parabola_min(g, 0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1e-12, 200)
    assert len(calls) < 60


def test_optimum_at_the_hard_limit_is_not_polished_shape_by_shape():
    """A profile that keeps falling towards beta -> 0 ends at the hard limit without a parabolic search there
    (which had stepped towards the limit one shape at a time)."""
    rng = np.random.default_rng(3)
    u = rng.standard_normal(400)
    for _ in range(2):
        u = lfilter([1.0 - 0.995], [1.0, -0.995], u)
    g = 0.85 ** np.arange(1, 61) * np.sin(0.4 * np.arange(1, 61))
    y = np.convolve(u, np.r_[0.0, g])[:400]
    y = y + np.std(y) / 10.0 * rng.standard_normal(400)
    p = FIRProblem(u, y, 60)
    with pytest.warns(SearchLimitWarning, match="beta"):
        res, _ = tune(make_evaluator("spectral", p), p, None)
    assert "beta_low" in res.limits
    assert res.n_evaluations <= 16
    dense = [F for _, F in res.history]
    assert res.optimum.F <= min(dense) + 1e-12 * abs(min(dense))


def test_dc_fit_matches_a_tight_nelder_mead_reference():
    """The 2-D shape search (DC: alpha, rho) reaches the optimum of a Nelder-Mead run with tolerances 1e-10 / 1e-14
    on the same profiled objective, from the best shapes of the fit's own history."""
    rng = np.random.default_rng(5)
    N, n = 400, 40
    u = lfilter([0.2], [1.0, -0.8], rng.standard_normal(N))
    k = np.arange(1, n + 1)
    y = np.convolve(u, np.r_[0.0, 0.9**k * np.sin(0.3 * k)])[:N]
    y = y + np.std(y) * 0.3 * rng.standard_normal(N)
    p = FIRProblem(u, y, n, kernel="DC")
    ev = make_evaluator("spectral", p)
    res, _ = tune(ev, p, None)

    def F(z):
        params = p.kernel.from_unconstrained(np.clip(z, -Z_HARD, Z_HARD))
        return profile_shift(ev.prepare(params), p.N, None, _moment_shift(p, params, None)).F

    starts = [p.kernel.to_unconstrained(h[0]) for h in sorted(res.history, key=lambda h: h[1])[:24:12]]
    opts = {"xatol": 1e-10, "fatol": 1e-14, "maxiter": 3000, "maxfev": 3000}
    ref = min(minimize(F, z0, method="Nelder-Mead", options=opts).fun for z0 in starts)
    assert res.optimum.F <= ref + 1e-8 * abs(ref)


def _noise_free_fir(N=400, n=30, seed=0):
    """Output of an exact FIR of order ``n`` (one-sample delay, zero initial state), no noise: with the
    profiled noise variance ``F`` decreases without bound as ``lam -> 0``."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(N)
    return u, np.convolve(u, np.r_[0.0, 0.8 ** np.arange(n)])[:N]


@pytest.mark.parametrize("method", ["spectral", "qr", "krylov"])
def test_shift_search_stops_at_the_numerical_floor(method):
    u, y = _noise_free_fir()
    p = FIRProblem(u, y, 30)
    kw = {"random_state": 0} if method == "krylov" else {}
    state = make_evaluator(method, p, **kw).prepare(p.shape_params({"beta": 0.8}))
    floor = numerical_floor(state)
    assert floor > 0
    opt = profile_shift(state, p.N, None, 1e-3)
    assert opt.at_limit == "lam_floor"
    assert floor <= opt.lam <= 1.01 * floor


def test_fit_on_noise_free_data_warns_of_the_numerical_floor():
    u, y = _noise_free_fir()
    with pytest.warns(SearchLimitWarning, match="numerical floor"):
        model = KernelFIR(order=30, noise_variance="ml").fit(u, y)
    assert model.hyperparameters_["c"] > 0 and model.noise_variance_ > 0


def test_numerical_floor_separates_determined_from_undetermined_values():
    """A smooth SE prior (bandwidth 0.4 n, numerically rank-deficient), SNR 1e4: at the floor the two exact
    evaluators agree to 1e-8; eight decades below it they disagree by more than 1e-4 (F is then fixed by
    rounding, not by the data), so a search below the floor would optimize noise."""
    rng = np.random.default_rng(0)
    u = rng.standard_normal(1000)
    y0 = lfilter([0.0, 0.5, 0.3], [1.0, -1.2, 0.5], u)
    y = y0 + 1e-2 * np.std(y0) * rng.standard_normal(1000)
    p = FIRProblem(u, y, 100, kernel="SE")
    params = p.shape_params({"h": 40.0})
    sigma2 = p.ls_noise_variance
    spectral, qr = make_evaluator("spectral", p).prepare(params), make_evaluator("qr", p).prepare(params)
    floor = numerical_floor(spectral)
    assert np.isclose(floor, numerical_floor(qr), rtol=1e-8)

    def spread(lam):
        a = F_bounds(spectral.bounds(np.array([lam])), p.N, sigma2)[0][0]
        b = F_bounds(qr.bounds(np.array([lam])), p.N, sigma2)[0][0]
        return abs(a - b) / abs(b)

    assert spread(floor) < 1e-8
    assert spread(1e-8 * floor) > 1e-4


def test_numerical_floor_is_zero_without_trace():
    assert numerical_floor(ShiftState()) == 0.0


def test_se_fit_finds_the_short_bandwidth_optimum():
    """SE is multimodal in h: on this record (4th-order fast system, white input, SNR 1, N = 3000, n = 300) the
    bandwidths of the relative grid (0.02 n .. 0.4 n) lead to h = 0.4 n, c = 3.5e11 with F 38 % above the
    optimum near the ridge prior (h -> 0).  The fit must reach the best profiled F of a dense h grid."""
    rng = np.random.default_rng(zlib.crc32(b"SE/N=3000/n=300/snr=1/white"))
    system = random_system(4, "fast", rng=rng)
    e = rng.standard_normal(3000)
    d = simulate_data(system, 3000, snr=1.0, rng=rng, input=e)
    with pytest.warns(SearchLimitWarning, match="h = "):  # h -> 0: the ridge prior, at the end of its range
        model = KernelFIR(order=300, kernel="SE", random_state=0).fit(d.u, d.y)
    p = FIRProblem(d.u, d.y, 300, kernel="SE")
    sigma2 = p.ls_noise_variance
    best = np.inf
    for h in np.geomspace(0.01, 300, 25):
        state = make_evaluator("spectral", p).prepare(p.shape_params({"h": h}))
        best = min(best, profile_shift(state, p.N, sigma2, sigma2 / p.kernel_trace_gram(p.shape_params({"h": h}))).F)
    assert model.info_["F_lower"] <= best + 1e-6 * abs(best)
