"""Simulated systems/data (krylovid.sysid.simulate) and metrics (krylovid.sysid.metrics)."""

import math

import numpy as np
import pytest

from krylovid.sysid.metrics import fit, rmse
from krylovid.sysid.regressors import fir_regressor
from krylovid.sysid.simulate import SimulatedData, System, bank, random_system, simulate_data


def difference_equation(b, a, u):
    """Plain-Python a(q) y = b(q) u with zero initial conditions (independent of lfilter)."""
    y = np.zeros(len(u))
    for t in range(len(u)):
        acc = sum(b[i] * u[t - i] for i in range(len(b)) if t - i >= 0)
        acc -= sum(a[i] * y[t - i] for i in range(1, len(a)) if t - i >= 0)
        y[t] = acc / a[0]
    return y


@pytest.mark.parametrize("kind", ["fast", "slow"])
def test_random_system_poles(kind):
    for seed in range(8):
        s = random_system(30, kind, rng=seed)
        assert isinstance(s, System) and s.order == 30 and len(s.b) == 31 and s.b[0] == 0.0
        assert s.a[0] == 1.0 and np.isrealobj(s.a) and np.isrealobj(s.b)
        # independent check of stability: roots of the denominator polynomial (root finding of
        # a degree-30 polynomial with clustered roots is only accurate to ~1e-4)
        radii = np.sort(np.abs(np.roots(s.a)))
        np.testing.assert_allclose(radii, np.sort(np.abs(s.poles)), atol=5e-3)
        assert radii[-1] < 1.0
        radii = np.sort(np.abs(s.poles))
        if kind == "fast":
            assert radii[-1] <= 0.95 + 1e-9
        else:
            assert 0.95 < radii[-1] <= 0.99 + 1e-9
            head = 2 if abs(s.poles[0].imag) > 0 else 1
            assert np.all(np.abs(s.poles[head:]) <= 0.95)
        # poles closed under conjugation
        np.testing.assert_allclose(np.sort_complex(s.poles), np.sort_complex(np.conj(s.poles)), atol=1e-12)


def test_impulse_response_and_normalisation():
    s = random_system(12, "slow", rng=3)
    n = 40
    delta = np.zeros(n + 1)
    delta[0] = 1.0
    ref = difference_equation(s.b, s.a, delta)[1:]
    np.testing.assert_allclose(s.impulse_response(n), ref, rtol=1e-10, atol=1e-14)
    long = random_system(30, "fast", rng=4).impulse_response(3000)
    assert np.linalg.norm(long) == pytest.approx(1.0, rel=1e-9)


def test_simulate_data_consistent_with_fir_model():
    s = random_system(30, "fast", rng=5)
    d = simulate_data(s, 600, snr=10, rng=6, order_truth=400)
    assert isinstance(d, SimulatedData) and d.g0.shape == (400,)
    np.testing.assert_allclose(d.y0, difference_equation(s.b, s.a, d.u), rtol=1e-9, atol=1e-12)
    # zero initial conditions: y0 = Phi g0 up to the truncated tail of g0
    y_fir = fir_regressor(d.u, 400).matvec(d.g0)
    assert np.linalg.norm(d.y0 - y_fir) <= 1e-6 * np.linalg.norm(d.y0)
    assert d.noise_variance == pytest.approx(np.var(d.y0) / 10)
    assert d.snr == 10.0


def test_realised_snr_converges_to_request():
    s = random_system(30, "fast", rng=7)
    errs = []
    for N in (200, 20000):
        ratios = [
            np.var(d.y0) / np.var(d.y - d.y0) for d in (simulate_data(s, N, snr=25, rng=seed) for seed in range(10))
        ]
        errs.append(np.sqrt(np.mean((np.array(ratios) / 25 - 1) ** 2)))
    assert errs[1] < 0.05 and errs[1] < errs[0] / 3


def test_reproducibility():
    a, b = random_system(rng=11), random_system(rng=11)
    np.testing.assert_array_equal(a.b, b.b)
    np.testing.assert_array_equal(a.a, b.a)
    assert not np.array_equal(a.a, random_system(rng=12).a)
    d1, d2 = simulate_data(a, 100, rng=3), simulate_data(a, 100, rng=3)
    np.testing.assert_array_equal(d1.y, d2.y)
    gen = np.random.default_rng(0)
    assert not np.array_equal(simulate_data(a, 100, rng=gen).y, simulate_data(a, 100, rng=gen).y)


def test_bank():
    data = bank("slow", 10, 3, N=120, n_truth=50, rng=1)
    assert len(data) == 3 and all(d.y.shape == (120,) and d.g0.shape == (50,) for d in data)
    assert all(0.95 < d.system.pole_radius <= 0.99 + 1e-12 for d in data)
    again = bank("slow", 10, 2, N=120, n_truth=50, rng=1)
    for d, e in zip(data, again, strict=False):
        np.testing.assert_array_equal(d.y, e.y)
    assert not np.array_equal(data[0].y, data[1].y)


def test_lowpass_and_given_input():
    s = random_system(10, rng=0)
    d = simulate_data(s, 5000, rng=1, input="lowpass")
    lag1 = np.corrcoef(d.u[1:], d.u[:-1])[0, 1]
    assert lag1 == pytest.approx(0.9, abs=0.03) and np.var(d.u) == pytest.approx(1.0, rel=0.2)
    u = np.sin(np.arange(50.0))
    np.testing.assert_array_equal(simulate_data(s, 50, rng=0, input=u).u, u)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: random_system(30, "medium"), ValueError, "kind"),
        (lambda: random_system(0), ValueError, "order"),
        (lambda: simulate_data(random_system(rng=0), 100, snr=0), ValueError, "snr"),
        (lambda: simulate_data(random_system(rng=0), 100, snr=-1), ValueError, "snr"),
        (lambda: simulate_data(random_system(rng=0), 1), ValueError, "N"),
        (lambda: simulate_data(random_system(rng=0), 10, input="pink"), ValueError, "input"),
        (lambda: simulate_data(random_system(rng=0), 10, input=np.ones(9)), ValueError, "input"),
        (lambda: simulate_data("sys", 10), TypeError, "system"),
        (lambda: bank("fast", 10, 0), ValueError, "num_systems"),
    ],
)
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_fit_and_rmse_known_values():
    g0 = np.array([1.0, 2.0, 3.0])
    assert fit(g0, g0) == 100.0
    assert fit(g0, np.full(3, 2.0)) == pytest.approx(0.0, abs=1e-12)
    assert fit(g0, [1.0, 2.0, 4.0]) == pytest.approx(100 * (1 - 1 / math.sqrt(2)))
    assert fit(g0, -g0) < 0
    assert rmse(g0, [1.0, 2.0, 4.0]) == pytest.approx(math.sqrt(1 / 3))
    assert rmse(g0, g0) == 0.0


def test_metrics_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        fit([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="constant"):
        fit([1.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="g "):
        rmse([1.0, 2.0], [np.nan, 1.0])
    with pytest.raises(ValueError, match="g0"):
        fit(np.ones((2, 2)), np.ones((2, 2)))
