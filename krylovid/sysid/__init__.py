"""System identification: kernel-regularized FIR models tuned by marginal likelihood.

* :class:`KernelFIR` — the estimator (``fit``, ``predict``, ``score``);
* :func:`objective` / :func:`evaluate_objective` — ``F`` for given hyperparameters
  with the ``"auto"`` (default), ``"spectral"``, ``"krylov"``, ``"qr"``, ``"cholesky"`` or
  ``"lanczos"`` evaluator (:mod:`~krylovid.sysid.evaluators`);
* :mod:`~krylovid.sysid.kernels`, :mod:`~krylovid.sysid.regressors`,
  :mod:`~krylovid.sysid.simulate`, :mod:`~krylovid.sysid.metrics`;
* real data (issue 11): :mod:`~krylovid.sysid.data` (detrending, :class:`DataWarning`),
  :mod:`~krylovid.sysid.structure` (order/delay by marginal likelihood),
  :mod:`~krylovid.sysid.experiments`, :mod:`~krylovid.sysid.priors`,
  :mod:`~krylovid.sysid.response`, :mod:`~krylovid.sysid.diagnostics`,
  :mod:`~krylovid.sysid.persistence`.
"""

from .augmented import AugmentedKrylov, ShiftBounds
from .data import DataWarning
from .kernels import get_kernel
from .metrics import fit
from .model import KernelFIR, LamCurve
from .objective import METHODS, ObjectiveResult, evaluate_objective, objective
from .problem import FIRProblem
from .regressors import fir_regressor, ls_fir
from .tuning import TuningResult, tune

__all__ = [
    "KernelFIR",
    "LamCurve",
    "objective",
    "evaluate_objective",
    "ObjectiveResult",
    "METHODS",
    "AugmentedKrylov",
    "ShiftBounds",
    "FIRProblem",
    "get_kernel",
    "fit",
    "fir_regressor",
    "ls_fir",
    "tune",
    "TuningResult",
    "DataWarning",
]
