"""Shared helpers of the figure functions: new figures and axes, host arrays, band multiplier.

Private to :mod:`krylovid.plotting`.
"""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy

__all__ = ["band_multiplier"]


def _new_axes(nrows=1, ncols=1, figsize=(6.4, 4.0), sharex=False):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=sharex, squeeze=False)
    return fig, axes


def _one_axes(ax, figsize=(6.4, 4.0)):
    """``(fig, a)``: the given Axes and its Figure, or a new single-panel Figure."""
    fig, axes = _new_axes(figsize=figsize) if ax is None else (ax.figure, [[ax]])
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


def _field(obj, name):
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)
