"""Figure of a Monte Carlo bank study: box plots of the fit per collection and kernel."""

from __future__ import annotations

import math

from ._axes import _new_axes

__all__ = ["plot_bank_boxplot"]


def _bank_rows(result, method):
    rows = [r for r in result.rows if r.get("error") is None and "collection" in r]
    if method is not None:
        rows = [r for r in rows if r["method"] == method]
    if not rows:
        raise ValueError("result: no successful bank-study rows to plot")
    return rows


def _values(rows, metric, method, kernel, collection):
    return [
        r[metric]
        for r in rows
        if r["method"] == method
        and r["kernel"] == kernel
        and r["collection"] == collection
        and r.get(metric) is not None
        and math.isfinite(r[metric])
    ]


def plot_bank_boxplot(result, path=None, *, metric="fit", method=None):
    """Box plot of ``metric`` per collection, one box per kernel, one panel per method.

    Parameters
    ----------
    result : BatchResult
        From :func:`krylovid.batch.bank_study` (rows with ``collection``,
        ``kernel``, ``method``).
    path : str or path-like, optional
        Where to save the figure (format by extension); not saved when None.
    metric : str
        Column to plot (default ``"fit"``); failed rows and NaNs are left out.
    method : str, optional
        Only rows of this method (default: one panel per method).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from krylovid.batch import bank_study
    >>> res = bank_study(2, kernels=("TC",), methods=("qr",), N=200, order=20, progress=False)
    >>> fig = plot_bank_boxplot(res)
    >>> len(fig.axes)
    1
    """
    rows = _bank_rows(result, method)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    kernels = list(dict.fromkeys(r["kernel"] for r in rows))
    colls = list(dict.fromkeys(r["collection"] for r in rows))
    fig, axes = _new_axes(len(methods), 1, figsize=(1.2 + 0.6 * len(kernels) * len(colls), 3.6 * len(methods)))
    width = 0.8 / len(kernels)
    colors = [f"C{k}" for k in range(len(kernels))]
    for ax, meth in zip(axes[:, 0], methods, strict=True):
        for k, kern in enumerate(kernels):
            values = [_values(rows, metric, meth, kern, c) for c in colls]
            pos = [j + (k - (len(kernels) - 1) / 2) * width for j in range(len(colls))]
            box = ax.boxplot(
                values,
                positions=pos,
                widths=0.9 * width,
                patch_artist=True,
                showfliers=True,
                flierprops={"markersize": 3},
            )
            for patch in box["boxes"]:
                patch.set_facecolor(colors[k])
                patch.set_alpha(0.6)
            ax.plot([], [], "s", color=colors[k], label=kern)
        ax.set_xticks(range(len(colls)), colls)
        ax.set_ylabel("fit (%)" if metric == "fit" else metric)
        ax.set_title(f"{metric} per collection, method={meth}")
        ax.legend(loc="lower left", fontsize="small")
        ax.grid(axis="y", alpha=0.3)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
