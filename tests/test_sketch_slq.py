"""Stochastic Lanczos quadrature against dense log-determinants and closed forms."""

import array_api_strict as xs
import numpy as np
import pytest

from krylovid.operators import Counted, Dense
from krylovid.sketch import slq, slq_logdet, slq_quadrature

N = 80


def _sym(eigs, seed=0):
    U, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigs), len(eigs))))
    return (U * eigs) @ U.T


EIGS = np.linspace(1.0, 4.0, N)
A = _sym(EIGS)
SHIFTS = np.array([0.0, 0.1, 1.0, 10.0])


def _exact_logdet(M, shifts):
    return np.array([np.linalg.slogdet(M + s * np.eye(M.shape[0]))[1] for s in shifts])


def test_logdet_many_shifts_vs_slogdet():
    res = slq_logdet(A, SHIFTS, 40, 20, rng=0)
    exact = _exact_logdet(A, SHIFTS)
    assert res.logdet.shape == res.std_error.shape == (4,)
    np.testing.assert_allclose(res.logdet, exact, rtol=0.02)
    assert np.all(np.abs(res.logdet - exact) < 4 * res.std_error)
    assert res.num_matvecs == 40 * 20 and res.info.status == "converged"
    assert np.all(res.lanczos_change < 1e-6)  # well conditioned: quadrature converged


def test_one_run_equals_separate_runs_on_shifted_matrices():
    res = slq_logdet(A, SHIFTS, 6, 25, rng=1)
    for s, ld in zip(SHIFTS, res.logdet, strict=True):
        sep = slq(Dense(A + s * np.eye(N)), np.log, 6, 25, rng=1)
        assert sep.estimate == pytest.approx(ld, rel=1e-9)  # shift invariance of Krylov spaces


def test_quadrature_reusable_for_new_shifts():
    res = slq_logdet(A, [0.5], 10, 20, rng=2)
    ld, se, _ = res.quadrature.logdet([0.5, 2.0])
    assert ld[0] == res.logdet[0] and se[0] == res.std_error[0]
    assert ld[1] == pytest.approx(_exact_logdet(A, [2.0])[0], rel=0.02)


def test_exact_for_diagonal_with_rademacher_probes():
    d = np.repeat([1.0, 2.0, 5.0], 10)  # 3 distinct eigenvalues
    res = slq(np.diag(d), np.log, 3, 6, rng=0)  # z^T log(D) z = tr log D for signs
    assert res.estimate == pytest.approx(np.log(d).sum(), rel=1e-10)
    assert res.info.status == "invariant"


def test_general_function_matches_dense():
    res = slq(A, np.sqrt, 30, 15, rng=3)
    exact = np.sqrt(EIGS).sum()
    assert abs(res.estimate - exact) < 4 * res.std_error
    assert res.estimate == pytest.approx(exact, rel=0.02)


def test_error_shrinks_with_probes():
    exact = _exact_logdet(A, [0.0])[0]
    rmse = [
        np.sqrt(np.mean([(slq_logdet(A, 0.0, p, 12, rng=s).logdet[0] - exact) ** 2 for s in range(25)]))
        for p in (4, 64)
    ]
    assert rmse[1] < 0.5 * rmse[0]


def test_error_shrinks_with_lanczos_steps_on_ill_conditioned():
    eigs = np.geomspace(1e-3, 1e2, N)
    M = _sym(eigs, seed=4)
    exact = np.log(eigs).sum()
    errs = [abs(slq_logdet(M, 0.0, 20, j, rng=5).logdet[0] - exact) for j in (3, 30)]
    assert errs[1] < 0.2 * errs[0]
    short = slq_logdet(M, 0.0, 20, 3, rng=5)
    assert short.info.status == "max_iter"  # bias indicator flags too few steps


def test_without_reorthogonalisation_on_benign_matrix():
    res = slq_logdet(A, SHIFTS, 40, 12, rng=0, reorth="none")
    np.testing.assert_allclose(res.logdet, _exact_logdet(A, SHIFTS), rtol=0.02)


def test_gaussian_probes_and_counted_operator():
    op = Counted(Dense(A))
    res = slq_logdet(op, SHIFTS, 30, 15, rng=6, distribution="gaussian")
    assert op.matvecs == res.num_matvecs == 30 * 15
    assert np.all(np.abs(res.logdet - _exact_logdet(A, SHIFTS)) < 4 * res.std_error)


