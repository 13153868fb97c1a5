"""Figures of krylovid results, one module per domain.

:mod:`~krylovid.plotting.sysid`
    impulse response with its band, objective curve, Krylov convergence, Bode plot.
:mod:`~krylovid.plotting.attention`
    singular value decay, error against budget, errors of approximations at one budget.
:mod:`~krylovid.plotting.bank`
    box plots of a Monte Carlo bank study.

Every function draws into ``ax`` when one is given, else into a new figure,
and returns the Figure; save it with ``fig.savefig("out.png")``.  Arrays may
live on any backend: they are copied to the host first.
"""
from ._axes import band_multiplier
from .attention import plot_attention_errors, plot_error_curves, plot_singular_values
from .bank import plot_bank_boxplot
from .sysid import plot_bode, plot_convergence, plot_impulse_response, plot_objective_curve

__all__ = ["plot_impulse_response", "plot_objective_curve", "plot_convergence", "plot_bode",
           "plot_singular_values", "plot_error_curves", "plot_attention_errors", "plot_bank_boxplot",
           "band_multiplier"]
