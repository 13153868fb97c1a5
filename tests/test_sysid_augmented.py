"""The square-root rounding model of the augmented Krylov estimator (DESIGN §3, item 6).

``A = B B^T`` with a factor whose singular values span 1 .. 1e-9 and shifts down to
``lam = 1e-16 ||A||``.  The reference is independent of the estimator: ``q`` and ``log det`` from a
long-double Householder QR of ``[B^T; sqrt(lam) I]`` (no squared condition number).  A perturbed factor
``B + E`` (``||E||`` far above rounding) given with its true backward error must still yield bounds that
contain the truth of ``B``; given with a false (zero) error the bounds miss it, so these tests can fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from krylovid.operators import Dense
from krylovid.sysid import AugmentedKrylov, KernelFIR, augmented, evaluate_objective
from krylovid.sysid.evaluators import krylov as krylov_ev
from krylovid.sysid.simulate import random_system, simulate_data

D = 60
LAM = np.logspace(-16, -2, 15)


def householder_r(X):
    """R factor of a tall ``X`` (Householder reflections in the dtype of ``X``)."""
    R = X.copy()
    for j in range(R.shape[1]):
        x = R[j:, j]
        v = x.copy()
        v[0] += np.sqrt(x @ x) if x[0] >= 0 else -np.sqrt(x @ x)
        v /= np.sqrt(v @ v)
        R[j:, j:] -= 2 * np.outer(v, v @ R[j:, j:])
    return R[: R.shape[1], :]


def reference(B, b, lam):
    """``q = b^T (B B^T + lam I)^{-1} b`` and ``log det(B B^T + lam I)`` in long double."""
    Bl, bl = B.astype(np.longdouble), b.astype(np.longdouble)
    q, logdet = [], []
    for s in lam:
        R = householder_r(np.concatenate([Bl.T, np.sqrt(np.longdouble(s)) * np.eye(B.shape[0], dtype=np.longdouble)]))
        z = np.zeros(B.shape[0], dtype=np.longdouble)
        for i in range(z.size):  # R^T z = b
            z[i] = (bl[i] - R[:i, i] @ z[:i]) / R[i, i]
        q.append(float(z @ z))
        logdet.append(float(2 * np.sum(np.log(np.abs(np.diag(R))))))
    return np.array(q), np.array(logdet)


def make_factor(seed=0):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((D, D)))
    V, _ = np.linalg.qr(rng.standard_normal((D, D)))
    s = np.logspace(0, -9, D)
    B = (U * s) @ V.T
    b = B @ rng.standard_normal(D) + 1e-6 * rng.standard_normal(D)  # signal plus a little noise
    return B, b


def estimator(B, b, factor=None, rounding=None, dim=D):
    est = AugmentedKrylov(Dense(B @ B.T), b, trace=float(np.sum(B * B)), block_size=4, rng=0, deflation_tol=0.0)
    est.extend_to(dim)
    if factor is not None:
        est.attach_factor(Dense(factor), rounding=rounding)
    return est


def contains(bd, q, logdet, rtol=1e-13):
    return (
        np.all(bd.q_lower <= q * (1 + rtol))
        and np.all(q <= bd.q_upper * (1 + rtol))
        and np.all(bd.l_lower <= logdet + rtol * np.abs(logdet))
        and np.all(logdet <= bd.l_upper + rtol * np.abs(logdet))
    )


def test_square_root_model_is_true_and_tight_at_tiny_shifts():
    B, b = make_factor()
    q, logdet = reference(B, b, LAM)
    shift_only = estimator(B, b).bounds(LAM)
    assert contains(shift_only, q, logdet)
    bd = estimator(B, b, factor=B).bounds(LAM)
    assert contains(bd, q, logdet)
    # the lam-shift model gives up below lam ~ 8 eps ||A||; the square-root model stays within 1e-6 there
    assert np.all(shift_only.q_upper[:3] == np.inf) or np.all(shift_only.q_upper[:3] >= 1.1 * q[:3])
    assert np.all((bd.q_upper - bd.q_lower) <= 1e-6 * q)
    assert np.all((bd.l_upper - bd.l_lower) <= 1e-6 * np.abs(logdet))
    # and to 1e-9 once lam >= 1e-10 ||A||
    big = LAM >= 1e-10
    assert np.all((bd.q_upper - bd.q_lower)[big] <= 1e-9 * q[big])


@pytest.mark.parametrize("dim", [24, D])
def test_perturbed_factor_with_its_backward_error_brackets_the_truth(dim):
    """``W`` from ``B + E`` with ``||E|| = 1e-11 ||B||`` (10^5 times rounding): the bounds for ``B B^T``
    hold when ``delta_B = ||E||`` is declared, on a complete and on a partial space."""
    B, b = make_factor(1)
    rng = np.random.default_rng(2)
    E = rng.standard_normal((D, D))
    E *= 1e-11 / np.linalg.norm(E, 2)
    q, logdet = reference(B, b, LAM)
    bd = estimator(B, b, factor=B + E, rounding=1e-11 * (1 + 1e-6), dim=dim).bounds(LAM)
    assert contains(bd, q, logdet)


def test_a_false_backward_error_makes_the_bounds_miss():
    """The same perturbed factor declared exact (``delta_B = 0``): the bounds exclude the truth somewhere,
    so the containment assertions above are able to fail."""
    B, b = make_factor(1)
    rng = np.random.default_rng(2)
    E = rng.standard_normal((D, D))
    E *= 1e-11 / np.linalg.norm(E, 2)
    q, logdet = reference(B, b, LAM)
    bd = estimator(B, b, factor=B + E, rounding=0.0).bounds(LAM)
    assert not contains(bd, q, logdet)


def test_attach_factor_validates_its_arguments():
    B, b = make_factor()
    est = estimator(B, b, dim=8)
    with pytest.raises(ValueError, match="rows"):
        est.attach_factor(Dense(B[:10]))
    with pytest.raises(ValueError, match="rounding"):
        est.attach_factor(Dense(B), rounding=-1.0)
    with pytest.raises(ValueError, match="mismatch"):
        est.attach_factor(Dense(B), mismatch=float("nan"))
    assert not est.has_factor
    est.attach_factor(Dense(B))
    assert est.has_factor and est.factor_delta() > 0


def orthonormal_longdouble(Q):
    """An orthonormal basis of ``span(Q)`` in long double (modified Gram-Schmidt, twice)."""
    X = Q.astype(np.longdouble)
    for _ in range(2):
        for j in range(X.shape[1]):
            for i in range(j):
                X[:, j] -= (X[:, i] @ X[:, j]) * X[:, i]
            X[:, j] /= np.sqrt(X[:, j] @ X[:, j])
    return X


@pytest.mark.parametrize("dim", [30, 45, 55])
def test_deflated_tail_bounds_the_true_remainder_and_is_tight(dim):
    """``tr(Q_perp^T B B^T Q_perp)`` of the computed space (long-double reference) lies below the direct bound,
    which is within 1 % of it plus 1e-6 of the trace-difference rounding guard that it replaces."""
    B, b = make_factor(3)
    est = estimator(B, b, factor=B, dim=dim)
    Qo = orthonormal_longdouble(np.asarray(est.basis()[0]))
    Bl = B.astype(np.longdouble)
    P = Bl - Qo @ (Qo.T @ Bl)
    true = float(np.sum(P * P))
    tail = est.deflated_tail()
    guard = est._trace_guard()
    assert true <= tail <= 1.01 * true + 1e-6 * guard


def test_deflated_tail_needs_a_factor_and_an_affordable_size(monkeypatch):
    B, b = make_factor(3)
    assert estimator(B, b, dim=30).deflated_tail() == np.inf  # no factor: no direct remainder
    est = estimator(B, b, factor=B, dim=30)
    monkeypatch.setattr(augmented, "DEFLATED_TAIL_MAX_ENTRIES", D * D - 1)
    assert est.deflated_tail() == np.inf


def _dc_high_snr_case():
    """DC kernel, N = 1000, n = 100, SNR 1e4, white input: 30 scales around the ML optimum."""
    rng = np.random.default_rng(4)
    system = random_system(4, "fast", rng=rng)
    u = rng.standard_normal(1000)
    d = simulate_data(system, 1000, snr=1e4, rng=rng, input=u)
    hp = dict(KernelFIR(order=100, kernel="DC", random_state=0).fit(d.u, d.y).hyperparameters_)
    hp["c"] = hp["c"] * np.logspace(-2, 2, 30)
    return d.u, d.y, hp


def test_high_snr_values_certify_below_the_full_dimension(monkeypatch):
    """The deflated remainder and residual certify every value at about half the dimension; the bounds
    contain the exact (QR) F.  Without them (the trace-difference remainder only) the same values need the
    whole 100-dimensional space: the gain is the direct remainder's, not the space's."""
    u, y, hp = _dc_high_snr_case()
    exact = evaluate_objective(u, y, order=100, kernel="DC", hyperparameters=hp, method="qr").F
    kw = dict(order=100, kernel="DC", hyperparameters=hp, method="krylov", fallback_max_n=0, random_state=0)
    res = evaluate_objective(u, y, **kw)
    slack = 1e-10 * np.abs(exact)
    assert np.all(res.F_lower <= exact + slack) and np.all(exact <= res.F_upper + slack)
    assert res.certified.all() and res.info["status"] == "converged"
    assert res.info["rounding_model"] == "square-root" and res.info["subspace_dim"] <= 70
    monkeypatch.setattr(augmented, "DEFLATED_TAIL_MAX_ENTRIES", 0)
    monkeypatch.setattr(krylov_ev, "DEFLATED_TAIL_MAX_ENTRIES", 0)
    old = evaluate_objective(u, y, **kw)
    assert old.certified.all() and old.info["subspace_dim"] == 100


@pytest.mark.parametrize("lam", [1e-30, 1e-8, 1.0, 1e12])
def test_log_minorants_stay_below_the_logarithm(lam):
    alpha, beta = augmented.log_minorants(np.array([lam]))
    assert np.all(alpha >= 0) and np.all(beta >= 0) and np.any(alpha > 0)
    x = lam * np.geomspace(1e-12, 1e14, 4001)
    gap = np.log1p(x / lam)[None, :] - (alpha * x[None, :] - beta * x[None, :] ** 2)
    assert gap.min() >= -1e-14 * np.log1p(x / lam).max()
    # and the best of them is tight for a set spread over two decades: sum g(x_i) within 25 % of it
    xs = lam * np.geomspace(0.1, 10.0, 50)
    best = np.max(alpha[:, 0] * xs.sum() - beta[:, 0] * np.sum(xs**2))
    assert best <= np.sum(np.log1p(xs / lam)) <= 1.25 * best


def floor_factor(seed=6):
    """A factor with 20 decaying singular values (1 .. 1e-3) over a flat floor of 40 near 1e-7 (the rounding
    floor of a dense kernel square root): the unexplored part of a partial space is then nearly flat."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((D, D)))
    V, _ = np.linalg.qr(rng.standard_normal((D, D)))
    s = np.concatenate([np.logspace(0, -3, 20), 1e-7 * (1 + 0.3 * rng.random(40))])
    B = (U * s) @ V.T
    return B, B @ rng.standard_normal(D) + 1e-9 * rng.standard_normal(D)


@pytest.mark.parametrize("dim", [24, 32, 40])
def test_second_moment_terms_tighten_the_logdet_bounds_and_keep_the_truth(dim, monkeypatch):
    """On a partial space over a flat floor the second moment of the unexplored part narrows the log-det
    interval (against the trace-only Jensen one) by 20x at lam = 1e-16 and 1e4x at 1e-11, and the interval
    still contains the long-double log-determinant."""
    B, b = floor_factor()
    lam = np.logspace(-16, -10, 7)
    q, logdet = reference(B, b, lam)
    bd = estimator(B, b, factor=B, dim=dim).bounds(lam)
    assert contains(bd, q, logdet)
    monkeypatch.setattr(augmented.AugmentedKrylov, "_second_moment_terms", lambda self, lam, *a: (0 * lam, 0 * lam))
    first = estimator(B, b, factor=B, dim=dim).bounds(lam)
    assert contains(first, q, logdet)
    ratio = (bd.l_upper - bd.l_lower) / (first.l_upper - first.l_lower)
    assert ratio[0] < 0.1 and ratio[5] < 1e-4