def test_quadrature_nodes_inside_spectrum():
    quad = slq_quadrature(A, 5, 20, rng=7)
    assert quad.nodes.shape == quad.weights.shape == (5, 20)
    assert quad.nodes.min() >= EIGS[0] - 1e-10 and quad.nodes.max() <= EIGS[-1] + 1e-10
    np.testing.assert_allclose(quad.weights.sum(axis=1), N)  # Rademacher: ||z||^2 = n


def test_array_api_strict_matches_numpy():
    a = slq_logdet(xs.asarray(A), SHIFTS, 5, 10, rng=8)
    b = slq_logdet(A, SHIFTS, 5, 10, rng=8)
    np.testing.assert_allclose(a.logdet, b.logdet, rtol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="shifts"):
        slq_logdet(A, [-2.0], 4, 10, rng=0)  # A - 2I indefinite
    with pytest.raises(ValueError, match="shifts"):
        slq_logdet(A, [np.nan], 4, 10)
    with pytest.raises(ValueError, match="square"):
        slq_logdet(np.ones((4, 3)), 0.0, 2, 2)
    with pytest.raises(ValueError, match="num_iter"):
        slq_logdet(A, 0.0, 2, 0)
    with pytest.raises(ValueError, match="num_probes"):
        slq_logdet(A, 0.0, 0, 5)
    with pytest.raises(ValueError, match="reorth"):
        slq_logdet(A, 0.0, 2, 5, reorth="partial")
    with pytest.raises(TypeError, match="f"):
        slq(A, "log", 2, 5)
    bad = A.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="A"):
        slq(bad, np.log, 2, 5)


def test_batched_lanczos_matches_krylov_lanczos_per_probe():
    from krylovid.krylov import lanczos
    from krylovid.sketch.slq import _batched_lanczos

    Z = np.random.default_rng(9).standard_normal((N, 3))
    alpha, beta, active = _batched_lanczos(Dense(A), Z, 12, "full")
    assert active.all()
    for c in range(3):
        ref = lanczos(Dense(A), Z[:, c], 12, reorth="full")
        np.testing.assert_allclose(alpha[:, c], ref.alpha, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(beta[:11, c], ref.beta[:11], rtol=1e-10, atol=1e-12)


def test_batched_lanczos_breakdown_is_handled():
    from krylovid.sketch.slq import _batched_lanczos

    d = np.repeat([1.0, 3.0], 5)  # 2 distinct eigenvalues: breakdown at step 2
    alpha, beta, active = _batched_lanczos(Dense(np.diag(d)), np.ones((10, 2)), 6, "full")
    assert active.sum(axis=0).tolist() == [2, 2]
    assert np.all(np.isfinite(alpha)) and np.all(beta[1:] == 0)


def test_clipped_rules_accept_tiny_shifts_on_a_singular_psd_matrix():
    """A rank-deficient PSD matrix: rounding puts Ritz values at the rounding level around 0, and the unclipped
    rule refuses shifts below a negative one; clipped at 0 the rules give the same estimate wherever both are
    defined (clipping moves nodes by rounding only) and stay defined for tiny shifts."""
    rng = np.random.default_rng(3)
    F = rng.standard_normal((40, 10))
    A = F @ F.T  # rank 10, 30 zero eigenvalues
    quad = slq_quadrature(A, 4, 40, rng=1)
    low = float(quad.nodes[quad.weights > 0].min())
    assert abs(low) < 1e-12 * np.linalg.norm(A, 2)
    clipped = quad.clipped(0.0)
    assert clipped.nodes.min() >= 0.0 and clipped.nodes_prev.min() >= 0.0
    s = 1e-3
    np.testing.assert_allclose(clipped.logdet([s])[0], quad.logdet([s])[0], rtol=1e-9)
    tiny = 1e-300
    assert np.isfinite(clipped.logdet([tiny])[0][0])
    if low < 0:  # the unclipped rule refuses it (the bug the clipping fixes for PSD operators)
        with pytest.raises(ValueError, match="not positive definite"):
            quad.logdet([-0.5 * low])
