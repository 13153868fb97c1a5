"""Figures of attention diagnostics: singular value decay, error against budget.

Functions
---------
plot_singular_values
    Singular value decay of one or several matrices.
plot_error_curves
    Attention approximation error against budget (drawn by
    :func:`krylovid.attention.analysis.plot_error_curves`).
plot_attention_errors
    Bar chart of the relative output error of each approximation at one budget.
"""

from __future__ import annotations

import numpy as np

from ..attention.analysis import plot_error_curves as _analysis_plot_error_curves
from ._axes import _host, _one_axes

__all__ = ["plot_singular_values", "plot_error_curves", "plot_attention_errors"]


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
        a.semilogy(
            np.arange(1, v.size + 1),
            np.maximum(v, np.finfo(float).tiny),
            label=None if labels is None else str(labels[i]),
        )
    a.set_xlabel("index i")
    a.set_ylabel("sigma_i / sigma_1" if normalize else "sigma_i")
    if labels is not None:
        a.legend(fontsize="small")
    if title:
        a.set_title(title)
    return fig


def plot_error_curves(curves, bound=None, ax=None, **kwargs):
    """Attention error-vs-budget curves, drawn by :func:`krylovid.attention.analysis.plot_error_curves`.

    Without ``ax`` the curves go into a new pyplot figure (displayable with
    ``plt.show()``), like every other function here.

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
    fig, a = _one_axes(ax, figsize=(5.0, 3.6))
    _analysis_plot_error_curves(curves, bound=bound, ax=a, **kwargs)
    return fig


def plot_attention_errors(errors, ax=None, *, title=None):
    """Horizontal bars of the relative output error of each approximation (log scale).

    Parameters
    ----------
    errors : dict of str -> float
        Relative error ``||Y_approx - Y||_F / ||Y||_F`` per method; exact zeros
        are drawn at 1e-16 so that the log axis can show them.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_attention_errors({"nystrom": 0.02, "performer": 0.3})
    >>> fig.axes[0].get_xscale()
    'log'
    """
    if not isinstance(errors, dict) or not errors:
        raise ValueError("errors must be a non-empty dict of method name -> relative error")
    names = [str(n) for n in errors]
    values = np.asarray([float(v) for v in errors.values()])
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"errors must be finite and non-negative, got {values.tolist()}")
    fig, a = _one_axes(ax, figsize=(6.4, 3.6))
    a.barh(names, np.maximum(values, 1e-16), color="C0")
    a.set_xscale("log")
    a.set_xlabel("relative output error (Frobenius)")
    if title:
        a.set_title(title, fontsize="medium")
    return fig
