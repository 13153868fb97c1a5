"""Figures of krylovid results, one module per subject.

:mod:`~krylovid.plotting.sysid`
    impulse, step and frequency responses of an identified model, with bands.
:mod:`~krylovid.plotting.validation`
    residual analysis and simulated against measured output.
:mod:`~krylovid.plotting.krylov`
    objective against ``lam`` with the Krylov bounds, convergence of the bounds.
:mod:`~krylovid.plotting.attention`
    singular value decay, error against budget, errors of approximations at one budget.
:mod:`~krylovid.plotting.bank`
    box plots of a Monte Carlo bank study.

Every function draws into ``ax`` when one is given, else into a new
:mod:`matplotlib.pyplot` figure, and returns the Figure: ``plt.show()`` or
``fig.show()`` displays it in a script, a notebook shows it inline, and
``fig.savefig("out.png")`` saves it (close it with ``plt.close(fig)`` when
making many).  Arrays may live on any backend: they are copied to the host first.
"""

from ._axes import band_multiplier
from .attention import plot_attention_errors, plot_error_curves, plot_singular_values
from .bank import plot_bank_boxplot
from .krylov import plot_convergence, plot_objective_curve
from .sysid import plot_bode, plot_frequency_response, plot_impulse_response, plot_step_response
from .validation import plot_compare, plot_residuals

__all__ = [
    "plot_impulse_response",
    "plot_step_response",
    "plot_frequency_response",
    "plot_bode",
    "plot_residuals",
    "plot_compare",
    "plot_objective_curve",
    "plot_convergence",
    "plot_singular_values",
    "plot_error_curves",
    "plot_attention_errors",
    "plot_bank_boxplot",
    "band_multiplier",
]
