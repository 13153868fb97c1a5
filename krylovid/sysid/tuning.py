"""Hyperparameter tuning by maximum marginal likelihood (DESIGN §3, "Tuning").

Nested search.  For each value of the kernel's shape parameters ``theta``
one evaluator state is prepared (``"spectral"``: one SVD; ``"krylov"``: one
subspace), then the objective is minimized over ``lam = sigma2 / c`` alone:

* states whose bounds cost ``O(d)`` per shift (``"spectral"``, ``"krylov"``,
  ``"lanczos"``) evaluate ``F`` on a log grid of five points per decade in one
  vectorised call, then zoom in around the best point (three rounds of 11
  points, each five times finer, and a parabola through the last three):
  essentially free.  Adaptive states grow only as far as the minimizer needs:
  bounds within the tolerance at the candidate optimum ``lam*``, and at every
  other grid shift a lower bound above ``F_upper(lam*)`` (or bounds within the
  tolerance); with a ``ceiling`` (a value reached at another shape) they stop
  as soon as every shift is proven above it (:func:`profile_shift`);
* states that pay one factorization per shift (``"cholesky"``, ``"qr"``) use
  one point per decade, then a bounded Brent search between the neighbours
  of the best point.

**No clipped optimum.**  The shift range starts at ``lam_ref * 10^[-6, 6]``
(``lam_ref`` from the moment estimate of ``c``) and is extended by six
decades whenever the best shift lands on its edge, until ``F`` rises again or
a hard limit (``lam_ref * 10^[-40, 40]``) is reached; then a
:class:`SearchLimitWarning` names it.  The shift never goes below the shape's
numerical floor (:func:`numerical_floor`), where ``F`` stops being determined
by double-precision data: before it a smooth SE prior at SNR 1e4 (N = 1e4,
n = 1000) was "optimized" at c = 3e36, h = 400, where the exact evaluators
disagreed by 84 % and F was 7.9e6 against -70608 at the optimum found now.
The same holds for the shape parameters: in 1-D the bracket from the
multistart grid is pushed outwards while the best value sits on its edge
(hard limit ``|z| <= 25`` in the unconstrained coordinate: ``beta`` within
``1.4e-11`` of 0 or 1).

**Less work away from the optimum.**  Adaptive states (Krylov, truncated
spectral) get a ``ceiling`` in the multistart of a 1-D shape: the lowest
certified upper bound on ``F`` so far.  A start whose bounds prove it above
that stops there (``ShiftOptimum.dominated``), and such a bracket end is not
resolved further: its estimate is only a fit point of the parabola.

The outer search over ``theta`` (1–2 dimensions, transformed to be
unconstrained: logit / atanh / log) starts from the kernel's multistart grid
(for TC ``beta0`` in {0.5, 0.6, 0.7, 0.8, 0.9, 0.99}, as the Chen–Ljung
reference), then refines the best start: in 1-D safeguarded parabolic steps
through the best shape and its two nearest evaluated neighbours (the grid
included) inside the bracket, stopping when a parabola through nearby points
predicts a decrease below ``FTOL |F|`` (:func:`_parabola_min`); Nelder–Mead in
2-D.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from .evaluators import KrylovBudgetWarning
from .objective import F_bounds, F_estimate, _meets, gap_check

__all__ = ["TuningResult", "ShiftOptimum", "SearchLimitWarning", "tune", "profile_shift"]

#: Decades of ``lam`` searched first on either side of the reference shift, and the hard limit.
LAM_SPAN, LAM_HARD_SPAN = 6.0, 40.0
#: Numerical floor of the shift (:func:`numerical_floor`): below ``lam = 4 (eps sqrt(n) / DETERMINACY_T)^2 tr(A)``
#: the rounding-level directions of ``B = Phi L`` (backward error ``~ 2 eps sqrt(n) ||B||``) move the log-det and
#: data-fit terms of an eigenvalue near ``lam`` by more than ``DETERMINACY_T`` relative: ``F`` is no longer
#: determined by the double-precision data (the exact evaluators disagree there), so the search stops at it.
DETERMINACY_T = 1e-3
#: Tolerance of the first, proving pass at a shape (see :func:`tune`).
LOOSE_RTOL = 1e-6
#: Shifts below this many times the estimator's rounding allowance need not be certified away from the optimum.
FLOOR_FACTOR = 10.0
#: Relative decrease of ``F`` below which the 1-D shape search stops (the parabola's prediction) ...
FTOL = 1e-9
#: ... when its three points lie within this distance of the best one (a reliable local model).
NEAR = 0.05
#: Width of the bracket below which the 1-D shape search stops whatever the prediction.
ZTOL = 1e-7
#: Hard limit of the unconstrained shape coordinate (logit 25: ``beta`` within 1.4e-11 of 0 or 1).
Z_HARD = 25.0


class SearchLimitWarning(RuntimeWarning):
    """The best value of a hyperparameter lies at a hard limit of its search interval."""


@dataclass(frozen=True)
class ShiftOptimum:
    """Minimum over ``lam`` at fixed shape parameters.

    Attributes
    ----------
    lam, c : float
        Optimal shift and scale (``c > 0``).
    F, F_lower, F_upper : float
        Objective at the optimum and its bounds.
    shift_evaluations : int
        Shifts at which ``F`` was evaluated.
    certified : bool
        Whether the bounds meet the tolerance at the optimum.
    at_limit : str or None
        ``"lam_min"`` / ``"lam_max"`` when the optimum sits at a hard limit of the shift range,
        ``"lam_floor"`` at its numerical floor (:func:`numerical_floor`).
    dominated : bool
        The search stopped once the bounds proved ``F > ceiling`` at every shift
        (see :func:`profile_shift`): ``F_lower`` is then certified, ``F`` and
        ``lam`` are only estimates.
    """

    lam: float
    F: float
    F_lower: float
    F_upper: float
    c: float
    shift_evaluations: int
    certified: bool
    at_limit: str | None = None
    dominated: bool = False


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
        Shape-parameter values evaluated (SVDs or subspaces built).
    n_shift_evaluations : int
        Shift evaluations in total (factorizations for the exact per-shift methods).
    history : tuple of (dict, float)
        ``(params, F)`` for every shape value evaluated, in order.
    limits : tuple of str
        Hard search limits the optimum touches (empty when interior).
    """

    params: dict
    optimum: ShiftOptimum
    noise_variance: float
    n_evaluations: int
    n_shift_evaluations: int
    history: tuple
    limits: tuple = ()


