"""Structure chosen from the data (issue 11 item 2): delay="auto", order="auto", the decay warning.

The measured failures: with direct feedthrough the default delay 1 dropped g(0) (88.9 % instead of
97.0 %); an order far too short (g(20) still 0.78 of its peak) gave no warning."""

import warnings

import numpy as np
import pytest

from krylovid import KernelFIR
from krylovid.sysid.data import DataWarning
from krylovid.sysid.metrics import fit
from krylovid.sysid.structure import candidate_orders, decay_check, select_structure

K = np.arange(40)
G0 = 0.8**K * np.cos(0.3 * K)


def _simulate(h, N=500, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(N)
    return u, np.convolve(u, h)[:N] + noise * rng.standard_normal(N)


def test_feedthrough_data_pick_delay_zero():
    u, y = _simulate(np.r_[0.5, G0])  # g(0) = 0.5: direct feedthrough
    fixed = KernelFIR(order=40, method="qr").fit(u, y)  # the default delay 1 drops g(0)
    auto = KernelFIR(order=40, delay="auto", method="qr").fit(u, y)
    assert auto.delay_ == 0
    truth = np.r_[0.5, G0[:39]]
    assert fit(truth, auto.impulse_response_) > 95
    assert auto.score(u, y) > fixed.score(u, y) + 5
    s = auto.structure_
    assert s.delay == 0 and s.delay_objective[0] < s.delay_objective[1]


def test_dead_time_is_found():
    u, y = _simulate(np.r_[np.zeros(4), G0], seed=1)  # delay 4
    model = KernelFIR(order=40, delay="auto", method="qr").fit(u, y)
    assert model.delay_ == 4
    assert fit(G0, model.impulse_response_) > 95


def test_auto_order_stops_where_the_response_has_decayed():
    u, y = _simulate(np.r_[0.0, G0], seed=2)
    model = KernelFIR(order="auto", method="qr").fit(u, y)
    s = model.structure_
    assert 15 <= model.order_ <= 50  # 0.8^k: below the noise after ~25 lags
    best = min(s.order_objective)
    i = s.orders.index(model.order_)
    assert s.order_objective[i] <= best + s.tolerance
    assert all(f > best + s.tolerance for f in s.order_objective[:i])  # smaller orders are clearly worse
    n = min(model.order_, 40)
    assert fit(G0[:n], model.impulse_response_[:n]) > 95


def test_explicit_candidate_lists():
    u, y = _simulate(np.r_[0.0, G0], seed=3)
    model = KernelFIR(order=[5, 30], delay=[1, 2], method="qr").fit(u, y)
    assert (model.order_, model.delay_) == (30, 1)
    assert model.structure_.orders == (5, 30) and model.structure_.delays == (1, 2)


def test_short_order_warns_and_adequate_order_does_not():
    g = 0.97 ** np.arange(60)  # g(20) is 0.54 of the peak
    u, y = _simulate(np.r_[0.0, g], N=600, seed=4)
    with pytest.warns(DataWarning, match="has not decayed at order 20"):
        KernelFIR(order=20, method="qr").fit(u, y)
    u, y = _simulate(np.r_[0.0, G0], seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        KernelFIR(order=40, method="qr").fit(u, y)


def test_select_structure_with_a_known_objective():
    """F(n, d) = (d - 2)^2 * 100 + 50 / n: delay 2, the smallest order within 2 of the best."""
    calls = []

    def objective(records, n, d, sigma2):
        calls.append((n, d))
        g = np.zeros(n)
        g[2 - d if d <= 2 else 0 :] = 1.0  # first significant coefficient at lag 2
        return (d - 2) ** 2 * 100 + 50.0 / n, g, np.full(n, 0.01)

    recs = [(np.zeros((100, 1)), np.zeros(100))]
    s = select_structure(objective, lambda r, n, d: 1.0, recs, [5, 10, 20, 40, 80], list(range(11)))
    assert s.delay == 2
    # best 50/80 = 0.625; n = 20 gives 2.5 <= 0.625 + 2, n = 10 gives 5 > 2.625
    assert s.order == 20
    assert len(calls) < 5 + 11  # delays screened, orders stopped early


def test_candidate_orders_respect_the_record_length():
    assert max(candidate_orders(1000, 2)) * 2 <= 500
    with pytest.raises(ValueError, match="too short"):
        candidate_orders(14, 1)


def test_decay_check_uses_the_band():
    g = np.r_[1.0, 0.5, 0.3, 0.3]
    assert decay_check(g) == [(0, 0.3)]
    assert decay_check(g, std=np.full(4, 0.2)) == []  # tail inside two standard deviations
