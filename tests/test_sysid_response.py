"""Responses, bands and exports of KernelFIR against independent references:
scipy.signal (dimpulse, dstep, dfreqresp, lfilter), python-control, and dense
formulas for the posterior covariance and the variance of linear functionals."""

import numpy as np
import pytest
import scipy.signal

from krylovid import KernelFIR
from krylovid.sysid.response import frequency_response, step_response

T = 0.05


@pytest.fixture(scope="module")
def siso():
    rng = np.random.default_rng(3)
    k = np.arange(25)
    g0 = 0.75**k * np.cos(0.4 * k)
    u = rng.standard_normal(300)
    y = np.convolve(u, np.r_[0.0, 0.0, g0])[:300] + 0.05 * rng.standard_normal(300)
    model = KernelFIR(order=25, delay=2, method="qr", sample_time=T).fit(u, y)
    return model, u, y


def _dense_covariance(model, u):
    """``c Kbar - c^2 Kbar Phi^T Sigma^-1 Phi Kbar`` with dense matrices (DESIGN §2)."""
    from krylovid.sysid.kernels import get_kernel

    n, d = model.order_, model.delay_
    N = u.shape[0]
    idx = np.arange(N)[:, None] - d - np.arange(n)[None, :]
    Phi = np.where(idx >= 0, u[np.clip(idx, 0, None)], 0.0)
    c = model.hyperparameters_["c"]
    K = c * get_kernel("TC").dense(n, {"beta": model.hyperparameters_["beta"]})
    S = Phi @ K @ Phi.T + model.noise_variance_ * np.eye(N)
    return K - K @ Phi.T @ np.linalg.solve(S, Phi @ K)


def test_posterior_covariance_matches_dense_formula(siso):
    model, u, _ = siso
    C = _dense_covariance(model, u)
    assert np.allclose(model.posterior_covariance_, C, rtol=1e-7, atol=1e-12 * np.abs(C).max())
    assert np.allclose(np.sqrt(np.diag(C)), model.impulse_response_std_, rtol=1e-6)


def test_step_response_and_band_match_scipy_and_dense(siso):
    model, u, _ = siso
    sr = model.step_response(num=40)
    _, (ref,) = scipy.signal.dstep(model.to_dlti(), n=40)
    assert np.allclose(sr.response, ref.ravel(), atol=1e-12)
    assert np.allclose(sr.time, T * np.arange(40))
    C = _dense_covariance(model, u)
    for k in (0, 1, 2, 10, 39):  # Var s_k = a^T C a, a = indicator of the first k + 1 - d coefficients
        a = (np.arange(model.order_) <= k - model.delay_).astype(float)
        assert sr.std[k] == pytest.approx(np.sqrt(a @ C @ a), rel=1e-6, abs=1e-14)


def test_frequency_response_and_band_match_scipy_and_dense(siso):
    model, u, _ = siso
    omega = np.array([0.1, 1.0, 10.0, 40.0, np.pi / T])
    fr = model.frequency_response(omega)
    _, H = scipy.signal.dfreqresp(model.to_dlti(), w=omega * T)
    assert np.allclose(fr.response, H, atol=1e-12)
    C = _dense_covariance(model, u)
    lags = np.arange(model.order_) + model.delay_
    for i, w in enumerate(omega):
        a = np.exp(-1j * w * T * lags)
        assert fr.std[i] == pytest.approx(np.sqrt(np.real(a @ C @ np.conj(a))), rel=1e-6)
        # delta method for |G|: gradient (Re, Im) / |G| on the 2x2 covariance of (Re, Im)
        R = np.array([a.real, a.imag])
        V = R @ C @ R.T
        gr = np.array([fr.response[i].real, fr.response[i].imag]) / abs(fr.response[i])
        assert fr.magnitude_std[i] == pytest.approx(np.sqrt(gr @ V @ gr), rel=1e-6)