def _F_mid(state, lam, N, sigma2):
    """``(F_estimate, F_lower, F_upper, c)`` at shifts ``lam``."""
    b = state.bounds(lam)
    lo, hi, c = F_bounds(b, N, sigma2)
    return np.clip(F_estimate(b, N, sigma2), lo, hi), lo, hi, c


def _zoom(fvec, x, h, lo, hi):
    """Refine a grid minimum of ``fvec`` (vectorised over log10 lam) near ``x`` with spacing ``h``."""
    nev = 0
    for _ in range(3):
        xs = np.linspace(max(lo, x - h), min(hi, x + h), 11)
        F = fvec(xs)
        nev += xs.size
        j = int(np.argmin(F))
        x, fx, h = xs[j], F[j], xs[1] - xs[0]
    if 0 < j < xs.size - 1:  # vertex of the parabola through the last three points
        f0, f1, f2 = F[j - 1], F[j], F[j + 1]
        den = f0 - 2.0 * f1 + f2
        if den > 0:
            xv = x + 0.5 * h * (f0 - f2) / den
            fv = float(fvec(np.array([xv]))[0])
            nev += 1
            if fv < fx:
                x, fx = xv, fv
    return x, fx, nev


def numerical_floor(state) -> float:
    """The smallest shift at which ``F`` is determined by double-precision data (0 when unknown).

    ``4 (eps sqrt(n) / DETERMINACY_T)^2 tr(A)`` with ``tr(A) = tr(Phi Kbar Phi^T) >= ||A||``: with
    ``delta_B = 2 eps sqrt(n) ||B||`` the backward error of the prior's square root times the regressors,
    an eigenvalue near ``lam`` moves by ``~ 2 sqrt(lam) delta_B``, i.e. by ``DETERMINACY_T`` relative at the floor.
    A degenerate optimum (``c -> infinity`` on a nearly rank-deficient prior: SE with a bandwidth close to ``n``)
    would otherwise be resolved on rounding noise.
    """
    known = state.trace_and_order() if hasattr(state, "trace_and_order") else None
    if known is None:
        return 0.0
    trace, n = known
    eps = float(np.finfo(np.float64).eps)
    return 4.0 * (eps * np.sqrt(n) / DETERMINACY_T) ** 2 * max(float(trace), 0.0)


