"""Evaluators of the two expensive terms of the objective (DESIGN §3).

For fixed kernel shape parameters every evaluator gives bounds of
``q(lam) = y^T (A + lam I)^{-1} y`` and ``l(lam) = log det(A + lam I_N)`` for
an array of shifts, and the posterior (see :mod:`.base`).

Methods (one registry, :mod:`.registry`): ``"cholesky"`` (dense ``N x N``, the
reference, :mod:`.cholesky`), ``"qr"`` (Chen & Ljung 2013, :mod:`.qr`), ``"spectral"`` (one SVD of
``R1 L`` per shape, exact for every shift, :mod:`.spectral`),
``"lanczos"`` (Lanczos on ``y`` and stochastic Lanczos quadrature, as GP
libraries do, :mod:`.lanczos`) and ``"krylov"`` (the augmented estimator,
:mod:`.krylov`).  The primal/dual operators live in
:mod:`krylovid.sysid.gram`, the posterior in :mod:`krylovid.sysid.posterior`.
"""

from ..gram import DualOperator, PrimalOperator
from ..posterior import Posterior, dual_posterior
from .base import ShiftState, exact_bounds
from .cholesky import CholeskyEvaluator
from .krylov import KrylovBudgetWarning, KrylovEvaluator
from .lanczos import LanczosEvaluator
from .qr import QREvaluator
from .registry import EVALUATORS, METHODS, make_evaluator
from .spectral import SpectralEvaluator

__all__ = [
    "ShiftState",
    "Posterior",
    "exact_bounds",
    "CholeskyEvaluator",
    "QREvaluator",
    "LanczosEvaluator",
    "SpectralEvaluator",
    "KrylovEvaluator",
    "KrylovBudgetWarning",
    "EVALUATORS",
    "METHODS",
    "make_evaluator",
    "PrimalOperator",
    "DualOperator",
    "dual_posterior",
]
