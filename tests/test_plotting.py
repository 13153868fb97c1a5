"""Tests of krylovid.plotting: drawn data equals the inputs, figures display, bad input."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from krylovid import plotting
from krylovid.attention.analysis import ErrorCurve
from krylovid.plotting import (
    band_multiplier,
    plot_bode,
    plot_compare,
    plot_convergence,
    plot_frequency_response,
    plot_impulse_response,
    plot_objective_curve,
    plot_residuals,
    plot_singular_values,
    plot_step_response,
)


@pytest.fixture(autouse=True)
def _close_figures():
    """The functions make pyplot figures: close them so that none leaks from one test to the next."""
    yield
    plt.close("all")


def _line(ax, label):
    for ln in ax.get_lines():
        if ln.get_label() == label:
            return ln
    raise AssertionError(f"no line labelled {label!r}; have {[ln.get_label() for ln in ax.get_lines()]}")


def test_band_multiplier_known_quantiles():
    assert band_multiplier(0.99) == pytest.approx(2.5758293035489, rel=1e-12)
    assert band_multiplier(0.95) == pytest.approx(1.959963984540, rel=1e-12)
    with pytest.raises(ValueError, match="level"):
        band_multiplier(1.0)


def test_impulse_response_band_and_truth(tmp_path):
    k = np.arange(1, 31)
    g, std, truth = 0.8**k, 0.01 * 0.9**k, 0.81 ** np.arange(1, 41)
    fig = plot_impulse_response(g, std=std, truth=truth, delay=1)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    est = _line(ax, "estimate")
    np.testing.assert_array_equal(est.get_xdata(), k)
    np.testing.assert_array_equal(est.get_ydata(), g)
    np.testing.assert_array_equal(_line(ax, "true").get_ydata(), truth)  # truth over its own length
    verts = ax.collections[0].get_paths()[0].vertices
    z = 2.5758293035489
    # the band polygon's extreme y values at lag 1 are g_1 -+ z std_1
    at1 = verts[np.isclose(verts[:, 0], 1.0), 1]
    assert at1.min() == pytest.approx(g[0] - z * std[0]) and at1.max() == pytest.approx(g[0] + z * std[0])
    fig.savefig(tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 1000


def test_impulse_response_multi_input_panels_and_delay():
    g = np.vstack([0.5 ** np.arange(10), -(0.7 ** np.arange(10))])
    fig = plot_impulse_response(g, std=0.1 * np.abs(g), delay=0, input_names=["a", "b"], level=0.95)
    assert len(fig.axes) == 2
    assert [a.get_title() for a in fig.axes] == ["a", "b"]
    np.testing.assert_array_equal(_line(fig.axes[1], "estimate").get_xdata(), np.arange(10))
    np.testing.assert_array_equal(_line(fig.axes[1], "estimate").get_ydata(), g[1])


def test_impulse_response_into_given_axes():
    fig = Figure()
    ax = fig.subplots()
    assert plot_impulse_response(np.ones(5), ax=ax) is fig


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"g": np.ones(5), "std": np.ones(4)}, "std must have the shape"),
        ({"g": np.ones((2, 5)), "truth": np.ones(5)}, "truth must have 2 rows"),
        ({"g": np.ones((2, 2, 2))}, "g must be 1 or 2-dimensional"),
        ({"g": np.ones(0)}, "g is empty"),
    ],
)
def test_impulse_response_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_impulse_response(**kwargs)


def test_objective_curve_from_dict_and_object():
    lam = np.logspace(-3, 1, 25)
    F = np.log(lam) + 1.0 / lam

    class Curve:
        pass

    c = Curve()
    c.lam, c.F_lower, c.F_upper, c.F_exact = lam, F - 1e-3, F + 1e-3, F
    for curve in (c, {"lam": lam, "F_lower": F - 1e-3, "F_upper": F + 1e-3, "F_exact": None}):
        fig = plot_objective_curve(curve)
        ax = fig.axes[0]
        assert ax.get_xscale() == "log"
        np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), F - 1e-3)
    np.testing.assert_array_equal(_line(plot_objective_curve(c).axes[0], "exact").get_ydata(), F)
    with pytest.raises(ValueError, match="F_upper must have the shape"):
        plot_objective_curve({"lam": lam, "F_lower": F, "F_upper": F[:3]})


def test_convergence_relative_gap():
    conv = [(4, 10.0, 14.0), (8, 11.9, 12.2), (12, 12.0, 12.000012)]
    fig = plot_convergence(conv)
    gap = fig.axes[1].get_lines()[0].get_ydata()
    np.testing.assert_allclose(gap, [0.4, 0.3 / 11.9, 1e-6], rtol=1e-9)
    assert fig.axes[1].get_yscale() == "log"
    with pytest.raises(ValueError, match="convergence"):
        plot_convergence([])


def test_bode_matches_scipy_freqz():
    from scipy.signal import freqz

    g = 0.7 ** np.arange(1, 25)
    fig = plot_bode(g, dt=1.0, num=64)
    w = fig.axes[0].get_lines()[0].get_xdata()
    _, H = freqz(np.concatenate([[0.0], g]), worN=w)  # delay 1: g_1 multiplies z^-1
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), 20 * np.log10(np.abs(H)), rtol=1e-10)
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), np.degrees(np.unwrap(np.angle(H))), atol=1e-8)
    assert w.max() == pytest.approx(np.pi)
    w2 = plot_bode(g, dt=0.1, num=64).axes[0].get_lines()[0].get_xdata()
    np.testing.assert_allclose(w2, w / 0.1)
    with pytest.raises(ValueError, match="dt must be a positive"):
        plot_bode(g, dt=0)


def test_singular_values_sorted_and_normalized():
    s = np.array([0.1, 4.0, 1.0])
    fig = plot_singular_values({"a": s, "b": 2 * s}, normalize=True)
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), [1.0, 0.25, 0.025])
    np.testing.assert_allclose(lines[1].get_ydata(), [1.0, 0.25, 0.025])
    assert [ln.get_label() for ln in lines] == ["a", "b"]
    np.testing.assert_allclose(plot_singular_values(s).axes[0].get_lines()[0].get_ydata(), [4.0, 1.0, 0.1])
    with pytest.raises(ValueError, match="labels must have 2"):
        plot_singular_values([s, s], labels=["x"])


def test_figures_are_pyplot_figures_that_show():
    """Regression (issue 11 item 8): model.plot() returned a detached Figure that plt.show() ignored
    and fig.show() rejected."""
    before = set(plt.get_fignums())
    fig = plot_impulse_response(np.ones(3))
    assert fig.number in plt.get_fignums() and fig.number not in before
    assert fig.canvas.manager is not None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")  # Agg in the tests
        fig.show()
        plt.show()
    plt.close(fig)
    assert fig.number not in plt.get_fignums()


def test_model_plot_is_displayable():
    from krylovid.sysid import KernelFIR

    rng = np.random.default_rng(0)
    u = rng.standard_normal(200)
    y = np.convolve(u, np.r_[0.0, 0.7 ** np.arange(1, 16)])[:200] + 0.05 * rng.standard_normal(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = KernelFIR(15, method="qr").fit(u, y)
    fig = model.plot()
    assert fig.number in plt.get_fignums()
    assert np.all(np.mod(fig.axes[0].get_xticks(), 1) == 0)


def _integer_locator(ax):
    loc = ax.xaxis.get_major_locator()
    return isinstance(loc, MaxNLocator) and loc._integer


def test_integer_lag_ticks_and_seconds_with_sample_time():
    k = np.arange(1, 8)
    ax = plot_impulse_response(0.5**k).axes[0]
    assert _integer_locator(ax) and np.all(np.mod(ax.get_xticks(), 1) == 0)
    fig = plot_impulse_response(0.5**k, std=0.1 * 0.5**k, truth=0.5 ** np.arange(1, 11), delay=2, sample_time=0.25)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time [s]" and not _integer_locator(ax)
    np.testing.assert_allclose(_line(ax, "estimate").get_xdata(), 0.25 * np.arange(2, 9))
    np.testing.assert_allclose(_line(ax, "true").get_xdata(), 0.25 * np.arange(2, 12))
    assert _integer_locator(plot_convergence([(4, 1.0, 2.0), (8, 1.5, 1.6)]).axes[1])
    with pytest.raises(ValueError, match="sample_time must be a positive number"):
        plot_impulse_response(k, sample_time=0)


def test_step_response_band():
    a, n = 0.8, 30
    t = np.arange(n, dtype=float)
    resp = np.where(t >= 1, a * (1 - a**t) / (1 - a), 0.0)  # closed-form step of g_k = a^k, delay 1
    std = 0.02 * np.sqrt(t)
    fig = plot_step_response({"time": t, "response": resp, "std": std}, level=0.95)
    ax = fig.axes[0]
    line = _line(ax, "step response")
    assert line.get_drawstyle() == "steps-post"
    np.testing.assert_array_equal(line.get_ydata(), resp)
    verts = ax.collections[0].get_paths()[0].vertices
    at = verts[np.isclose(verts[:, 0], 10.0), 1]
    z = 1.959963984540
    # step="post": the band holds resp[k] -+ z std[k] from time k on (the value of k - 1 ends there too)
    assert np.isclose(at, resp[10] - z * std[10]).any() and np.isclose(at, resp[10] + z * std[10]).any()
    assert ax.get_xlabel() == "sample k" and _integer_locator(ax)
    two = plot_step_response(
        {"time": 0.1 * t, "response": np.vstack([resp, -resp]), "std": None}, input_names=["a", "b"]
    )
    assert len(two.axes) == 2 and two.axes[1].get_xlabel() == "time [s]"
    with pytest.raises(ValueError, match="one column per time"):
        plot_step_response({"time": t[:5], "response": resp, "std": None})


def test_frequency_response_bands_match_the_closed_form():
    from types import SimpleNamespace

    w = np.logspace(-2, np.log10(np.pi / 0.1), 40)
    G = 0.1 / (1 - 0.5 * np.exp(-1j * w * 0.1))  # closed form, not an FIR sum
    ms, ps = 0.1 * np.abs(G), np.full(w.size, 0.05)
    fr = SimpleNamespace(omega=w, response=G, magnitude_std=ms, phase_std=ps, sample_time=0.1)
    fig = plot_frequency_response(fr)
    a0, a1 = fig.axes
    np.testing.assert_allclose(a0.get_lines()[0].get_ydata(), 20 * np.log10(np.abs(G)), rtol=1e-12)
    np.testing.assert_allclose(a1.get_lines()[0].get_ydata(), np.degrees(np.unwrap(np.angle(G))), atol=1e-10)
    z = band_multiplier(0.99)
    top = a0.collections[0].get_paths()[0].vertices[:, 1]
    assert top.max() == pytest.approx(20 * np.log10(np.abs(G) + z * ms).max())
    assert top.min() == pytest.approx(20 * np.log10(np.abs(G) - z * ms).min())
    ph = a1.collections[0].get_paths()[0].vertices[:, 1]
    assert ph.max() - ph.min() >= np.degrees(2 * z * 0.05) - 1e-9
    assert a1.get_xlabel() == "frequency [rad/s]" and a0.get_xscale() == "log"


def test_residuals_figure():
    M = 6
    auto = np.r_[1.0, 0.5, 0.02, 0.0, -0.01, 0.0, 0.01]
    cross = np.vstack([np.linspace(-0.05, 0.05, 2 * M + 1), np.zeros(2 * M + 1)])
    ra = {
        "lags": np.arange(M + 1),
        "autocorrelation": auto,
        "autocorrelation_limit": 0.1,
        "cross_lags": np.arange(-M, M + 1),
        "cross_correlation": cross,
        "cross_correlation_limit": np.array([0.1, 0.2]),
        "confidence": 0.99,
        "white": False,
        "independent": True,
    }
    fig = plot_residuals(ra, input_names=["u1", "u2"])
    assert len(fig.axes) == 3
    assert "NOT white" in fig.axes[0].get_title() and "u2: independent" in fig.axes[2].get_title()
    np.testing.assert_array_equal(_line(fig.axes[0], "residuals").get_ydata(), auto)
    np.testing.assert_array_equal(_line(fig.axes[1], "u1").get_xdata(), np.arange(-M, M + 1))
    span = fig.axes[2].patches[0]
    band_y = span.get_path().transformed(span.get_patch_transform()).vertices[:, 1]
    assert band_y.min() == pytest.approx(-0.2) and band_y.max() == pytest.approx(0.2)
    assert all(_integer_locator(a) for a in fig.axes)
    with pytest.raises(ValueError, match="ax must hold 3 Axes"):
        plot_residuals(ra, ax=[fig.axes[0]])


def test_compare_figure():
    t = np.arange(30) * 0.5
    y, yh = np.sin(t), 0.8 * np.sin(t)
    fig = plot_compare({"time": t, "y": y, "y_hat": yh, "fit": 80.0})
    ax = fig.axes[0]
    np.testing.assert_array_equal(_line(ax, "measured").get_ydata(), y)
    np.testing.assert_array_equal(_line(ax, "model (fit 80.0 %)").get_ydata(), yh)
    assert ax.get_xlabel() == "time [s]"
    with pytest.raises(ValueError, match="must match"):
        plot_compare({"time": t, "y": y, "y_hat": yh[:5], "fit": 1.0})


def test_plot_error_curves_wrapper_returns_figure():
    ms = np.array([4, 8, 16])
    errs = np.array([[0.5, 0.4], [0.2, 0.3], [0.1, 0.1]])
    curve = ErrorCurve("m1", ms, errs, np.zeros_like(errs), np.median(errs, 1), errs.min(1), errs.max(1))
    fig = plotting.plot_error_curves([curve], bound=(ms, np.array([0.3, 0.1, 0.01])), title="t")
    assert isinstance(fig, Figure) and fig.number in plt.get_fignums()  # a pyplot figure: plt.show() shows it
    ys = [ln.get_ydata() for ln in fig.axes[0].get_lines()]
    assert any(np.allclose(y, np.median(errs, 1)) for y in ys)
    assert any(np.allclose(y, [0.3, 0.1, 0.01]) for y in ys)


def test_frequency_band_reaching_zero_keeps_the_axis_on_the_curve():
    from types import SimpleNamespace

    w = np.logspace(-2, np.log10(np.pi), 30)
    G = 1.0 / (1.0 - 0.9 * np.exp(-1j * w))
    fr = SimpleNamespace(omega=w, response=G, magnitude_std=2.0 * np.abs(G), phase_std=None, sample_time=1.0)
    ax = plot_frequency_response(fr).axes[0]
    lo, hi = ax.get_ylim()
    db = 20 * np.log10(np.abs(G))
    assert lo == pytest.approx(db.min() - 20.0) and hi > 20 * np.log10(3 * np.abs(G)).max()