def _polish(f, grid, i):
    """Bounded Brent on ``f(log10 lam)`` between the grid neighbours of index ``i``."""
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    if b <= a:
        return grid[i], f(grid[i]), 1
    res = minimize_scalar(f, bounds=(a, b), method="bounded", options={"xatol": 1e-5})
    x, fx = (res.x, res.fun) if res.fun <= f(grid[i]) else (grid[i], f(grid[i]))
    return x, fx, int(res.nfev) + 1


def _search_grid(fvec, lo, hi, hard_lo, hard_hi, per_decade, trusted=None, floor_x=-np.inf):
    """Grid of ``per_decade`` points per decade on ``[lo, hi]``, extended by ``LAM_SPAN`` decades while the
    minimum sits on an edge that is not a hard limit (and, with ``trusted``, while the value there is
    trustworthy: ``trusted(grid, i)`` says whether index ``i`` of ``grid`` may be believed to be the minimum;
    an unproven bound is no reason to search further).  A window above ``floor_x`` is extended to it at most;
    below it only where ``trusted`` allows.  Returns ``(grid, values, i, nev, limit)``."""
    nev = 0
    while True:
        grid = np.linspace(lo, hi, int(round((hi - lo) * per_decade)) + 1)
        vals = fvec(grid)
        nev += grid.size
        i = int(np.argmin(vals))
        if i in (0, grid.size - 1) and trusted is not None and not trusted(grid, i):
            # not searched further; at a hard limit the search could not have gone on anyway: name it
            hard = (i == 0 and lo <= hard_lo) or (i == grid.size - 1 and hi >= hard_hi)
            return grid, vals, i, nev, ("lam_min" if i == 0 else "lam_max") if hard else None
        if i == 0 and lo > hard_lo:
            lo = max(hard_lo, lo - LAM_SPAN, floor_x if lo > floor_x else -np.inf)
        elif i == grid.size - 1 and hi < hard_hi:
            hi = min(hard_hi, hi + LAM_SPAN)
        else:
            limit = "lam_min" if i == 0 else ("lam_max" if i == grid.size - 1 else None)
            return grid, vals, i, nev, limit


def _resolution(x, N, sigma2, rtol, ceiling=None, edge=None, floor=0.0):
    """The growth target of an adaptive state on the shifts ``10**x``; a predicate on a bounds function.

    With ``lo, hi`` the bounds of ``F`` at the shifts and ``F_up = min(hi)``
    (a certified upper bound of the minimum), the space is large enough when

    * ``ceiling`` is given and ``min(lo) > ceiling``: no shift can beat the
      ceiling (the shape is not the minimizer), or
    * ``edge`` is an index and ``hi[edge] <= min(lo)``: that shift is proven
      to be the lowest (``F`` decreases towards the edge of the window), or
    * the bounds at index ``-1`` (the candidate optimum) meet ``rtol`` and every
      other shift either meets ``rtol``, is excluded (``lo > F_up``) or lies
      below the estimator's rounding floor ``floor`` (where no space certifies).

    So only the optimum needs tight bounds; a shift far from it only needs a
    lower bound above the optimum's upper bound, not ``rtol``.
    """
    lam = 10.0 ** np.asarray(x, dtype=np.float64)

    def ok(bounds_fn, q_only: bool = False) -> bool:
        b = bounds_fn(lam)
        if q_only:
            b = replace(b, l_upper=b.l_lower)
        lo, hi, _ = F_bounds(b, N, sigma2)
        if ceiling is not None and np.min(lo) > ceiling:
            return True
        if edge is not None:
            others = np.delete(lo, edge)
            return bool(_meets(lo[edge], hi[edge], rtol) or others.size == 0 or hi[edge] <= np.min(others))
        met = _meets(lo, hi, rtol)
        return bool(met[-1] and np.all(met | (lo > np.min(hi)) | (lam <= floor)))

    return ok


