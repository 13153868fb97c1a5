"""Tests of :func:`krylovid.krylov.cg` and :func:`block_cg` against ``numpy.linalg.solve``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from krylovid.krylov import BlockCGResult, CGResult, ConvergenceWarning, block_cg, cg
from krylovid.operators import Counted, Dense, Diagonal, Shifted


def _spd(rng, n, cond=1e3):
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (V * np.logspace(0, np.log10(cond), n)) @ V.T
    return (A + A.T) / 2


def test_matches_dense_solve(rng):
    A = _spd(rng, 80)
    b = rng.standard_normal(80)
    res = cg(A, b, rtol=1e-12)
    assert isinstance(res, CGResult) and res.info.status == "converged"
    x = np.linalg.solve(A, b)
    assert np.linalg.norm(res.x - x) < 1e-8 * np.linalg.norm(x)


@pytest.mark.parametrize("rtol, atol", [(1e-4, 0.0), (1e-9, 0.0), (0.0, 1e-6), (1e-6, 1e-3)])
def test_stopping_rule_is_honoured(rng, rtol, atol):
    A = _spd(rng, 100, cond=1e4)
    b = rng.standard_normal(100)
    res = cg(A, b, rtol=rtol, atol=atol)
    bound = atol + rtol * np.linalg.norm(b)
    true_res = np.linalg.norm(b - A @ res.x)
    assert res.info.residual <= bound
    assert true_res <= 1.01 * bound
    # the rule is not met one iteration earlier (it really is the stopping criterion)
    assert res.info.history[-2] > bound
    assert len(res.info.history) == res.info.iterations + 1


def test_shift_and_shifted_operator_agree(rng):
    A = _spd(rng, 60)
    b = rng.standard_normal(60)
    x = np.linalg.solve(A + 0.5 * np.eye(60), b)
    r1 = cg(A, b, shift=0.5, rtol=1e-12)
    r2 = cg(Shifted(Dense(A), 0.5), b, rtol=1e-12)
    assert np.allclose(r1.x, x, rtol=1e-8) and np.allclose(r2.x, x, rtol=1e-8)
    # a negative shift that keeps A + shift I positive definite is allowed
    r3 = cg(A + np.eye(60), b, shift=-0.5, rtol=1e-12)
    assert np.allclose(r3.x, x, rtol=1e-8)


def test_preconditioner_reduces_iterations(rng):
    d = np.logspace(0, 5, 200)
    V, _ = np.linalg.qr(rng.standard_normal((200, 200)))
    A = np.diag(d) + 0.01 * ((V * rng.random(200)) @ V.T)
    A = (A + A.T) / 2
    b = rng.standard_normal(200)
    plain = cg(A, b, rtol=1e-10, maxiter=5000)
    jacobi = cg(A, b, rtol=1e-10, M=Diagonal(1.0 / np.diag(A)))
    assert jacobi.info.status == plain.info.status == "converged"
    assert jacobi.info.iterations < plain.info.iterations / 3
    assert np.allclose(jacobi.x, np.linalg.solve(A, b), rtol=1e-7)


def test_initial_guess_and_zero_rhs(rng):
    A = _spd(rng, 40)
    b = rng.standard_normal(40)
    x = np.linalg.solve(A, b)
    res = cg(A, b, x0=x + 1e-3 * rng.standard_normal(40), rtol=1e-12)
    fresh = cg(A, b, rtol=1e-12)
    assert np.allclose(res.x, x, rtol=1e-8) and res.info.iterations < fresh.info.iterations
    zero = cg(A, np.zeros(40), x0=np.ones(40))
    assert zero.info.status == "converged" and np.all(zero.x == 0)


def test_max_iter_warns(rng):
    A = _spd(rng, 60, cond=1e6)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = cg(A, rng.standard_normal(60), maxiter=3)
    assert res.info.status == "max_iter" and res.info.iterations == 3 and res.info.matvecs == 3


def test_indefinite_operator_reports_breakdown(rng):
    A = np.diag(np.concatenate([-np.ones(5), np.ones(5)]))
    with pytest.warns(ConvergenceWarning, match="positive definite"):
        res = cg(A, np.ones(10))
    assert res.info.status == "breakdown"


def test_block_cg_per_column(rng):
    A = _spd(rng, 70)
    B = rng.standard_normal((70, 4))
    B[:, 2] = 0.0
    B[:, 3] *= 1e6  # relative rule per column
    op = Counted(Dense(A))
    res = block_cg(op, B, rtol=1e-10)
    assert isinstance(res, BlockCGResult) and res.info.status == "converged"
    X = np.linalg.solve(A, B)
    assert np.allclose(res.X, X, rtol=1e-7, atol=1e-12 * np.abs(X).max())
    assert np.all(res.X[:, 2] == 0) and res.converged.all()
    true = np.linalg.norm(B - A @ res.X, axis=0)
    assert np.all(true <= 1.01 * 1e-10 * np.linalg.norm(B, axis=0) + 1e-300)
    assert op.matvecs == res.info.matvecs == 4 * res.info.iterations
    # each column agrees with the single-vector solver
    single = cg(A, B[:, 0], rtol=1e-10)
    assert np.allclose(single.x, res.X[:, 0], rtol=1e-12)


def test_block_cg_partial_convergence_warns(rng):
    A = np.diag(np.concatenate([np.ones(10), np.logspace(0, 6, 50)]))
    B = np.zeros((60, 2))
    B[:10, 0] = 1.0  # converges in one step
    B[:, 1] = rng.standard_normal(60)  # needs many
    with pytest.warns(ConvergenceWarning):
        res = block_cg(A, B, maxiter=5)
    assert res.info.status == "max_iter"
    assert res.converged.tolist() == [True, False]


def test_array_api_strict_backend(strict_xp, rng):
    A = _spd(rng, 50)
    B = rng.standard_normal((50, 2))
    res = block_cg(strict_xp.asarray(A), strict_xp.asarray(B), rtol=1e-10, shift=1.0)
    X = np.asarray(res.X._array)
    assert np.allclose(X, np.linalg.solve(A + np.eye(50), B), rtol=1e-7)
    single = cg(strict_xp.asarray(A), strict_xp.asarray(B[:, 0]), rtol=1e-10)
    assert single.info.converged
    assert np.allclose(np.asarray(single.x._array), np.linalg.solve(A, B[:, 0]), rtol=1e-7)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(A=np.ones((3, 4)), b=np.ones(3)), ValueError, "square"),
        (dict(A=np.eye(3), b=np.ones(4)), ValueError, "length"),
        (dict(A=np.eye(3), b=np.array([1.0, np.nan, 0.0])), ValueError, "NaN"),
        (dict(A=np.eye(3), b=np.ones(3), rtol=-1.0), ValueError, "rtol"),
        (dict(A=np.eye(3), b=np.ones(3), maxiter=0), ValueError, "maxiter"),
        (dict(A=np.eye(3), b=np.ones(3), shift=np.inf), ValueError, "shift"),
        (dict(A=np.eye(3), b=np.ones(3), x0=np.ones(2)), ValueError, "x0"),
        (dict(A=np.eye(3), b=np.ones(3), M=np.eye(2)), ValueError, "M"),
        (dict(A=np.eye(3), b="abc"), TypeError, "b"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cg(**kwargs)


def test_block_bad_input():
    with pytest.raises(ValueError, match="X0"):
        block_cg(np.eye(3), np.ones((3, 2)), X0=np.ones((3, 1)))
    with pytest.raises(ValueError, match="rows"):
        block_cg(np.eye(3), np.ones((2, 2)))


def test_no_warning_when_converged(rng):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cg(_spd(rng, 20), rng.standard_normal(20))
