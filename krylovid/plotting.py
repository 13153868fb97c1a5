"""Figures for identification results and Krylov diagnostics (headless-safe).

Every function builds on :class:`matplotlib.figure.Figure` directly (no
``pyplot`` state, no GUI backend, never ``show``), draws into ``ax`` when one
is given, and returns the Figure; save it with ``fig.savefig("out.png")``.
Arrays may live on any backend: they are copied to the host first.

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
plot_singular_values
    Singular value decay of one or several matrices.
plot_error_curves
    Attention approximation error against budget (from
    :mod:`krylovid.attention.analysis`, imported lazily).
"""
from __future__ import annotations

import math

import numpy as np

from .backend import to_numpy

__all__ = ["plot_impulse_response", "plot_objective_curve", "plot_convergence", "plot_bode",
           "plot_singular_values", "plot_error_curves", "band_multiplier"]


def _new_axes(nrows=1, ncols=1, figsize=(6.4, 4.0), sharex=False):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=sharex, squeeze=False)
    return fig, axes


def _one_axes(ax):
    """``(fig, a)``: the given Axes and its Figure, or a new single-panel Figure."""
    fig, axes = _new_axes() if ax is None else (ax.figure, [[ax]])
    return fig, axes[0][0]


def _two_axes(ax):
    """``(fig, a0, a1)``: the given pair of Axes, or a new two-row Figure sharing x."""
    if ax is None:
        fig, axes = _new_axes(2, 1, figsize=(6.4, 5.6), sharex=True)
        return fig, axes[0, 0], axes[1, 0]
    a0, a1 = ax
    return a0.figure, a0, a1


def _host(x, name, ndim=(1, 2)):
    if x is None:
        return None
    arr = np.asarray(to_numpy(x) if not isinstance(x, (list, tuple)) else x, dtype=float)
    if arr.ndim not in ndim:
        raise ValueError(f"{name} must be {' or '.join(map(str, ndim))}-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def band_multiplier(level: float) -> float:
    """Two-sided Gaussian quantile ``z`` with ``P(|Z| <= z) = level``.

    ``level=0.99`` gives 2.576, ``level=0.95`` gives 1.960.
    """
    from scipy.special import ndtri

    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return float(ndtri(0.5 + 0.5 * float(level)))


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


def _field(obj, name):
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


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


def plot_singular_values(s, ax=None, *, labels=None, normalize=False, title=None):
    """Semilog plot of singular values (one curve per array).

    Parameters
    ----------
    s : array of shape (k,), sequence of such arrays, or dict name -> array
        Singular values, in any order (sorted descending before plotting).
    ax : matplotlib Axes, optional
    labels : sequence of str, optional
        Legend labels (the dict keys by default).
    normalize : bool
        Divide each curve by its largest value.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_singular_values({"head 0": 0.5 ** np.arange(20), "head 1": 0.8 ** np.arange(20)})
    """
    if isinstance(s, dict):
        labels = list(s.keys()) if labels is None else labels
        curves = list(s.values())
    elif isinstance(s, (list, tuple)) and s and not np.isscalar(s[0]):
        curves = list(s)
    else:
        curves = [s]
    if labels is not None and len(labels) != len(curves):
        raise ValueError(f"labels must have {len(curves)} entries, got {len(labels)}")
    fig, a = _one_axes(ax)
    for i, c in enumerate(curves):
        v = np.sort(np.abs(_host(c, "s", ndim=(1,))))[::-1]
        if normalize and v[0] > 0:
            v = v / v[0]
        a.semilogy(np.arange(1, v.size + 1), np.maximum(v, np.finfo(float).tiny),
                   label=None if labels is None else str(labels[i]))
    a.set_xlabel("index i")
    a.set_ylabel("sigma_i / sigma_1" if normalize else "sigma_i")
    if labels is not None:
        a.legend(fontsize="small")
    if title:
        a.set_title(title)
    return fig


def plot_error_curves(curves, bound=None, ax=None, **kwargs):
    """Attention error-vs-budget curves (wraps the attention analysis module).

    Calls :func:`krylovid.attention.analysis.plot_error_curves`, imported
    lazily so that plotting identification results does not need the
    attention package, and returns the Figure like the other functions here.

    Parameters
    ----------
    curves : sequence of ErrorCurve
        From :func:`krylovid.attention.analysis.error_curve`.
    bound : TruncatedSVDBound or (ms, errors) pair, optional
        Drawn as a dashed reference line.
    ax : matplotlib Axes, optional
    **kwargs
        ``title``, ``xlabel``, ``ylabel``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        from .attention.analysis import plot_error_curves as _plot
    except ImportError as exc:
        raise ImportError(f"plot_error_curves needs krylovid.attention.analysis ({exc})") from None
    res = _plot(curves, bound=bound, ax=ax, **kwargs)
    return res[0] if isinstance(res, tuple) else res
