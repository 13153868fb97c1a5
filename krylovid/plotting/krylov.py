"""Figures of the Krylov estimator: the objective against ``lam`` and the convergence of its bounds.

Functions
---------
plot_objective_curve
    Objective ``F`` against ``lam = sigma2 / c``: exact curve and Krylov bounds.
plot_convergence
    Krylov bounds on ``F`` against the subspace dimension.
"""

from __future__ import annotations

import numpy as np

from ._axes import _field, _host, _one_axes, _two_axes, integer_ticks

__all__ = ["plot_objective_curve", "plot_convergence"]


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
    integer_ticks(a1)
    a1.set_ylabel("relative gap")
    if title:
        fig.suptitle(title)
    return fig
