"""The one registry of objective evaluators, used by the API, the CLI and the batch layer."""
from __future__ import annotations

from .cholesky import CholeskyEvaluator
from .krylov import KrylovEvaluator
from .lanczos import LanczosEvaluator
from .qr import QREvaluator
from .spectral import SpectralEvaluator

__all__ = ["EVALUATORS", "METHODS", "make_evaluator"]

#: ``name -> evaluator class``; every class is built as ``cls(problem, **options)``.
EVALUATORS = {"krylov": KrylovEvaluator, "spectral": SpectralEvaluator, "qr": QREvaluator,
              "cholesky": CholeskyEvaluator, "lanczos": LanczosEvaluator}
#: Names accepted by ``method=`` everywhere (API, CLI, batch).
METHODS = tuple(EVALUATORS)
#: Evaluators whose constructor takes ``random_state``.
_RANDOMIZED = ("krylov", "lanczos")


def make_evaluator(method: str, problem, *, random_state=None, **options):
    """Build the evaluator named ``method`` for ``problem`` (options go to its constructor).

    Parameters
    ----------
    method : str
        One of :data:`METHODS` (case-insensitive).
    problem : FIRProblem
    random_state : None, int or Generator
        Seeds the randomized evaluators (ignored by the exact ones).
    **options
        Evaluator options.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> rng = np.random.default_rng(0)
    >>> p = FIRProblem(rng.standard_normal(50), rng.standard_normal(50), 4)
    >>> make_evaluator("QR", p).method
    'qr'
    """
    if not isinstance(method, str) or method.lower() not in EVALUATORS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    name = method.lower()
    if name in _RANDOMIZED:
        options = {"random_state": random_state, **options}
    return EVALUATORS[name](problem, **options)
