"""Tests of :func:`krylovid.krylov.lanczos` against dense references."""

from __future__ import annotations

import numpy as np
import pytest

from krylovid.krylov import LanczosResult, lanczos
from krylovid.operators import Dense, LinearOperator


def _spd(rng, n, cond=1e3):
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    w = np.logspace(0, np.log10(cond), n)
    return (V * w) @ V.T, w


class _NaNAfter(LinearOperator):
    """Symmetric operator that returns NaN from its ``k``-th application on."""

    def __init__(self, M, k):
        self.M, self.k, self.calls = M, k, 0
        super().__init__(M.shape, symmetric=True)

    def _matmat(self, X):
        self.calls += 1
        out = self.M @ X
        return out * np.nan if self.calls >= self.k else out


def test_orthogonality_and_lanczos_identity(rng):
    A, _ = _spd(rng, 120)
    b = rng.standard_normal(120)
    res = lanczos(A, b, 50)
    assert isinstance(res, LanczosResult)
    Q, T = res.Q, res.tridiagonal()
    assert Q.shape == (120, 50) and T.shape == (50, 50)
    assert np.abs(Q.T @ Q - np.eye(50)).max() < 1e-12
    E = A @ Q - Q @ T
    E[:, -1] -= res.residual
    assert np.abs(E).max() < 1e-12 * np.linalg.norm(A, 2)
    assert np.isclose(np.linalg.norm(res.residual), res.beta[-1])
    assert np.allclose(Q[:, 0] * res.b_norm, b)
    assert np.allclose(T, Q.T @ A @ Q, atol=1e-11 * np.linalg.norm(A, 2))
    assert res.info.status == "max_iter" and res.info.matvecs == 50


def test_ritz_values_interlace_and_reach_extremes(rng):
    A, w = _spd(rng, 150, cond=1e2)
    res = lanczos(A, rng.standard_normal(150), 40)
    theta = np.linalg.eigvalsh(res.tridiagonal())
    assert w.min() - 1e-10 <= theta.min() and theta.max() <= w.max() + 1e-10
    assert abs(theta.max() - w.max()) < 1e-8 * w.max()  # extremes converge first
    theta_prev = np.linalg.eigvalsh(res.tridiagonal()[:39, :39])
    # Cauchy interlacing of T_39 inside T_40
    assert np.all(theta[:-1] <= theta_prev + 1e-10) and np.all(theta_prev <= theta[1:] + 1e-10)


def test_invariant_subspace_ends_cleanly():
    # 5 distinct eigenvalues, each repeated: the Krylov space has dimension 5
    d = np.repeat([1.0, 2.0, 3.5, 7.0, 10.0], 20)
    b = np.random.default_rng(3).standard_normal(100)
    res = lanczos(np.diag(d), b, 30)
    assert res.info.status == "invariant" and res.num_steps == 5
    assert res.beta[-1] < 1e-8 * 10.0
    assert np.allclose(np.linalg.eigvalsh(res.tridiagonal()), [1.0, 2.0, 3.5, 7.0, 10.0], atol=1e-10)


def test_num_iter_is_clipped_to_n(rng):
    A, w = _spd(rng, 12)
    res = lanczos(Dense(A), rng.standard_normal(12), 50)
    assert res.num_steps == 12 and res.info.status == "invariant"
    assert np.allclose(np.linalg.eigvalsh(res.tridiagonal()), np.sort(w), rtol=1e-9)


@pytest.mark.parametrize("reorth", ["local", "none"])
def test_cheaper_reorthogonalization_agrees_on_first_steps(rng, reorth):
    A, _ = _spd(rng, 80, cond=10.0)
    b = rng.standard_normal(80)
    full, cheap = lanczos(A, b, 8), lanczos(A, b, 8, reorth=reorth)
    assert np.allclose(full.alpha, cheap.alpha, rtol=1e-10)
    assert np.allclose(full.beta, cheap.beta, rtol=1e-9)


def test_plain_recurrence_loses_orthogonality_full_does_not():
    # well separated top eigenvalues converge fast, which destroys orthogonality
    d = np.concatenate([np.linspace(0.0, 1.0, 200), [5.0, 10.0, 20.0]])
    b = np.random.default_rng(0).standard_normal(d.size)
    plain, full = lanczos(np.diag(d), b, 60, reorth="none"), lanczos(np.diag(d), b, 60)
    loss = lambda Q: np.abs(Q.T @ Q - np.eye(Q.shape[1])).max()  # noqa: E731
    assert loss(plain.Q) > 1e-4
    assert loss(full.Q) < 1e-12


def test_breakdown_on_non_finite_operator_output(rng):
    A, _ = _spd(rng, 30)
    res = lanczos(_NaNAfter(A, 4), rng.standard_normal(30), 10)
    assert res.info.status == "breakdown" and res.num_steps == 3
    assert np.all(np.isfinite(res.tridiagonal()))


def test_tol_controls_invariance(rng):
    # eigenvalue clusters of width 1e-6: a loose tol declares invariance early
    d = np.concatenate([1.0 + 1e-6 * rng.random(50), 2.0 + 1e-6 * rng.random(50)])
    b = rng.standard_normal(100)
    assert lanczos(np.diag(d), b, 10, tol=1e-4).info.status == "invariant"
    assert lanczos(np.diag(d), b, 10, tol=1e-4).num_steps == 2
    assert lanczos(np.diag(d), b, 10, tol=0.0).num_steps == 10


def test_array_api_strict_backend(strict_xp, rng):
    A, w = _spd(rng, 40)
    b = rng.standard_normal(40)
    res = lanczos(strict_xp.asarray(A), strict_xp.asarray(b), 15)
    ref = lanczos(A, b, 15)
    assert isinstance(res.Q, type(strict_xp.asarray(1.0)))
    assert np.allclose(res.alpha, ref.alpha) and np.allclose(res.beta, ref.beta)
    Q = np.asarray(res.Q._array)
    assert np.abs(Q.T @ Q - np.eye(15)).max() < 1e-12


@pytest.mark.parametrize(
    "A, b, match",
    [
        (np.ones((3, 4)), np.ones(3), "square"),
        (np.eye(3), np.ones(4), "length"),
        (np.eye(3), np.array([1.0, np.nan, 0.0]), "NaN"),
        (np.eye(3), np.zeros(3), "zero"),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), np.ones(2), "symmetric"),
        (np.eye(3), np.ones((3, 1)), "1-dimensional"),
    ],
)
def test_bad_input(A, b, match):
    with pytest.raises(ValueError, match=match):
        lanczos(A, b, 2)


def test_bad_options():
    with pytest.raises(ValueError, match="num_iter"):
        lanczos(np.eye(3), np.ones(3), 0)
    with pytest.raises(TypeError, match="num_iter"):
        lanczos(np.eye(3), np.ones(3), 2.5)
    with pytest.raises(ValueError, match="reorth"):
        lanczos(np.eye(3), np.ones(3), 2, reorth="partial")
    with pytest.raises(ValueError, match="tol"):
        lanczos(np.eye(3), np.ones(3), 2, tol=-1.0)
    with pytest.raises(TypeError, match="A"):
        lanczos("matrix", np.ones(3), 2)