def profile_shift(state, N, sigma2, lam_scale, *, rtol=1e-8, ceiling=None) -> ShiftOptimum:
    """Minimize ``F`` over ``lam`` at fixed shape parameters (see module notes).

    Parameters
    ----------
    state : ShiftState
    N : int
    sigma2 : float or None
        Fixed noise variance, or ``None`` (``c`` profiled out).
    lam_scale : float
        Reference shift; the search starts on ``lam_scale * 10^[-6, 6]`` and is
        extended up to ``lam_scale * 10^[-40, 40]`` while the minimum sits on an edge.
    rtol : float
        Tolerance of the bounds on ``F`` at the optimum (adaptive states).
    ceiling : float, optional
        A value of ``F`` already reached elsewhere (adaptive states): the space
        stops growing as soon as its bounds prove ``F > ceiling`` at every
        shift of the window, and the result says ``dominated=True`` (its ``F``
        is then an estimate, ``F_lower`` a certified lower bound above ``ceiling``).

    Returns
    -------
    ShiftOptimum

    Notes
    -----
    An adaptive state (``"krylov"``) grows only as far as the minimizer over
    ``lam`` needs: tight bounds (``rtol``) at the candidate optimum, and at
    every other shift of the grid a lower bound above the optimum's upper bound
    (:func:`_resolution`).  The window is extended past an edge only where the
    bounds prove the edge to be the lowest value (or certify it).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> from krylovid.sysid.evaluators import make_evaluator
    >>> rng = np.random.default_rng(0)
    >>> u = rng.standard_normal(400)
    >>> y = np.convolve(u, 0.8 ** np.arange(30))[:400] + 0.1 * rng.standard_normal(400)
    >>> p = FIRProblem(u, y, 40)
    >>> state = make_evaluator("krylov", p, random_state=0).prepare({"beta": 0.8})
    >>> opt = profile_shift(state, p.N, p.ls_noise_variance, 1e-3)
    >>> bool(opt.certified and opt.c > 0)
    True
    """
    ref = float(np.log10(lam_scale))
    lo, hi = ref - LAM_SPAN, ref + LAM_SPAN
    hard_lo, hard_hi = max(ref - LAM_HARD_SPAN, -300.0), min(ref + LAM_HARD_SPAN, 300.0)
    floor = numerical_floor(state)
    at_floor = floor > 0 and np.log10(floor) > hard_lo
    if at_floor:
        hard_lo = float(np.log10(floor))
        lo, hi = max(lo, hard_lo), max(hi, hard_lo + 1.0)
    opt = _profile_shift(state, N, sigma2, (lo, hi, hard_lo, hard_hi), rtol, ceiling)
    if at_floor and opt.at_limit == "lam_min":
        opt = replace(opt, at_limit="lam_floor")
    return opt


def _profile_shift(state, N, sigma2, window, rtol, ceiling) -> ShiftOptimum:
    """:func:`profile_shift` on the window ``(lo, hi, hard_lo, hard_hi)`` (``log10 lam``)."""
    lo, hi, hard_lo, hard_hi = window

    def fvec(x, which=0):
        return _F_mid(state, 10.0 ** np.asarray(x, dtype=np.float64), N, sigma2)[which]

    if not getattr(state, "vectorized", not state.exact):
        # one factorization per shift: one point per decade, then Brent between the neighbours; a shift
        # the factorization cannot handle (dense Cholesky of A + lam I with lam below the rounding level
        # of A) counts as +inf and is not searched past
        def f(x):
            try:
                return float(fvec(np.array([x]))[0])
            except np.linalg.LinAlgError:
                return np.inf

        grid, vals, i, nev, limit = _search_grid(
            lambda g: np.array([f(x) for x in g]),
            lo,
            hi,
            hard_lo,
            hard_hi,
            1,
            lambda g, j: np.isfinite(f(g[j])),
        )
        x, fx, n_pol = _polish(f, grid, i)
        lam = 10.0**x
        return ShiftOptimum(lam, fx, fx, fx, _c_at(state, lam, N, sigma2), nev + n_pol, True, limit)
    if state.exact:
        grid, _, i, nev, limit = _search_grid(fvec, lo, hi, hard_lo, hard_hi, 5)
        x, _, n_zoom = _zoom(fvec, grid[i], grid[1] - grid[0], grid[0], grid[-1])
        return _optimum_at(state, x, N, sigma2, nev + n_zoom, True, limit)
    return _adaptive_shift(state, fvec, N, sigma2, (lo, hi, hard_lo, hard_hi), rtol, ceiling)


