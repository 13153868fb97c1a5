"""Hyperparameter tuning by maximum marginal likelihood (DESIGN §3, "Tuning").

Nested search.  For each value of the kernel's shape parameters ``theta``
one evaluator state is prepared (for ``"krylov"``: one subspace), then the
objective is minimized over ``lam = sigma2 / c`` alone:

* adaptive states (``"krylov"``, ``"lanczos"``) evaluate their closed-form
  surrogate on a dense log grid plus a Brent polish (essentially free), and
  grow the subspace until the bounds on ``F`` meet the tolerance at every
  ``lam`` that could still be the minimizer (``F_lower(lam) <= F_upper(lam*)``);
* exact states (``"cholesky"``, ``"qr"``) pay one factorization per shift, so
  they use a coarse grid (one point per decade), then a Brent search between
  the neighbours of its best point.

The outer search over ``theta`` (1–2 dimensions, transformed to be
unconstrained: logit / atanh / log) starts from the kernel's multistart grid
(for TC ``beta0`` in {0.5, 0.6, 0.7, 0.8, 0.9, 0.99}, as the Chen–Ljung
reference), then refines the best start locally: bounded Brent between its
grid neighbours in 1-D, Nelder–Mead in 2-D.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from .evaluators import KrylovBudgetWarning
from .objective import F_bounds, F_estimate, gap_check

__all__ = ["TuningResult", "tune", "profile_shift"]


@dataclass(frozen=True)
class ShiftOptimum:
    """Minimum over ``lam`` at fixed shape parameters."""

    lam: float
    F: float
    F_lower: float
    F_upper: float
    c: float
    shift_evaluations: int
    certified: bool


@dataclass(frozen=True)
class TuningResult:
    """Outcome of :func:`tune`.

    Attributes
    ----------
    params : dict
        Optimal shape parameters.
    optimum : ShiftOptimum
        ``lam``, ``c``, ``F`` and its bounds at the optimum.
    noise_variance : float
        ``sigma2`` (fixed, or ``c * lam`` when estimated).
    n_evaluations : int
        Shape-parameter values evaluated (subspaces built for ``"krylov"``).
    n_shift_evaluations : int
        Shift evaluations in total (factorizations for the exact methods).
    history : tuple of (dict, float)
        ``(params, F)`` for every shape value evaluated, in order.
    """

    params: dict
    optimum: ShiftOptimum
    noise_variance: float
    n_evaluations: int
    n_shift_evaluations: int
    history: tuple


def _lam_range(lam_scale: float) -> tuple[float, float]:
    """log10 range of shifts searched: ``lam_scale * [1e-6, 1e6]``."""
    return np.log10(lam_scale) - 6.0, np.log10(lam_scale) + 6.0


def _F_mid(state, lam, N, sigma2):
    """``(F_estimate, F_lower, F_upper, c)`` at shifts ``lam``."""
    b = state.bounds(lam)
    lo, hi, c = F_bounds(b, N, sigma2)
    return np.clip(F_estimate(b, N, sigma2), lo, hi), lo, hi, c


def _polish(f, grid, i):
    """Bounded Brent on ``f(log10 lam)`` between the grid neighbours of index ``i``."""
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    if b <= a:
        return grid[i], f(grid[i]), 1
    res = minimize_scalar(f, bounds=(a, b), method="bounded", options={"xatol": 1e-5})
    x, fx = (res.x, res.fun) if res.fun <= f(grid[i]) else (grid[i], f(grid[i]))
    return x, fx, int(res.nfev) + 1


def profile_shift(state, N, sigma2, lam_scale, *, rtol=1e-8) -> ShiftOptimum:
    """Minimize ``F`` over ``lam`` at fixed shape parameters (see module notes).

    ``lam`` is searched over ``[1e-6, 1e6] * lam_scale``.
    """
    lo, hi = _lam_range(lam_scale)
    f = lambda x: float(_F_mid(state, np.array([10.0 ** x]), N, sigma2)[0][0])  # noqa: E731
    f_upper = lambda x: float(_F_mid(state, np.array([10.0 ** x]), N, sigma2)[2][0])  # noqa: E731
    if state.exact:
        # One factorization per shift: a coarse grid over the whole range (one point per
        # decade; a window around the previous optimum can sit on the flat c -> 0 plateau
        # and miss the minimum), then Brent between the neighbours of the best point.
        grid = np.linspace(lo, hi, 13)
        vals = [f(x) for x in grid]
        i = int(np.argmin(vals))
        x, fx, nev = _polish(f, grid, i)
        return ShiftOptimum(10.0 ** x, fx, fx, fx, _c_at(state, 10.0 ** x, N, sigma2), len(vals) + nev, True)
    grid = np.linspace(lo, hi, 181)
    certified, nev = False, 0
    for _ in range(8):
        dim0 = state.stats().get("subspace_dim", 0)
        _, F_lo, F_hi, _ = _F_mid(state, 10.0 ** grid, N, sigma2)
        i = int(np.argmin(F_hi))
        x, fx, n_pol = _polish(f_upper, grid, i)
        nev += grid.size + n_pol
        _, lo_star, hi_star, _ = _F_mid(state, np.array([10.0 ** x]), N, sigma2)
        cand = 10.0 ** np.append(grid[F_lo <= hi_star[0]], x)
        certified = state.refine(gap_check(cand, N, sigma2, rtol), warn=False)
        if state.stats().get("subspace_dim", 0) == dim0:
            break
    mid, lo_star, hi_star, c = _F_mid(state, np.array([10.0 ** x]), N, sigma2)
    return ShiftOptimum(10.0 ** x, float(mid[0]), float(lo_star[0]), float(hi_star[0]), float(c[0]), nev, certified)


def _moment_shift(problem, params, sigma2) -> float:
    """``sigma2 / c_ref`` with the moment estimate ``c_ref = ||g_LS||^2 / tr Kbar`` (``E||g||^2 = c tr Kbar``).

    The search covers ``c`` within six decades of ``c_ref`` either way: a prior
    scale outside that range contradicts the least-squares estimate itself.
    """
    s2 = problem.ls_noise_variance if sigma2 is None else sigma2
    g2 = max(float(problem.g_ls @ problem.g_ls), 1e-300)
    return s2 * max(problem.kernel.trace(problem.n, params), 1e-300) / g2


def _c_at(state, lam, N, sigma2) -> float:
    return float(_F_mid(state, np.array([lam]), N, sigma2)[3][0])


def tune(evaluator, problem, sigma2, *, rtol=1e-8, grid=None, progress=None, maxiter: int = 60) -> tuple:
    """Minimize ``F`` over the shape parameters and the scale (see module notes).

    Parameters
    ----------
    evaluator : evaluator object with ``prepare(params)``
    problem : FIRProblem
    sigma2 : float or None
        Fixed noise variance, or ``None`` to estimate it (``c`` profiled out).
    rtol : float
        Tolerance of the Krylov bounds on ``F``.
    grid : list of dict, optional
        Multistart values of the shape parameters (default: the kernel's grid).
    progress : callable, optional
        Called as ``progress(k, params, F)`` after each shape evaluation.
    maxiter : int
        Iteration budget of the local refinement.

    Returns
    -------
    result : TuningResult
    state : ShiftState
        The evaluator state at the optimum (for the posterior).
    """
    kernel, N = problem.kernel, problem.N
    history, cache = [], {}
    counters = {"shift": 0}
    keep = {"F": np.inf, "state": None}

    def evaluate(z):
        key = tuple(np.round(np.atleast_1d(z), 12))
        if key in cache:
            return cache[key][0]
        params = kernel.from_unconstrained(np.atleast_1d(z)) if kernel.param_names else {}
        state = evaluator.prepare(params)
        lam_scale = _moment_shift(problem, params, sigma2)
        opt = profile_shift(state, N, sigma2, lam_scale, rtol=rtol)
        counters["shift"] += opt.shift_evaluations
        cache[key] = (opt.F, params, opt)
        if opt.F < keep["F"]:  # keep only the best state (a Krylov basis can be large)
            keep.update(F=opt.F, state=state)
        history.append((params, opt.F))
        if progress is not None:
            progress(len(history), params, opt.F)
        return opt.F

    starts = grid if grid is not None else kernel.default_grid(problem.n)
    Z = np.array([kernel.to_unconstrained(p) if kernel.param_names else np.zeros(0) for p in starts])
    vals = np.array([evaluate(z) for z in Z])
    best = Z[int(np.argmin(vals))]
    dim = Z.shape[1] if Z.ndim == 2 else 0
    if dim == 1:
        zs = np.unique(Z[:, 0])
        j = int(np.searchsorted(zs, best[0]))
        step = (zs[-1] - zs[0]) / max(len(zs) - 1, 1) if len(zs) > 1 else 1.0
        a = zs[j - 1] if j > 0 else best[0] - step
        b = zs[j + 1] if j + 1 < len(zs) else best[0] + step
        minimize_scalar(lambda t: evaluate(np.array([t])), bounds=(a, b), method="bounded",
                        options={"xatol": 1e-4, "maxiter": maxiter})
    elif dim >= 2:
        spread = np.maximum(np.ptp(Z, axis=0) / 4, 0.25)
        simplex = np.vstack([best] + [best + np.eye(dim)[k] * spread[k] for k in range(dim)])
        minimize(evaluate, best, method="Nelder-Mead",
                 options={"initial_simplex": simplex, "xatol": 1e-4, "fatol": 1e-9 * abs(vals.min()),
                          "maxiter": maxiter})
    _, params, opt = min(cache.values(), key=lambda v: v[0])
    if not opt.certified:
        warnings.warn(f"{evaluator.method}: the bounds on F at the optimum are [{opt.F_lower:.10g}, "
                      f"{opt.F_upper:.10g}], wider than rtol={rtol:g}; reported as they are",
                      KrylovBudgetWarning, stacklevel=3)
    s2 = sigma2 if sigma2 is not None else opt.c * opt.lam
    result = TuningResult(params, opt, float(s2), len(history), counters["shift"], tuple(history))
    return result, keep["state"]