def test_frequency_band_covers_truth_at_nominal_rate():
    """Across noise realizations, |G_hat - G_true| <= 2.58 std (99 %) at most frequencies."""
    rng = np.random.default_rng(0)
    k = np.arange(20)
    g0 = 0.6**k
    omega = np.linspace(0.05, np.pi, 30)
    G0 = frequency_response(g0, omega=omega, delay=1).response
    inside = []
    for _ in range(6):
        u = rng.standard_normal(200)
        y = np.convolve(u, np.r_[0.0, g0])[:200] + 0.3 * rng.standard_normal(200)
        fr = KernelFIR(order=20, method="qr").fit(u, y).frequency_response(omega)
        # |G - G_hat|^2 / std^2 is about chi2(2)/2 for a complex Gaussian: 99 % quantile 4.6
        inside.append(np.abs(fr.response - G0) ** 2 <= 4.6 * fr.std**2)
    assert np.mean(inside) > 0.9


def test_to_dlti_simulates_like_predict_and_lfilter(siso):
    model, u, _ = siso
    sys = model.to_dlti()
    assert sys.dt == T
    _, yout = scipy.signal.dlsim(sys, u)
    assert np.allclose(yout.ravel(), model.predict(u), atol=1e-10)
    h = np.r_[np.zeros(model.delay_), model.impulse_response_]
    assert np.allclose(scipy.signal.lfilter(h, [1.0], u), model.predict(u), atol=1e-10)


def test_to_control_matches_forced_response(siso):
    control = pytest.importorskip("control")
    model, u, _ = siso
    sys = model.to_control()
    assert sys.dt == T
    resp = control.forced_response(sys, T=T * np.arange(u.size), U=u)
    assert np.allclose(np.ravel(resp.outputs), model.predict(u), atol=1e-10)


def test_two_inputs_exports_and_blocks():
    rng = np.random.default_rng(5)
    g1, g2 = 0.6 ** np.arange(15), -0.4 * 0.8 ** np.arange(15)
    u = rng.standard_normal((250, 2))
    y = np.convolve(u[:, 0], np.r_[0, g1])[:250] + np.convolve(u[:, 1], np.r_[0, g2])[:250]
    model = KernelFIR(order=15, method="qr").fit(u, y + 0.05 * rng.standard_normal(250))
    systems = model.to_dlti()
    assert len(systems) == 2
    pred = sum(scipy.signal.dlsim(s, u[:, i])[1].ravel() for i, s in enumerate(systems))
    assert np.allclose(pred, model.predict(u), atol=1e-10)
    fr = model.frequency_response(np.array([0.3, 2.0]))
    assert fr.response.shape == fr.std.shape == (2, 2)
    C = model.posterior_covariance_
    ref = frequency_response(model.impulse_response_[1], C[15:, 15:], np.array([0.3, 2.0]), delay=1)
    assert np.allclose(fr.std[1], ref.std)
    sr = model.step_response()
    assert sr.response.shape == (2, 16)
    pytest.importorskip("control")
    tf = model.to_control()
    assert (tf.noutputs, tf.ninputs) == (1, 2)


def test_step_response_known_values():
    sr = step_response(np.array([1.0, 0.5]), np.diag([0.04, 0.01]), delay=1, num=4)
    assert sr.response.tolist() == [0.0, 1.0, 1.5, 1.5]
    assert np.allclose(sr.std, [0.0, 0.2, np.sqrt(0.05), np.sqrt(0.05)])


@pytest.mark.parametrize(
    "bad, match", [({"omega": np.array([np.nan])}, "omega"), ({"sample_time": 0.0}, "sample_time")]
)
def test_frequency_response_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        frequency_response(np.ones(3), **bad)


def test_model_plots_draw_the_bands(siso):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    model, u, y = siso
    fig = model.plot_step_response()
    assert fig.axes[0].get_xlabel() == "time [s]" and len(fig.axes[0].collections) >= 1  # the band
    fig2 = model.plot_bode()
    assert fig2.axes[1].get_xlabel() == "frequency [rad/s]"
    assert all(len(a.collections) >= 1 for a in fig2.axes)  # magnitude and phase bands
    assert len(model.plot_residuals(u, y).axes) == 2
    assert "fit" in model.plot_compare(u, y).axes[0].get_lines()[1].get_label()
    plt.close("all")