def _adaptive_shift(state, fvec, N, sigma2, window, rtol, ceiling) -> ShiftOptimum:
    """:func:`profile_shift` for a state whose space grows (``refine``) until its bounds resolve the minimizer."""
    lo, hi, hard_lo, hard_hi = window
    nev, limit, x = 0, None, 0.5 * (lo + hi)
    q_only = state.method == "lanczos"  # its log-det interval is statistical: only the data fit is checked

    def upper(g):  # the certified upper bound: what the search minimizes
        return fvec(g, 2)

    def trusted(g, i):
        # extend the window past edge i only when the bounds prove it is the lowest value (or certify it);
        # at or below the rounding floor only when they certify it (a square-root rounding model may)
        floor = FLOOR_FACTOR * float(state.stats().get("rounding") or 0.0)
        if 10.0 ** g[i] <= floor:
            return state.refine(gap_check(np.array([10.0 ** g[i]]), N, sigma2, rtol), warn=False)
        return state.refine(_resolution(g, N, sigma2, rtol, edge=i), warn=False)

    for _ in range(12):
        dim0 = state.stats().get("subspace_dim", 0)
        if ceiling is not None:
            g = np.linspace(lo, hi, int(round((hi - lo) * 5)) + 1)
            if float(np.min(fvec(g, 1))) > ceiling:
                return _optimum_at(state, g[int(np.argmin(upper(g)))], N, sigma2, nev + g.size, False, None, True)
        floor_x = float(np.log10(max(FLOOR_FACTOR * float(state.stats().get("rounding") or 0.0), 1e-300)))
        grid, _, i, n_grid, limit = _search_grid(upper, lo, hi, hard_lo, hard_hi, 5, trusted, floor_x)
        lo, hi = grid[0], grid[-1]
        x, _, n_zoom = _zoom(upper, grid[i], grid[1] - grid[0], lo, hi)
        nev += n_grid + n_zoom
        floor = FLOOR_FACTOR * float(state.stats().get("rounding") or 0.0)
        state.refine(_resolution(np.append(grid, x), N, sigma2, rtol, ceiling, floor=floor), warn=False)
        if state.stats().get("subspace_dim", 0) == dim0:
            break
    _, F_lo, _, _ = _F_mid(state, 10.0**grid, N, sigma2)
    if ceiling is not None and float(np.min(F_lo)) > ceiling:
        return _optimum_at(state, x, N, sigma2, nev, False, limit, True)
    # certified = the bounds at the reported optimum meet rtol (shifts below the rounding floor of the
    # estimator may stay unresolved; they cannot be the reported optimum, whose upper bound is minimal)
    certified = gap_check(np.array([10.0**x]), N, sigma2, rtol)(state.bounds, q_only=q_only)
    return _optimum_at(state, x, N, sigma2, nev, certified, limit)


def _optimum_at(state, x, N, sigma2, nev, certified, limit, dominated=False) -> ShiftOptimum:
    mid, lo_star, hi_star, c = _F_mid(state, np.array([10.0**x]), N, sigma2)
    return ShiftOptimum(
        10.0**x,
        float(mid[0]),
        float(lo_star[0]),
        float(hi_star[0]),
        float(c[0]),
        nev,
        bool(certified),
        limit,
        dominated,
    )


