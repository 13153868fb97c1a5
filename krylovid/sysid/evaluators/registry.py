"""The one registry of objective evaluators, used by the API, the CLI and the batch layer.

``method="auto"`` (the default everywhere) resolves per problem to the
fastest certified evaluator (:func:`choose_method`): the exact spectral path
while the dense ``n x n`` work is cheaper than the Krylov subspaces, the
augmented Krylov method above.  QR is exact too but always slower than the
spectral path (one ``O(n^3)`` factorization per shift instead of one per
shape); it stays selectable by name as the reference.
"""

from __future__ import annotations

import inspect

from .cholesky import CholeskyEvaluator
from .krylov import KrylovEvaluator
from .lanczos import LanczosEvaluator
from .qr import QREvaluator
from .spectral import SpectralEvaluator

__all__ = ["EVALUATORS", "METHODS", "make_evaluator", "choose_method", "SPECTRAL_MAX_N"]

#: ``name -> evaluator class``; every class is built as ``cls(problem, **options)``.
EVALUATORS = {
    "krylov": KrylovEvaluator,
    "spectral": SpectralEvaluator,
    "qr": QREvaluator,
    "cholesky": CholeskyEvaluator,
    "lanczos": LanczosEvaluator,
}
#: Names accepted by ``method=`` everywhere (API, CLI, batch).
METHODS = ("auto", *EVALUATORS)
#: Largest ``n_tot`` for which ``"auto"`` takes the spectral path (see the README's "Which method when": TC fits at
#: N = 2e4, SNR 10 take 0.68 s spectral vs 1.15 s krylov at n = 1000, 3.7 s vs 2.7 s at n = 2000; the spectral
#: path is kept up to 4000 because at high SNR a certified Krylov space can have to reach the full dimension,
#: where block Lanczos is slower than one bidiagonalization; above ~4000 the n x n matrices outgrow memory and time).
SPECTRAL_MAX_N = 4000
#: Largest ``2 N n_tot^2`` for which ``"auto"`` takes the spectral path when ``Phi^T Phi`` is too ill conditioned
#: for its Cholesky factor (then the tall-skinny QR of ``Phi``, ``2 N n^2`` flops, gives ``R1``).
SPECTRAL_MAX_QR_FLOPS = 2e11
#: Evaluators whose constructor takes ``random_state``.
_RANDOMIZED = ("krylov", "lanczos")


def choose_method(problem) -> str:
    """The evaluator ``"auto"`` resolves to: ``"spectral"`` for ``n <= SPECTRAL_MAX_N`` when ``R1`` is cheap
    (Cholesky of a well-conditioned ``Phi^T Phi``, or an affordable QR of ``Phi``), else ``"krylov"``.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> p = FIRProblem(np.random.default_rng(0).standard_normal(300), np.ones(300), 20)
    >>> choose_method(p)
    'spectral'
    """
    n, N = problem.n, problem.N
    if n > SPECTRAL_MAX_N:
        return "krylov"
    cheap_r = 2.0 * N * n * n <= SPECTRAL_MAX_QR_FLOPS or problem.gram_r_factor is not None
    return "spectral" if cheap_r else "krylov"


def make_evaluator(method: str, problem, *, random_state=None, **options):
    """Build the evaluator named ``method`` for ``problem`` (options go to its constructor).

    Parameters
    ----------
    method : str
        One of :data:`METHODS` (case-insensitive); ``"auto"`` resolves with
        :func:`choose_method` and passes on only the options the chosen
        evaluator accepts.
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
    >>> make_evaluator("auto", p).method
    'spectral'
    """
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    name = method.lower()
    if name == "auto":
        name = choose_method(problem)
        accepted = inspect.signature(EVALUATORS[name]).parameters
        options = {k: v for k, v in options.items() if k in accepted}
    if name in _RANDOMIZED:
        options = {"random_state": random_state, **options}
    return EVALUATORS[name](problem, **options)
