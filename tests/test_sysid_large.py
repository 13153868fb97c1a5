"""The certified Krylov shift search does only the work the minimizer needs (issue 10, large sizes).

References are independent of the Krylov evaluator: ``F`` from a dense
eigendecomposition of ``Phi Kbar Phi^T`` (N x N) on a fine grid of shifts.
Each test fails when a claim is false: a "dominated" shape whose lower bound
does not lie below its true minimum, an optimum reported certified whose
bounds miss the dense value, a space that grows to the full dimension where
the resolution rule says it need not.
"""

import functools

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from krylovid.sysid import FIRProblem, ShiftBounds
from krylovid.sysid.evaluators import krylov as krylov_module
from krylovid.sysid.evaluators import make_evaluator
from krylovid.sysid.objective import F_bounds
from krylovid.sysid.tuning import _resolution, profile_shift


def make_problem(N=1000, n=300, snr=100.0, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(N)
    g = 0.9 ** np.arange(1, 61) * np.cos(0.4 * np.arange(60))
    y0 = np.convolve(u, np.r_[0.0, g])[:N]
    y = y0 + np.sqrt(np.var(y0) / snr) * rng.standard_normal(N)
    return FIRProblem(u, y, n, kernel="TC")


@functools.lru_cache(maxsize=8)
def _dense_spectrum(problem, beta):
    """Eigenvalues of the dense ``A = Phi Kbar Phi^T`` and the squared coordinates of ``y`` in its eigenbasis."""
    Phi = problem.dense_regressor
    k = np.arange(1, problem.n + 1)
    A = Phi @ (beta ** np.maximum(k[:, None], k[None, :])) @ Phi.T
    mu, V = np.linalg.eigh((A + A.T) / 2)
    return np.maximum(mu, 0.0), (V.T @ problem.y) ** 2


def dense_F(problem, beta, lam, sigma2):
    """``F`` at the shifts ``lam`` from the eigendecomposition of the dense ``A``."""
    mu, yv2 = _dense_spectrum(problem, beta)
    lam = np.atleast_1d(lam)
    q = np.array([np.sum(yv2 / (mu + s)) for s in lam])
    l = np.array([np.sum(np.log(mu + s)) for s in lam])
    c = sigma2 / lam
    return q / c + problem.N * np.log(c) + l


def dense_min(problem, beta, sigma2):
    """``(min F, argmin lam)`` over ``lam``: a grid of 0.05 decades, then Brent between the neighbours."""
    x = np.linspace(-8.0, 4.0, 241)
    F = dense_F(problem, beta, 10.0**x, sigma2)
    i = int(np.argmin(F))
    res = minimize_scalar(
        lambda t: float(dense_F(problem, beta, 10.0**t, sigma2)[0]),
        bounds=(x[max(i - 1, 0)], x[min(i + 1, x.size - 1)]),
        method="bounded",
        options={"xatol": 1e-8},
    )
    return float(min(res.fun, F[i])), float(10.0**res.x)


class _Fixed:
    """A bounds function with given ``F`` bounds (``sigma2 = 1``, ``N = 1``: ``F = q lam + l - log lam``)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = np.asarray(lo, float), np.asarray(hi, float)

    def __call__(self, lam):
        lam = np.atleast_1d(lam)
        zero = np.zeros_like(lam)
        # q = 0: F = log(1 / lam) + l, so l = F + log(lam)
        return ShiftBounds(lam, zero, zero, self.lo + np.log(lam), self.hi + np.log(lam), 0)


def test_resolution_asks_tight_bounds_only_at_the_optimum():
    x = np.array([-2.0, -1.0, 0.0, 0.5])  # the last entry is the candidate optimum
    rtol = 1e-8
    # the optimum certified; the others only excluded (lower bound above the optimum's upper bound): enough
    ok = _resolution(x, 1, 1.0, rtol)
    assert ok(_Fixed([5.0, 3.0, 2.5, 1.0], [9.0, 8.0, 7.0, 1.0]))
    # one other shift whose lower bound reaches below the optimum's upper bound: not enough
    assert not ok(_Fixed([5.0, 0.5, 2.5, 1.0], [9.0, 8.0, 7.0, 1.0]))
    # ... unless that shift lies below the rounding floor
    assert _resolution(x, 1, 1.0, rtol, floor=0.2)(_Fixed([5.0, 0.5, 2.5, 1.0], [9.0, 8.0, 7.0, 1.0]))
    # the optimum itself not certified: not enough, even with everything else excluded
    assert not ok(_Fixed([5.0, 3.0, 2.5, 0.9], [9.0, 8.0, 7.0, 1.0]))
    # a ceiling below every lower bound: the shape is dominated, nothing else is needed
    assert _resolution(x, 1, 1.0, rtol, ceiling=0.5)(_Fixed([5.0, 3.0, 2.5, 0.9], [9.0, 8.0, 7.0, 1.0]))
    assert not _resolution(x, 1, 1.0, rtol, ceiling=0.95)(_Fixed([5.0, 3.0, 2.5, 0.9], [9.0, 8.0, 7.0, 1.0]))


def test_resolution_of_an_edge():
    x = np.array([-3.0, -2.0, -1.0])
    ok = _resolution(x, 1, 1.0, 1e-8, edge=0)
    assert ok(_Fixed([0.0, 2.0, 3.0], [1.0, 4.0, 5.0]))  # proven lowest: upper bound below every other lower
    assert not ok(_Fixed([0.0, 0.5, 3.0], [1.0, 4.0, 5.0]))  # not proven, not certified
    assert ok(_Fixed([1.0, 0.5, 3.0], [1.0, 4.0, 5.0]))  # certified


@pytest.fixture(scope="module")
def problem():
    return make_problem()


def test_optimum_certified_without_the_full_space(problem):
    s2 = problem.ls_noise_variance
    ev = make_evaluator("krylov", problem, random_state=0, formulation="dual", truncate=False)
    state = ev.prepare({"beta": 0.9})
    opt = profile_shift(state, problem.N, s2, 1e-2)
    F_ref, lam_ref = dense_min(problem, 0.9, s2)
    F_at = float(dense_F(problem, 0.9, opt.lam, s2)[0])
    assert opt.certified and not opt.dominated
    assert opt.F_lower - 1e-9 * abs(F_at) <= F_at <= opt.F_upper + 1e-9 * abs(F_at)
    assert abs(opt.F - F_ref) <= 1e-8 * abs(F_ref)  # the same minimum as the dense search
    assert abs(np.log10(opt.lam / lam_ref)) < 0.02
    # away from the optimum the bounds only exclude: the space stays well below the operator's dimension
    assert state.stats()["subspace_dim"] < problem.n


def test_dominated_shape_stops_early_with_a_true_lower_bound(problem):
    s2 = problem.ls_noise_variance
    F_best, _ = dense_min(problem, 0.9, s2)
    ev = make_evaluator("krylov", problem, random_state=0, formulation="dual", truncate=False)
    full_state = ev.prepare({"beta": 0.5})
    profile_shift(full_state, problem.N, s2, 1e-2, rtol=1e-6)
    state = ev.prepare({"beta": 0.5})
    opt = profile_shift(state, problem.N, s2, 1e-2, rtol=1e-6, ceiling=F_best)
    F_true, _ = dense_min(problem, 0.5, s2)
    assert F_true > F_best  # the premise: beta = 0.5 is not the best shape here
    assert opt.dominated and not opt.certified
    F_at = float(dense_F(problem, 0.5, opt.lam, s2)[0])
    assert F_best < opt.F_lower <= F_at + 1e-9 * abs(F_at)  # a true lower bound, above the ceiling
    assert state.stats()["subspace_dim"] < full_state.stats()["subspace_dim"]
    # a ceiling above the shape's minimum never reports it dominated
    opt_hi = profile_shift(ev.prepare({"beta": 0.5}), problem.N, s2, 1e-2, rtol=1e-6, ceiling=F_true + 10.0)
    assert not opt_hi.dominated


def test_truncated_dual_grows_its_block_not_to_the_whole_dual(problem, monkeypatch):
    # a deliberately coarse truncation (tail 1e-5 of the trace): the bounds at the optimum cannot meet the
    # tolerance until the leading block grows; it must grow by steps, certify, and stay below n
    monkeypatch.setattr(krylov_module, "TAIL_RTOL", 1e-5)
    s2 = problem.ls_noise_variance
    ev = make_evaluator("krylov", problem, random_state=0, formulation="gram")
    state = ev.prepare({"beta": 0.8})
    k0 = state.k
    opt = profile_shift(state, problem.N, s2, 1e-2)
    F_ref = float(dense_F(problem, 0.8, opt.lam, s2)[0])
    assert opt.certified
    assert opt.F_lower - 1e-9 * abs(F_ref) <= F_ref <= opt.F_upper + 1e-9 * abs(F_ref)
    assert k0 < state.k < problem.n
    lo, hi, _ = F_bounds(state.bounds(np.array([opt.lam])), problem.N, s2)
    assert hi[0] - lo[0] <= 1e-8 * abs(F_ref)
