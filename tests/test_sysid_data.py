"""Data sanity (issue 11 item 1): record length, offsets, detrending — regression tests for the
measured failures (N = order + 1 reported as converged with F = -4.6e17; offsets u + 5, y + 20 fitted
silently to a wrong response)."""

import warnings

import numpy as np
import pytest

from krylovid import KernelFIR
from krylovid.sysid.data import DataWarning, detrend, significant_offsets
from krylovid.sysid.metrics import fit

G0 = 0.8 ** np.arange(1, 31) * np.cos(0.3 * np.arange(30))


def _record(N, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(N)
    return u, np.convolve(u, np.r_[0.0, G0])[:N] + noise * rng.standard_normal(N)


@pytest.mark.parametrize("method", ["krylov", "qr", "cholesky", "lanczos"])
@pytest.mark.parametrize("N", [61, 69])
def test_record_too_short_for_the_noise_estimate_is_refused(method, N):
    u, y = _record(N)
    with pytest.raises(ValueError, match=r"order: .* at least 70 are needed"):
        KernelFIR(order=60, method=method, random_state=0).fit(u, y)


def test_record_of_order_plus_one_names_the_minimum():
    u, y = _record(31)
    with pytest.raises(ValueError, match="at least 40 are needed"):
        KernelFIR(order=30, method="qr").fit(u, y)


def test_shortest_accepted_record_gives_a_sane_objective():
    u, y = _record(70)
    Fq = KernelFIR(order=60, method="qr").fit(u, y).objective_
    Fk = KernelFIR(order=60, method="krylov", random_state=0).fit(u, y).objective_
    # F = y^T Sigma^-1 y + log det Sigma is O(N) for data of unit scale, not -1e17
    assert np.isfinite(Fq) and abs(Fq) < 100 * 70
    assert Fk == pytest.approx(Fq, rel=1e-6)


def test_ml_noise_is_not_bound_by_the_ls_minimum():
    u, y = _record(65)
    model = KernelFIR(order=60, method="qr", noise_variance="ml").fit(u, y)
    assert np.isfinite(model.objective_)


def test_offsets_warn_and_constant_detrend_recovers_the_response():
    u, y = _record(500, seed=1)
    with pytest.warns(DataWarning, match=r"u\[0\], y.*detrend='constant'"):
        raw = KernelFIR(order=30, method="qr").fit(u + 5, y + 20)
    clean = KernelFIR(order=30, method="qr").fit(u, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        det = KernelFIR(order=30, method="qr", detrend="constant").fit(u + 5, y + 20)
    assert fit(G0, raw.impulse_response_) < 50  # the measured failure: -179 %
    assert fit(G0, det.impulse_response_) > 95
    assert fit(G0, det.impulse_response_) == pytest.approx(fit(G0, clean.impulse_response_), abs=2.0)
    assert det.input_offset_[0] == pytest.approx(np.mean(u + 5))
    assert det.output_offset_ == pytest.approx(np.mean(y + 20))
    # predict works in the original units: the operating point is added back
    assert det.score(u + 5, y + 20) > 90


def test_zero_mean_data_do_not_warn():
    u, y = _record(500, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        KernelFIR(order=30, method="qr").fit(u, y)


def test_linear_detrend_removes_a_drift():
    u, y = _record(600, seed=4)
    t = np.arange(600)
    model = KernelFIR(order=30, method="qr", detrend="linear").fit(u + 0.01 * t, y + 3 + 0.02 * t)
    assert fit(G0, model.impulse_response_) > 95


def test_detrend_and_offset_helpers_against_numpy():
    rng = np.random.default_rng(0)
    u, y = rng.standard_normal((100, 2)) + [1.0, -2.0], rng.standard_normal(100) + 3.0
    d = detrend(u, y, "constant")
    assert np.allclose(d.u, u - u.mean(axis=0)) and np.allclose(d.y, y - y.mean())
    t = np.arange(100.0)
    dl = detrend(u, y + 0.5 * t, "linear")
    coef = np.polyfit(t, y + 0.5 * t, 1)
    assert np.allclose(dl.y, y + 0.5 * t - np.polyval(coef, t))
    assert significant_offsets(u, y) == ["u[0]", "u[1]", "y"]
    assert significant_offsets(u - u.mean(0), y - y.mean()) == []


def test_bad_detrend_and_sample_time_are_refused():
    u, y = _record(100)
    with pytest.raises(ValueError, match="detrend"):
        KernelFIR(order=10, detrend="mean").fit(u, y)
    with pytest.raises(ValueError, match="sample_time"):
        KernelFIR(order=10, sample_time=-1.0).fit(u, y)
    with pytest.raises(ValueError, match="prior"):
        KernelFIR(order=10, prior="joint").fit(u, y)
