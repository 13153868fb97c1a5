"""The marginal-likelihood objective ``F`` and its public evaluator (DESIGN §2–§3).

``F = y^T Sigma^{-1} y + log det Sigma`` with ``Sigma = c (A + lam I)``,
``lam = sigma2 / c``.  In terms of ``q(lam) = y^T (A + lam I)^{-1} y`` and
``l(lam) = log det(A + lam I)``:

* noise variance fixed (``"ls"`` or a number): ``F = q / c + N log c + l``;
* noise variance estimated (``"ml"``): ``c`` is profiled out,
  ``c_hat = q / N`` and ``F = N + N log(q / N) + l``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from .._validation import _as_scalar
from .evaluators import METHODS, KrylovBudgetWarning, QREvaluator, make_evaluator
from .problem import FIRProblem

__all__ = [
    "objective",
    "evaluate_objective",
    "ObjectiveResult",
    "make_evaluator",
    "F_bounds",
    "F_estimate",
    "METHODS",
    "resolve_noise_variance",
]

#: Methods whose bounds are statistical (a Monte Carlo log-det interval): never reported as certified.
_STATISTICAL = ("lanczos",)


def resolve_noise_variance(noise_variance, problem: FIRProblem):
    """``None`` for ``"ml"``, the LS residual variance for ``"ls"``, or the given positive number."""
    if isinstance(noise_variance, str):
        mode = noise_variance.lower()
        if mode == "ls":
            return problem.ls_noise_variance
        if mode == "ml":
            return None
        raise ValueError(f"noise_variance must be 'ls', 'ml' or a positive number, got {noise_variance!r}")
    v = _as_scalar(noise_variance, "noise_variance")
    if not v > 0:
        raise ValueError(f"noise_variance must be positive, got {v}")
    return v


def F_bounds(b, N: int, sigma2):
    """Lower/upper bounds of ``F`` and the scale ``c`` from bounds of ``q`` and ``l``.

    Parameters
    ----------
    b : ShiftBounds
        Bounds on ``q`` and ``l`` at shifts ``b.lam``.
    N : int
        Number of outputs in the likelihood.
    sigma2 : float or None
        Fixed noise variance, or ``None`` for the profiled (``"ml"``) objective.

    Returns
    -------
    F_lower, F_upper, c : ndarrays of shape (k,)
    """
    lam = b.lam
    if sigma2 is None:
        q_lo = np.maximum(b.q_lower, np.finfo(float).tiny)
        lo = N + N * np.log(q_lo / N) + b.l_lower
        hi = N + N * np.log(np.maximum(b.q_upper, q_lo) / N) + b.l_upper
        return lo, hi, (b.q_lower + b.q_upper) / (2 * N)
    c = sigma2 / lam
    base = N * np.log(c)
    return b.q_lower / c + base + b.l_lower, b.q_upper / c + base + b.l_upper, c


def F_estimate(b, N: int, sigma2):
    """Point estimate of ``F`` from the estimates carried by ``b`` (see :class:`ShiftBounds`)."""
    q, l = b.estimates()
    if sigma2 is None:
        return N + N * np.log(np.maximum(q, np.finfo(float).tiny) / N) + l
    c = sigma2 / b.lam
    return q / c + N * np.log(c) + l


def _meets(lo, hi, rtol):
    """Per value: ``hi - lo <= rtol * max(|mid|, 1)`` (the certification test, stated once)."""
    return (hi - lo) <= rtol * np.maximum(np.abs(0.5 * (lo + hi)), 1.0)


def gap_check(lam, N, sigma2, rtol):
    """A predicate on a bounds function: are the ``F`` bounds within ``rtol`` at every ``lam``?"""
    lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))

    def ok(bounds_fn, q_only: bool = False) -> bool:
        b = bounds_fn(lam)
        if q_only:
            b = replace(b, l_upper=b.l_lower)
        lo, hi, _ = F_bounds(b, N, sigma2)
        return bool(np.all(_meets(lo, hi, rtol)))

    return ok


@dataclass(frozen=True)
class ObjectiveResult:
    """``F`` at one or several scales ``c`` with its bounds.

    Attributes
    ----------
    F, F_lower, F_upper : ndarray of shape (k,)
        Estimate (Galerkin data fit and Ritz log-determinant with the
        unexplored trace, see :class:`~krylovid.sysid.ShiftBounds`) and
        certified bounds; all equal for exact methods.
    c, lam : ndarray of shape (k,)
    noise_variance : float
    method : str
    info : dict
        ``subspace_dim``, ``matvecs``, ``status``: ``"exact"`` (exact
        method), ``"converged"`` (every value certified by the approximate
        method's own bounds), ``"fallback"`` (some values replaced by the
        exact QR evaluation, see ``fallback``), ``"budget"`` (some values
        neither certified nor replaced: reported with their bounds),
        ``"statistical"`` (``"lanczos"``: Monte Carlo log-det interval, never
        certified nor replaced), and ``certified_count`` / ``fallback_count``.
    certified : ndarray of bool, shape (k,)
        Per value: the reported ``F`` is certified to ``rtol`` (its bounds meet
        the tolerance, or it is exact).  ``False`` for a value reported with
        bounds wider than ``rtol`` and for the statistical ``"lanczos"`` log-det.
    fallback : ndarray of bool, shape (k,)
        Per value: replaced by the exact QR evaluation (then also certified).
    """

    F: np.ndarray
    F_lower: np.ndarray
    F_upper: np.ndarray
    c: np.ndarray
    lam: np.ndarray
    noise_variance: float
    method: str
    info: dict
    certified: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    fallback: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def all_certified(self) -> bool:
        """Whether every reported value is certified (exact, within ``rtol``, or replaced by QR)."""
        return bool(np.all(self.certified))


def evaluate_objective(
    u,
    y,
    *,
    order,
    kernel,
    hyperparameters,
    noise_variance="ls",
    method="auto",
    delay=1,
    initial="zero",
    random_state=None,
    rtol=1e-8,
    fallback_max_n=1000,
    dtype=None,
    **options,
) -> ObjectiveResult:
    """Evaluate ``F`` for one shape and one or many scales ``c``, with bounds. See :func:`objective`.

    When an approximate method cannot meet ``rtol`` within its budget it warns
    (:class:`~krylovid.sysid.evaluators.KrylovBudgetWarning`), and for
    ``n_tot <= fallback_max_n`` replaces the uncertified values by the exact QR
    evaluation (``info["status"] == "fallback"``, ``result.fallback`` marks
    them); otherwise it reports them with their bounds (``"budget"``,
    ``result.certified`` is ``False`` there).  ``fallback_max_n=0`` gives the
    pure approximate method.
    """
    problem = FIRProblem(u, y, order, kernel=kernel, delay=delay, initial=initial, dtype=dtype)
    if not isinstance(hyperparameters, dict) or "c" not in hyperparameters:
        raise ValueError("hyperparameters must be a dict with the scale 'c' and the kernel's shape parameters")
    c = np.atleast_1d(np.asarray(hyperparameters["c"], dtype=np.float64))
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError(f"hyperparameters['c'] must be positive and finite, got {hyperparameters['c']!r}")
    sigma2 = resolve_noise_variance(noise_variance, problem)
    if sigma2 is None:
        raise ValueError("noise_variance='ml' profiles c out; to evaluate F at given c pass 'ls' or a number")
    params = problem.shape_params(hyperparameters)
    state = make_evaluator(method, problem, random_state=random_state, **options).prepare(params)
    lam = sigma2 / c
    state.refine(gap_check(lam, problem.N, sigma2, rtol), warn=False)
    bounds = state.bounds(lam)
    lo, hi, _ = F_bounds(bounds, problem.N, sigma2)
    F = np.clip(F_estimate(bounds, problem.N, sigma2), lo, hi)
    info = dict(state.stats())
    certified = np.full(lam.shape, True) if state.exact else _meets(lo, hi, rtol)
    fallback = np.zeros(lam.shape, dtype=bool)
    if state.exact:
        info["status"] = "exact"
    elif state.method in _STATISTICAL:
        # the baseline's log-det interval is statistical: reported as such, never certified, never replaced
        certified = np.zeros(lam.shape, dtype=bool)
        info["status"] = "statistical"
    elif np.all(certified):
        info["status"] = "converged"
    else:
        loose = ~certified
        if problem.n <= fallback_max_n:
            ex = F_bounds(QREvaluator(problem).prepare(params).bounds(lam[loose]), problem.N, sigma2)[0]
            F, lo, hi = F.copy(), lo.copy(), hi.copy()
            F[loose] = lo[loose] = hi[loose] = ex
            fallback, certified = loose, np.full(lam.shape, True)
            info["status"] = "fallback"
            msg = f"fell back to the exact QR evaluator at {int(loose.sum())} of {lam.size} values of c"
        else:
            info["status"] = "budget"
            msg = f"{int(loose.sum())} of {lam.size} values are reported with their (uncertified) bounds"
        warnings.warn(
            f"{state.method}: bounds on F did not meet rtol={rtol:g} (subspace dimension "
            f"{info.get('subspace_dim')}); {msg}",
            KrylovBudgetWarning,
            stacklevel=2,
        )
    info["certified_count"], info["fallback_count"] = int(certified.sum()), int(fallback.sum())
    return ObjectiveResult(F, lo, hi, c, lam, sigma2, method, info, certified=certified, fallback=fallback)


def objective(
    u,
    y,
    *,
    order,
    kernel,
    hyperparameters,
    noise_variance="ls",
    method="auto",
    delay=1,
    initial="zero",
    random_state=None,
    dtype=None,
    **options,
):
    """The negative log marginal likelihood ``F`` (DESIGN §2) of a kernel FIR model.

    Parameters
    ----------
    u : array of shape (N,) or (N, m)
        Input(s), of any array-API namespace (NumPy, CuPy, ...): the
        computation runs there and only scalars and the small projected
        matrices come to the host.
    y : array of shape (N,)
        Output (moved to the namespace of ``u``).
    order : int
        FIR order per input.
    kernel : str or Kernel
        ``"TC"``, ``"DC"``, ``"SS"``, ``"SE"``, ``"HF"``, ``"DI"``, ``"CS"`` or a Kernel.
    hyperparameters : dict
        ``{"c": c, **shape}``; ``c`` may be an array, then an array of ``F``
        is returned and the Krylov method builds its subspace once for all.
    noise_variance : "ls" or float
        ``"ls"``: the unregularized least-squares residual variance.
    method : {"auto", "spectral", "krylov", "qr", "cholesky", "lanczos"}
        ``"auto"`` (default): the fastest certified evaluator for the problem
        (:func:`~krylovid.sysid.evaluators.choose_method`).
    delay : int
    initial : {"zero", "drop"}
    random_state : None, int or Generator
        Seeds the random block of the Krylov methods.
    dtype : {None, "float64", "float32"}
        Working precision of the data and the products with ``Phi`` (default
        float64 on every backend; ``"float32"`` warns, see
        :class:`~krylovid.sysid.problem.PrecisionWarning`).
    **options
        ``rtol`` (Krylov tolerance on ``F``, default 1e-8) and evaluator options.

    Returns
    -------
    float or ndarray of shape (k,)

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import objective
    >>> rng = np.random.default_rng(0)
    >>> u = rng.standard_normal(300); y = np.convolve(u, 0.8 ** np.arange(20))[:300]
    >>> y = y + 0.1 * rng.standard_normal(300)
    >>> hp = {"c": 1.0, "beta": 0.8}
    >>> F1 = objective(u, y, order=30, kernel="TC", hyperparameters=hp, method="krylov", random_state=0)
    >>> F2 = objective(u, y, order=30, kernel="TC", hyperparameters=hp, method="cholesky")
    >>> bool(abs(F1 - F2) <= 1e-8 * abs(F2))
    True
    """
    res = evaluate_objective(
        u,
        y,
        order=order,
        kernel=kernel,
        hyperparameters=hyperparameters,
        noise_variance=noise_variance,
        method=method,
        delay=delay,
        initial=initial,
        random_state=random_state,
        dtype=dtype,
        **options,
    )
    return float(res.F[0]) if np.ndim(hyperparameters["c"]) == 0 else res.F
