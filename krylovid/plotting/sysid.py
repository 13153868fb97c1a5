"""Figures of identification results and Krylov diagnostics.

Functions
---------
plot_impulse_response
    Estimated FIR coefficients with a confidence band and the true response.
plot_objective_curve
    Objective ``F`` against ``lam = sigma2 / c``: exact curve and Krylov bounds.
plot_convergence
    Krylov bounds on ``F`` against the subspace dimension.
plot_bode
    Magnitude and phase of the FIR's frequency response.
"""
from __future__ import annotations

import math

import numpy as np

from ._axes import _field, _host, _new_axes, _one_axes, _two_axes, band_multiplier

__all__ = ["plot_impulse_response", "plot_objective_curve", "plot_convergence", "plot_bode"]


def plot_impulse_response(g, std=None, truth=None, ax=None, *, level=0.99, delay=1,
                          label="estimate", input_names=None, title=None):
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
        Where to draw; a new Figure otherwise (one panel per input).
    level : float
        Confidence level of the band, default 0.99 (``z = 2.58``); use 0.95
        for ``z = 1.96``.
    delay : int
        Lag of the first coefficient (x axis starts there), default 1.
    label : str
        Legend label of the estimate.
    input_names : sequence of str, optional
        Panel titles for multi-input responses.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

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
    """
    g2 = _host(g, "g")
    g2 = g2[None, :] if g2.ndim == 1 else g2
    s2 = _host(std, "std")
    if s2 is not None:
        s2 = s2[None, :] if s2.ndim == 1 else s2
        if s2.shape != g2.shape:
            raise ValueError(f"std must have the shape of g {g2.shape}, got {s2.shape}")
    t2 = _host(truth, "truth")
    if t2 is not None:
        t2 = t2[None, :] if t2.ndim == 1 else t2
        if t2.shape[0] != g2.shape[0]:
            raise ValueError(f"truth must have {g2.shape[0]} rows like g, got shape {t2.shape}")
    m = g2.shape[0]
    if ax is None:
        fig, axes = _new_axes(m, 1, figsize=(6.4, 3.2 * m), sharex=True)
        axes = list(axes[:, 0])
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axes) != m:
            raise ValueError(f"ax must hold {m} Axes (one per input), got {len(axes)}")
        fig = axes[0].figure
    z = band_multiplier(level)
    for i, a in enumerate(axes):
        lags = np.arange(delay, delay + g2.shape[1])
        if s2 is not None:
            a.fill_between(lags, g2[i] - z * s2[i], g2[i] + z * s2[i], alpha=0.3, color="C0",
                           linewidth=0, label=f"{100 * level:g}% band")
        a.plot(lags, g2[i], color="C0", lw=1.5, label=label)
        if t2 is not None:
            a.plot(np.arange(delay, delay + t2.shape[1]), t2[i], "k--", lw=1.2, label="true")
        a.axhline(0.0, color="0.6", lw=0.6)
        a.set_ylabel("g(k)")
        if input_names is not None and m > 1:
            a.set_title(str(input_names[i]))
        a.legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel("lag k")
    if title:
        fig.suptitle(title)
    return fig


def plot_objective_curve(lam_curve, ax=None, *, title=None):
    """Plot the objective against ``lam``: Krylov bounds and the exact curve.

    Parameters
    ----------
    lam_curve : LamCurve or dict
        With ``lam`` (num,), ``F_lower`` (num,), ``F_upper`` (num,) and
        optionally ``F_exact`` (num,) (as returned by
        ``KernelFIR.lam_curve``).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    With the noise variance fixed, ``F(lam) = q(lam)/c + N log c + l(lam)``;
    the certified bounds hold for every ``lam`` on the grid, so the exact
    curve must lie inside the shaded region.

    Examples
    --------
    >>> import numpy as np
    >>> lam = np.logspace(-3, 1, 30)
    >>> F = np.log(lam) + 1 / lam
    >>> fig = plot_objective_curve({"lam": lam, "F_lower": F - 1e-3, "F_upper": F + 1e-3,
    ...                             "F_exact": F})
    """
    lam = _host(_field(lam_curve, "lam"), "lam_curve.lam", ndim=(1,))
    lo = _host(_field(lam_curve, "F_lower"), "lam_curve.F_lower", ndim=(1,))
    hi = _host(_field(lam_curve, "F_upper"), "lam_curve.F_upper", ndim=(1,))
    ex = _host(_field(lam_curve, "F_exact"), "lam_curve.F_exact", ndim=(1,))
    for arr, nm in ((lo, "F_lower"), (hi, "F_upper"), (ex, "F_exact")):
        if arr is not None and arr.shape != lam.shape:
            raise ValueError(f"lam_curve.{nm} must have the shape of lam {lam.shape}, got {arr.shape}")
    fig, a = _one_axes(ax)
    a.fill_between(lam, lo, hi, alpha=0.3, color="C1", linewidth=0, label="Krylov bounds")
    a.plot(lam, lo, color="C1", lw=1.0)
    a.plot(lam, hi, color="C1", lw=1.0, ls=":")
    if ex is not None:
        a.plot(lam, ex, "k--", lw=1.2, label="exact")
    a.set_xscale("log")
    a.set_xlabel("lam = sigma2 / c")
    a.set_ylabel("objective F")
    a.legend(fontsize="small")
    if title:
        a.set_title(title)
    return fig


def plot_convergence(convergence, ax=None, *, title=None):
    """Plot Krylov bounds on ``F`` and their relative gap against subspace dimension.

    Parameters
    ----------
    convergence : sequence of (dim, F_lower, F_upper)
        As in ``KernelFIR.convergence_``.
    ax : sequence of two matplotlib Axes, optional
        Bounds on the first, relative gap (log scale) on the second.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The relative gap is ``(F_upper - F_lower) / |F_lower|``; the estimator
    grows the space until it falls below its tolerance.

    Examples
    --------
    >>> fig = plot_convergence([(4, 10.0, 14.0), (8, 11.9, 12.2), (12, 12.0, 12.0001)])
    """
    rows = np.asarray([tuple(map(float, r)) for r in convergence], dtype=float)
    if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] != 3:
        raise ValueError("convergence must be a non-empty sequence of (dim, F_lower, F_upper)")
    dim, lo, hi = rows.T
    fig, a0, a1 = _two_axes(ax)
    a0.plot(dim, lo, "o-", color="C0", label="F lower")
    a0.plot(dim, hi, "s-", color="C1", label="F upper")
    a0.set_ylabel("objective F")
    a0.legend(fontsize="small")
    gap = np.maximum((hi - lo) / np.maximum(np.abs(lo), np.finfo(float).tiny), np.finfo(float).eps)
    a1.semilogy(dim, gap, "o-", color="C2")
    a1.set_xlabel("Krylov subspace dimension")
    a1.set_ylabel("relative gap")
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
    g2 = _host(g, "g")
    g2 = g2[None, :] if g2.ndim == 1 else g2
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number, got {dt!r}")
    n = g2.shape[1]
    w = np.logspace(np.log10(np.pi / (100 * max(n, 1) * dt)), np.log10(np.pi / dt), int(num))
    lags = np.arange(delay, delay + n)
    G = np.exp(-1j * np.outer(w * dt, lags)) @ g2.T          # (num, m)
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
