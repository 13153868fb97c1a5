"""Figures of an identified model: impulse, step and frequency responses with their bands.

Functions
---------
plot_impulse_response
    Estimated FIR coefficients with a confidence band and the true response.
plot_step_response
    Step response with its band (from ``KernelFIR.step_response()``).
plot_frequency_response
    Bode plot with bands (from ``KernelFIR.frequency_response()``).
plot_bode
    Magnitude and phase of an FIR's frequency response, computed here from ``g``.

Lags are drawn with integer ticks; with a ``sample_time`` the time axis is in
seconds and frequencies in rad/s.
"""

from __future__ import annotations

import math

import numpy as np

from ._axes import _field, _host, _panels, _rows, _two_axes, band_multiplier, check_sample_time, integer_ticks, lag_axis

__all__ = ["plot_impulse_response", "plot_step_response", "plot_frequency_response", "plot_bode"]


def plot_impulse_response(
    g,
    std=None,
    truth=None,
    ax=None,
    *,
    level=0.99,
    delay=1,
    sample_time=None,
    label="estimate",
    input_names=None,
    title=None,
):
    """Plot FIR coefficients with a ``level`` confidence band and the truth.

    Parameters
    ----------
    g : array of shape (n,) or (m, n)
        Estimated impulse response (one row per input).
    std : array of the same shape as ``g``, optional
        Posterior standard deviation; draws the band ``g +- z std`` with
        ``z = band_multiplier(level)``.
    truth : array of shape (n0,) or (m, n0), optional
        True impulse response (plotted over its own length, which may differ
        from ``n``).
    ax : matplotlib Axes or sequence of m Axes, optional
        Where to draw; a new figure otherwise (one panel per input).
    level : float
        Confidence level of the band, default 0.99 (``z = 2.58``); use 0.95
        for ``z = 1.96``.
    delay : int
        Lag of the first coefficient (x axis starts there), default 1.
    sample_time : float, optional
        Sample time in seconds: the x axis shows ``lag * sample_time`` in
        seconds; without it, integer lags.
    label : str
        Legend label of the estimate.
    input_names : sequence of str, optional
        Panel titles for multi-input responses.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        A pyplot figure when ``ax`` is None (``plt.show()`` displays it).

    Notes
    -----
    The band is pointwise: for each lag ``k`` the posterior of ``g_k`` is
    Gaussian with the given standard deviation, so ``g_k +- z std_k`` holds
    the coefficient with probability ``level`` under the model.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.arange(1, 41)
    >>> fig = plot_impulse_response(0.8 ** k, std=0.05 * 0.9 ** k, truth=0.8 ** k)
    >>> fig.axes[0].get_xlabel()
    'lag k'
    >>> plot_impulse_response(0.8 ** k, sample_time=0.01).axes[0].get_xlabel()
    'time [s]'
    """
    g2 = _rows(g, "g")
    s2 = _rows(std, "std")
    if s2 is not None and s2.shape != g2.shape:
        raise ValueError(f"std must have the shape of g {g2.shape}, got {s2.shape}")
    t2 = _host(truth, "truth")
    if t2 is not None:
        t2 = t2[None, :] if t2.ndim == 1 else t2
        if t2.shape[0] != g2.shape[0]:
            raise ValueError(f"truth must have {g2.shape[0]} rows like g, got shape {t2.shape}")
    sample_time = check_sample_time(sample_time)
    m = g2.shape[0]
    fig, axes = _panels(ax, m)
    z = band_multiplier(level)
    for i, a in enumerate(axes):
        x = lag_axis(a, np.arange(delay, delay + g2.shape[1]), sample_time)
        if s2 is not None:
            a.fill_between(
                x,
                g2[i] - z * s2[i],
                g2[i] + z * s2[i],
                alpha=0.3,
                color="C0",
                linewidth=0,
                label=f"{100 * level:g}% band",
            )
        a.plot(x, g2[i], color="C0", lw=1.5, label=label)
        if t2 is not None:
            a.plot(lag_axis(a, np.arange(delay, delay + t2.shape[1]), sample_time), t2[i], "k--", lw=1.2, label="true")
        a.axhline(0.0, color="0.6", lw=0.6)
        a.set_ylabel("g(k)")
        if input_names is not None and m > 1:
            a.set_title(str(input_names[i]))
        a.legend(loc="upper right", fontsize="small")
        if a is not axes[-1]:
            a.set_xlabel("")
    if title:
        fig.suptitle(title)
    return fig