def _moment_shift(problem, params, sigma2) -> float:
    """``sigma2 / c_ref`` with the moment estimate ``c_ref = ||g_LS||^2 / tr Kbar`` (``E||g||^2 = c tr Kbar``)."""
    s2 = problem.ls_noise_variance if sigma2 is None else sigma2
    g2 = max(float(problem.g_ls @ problem.g_ls), 1e-300)
    return s2 * max(problem.kernel.trace(problem.n, params), 1e-300) / g2


def _c_at(state, lam, N, sigma2) -> float:
    return float(_F_mid(state, np.array([lam]), N, sigma2)[3][0])


def _bracket(evaluate, zs, vals):
    """Push a 1-D bracket outwards while its best point is an end point; return ``(a, b, c)`` or a limit name."""
    zs, vals = list(zs), list(vals)
    step = (zs[-1] - zs[0]) / max(len(zs) - 1, 1) if len(zs) > 1 else 1.0
    while True:
        i = int(np.argmin(vals))
        if 0 < i < len(zs) - 1:
            return (zs[i - 1], zs[i], zs[i + 1]), None
        side = -1 if i == 0 else 1
        if abs(zs[i]) >= Z_HARD:
            return (zs[max(i - 1, 0)], zs[i], zs[min(i + 1, len(zs) - 1)]), "low" if side < 0 else "high"
        step *= 1.6
        z_new = float(np.clip(zs[i] + side * step, -Z_HARD, Z_HARD))
        f_new = evaluate(np.array([z_new]))
        if side < 0:
            zs.insert(0, z_new)
            vals.insert(0, f_new)
        else:
            zs.append(z_new)
            vals.append(f_new)


_GOLD = 0.3819660112501051


def _vertex(pts):
    """Vertex and predicted value of the parabola through three ``(z, f)`` points (``nan`` unless convex)."""
    (x0, f0), (x1, f1), (x2, f2) = sorted(pts)
    d01, d12 = x1 - x0, x2 - x1
    if not (d01 > 0 and d12 > 0):
        return np.nan, np.nan
    s01, s12 = (f1 - f0) / d01, (f2 - f1) / d12
    curv = (s12 - s01) / (x2 - x0)  # half the second derivative
    if not curv > 0:
        return np.nan, np.nan
    v = 0.5 * (x0 + x1) - 0.5 * s01 / curv
    return v, f0 + s01 * (v - x0) + curv * (v - x0) * (v - x1)


