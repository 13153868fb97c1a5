"""Figures of model validation: residual analysis (MATLAB ``resid``) and simulated against measured output.

Functions
---------
plot_residuals
    Autocorrelation of the residuals and their cross-correlation with each
    input, with the confidence limits of a correct model.
plot_compare
    Measured output and the model's simulated output, with the fit.
"""

from __future__ import annotations

import numpy as np

from ._axes import _field, _host, _new_axes, _one_axes, _rows, integer_ticks
from .sysid import _time_axis

__all__ = ["plot_residuals", "plot_compare"]


def _correlation_panel(ax, lags, values, limit, color, label):
    ax.axhspan(-limit, limit, color="0.85", zorder=0, label="confidence limit")
    ax.vlines(lags, 0.0, values, color=color, lw=1.2)
    ax.plot(lags, values, "o", color=color, ms=3, label=label)
    ax.axhline(0.0, color="0.5", lw=0.6)
    integer_ticks(ax)


def plot_residuals(analysis, ax=None, *, input_names=None, title=None):
    """Residual analysis: autocorrelation (lags 0..M) and input cross-correlations (lags -M..M).

    Parameters
    ----------
    analysis : ResidualAnalysis
        As from ``KernelFIR.residuals(u, y)``: ``lags``, ``autocorrelation``,
        ``autocorrelation_limit``, ``cross_lags``, ``cross_correlation`` of
        shape (m, 2M + 1), ``cross_correlation_limit`` of shape (m,),
        ``confidence``, ``white``, ``independent``.
    ax : sequence of 1 + m matplotlib Axes, optional
        One for the autocorrelation, one per input.
    input_names : sequence of str, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    A correct model leaves residuals that are white (autocorrelation inside
    the shaded limits at lags >= 1) and independent of past inputs
    (cross-correlation inside its limits at lags >= 0); negative lags show
    feedback, not model error.  Lags are in samples.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> M = 10
    >>> ra = SimpleNamespace(lags=np.arange(M + 1), autocorrelation=np.r_[1.0, np.zeros(M)],
    ...                      autocorrelation_limit=0.1, cross_lags=np.arange(-M, M + 1),
    ...                      cross_correlation=np.zeros((1, 2 * M + 1)), cross_correlation_limit=np.r_[0.1],
    ...                      confidence=0.99, white=True, independent=True)
    >>> len(plot_residuals(ra).axes)
    2
    """
    lags = _host(_field(analysis, "lags"), "analysis.lags", ndim=(1,))
    auto = _host(_field(analysis, "autocorrelation"), "analysis.autocorrelation", ndim=(1,))
    cross_lags = _host(_field(analysis, "cross_lags"), "analysis.cross_lags", ndim=(1,))
    cross = _rows(_field(analysis, "cross_correlation"), "analysis.cross_correlation")
    limits = np.atleast_1d(np.asarray(_field(analysis, "cross_correlation_limit"), dtype=float))
    m = cross.shape[0]
    if auto.shape != lags.shape or cross.shape[1] != cross_lags.size or limits.shape != (m,):
        raise ValueError("analysis: lags, correlations and limits have inconsistent shapes")
    if ax is None:
        fig, axes = _new_axes(1 + m, 1, figsize=(6.4, 2.6 * (1 + m)))
        axes = list(axes[:, 0])
    else:
        axes = list(ax)
        if len(axes) != 1 + m:
            raise ValueError(f"ax must hold {1 + m} Axes (autocorrelation and one per input), got {len(axes)}")
        fig = axes[0].figure
    level = 100 * float(_field(analysis, "confidence") or 0.99)
    white, independent = _field(analysis, "white"), _field(analysis, "independent")
    _correlation_panel(axes[0], lags, auto, float(_field(analysis, "autocorrelation_limit")), "C0", "residuals")
    axes[0].set_title(
        f"autocorrelation of residuals ({level:g}% limits): {'white' if white else 'NOT white'}", fontsize="medium"
    )
    axes[0].set_ylabel("rho_e")
    for i in range(m):
        name = str(input_names[i]) if input_names is not None else (f"input {i}" if m > 1 else "the input")
        _correlation_panel(axes[1 + i], cross_lags, cross[i], float(limits[i]), "C1", name)
        axes[1 + i].set_title(
            f"cross-correlation of residuals with {name}: {'independent' if independent else 'NOT independent'}",
            fontsize="medium",
        )
        axes[1 + i].set_ylabel("rho_eu")
    axes[-1].set_xlabel("lag k [samples]")
    if title:
        fig.suptitle(title)
    return fig


def plot_compare(result, ax=None, *, sample_time=None, title=None):
    """Measured output against the model's simulated output (MATLAB ``compare``).

    Parameters
    ----------
    result : CompareResult
        As from ``KernelFIR.compare(u, y)``: ``time`` (N,), ``y`` (N,),
        ``y_hat`` (N,) and ``fit`` (percent).
    ax : matplotlib Axes, optional
    sample_time : float, optional
        Only for the axis label (seconds when given or when the time steps are not 1).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(50.0)
    >>> fig = plot_compare({"time": t, "y": np.sin(t / 5), "y_hat": 0.9 * np.sin(t / 5), "fit": 90.0})
    >>> [ln.get_label() for ln in fig.axes[0].get_lines()]
    ['measured', 'model (fit 90.0 %)']
    """
    time = _host(_field(result, "time"), "result.time", ndim=(1,))
    y = _host(_field(result, "y"), "result.y", ndim=(1,))
    y_hat = _host(_field(result, "y_hat"), "result.y_hat", ndim=(1,))
    if not (time.shape == y.shape == y_hat.shape):
        raise ValueError(f"result: time {time.shape}, y {y.shape} and y_hat {y_hat.shape} must match")
    fig, a = _one_axes(ax, figsize=(7.2, 3.6))
    a.plot(time, y, color="0.3", lw=1.0, label="measured")
    a.plot(time, y_hat, color="C0", lw=1.2, label=f"model (fit {float(_field(result, 'fit')):.1f} %)")
    a.set_ylabel("y")
    _time_axis(a, time, sample_time)
    a.legend(loc="upper right", fontsize="small")
    if title:
        a.set_title(title)
    return fig