def _time_axis(ax, time, sample_time):
    """Label the x axis of a response over ``time``: seconds, or integer samples when the
    sample time is unknown (``sample_time`` None and unit steps)."""
    steps = np.diff(time)
    if sample_time is None and (steps.size == 0 or np.allclose(steps, 1.0)):
        integer_ticks(ax)
        ax.set_xlabel("sample k")
    else:
        ax.set_xlabel("time [s]")


def plot_step_response(step, ax=None, *, level=0.99, sample_time=None, input_names=None, title=None):
    """Step response with its ``level`` confidence band, one panel per input.

    Parameters
    ----------
    step : StepResponse or dict
        With ``time`` of shape (k,), ``response`` of shape (k,) or (m, k) and
        ``std`` like ``response`` or None, as from ``KernelFIR.step_response()``.
    ax : matplotlib Axes or sequence of m Axes, optional
    level : float
        Confidence level of the band ``response +- z std`` (default 0.99).
    sample_time : float, optional
        Only for the axis label: the time axis is in seconds when it is given
        or when the time steps are not 1; in samples otherwise.
    input_names : sequence of str, optional
        Panel titles for several inputs.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(20.0)
    >>> fig = plot_step_response({"time": t, "response": 1 - 0.8 ** t, "std": 0.01 * np.ones(20)})
    >>> fig.axes[0].get_xlabel()
    'sample k'
    """
    time = _host(_field(step, "time"), "step.time", ndim=(1,))
    resp = _rows(_field(step, "response"), "step.response")
    std = _rows(_field(step, "std"), "step.std")
    if resp.shape[1] != time.size or (std is not None and std.shape != resp.shape):
        raise ValueError(f"step: response {resp.shape} and std must have one column per time ({time.size})")
    fig, axes = _panels(ax, resp.shape[0])
    z = band_multiplier(level)
    for i, a in enumerate(axes):
        if std is not None:
            a.fill_between(
                time,
                resp[i] - z * std[i],
                resp[i] + z * std[i],
                step="post",
                alpha=0.3,
                color="C0",
                linewidth=0,
                label=f"{100 * level:g}% band",
            )
        a.plot(time, resp[i], color="C0", lw=1.5, drawstyle="steps-post", label="step response")
        a.axhline(0.0, color="0.6", lw=0.6)
        a.set_ylabel("y")
        if input_names is not None and resp.shape[0] > 1:
            a.set_title(f"step on {input_names[i]}")
        a.legend(loc="lower right", fontsize="small")
    _time_axis(axes[-1], time, check_sample_time(sample_time))
    if title:
        fig.suptitle(title)
    return fig


def _frequency_label(sample_time: float) -> str:
    return "frequency [rad/sample]" if sample_time == 1.0 else "frequency [rad/s]"