def _parabola_min(f, a, b, c, fa, fb, fc, ftol, maxiter, known=()):
    """Minimize ``f`` on the bracket ``a < b < c`` (``f(b) <= f(a), f(c)``) by safeguarded parabolic steps.

    Each step goes to the vertex of the parabola through the best point and
    the two evaluated points nearest to it (Brent's choice: far bracket ends
    make the parabola slow); a golden-section step into the larger segment
    replaces it when the vertex leaves the bracket or the parabola is not
    convex.  Stops when the parabola through points within ``NEAR`` of the best
    one predicts a decrease below ``ftol``, when the vertex coincides with the
    best point, or when the bracket is narrower than ``ZTOL``.  ``known``: further ``(z, f)`` pairs already
    evaluated (used as fit points only).
    """
    pts = {round(float(z), 12): fz for z, fz in (*known, (a, fa), (b, fb), (c, fc))}
    for _ in range(maxiter):
        if c - a < ZTOL:
            break
        near = sorted(pts, key=lambda z: abs(z - b))[:3]
        v, fv_pred = _vertex([(z, pts[z]) for z in near])
        tiny = 1e-7 * (c - a) + 1e-10
        if np.isfinite(v) and a < v < c:
            if abs(v - b) < tiny or (fb - fv_pred < ftol and max(abs(z - b) for z in near) < NEAR):
                break
            if v - a < tiny or c - v < tiny:  # never evaluate on top of a bracket end
                v = b + (tiny if v > b else -tiny)
        else:
            v = b + _GOLD * (c - b) if (c - b) >= (b - a) else b - _GOLD * (b - a)
        fv = f(v)
        pts[round(float(v), 12)] = fv
        if fv < fb:
            a, c = (a, b) if v < b else (b, c)
            b, fb = v, fv
        elif v < b:
            a = v
        else:
            c = v
    return b, fb


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

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> from krylovid.sysid.evaluators import make_evaluator
    >>> rng = np.random.default_rng(0)
    >>> u = rng.standard_normal(300)
    >>> y = np.convolve(u, np.r_[0.0, 0.7 ** np.arange(20)])[:300] + 0.1 * rng.standard_normal(300)
    >>> p = FIRProblem(u, y, 30)
    >>> res, state = tune(make_evaluator("spectral", p), p, p.ls_noise_variance)
    >>> bool(0.5 < res.params["beta"] < 0.95 and res.optimum.c > 0)
    True
    """
    kernel, N = problem.kernel, problem.N
    history, cache = [], {}
    counters = {"shift": 0}
    keep = {"F": np.inf, "state": None, "F_certified": np.inf, "state_certified": None}

    def evaluate(z, loose=False, ceiling=None):
        """``F`` at the shape ``z`` (unconstrained coordinates); ``loose``: bounds to ``LOOSE_RTOL`` only, and
        with a ``ceiling`` only until they prove ``F > ceiling`` (then the value is an estimate: ``dominated``)."""
        key = tuple(np.round(np.atleast_1d(z), 12))
        hit = cache.get(key)
        if hit is not None and (loose or hit[3]):
            return hit[0]
        if hit is None:
            params = kernel.from_unconstrained(np.atleast_1d(z)) if kernel.param_names else {}
            state = evaluator.prepare(params)
        else:
            params, state = hit[1], hit[4]
        tol = max(rtol, LOOSE_RTOL) if loose and not state.exact else rtol
        opt = profile_shift(
            state, N, sigma2, _moment_shift(problem, params, sigma2), rtol=tol, ceiling=ceiling if loose else None
        )
        counters["shift"] += opt.shift_evaluations
        tight = tol == rtol
        cache[key] = (opt.F, params, opt, tight, None if tight else state)
        if tight and opt.F < keep["F"]:  # keep only the best states (a Krylov basis can be large)
            keep.update(F=opt.F, state=state)
        if tight and opt.certified and opt.F < keep["F_certified"]:
            keep.update(F_certified=opt.F, state_certified=state)
        if hit is None:
            history.append((params, opt.F))
            if progress is not None:
                progress(len(history), params, opt.F)
        return opt.F

    starts = grid if grid is not None else kernel.default_grid(problem.n)
    Z = np.array([kernel.to_unconstrained(p) if kernel.param_names else np.zeros(0) for p in starts])
    # Multistart: every start with loose bounds first -- a start whose bounds prove it above the best certified
    # upper bound so far stops there (dominated) -- then to rtol those that could still be the best.
    # (1-D shape only: the 2-D model search fits every value so far; not "lanczos": its log-det bounds are statistical)
    use_ceiling = Z.ndim == 2 and Z.shape[1] == 1 and evaluator.method != "lanczos"
    vals = np.array([evaluate(z, loose=True, ceiling=_ceiling(cache) if use_ceiling else None) for z in Z])
    best_upper = min(cache[tuple(np.round(np.atleast_1d(z), 12))][2].F_upper for z in Z)
    for z in Z[np.argsort(vals)]:
        if cache[tuple(np.round(np.atleast_1d(z), 12))][2].F_lower <= best_upper + LOOSE_RTOL * abs(best_upper):
            evaluate(z)
    vals = np.array([evaluate(z, loose=True) for z in Z])
    best = Z[int(np.argmin(vals))]
    dim = Z.shape[1] if Z.ndim == 2 else 0
    limits = []
    if dim == 1:
        zs = np.unique(Z[:, 0])
        (a, b, c), edge = _bracket(evaluate, zs, [evaluate(np.array([z]), loose=True) for z in zs])
        if edge is not None:
            limits.append(f"{kernel.param_names[0]}_{edge}")
        if a < b < c:  # (at a hard limit the best point ends the bracket: the profile is flat there)
            f1 = lambda t: evaluate(np.array([t]))  # noqa: E731
            fb = f1(b)
            # a bracket end proven above another shape's upper bound is not resolved further: its estimate is
            # only a fit point of the parabola (at N = 1e6 resolving beta = 0.99 cost most of the fit)
            fa, fc = (evaluate(np.array([t]), loose=_dominated(cache, t)) for t in (a, c))
            known = [(key[0], hit[0]) for key, hit in cache.items()]  # every shape value so far (fit points)
            _parabola_min(f1, a, b, c, fa, fb, fc, FTOL * max(abs(fb), 1.0), maxiter, known)
    elif dim >= 2:
        spread = np.maximum(np.ptp(Z, axis=0) / 4, 0.25)
        simplex = np.vstack([best] + [best + np.eye(dim)[k] * spread[k] for k in range(dim)])
        minimize(
            lambda z: evaluate(np.clip(z, -Z_HARD, Z_HARD)),
            best,
            method="Nelder-Mead",
            options={"initial_simplex": simplex, "xatol": 1e-4, "fatol": 1e-9 * abs(vals.min()), "maxiter": maxiter},
        )
    # the best certified shape; only when none is certified, the best of all (and a warning below)
    tight = [(k, v) for k, v in cache.items() if v[3]]
    certified = [(k, v) for k, v in tight if v[2].certified]
    key, (_, params, opt, _, _) = min(certified or tight, key=lambda kv: kv[1][0])
    if dim >= 2:
        limits += [
            f"{name}_{'low' if zk < 0 else 'high'}"
            for name, zk in zip(kernel.param_names, key, strict=True)
            if abs(zk) >= Z_HARD - 1e-9
        ]
    if opt.at_limit is not None:
        limits.append(opt.at_limit)
    _warn_limits(limits, params, opt)
    if not opt.certified:
        warnings.warn(
            f"{evaluator.method}: the bounds on F at the optimum are [{opt.F_lower:.10g}, "
            f"{opt.F_upper:.10g}], wider than rtol={rtol:g}; reported as they are",
            KrylovBudgetWarning,
            stacklevel=3,
        )
    s2 = sigma2 if sigma2 is not None else opt.c * opt.lam
    result = TuningResult(params, opt, float(s2), len(history), counters["shift"], tuple(history), tuple(limits))
    return result, keep["state_certified"] if certified else keep["state"]


def _ceiling(cache) -> float | None:
    """The lowest certified upper bound on ``F`` among the shapes evaluated so far (None before the first)."""
    ups = [hit[2].F_upper for hit in cache.values() if hit[2].certified and not hit[2].dominated]
    return min(ups) if ups else None


def _dominated(cache, z) -> bool:
    """Whether the shape ``z`` (1-D) was evaluated and proven above the ceiling of its time."""
    hit = cache.get(tuple(np.round(np.atleast_1d(z), 12)))
    return hit is not None and hit[2].dominated


def _warn_limits(limits, params, opt) -> None:
    """One :class:`SearchLimitWarning` naming the hard limits the optimum touches."""
    if not limits:
        return
    what = {
        "lam_min": f"c -> infinity (lam = {opt.lam:.3g}, {LAM_HARD_SPAN:g} decades below the moment estimate)",
        "lam_max": f"c -> 0 (lam = {opt.lam:.3g}, {LAM_HARD_SPAN:g} decades above the moment estimate: "
        "the data support no impulse response)",
        "lam_floor": f"lam -> 0 stopped at the numerical floor lam = {opt.lam:.3g} of this shape (below it F is "
        "not determined in double precision: noise-free data, or a prior numerically rank-deficient at this scale)",
    }
    text = "; ".join(
        what.get(
            k,
            f"{k.rsplit('_', 1)[0]} = {params.get(k.rsplit('_', 1)[0], float('nan')):.12g}: F does not rise "
            f"towards the {k.rsplit('_', 1)[1]} end of its range (searched to the hard limit |z| = {Z_HARD:g} of "
            "its unconstrained coordinate; a flat F there means the prior no longer changes, e.g. SE with h "
            "below 0.2 is the ridge prior)",
        )
        for k in limits
    )
    warnings.warn(
        f"the marginal-likelihood optimum lies at a hard search limit: {text}", SearchLimitWarning, stacklevel=3
    )
