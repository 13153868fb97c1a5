"""Former location of the ``"krylov"`` evaluator; see :mod:`krylovid.sysid.evaluators.krylov`."""

from .evaluators.krylov import KrylovBudgetWarning, KrylovEvaluator  # noqa: F401
from .gram import DualOperator  # noqa: F401
from .posterior import dual_posterior  # noqa: F401
