"""Residual analysis and compare (issue 11 item 5) against direct sums and known answers."""

import numpy as np
import pytest
from scipy.stats import norm

from krylovid import KernelFIR
from krylovid.sysid.diagnostics import compare_fit, correlation, residual_analysis


def test_correlation_matches_direct_sums():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(50), rng.standard_normal(50)
    r = correlation(x, y, 7)
    for j, tau in enumerate(range(-7, 8)):
        ref = sum(x[t + tau] * y[t] for t in range(50) if 0 <= t + tau < 50) / 50
        assert r[j] == pytest.approx(ref, abs=1e-13)


def test_limits_and_bartlett_variance():
    rng = np.random.default_rng(1)
    e, u = rng.standard_normal(1000), rng.standard_normal(1000)
    ra = residual_analysis(e, u, max_lag=10, confidence=0.95)
    assert ra.autocorrelation[0] == pytest.approx(1.0)
    assert ra.autocorrelation_limit == pytest.approx(norm.ppf(0.975) / np.sqrt(1000))
    # Bartlett: Var rho_eu = (1/N) sum_k rho_e(k) rho_u(k), here with both sample autocorrelations
    re, ru = correlation(e - e.mean(), e - e.mean(), 10), correlation(u - u.mean(), u - u.mean(), 10)
    var = np.sum(re / re[10] * ru / ru[10]) / 1000
    assert ra.cross_correlation_limit[0] == pytest.approx(norm.ppf(0.975) * np.sqrt(var))
    # about 95 % of the white-noise correlations inside
    assert np.mean(np.abs(ra.autocorrelation[1:]) <= ra.autocorrelation_limit) >= 0.8


def _plant(N, seed):
    rng = np.random.default_rng(seed)
    g = 0.9 ** np.arange(1, 41)
    u = rng.standard_normal(N)
    return u, np.convolve(u, np.r_[0.0, g])[:N] + 0.1 * rng.standard_normal(N)


def test_right_model_passes_and_short_model_fails_on_validation_data():
    u, y = _plant(800, 0)
    uv, yv = _plant(800, 1)
    good = KernelFIR(order=60, method="qr").fit(u, y)
    ra = good.residuals(uv, yv)
    # 25 lags at 99 % each: one or two excursions happen by chance, none far out
    outside = np.abs(ra.autocorrelation[1:]) > ra.autocorrelation_limit
    assert outside.sum() <= 2 and np.all(np.abs(ra.autocorrelation[1:]) < 1.5 * ra.autocorrelation_limit)
    assert ra.independent
    assert good.compare(uv, yv).fit > 90
    with pytest.warns(Warning):
        short = KernelFIR(order=5, method="qr").fit(u, y)
    rs = short.residuals(uv, yv)
    assert not rs.independent and not rs.white
    assert np.max(np.abs(rs.cross_correlation[0, 25 + 6 :])) > 3 * rs.cross_correlation_limit[0]  # lags > order
    assert short.compare(uv, yv).fit < good.compare(uv, yv).fit - 20


def test_compare_fit_formula_and_drop_rows():
    y, yhat = np.array([1.0, 3.0, 2.0, 6.0]), np.array([1.5, 2.5, 2.0, 5.0])
    ref = 100 * (1 - np.linalg.norm(y - yhat) / np.linalg.norm(y - y.mean()))
    assert compare_fit(y, yhat).fit == pytest.approx(ref)
    u, yy = _plant(300, 2)
    model = KernelFIR(order=50, method="qr", initial="drop", sample_time=0.5).fit(u, yy)
    cr = model.compare(u, yy)
    assert cr.y.shape == (300 - 50,) and cr.time[1] == 0.5
    assert np.allclose(cr.y_hat, model.predict(u)[50:])


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_lag"):
        residual_analysis(np.ones(10) + np.arange(10), np.arange(10.0), max_lag=10)
    with pytest.raises(ValueError, match="confidence"):
        residual_analysis(np.arange(10.0), np.arange(10.0), max_lag=2, confidence=1.5)
    with pytest.raises(ValueError, match="same length"):
        compare_fit(np.ones(3), np.ones(4))
