"""Tests of krylovid.plotting: drawn data equals the inputs, headless, bad input."""
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from krylovid import plotting
from krylovid.plotting import (band_multiplier, plot_bode, plot_convergence, plot_impulse_response,
                               plot_objective_curve, plot_singular_values)


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
    g, std, truth = 0.8 ** k, 0.01 * 0.9 ** k, 0.81 ** np.arange(1, 41)
    fig = plot_impulse_response(g, std=std, truth=truth, delay=1)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    est = _line(ax, "estimate")
    np.testing.assert_array_equal(est.get_xdata(), k)
    np.testing.assert_array_equal(est.get_ydata(), g)
    np.testing.assert_array_equal(_line(ax, "true").get_ydata(), truth)   # truth over its own length
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


@pytest.mark.parametrize("kwargs, match", [
    ({"g": np.ones(5), "std": np.ones(4)}, "std must have the shape"),
    ({"g": np.ones((2, 5)), "truth": np.ones(5)}, "truth must have 2 rows"),
    ({"g": np.ones((2, 2, 2))}, "g must be 1 or 2-dimensional"),
    ({"g": np.ones(0)}, "g is empty"),
])
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
    _, H = freqz(np.concatenate([[0.0], g]), worN=w)      # delay 1: g_1 multiplies z^-1
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), 20 * np.log10(np.abs(H)), rtol=1e-10)
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(),
                               np.degrees(np.unwrap(np.angle(H))), atol=1e-8)
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


def test_plotting_never_imports_pyplot():
    """The module builds Figures directly, so no GUI backend can be selected."""
    plot_impulse_response(np.ones(3))
    src = open(plotting.__file__).read()
    assert "pyplot" not in src.split('"""', 2)[2]
    assert "show(" not in src


def test_plot_error_curves_is_lazy(monkeypatch):
    monkeypatch.setitem(sys.modules, "krylovid.attention.analysis", None)
    with pytest.raises(ImportError, match="plot_error_curves needs"):
        plotting.plot_error_curves([])


def test_plot_error_curves_wrapper_returns_figure():
    analysis = pytest.importorskip("krylovid.attention.analysis")
    ms = np.array([4, 8, 16])
    errs = np.array([[0.5, 0.4], [0.2, 0.3], [0.1, 0.1]])
    curve = analysis.ErrorCurve("m1", ms, errs, np.zeros_like(errs), np.median(errs, 1), errs.min(1), errs.max(1))
    fig = plotting.plot_error_curves([curve], bound=(ms, np.array([0.3, 0.1, 0.01])), title="t")
    assert isinstance(fig, Figure)
    ys = [ln.get_ydata() for ln in fig.axes[0].get_lines()]
    assert any(np.allclose(y, np.median(errs, 1)) for y in ys)
    assert any(np.allclose(y, [0.3, 0.1, 0.01]) for y in ys)
