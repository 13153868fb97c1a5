"""Shared helpers of the figure functions: new figures and axes, axis units, host arrays, band width.

New figures are made with :mod:`matplotlib.pyplot`, so that they belong to
the current backend: ``plt.show()`` and ``fig.show()`` display them in a
script, and notebooks show them inline.  A caller that only saves figures
(the command line, tests) closes them with ``plt.close(fig)``.

Private to :mod:`krylovid.plotting` (``band_multiplier`` is public through it).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from scipy.special import ndtri

from ..backend import to_numpy

__all__ = ["band_multiplier"]


def _new_axes(nrows=1, ncols=1, figsize=(6.4, 4.0), sharex=False):
    """``(fig, axes)``: a new pyplot figure and its ``(nrows, ncols)`` array of Axes."""
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, sharex=sharex, squeeze=False, layout="constrained")
    return fig, axes


def _one_axes(ax, figsize=(6.4, 4.0)):
    """``(fig, a)``: the given Axes and its Figure, or a new single-panel Figure."""
    fig, axes = _new_axes(figsize=figsize) if ax is None else (ax.figure, [[ax]])
    return fig, axes[0][0]


def _two_axes(ax, figsize=(6.4, 5.6)):
    """``(fig, a0, a1)``: the given pair of Axes, or a new two-row Figure sharing x."""
    if ax is None:
        fig, axes = _new_axes(2, 1, figsize=figsize, sharex=True)
        return fig, axes[0, 0], axes[1, 0]
    a0, a1 = ax
    return a0.figure, a0, a1


def _panels(ax, m: int, height: float = 3.2):
    """``(fig, axes)``: ``m`` given Axes (ValueError otherwise) or a new column of ``m`` panels."""
    if ax is None:
        fig, axes = _new_axes(m, 1, figsize=(6.4, height * m), sharex=True)
        return fig, list(axes[:, 0])
    axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) != m:
        raise ValueError(f"ax must hold {m} Axes (one per input), got {len(axes)}")
    return axes[0].figure, axes


def integer_ticks(ax) -> None:
    """Ticks of the x axis at integers only (lags, dimensions)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def check_sample_time(sample_time) -> float | None:
    """``sample_time`` as a positive float, or None; ValueError naming it otherwise."""
    if sample_time is None:
        return None
    if (
        isinstance(sample_time, bool)
        or not isinstance(sample_time, (int, float, np.floating, np.integer))
        or not (math.isfinite(float(sample_time)) and float(sample_time) > 0)
    ):
        raise ValueError(f"sample_time must be a positive number or None, got {sample_time!r}")
    return float(sample_time)


def lag_axis(ax, lags, sample_time, label: str = "lag k"):
    """x values for ``lags``: seconds (``lags * T``, labelled ``time [s]``) or integer lags."""
    if sample_time is None:
        integer_ticks(ax)
        ax.set_xlabel(label)
        return np.asarray(lags)
    ax.set_xlabel("time [s]")
    return np.asarray(lags) * sample_time


def _host(x, name, ndim=(1, 2)):
    if x is None:
        return None
    arr = np.asarray(to_numpy(x) if not isinstance(x, (list, tuple)) else x, dtype=float)
    if arr.ndim not in ndim:
        raise ValueError(f"{name} must be {' or '.join(map(str, ndim))}-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _rows(x, name, m=None):
    """``x`` as a 2-D (m, k) host array (a 1-D one is one row); None stays None."""
    arr = _host(x, name)
    if arr is None:
        return None
    arr = arr[None, :] if arr.ndim == 1 else arr
    if m is not None and arr.shape[0] != m:
        raise ValueError(f"{name} must have {m} rows, got shape {arr.shape}")
    return arr


def band_multiplier(level: float) -> float:
    """Two-sided Gaussian quantile ``z`` with ``P(|Z| <= z) = level``.

    ``level=0.99`` gives 2.576, ``level=0.95`` gives 1.960.

    Examples
    --------
    >>> round(band_multiplier(0.95), 3)
    1.96
    """
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return float(ndtri(0.5 + 0.5 * float(level)))


def _field(obj, name):
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)