def plot_frequency_response(freq, ax=None, *, level=0.99, input_names=None, title=None):
    """Bode plot with ``level`` bands: magnitude in dB and phase in degrees.

    Parameters
    ----------
    freq : FrequencyResponse
        As from ``KernelFIR.frequency_response()``: ``omega`` (k,), complex
        ``response`` (k,) or (m, k), ``magnitude_std`` and ``phase_std`` (radians)
        like ``response`` or None, ``sample_time``.
    ax : sequence of two matplotlib Axes, optional
        Magnitude and phase axes.
    level : float
        Confidence level of the bands (default 0.99).
    input_names : sequence of str, optional
        Legend labels per input.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The magnitude band is ``20 log10(|G| +- z std_|G|)``; where its lower edge
    reaches zero it leaves the axis, which stays within 20 dB below the lowest
    magnitude.  The phase band ``angle(G) +- z std_phase``; both come from the
    first-order standard deviations of the response.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> w = np.logspace(-2, np.log10(np.pi), 50)
    >>> G = 1 / (1 - 0.5 * np.exp(-1j * w))
    >>> fr = SimpleNamespace(omega=w, response=G, magnitude_std=0.05 * np.abs(G),
    ...                      phase_std=0.05 + 0 * w, sample_time=1.0)
    >>> plot_frequency_response(fr).axes[1].get_xlabel()
    'frequency [rad/sample]'
    """
    omega = _host(_field(freq, "omega"), "freq.omega", ndim=(1,))
    G = np.atleast_2d(np.asarray(_field(freq, "response"), dtype=complex))
    mstd, pstd = _rows(_field(freq, "magnitude_std"), "magnitude_std"), _rows(_field(freq, "phase_std"), "phase_std")
    if G.shape[1] != omega.size:
        raise ValueError(f"freq: response {G.shape} must have one column per frequency ({omega.size})")
    mag, phase = np.abs(G), np.unwrap(np.angle(G), axis=-1)
    fig, a0, a1 = _two_axes(ax)
    z = band_multiplier(level)
    tiny = 1e-300
    for i in range(G.shape[0]):
        lbl = str(input_names[i]) if input_names is not None else (f"input {i}" if G.shape[0] > 1 else None)
        a0.semilogx(omega, 20 * np.log10(np.maximum(mag[i], tiny)), color=f"C{i}", label=lbl)
        a1.semilogx(omega, np.degrees(phase[i]), color=f"C{i}", label=lbl)
        if mstd is not None:
            lo, hi = np.maximum(mag[i] - z * mstd[i], tiny), mag[i] + z * mstd[i]
            a0.fill_between(omega, 20 * np.log10(lo), 20 * np.log10(hi), color=f"C{i}", alpha=0.25, linewidth=0)
        if pstd is not None:
            a1.fill_between(
                omega,
                np.degrees(phase[i] - z * pstd[i]),
                np.degrees(phase[i] + z * pstd[i]),
                color=f"C{i}",
                alpha=0.25,
                linewidth=0,
            )
    curve_db = 20 * np.log10(np.maximum(mag, tiny))
    if mstd is not None:  # a band reaching |G| = 0 goes to -inf dB: keep the axis on the curves
        top = 20 * np.log10(mag + z * mstd).max()
        a0.set_ylim(max(curve_db.min() - 20.0, top - 200.0), top + 3.0)
    a0.set_ylabel("magnitude [dB]")
    a1.set_ylabel("phase [deg]")
    a1.set_xlabel(_frequency_label(float(_field(freq, "sample_time") or 1.0)))
    if G.shape[0] > 1:
        a0.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def plot_bode(g, dt=1.0, ax=None, *, delay=1, num=512, input_names=None, title=None):
    """Bode plot (magnitude in dB, phase in degrees) of an FIR model.

    Parameters
    ----------
    g : array of shape (n,) or (m, n)
        Impulse response(s); one curve per input.
    dt : float
        Sampling interval; frequencies run up to Nyquist ``pi / dt`` rad/s.
    ax : sequence of two matplotlib Axes, optional
        Magnitude and phase axes.
    delay : int
        Lag of the first coefficient (default 1).
    num : int
        Number of frequencies (log-spaced).
    input_names : sequence of str, optional
        Legend labels per input.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    ``G(e^{i w dt}) = sum_k g_k exp(-i w dt (k + delay - 1) )`` for
    ``k = 1..n``, evaluated on ``w`` in ``[pi/(100 n dt) , pi/dt]``; the
    phase is unwrapped.

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_bode(0.5 ** np.arange(1, 30), dt=0.1)
    """
    g2 = _rows(g, "g")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number, got {dt!r}")
    n = g2.shape[1]
    w = np.logspace(np.log10(np.pi / (100 * max(n, 1) * dt)), np.log10(np.pi / dt), int(num))
    lags = np.arange(delay, delay + n)
    G = np.exp(-1j * np.outer(w * dt, lags)) @ g2.T  # (num, m)
    mag = 20 * np.log10(np.maximum(np.abs(G), 1e-300))
    phase = np.degrees(np.unwrap(np.angle(G), axis=0))
    fig, a0, a1 = _two_axes(ax)
    for i in range(g2.shape[0]):
        lbl = str(input_names[i]) if input_names is not None else (f"input {i}" if g2.shape[0] > 1 else None)
        a0.semilogx(w, mag[:, i], label=lbl)
        a1.semilogx(w, phase[:, i], label=lbl)
    a0.set_ylabel("magnitude [dB]")
    a1.set_ylabel("phase [deg]")
    a1.set_xlabel("frequency [rad/s]" if dt != 1.0 else "frequency [rad/sample]")
    if g2.shape[0] > 1 or input_names is not None:
        a0.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
