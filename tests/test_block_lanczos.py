"""Tests of :class:`krylovid.krylov.BlockLanczos` against dense references."""

from __future__ import annotations

import numpy as np
import pytest

from krylovid.krylov import BlockLanczos, BlockLanczosResult, block_lanczos, lanczos
from krylovid.operators import Counted, Dense, LinearOperator


class _LowRank(LinearOperator):
    """``F F^T`` applied without forming it (the ``Phi K Phi^T`` use case)."""

    def __init__(self, F):
        self.F = F
        super().__init__((F.shape[0], F.shape[0]), symmetric=True)

    def _matmat(self, X):
        return self.F @ (self.F.T @ X)


def _spd(rng, n, cond=1e3):
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    w = np.logspace(0, np.log10(cond), n)
    return (V * w) @ V.T


def _check_identity(A, bl, tol):
    """``A Q - Q T`` equals ``Q_next B_next`` on the last block and zero elsewhere."""
    Q, T, Qn, Bn = bl.Q, bl.T, bl.Q_next, bl.B_next
    E = A @ Q - Q @ T
    p_last = bl.block_sizes[-1]
    expected = np.zeros_like(E)
    expected[:, -p_last:] = Qn @ Bn
    scale = np.linalg.norm(A, 2)
    assert np.abs(E - expected).max() < tol * scale
    assert np.abs(Q.T @ Q - np.eye(bl.dim)).max() < 1e-12
    if Qn.shape[1]:
        assert np.abs(Q.T @ Qn).max() < 1e-12
        assert np.abs(Qn.T @ Qn - np.eye(Qn.shape[1])).max() < 1e-12


def test_low_rank_operator_saturates_and_is_exact(rng):
    n, rank, p = 300, 5, 3
    F = rng.standard_normal((n, rank)) * np.array([10.0, 5.0, 2.0, 1.0, 0.1])
    A = F @ F.T
    op = Counted(_LowRank(F))
    bl = BlockLanczos(op, rng.standard_normal((n, p)))
    assert bl.extend(20) is bl
    assert bl.invariant and bl.num_blocks < 20
    assert bl.block_sizes == [3, 3, 2] and bl.dim == 8
    assert bl.matvecs == op.matvecs == 8
    assert bl.Q_next.shape == (n, 0) and bl.B_next.shape == (0, 2)
    theta = np.sort(np.linalg.eigvalsh(bl.T))
    assert np.allclose(theta[-rank:], np.sort(np.linalg.eigvalsh(F.T @ F)), rtol=1e-12)
    assert np.abs(theta[:-rank]).max() < 1e-10 * theta[-1]
    assert np.allclose(bl.T, bl.Q.T @ A @ bl.Q, atol=1e-12 * theta[-1])
    _check_identity(A, bl, 1e-13)
    res = bl.result()
    assert isinstance(res, BlockLanczosResult) and res.info.status == "invariant"
    assert res.info.matvecs == 8 and res.block_sizes == (3, 3, 2)
    assert bl.extend(3).num_blocks == 3  # extending an invariant space does nothing


def test_lanczos_identity_full_rank(rng):
    A = _spd(rng, 200)
    bl = BlockLanczos(Dense(A), rng.standard_normal((200, 4))).extend(8)
    assert not bl.invariant and bl.block_sizes == [4] * 8 and bl.dim == 32
    _check_identity(A, bl, 1e-12)
    assert bl.result().info.status == "max_iter"
    T = bl.T
    assert np.allclose(T, T.T)
    assert np.all(T[16:, :8] == 0)  # block tridiagonal structure


def test_basis_spans_the_block_krylov_space(rng):
    A = _spd(rng, 120, cond=10.0)
    B = rng.standard_normal((120, 3))
    Q = block_lanczos(A, B, 3).Q
    K = np.hstack([B, A @ B, A @ A @ B])
    P = K - Q @ (Q.T @ K)
    assert np.linalg.norm(P) < 1e-10 * np.linalg.norm(K)


def test_initial_state_represents_B(rng):
    B = rng.standard_normal((50, 3))
    bl = BlockLanczos(_spd(rng, 50), B)
    assert bl.dim == 0 and bl.num_blocks == 0 and bl.matvecs == 0 and bl.Q.shape == (50, 0)
    assert np.allclose(bl.Q_next @ bl.B_next, B)


def test_rank_deficient_starting_block(rng):
    n = 200
    Omega = rng.standard_normal((n, 4))
    y = Omega @ np.array([1.0, -2.0, 0.5, 3.0])  # y inside span(Omega)
    B = np.column_stack([Omega, y, np.zeros(n), 1e-9 * Omega[:, 0]])
    bl = BlockLanczos(_spd(rng, n), B)
    assert bl.Q_next.shape[1] == 4  # rank of B
    assert np.allclose(bl.Q_next @ bl.B_next, B, atol=1e-12 * np.abs(B).max())
    bl.extend(3)
    assert bl.block_sizes == [4, 4, 4]
    assert np.linalg.norm(y - bl.Q @ (bl.Q.T @ y)) < 1e-12 * np.linalg.norm(y)


def test_resumable_extension_matches_one_run(rng):
    A = _spd(rng, 90)
    B = rng.standard_normal((90, 2))
    bl = BlockLanczos(A, B).extend(2)
    bl.extend(3)
    ref = block_lanczos(A, B, 5)
    assert bl.block_sizes == list(ref.block_sizes)
    assert np.allclose(bl.T, ref.T, atol=1e-9) and np.allclose(bl.Q, ref.Q, atol=1e-9)


def test_single_column_matches_scalar_lanczos(rng):
    A = _spd(rng, 70)
    b = rng.standard_normal(70)
    T = block_lanczos(A, b, 10).T
    ref = lanczos(A, b, 10)
    assert np.allclose(np.diag(T), ref.alpha, rtol=1e-10)
    assert np.allclose(np.abs(np.diag(T, 1)), ref.beta[:9], rtol=1e-9)


def test_space_fills_whole_dimension(rng):
    A = _spd(rng, 20)
    res = block_lanczos(A, rng.standard_normal((20, 3)), 20)
    assert res.info.status == "invariant" and sum(res.block_sizes) == 20
    assert np.allclose(np.linalg.eigvalsh(res.T), np.linalg.eigvalsh(A), rtol=1e-10)


def test_wide_spectrum_keeps_orthogonality(rng):
    # eigenvalues over 12 decades: the residual blocks become tiny relative to ||A||,
    # which exercises the extra orthogonalization pass of weak directions
    V, _ = np.linalg.qr(rng.standard_normal((150, 150)))
    A = (V * np.logspace(-12, 0, 150)) @ V.T
    A = (A + A.T) / 2
    bl = BlockLanczos(A, rng.standard_normal((150, 2))).extend(25)
    _check_identity(A, bl, 1e-12)


def test_long_run_projection_and_orthogonality(rng):
    # a long run over a decaying spectrum: the local pass, one full pass and the DGKS-triggered second pass
    # must keep Q orthonormal and their coefficients must add up to the true projection Q^T A Q
    V, _ = np.linalg.qr(rng.standard_normal((400, 400)))
    A = (V * 0.9 ** np.arange(400)) @ V.T
    A = (A + A.T) / 2
    bl = BlockLanczos(A, rng.standard_normal((400, 8))).extend(40)
    Q = bl.Q
    assert bl.dim >= 250
    assert np.abs(Q.T @ Q - np.eye(bl.dim)).max() < 1e-13
    assert np.abs(bl.projection - Q.T @ A @ Q).max() < 1e-13


def test_local_reorthogonalization(rng):
    A = _spd(rng, 100, cond=10.0)
    B = rng.standard_normal((100, 2))
    loc, full = block_lanczos(A, B, 4, reorth="local"), block_lanczos(A, B, 4)
    assert np.allclose(loc.T, full.T, atol=1e-9)
    assert np.abs(loc.Q.T @ loc.Q - np.eye(8)).max() < 1e-10


def test_breakdown_on_non_finite_output(rng):
    A = _spd(rng, 40)

    class NaNOp(LinearOperator):
        calls = 0

        def _matmat(self, X):
            NaNOp.calls += 1
            return A @ X * (np.nan if NaNOp.calls >= 3 else 1.0)

    bl = BlockLanczos(NaNOp((40, 40), symmetric=True), rng.standard_normal((40, 2))).extend(5)
    res = bl.result()
    assert res.info.status == "breakdown" and bl.num_blocks == 2
    assert np.all(np.isfinite(res.T))


def test_array_api_strict_backend(strict_xp, rng):
    n = 80
    F = rng.standard_normal((n, 6))
    B = rng.standard_normal((n, 2))
    bl = BlockLanczos(strict_xp.asarray(F @ F.T), strict_xp.asarray(B)).extend(10)
    ref = BlockLanczos(F @ F.T, B).extend(10)
    assert bl.invariant and bl.block_sizes == ref.block_sizes
    res = bl.result()
    for x in (res.Q, res.T, res.Q_next, res.B_next):
        assert isinstance(x, type(strict_xp.asarray(1.0)))
    assert np.allclose(np.asarray(res.T._array), ref.T, atol=1e-9)


@pytest.mark.parametrize(
    "B, match",
    [
        (np.zeros((10, 2)), "zero"),
        (np.ones((9, 2)), "rows"),
        (np.full((10, 2), np.nan), "NaN"),
        (np.ones((10, 2, 1)), "dimensional"),
    ],
)
def test_bad_input(B, match):
    with pytest.raises(ValueError, match=match):
        BlockLanczos(np.eye(10), B)


def test_bad_options():
    with pytest.raises(ValueError, match="square"):
        BlockLanczos(np.ones((4, 5)), np.ones((4, 1)))
    with pytest.raises(ValueError, match="reorth"):
        BlockLanczos(np.eye(4), np.ones((4, 1)), reorth="none")
    with pytest.raises(ValueError, match="deflation_tol"):
        BlockLanczos(np.eye(4), np.ones((4, 1)), deflation_tol=2.0)
    with pytest.raises(ValueError, match="num_blocks"):
        BlockLanczos(np.eye(4), np.ones((4, 1))).extend(-1)
    with pytest.raises(ValueError, match="num_blocks"):
        block_lanczos(np.eye(4), np.ones((4, 1)), 0)


@pytest.mark.parametrize("delta", [1e-8, 1e-12])
def test_nearly_deflated_direction_stays_orthogonal(rng, delta):
    # one starting column is an eigenvector up to delta: the next block has singular
    # values ~[1, delta]; the weak direction must still be orthogonal to the basis
    n = 150
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (V * np.linspace(1.0, 2.0, n)) @ V.T
    A = (A + A.T) / 2
    B = np.column_stack([rng.standard_normal(n), V[:, 0] + delta * rng.standard_normal(n)])
    bl = BlockLanczos(A, B).extend(5)
    assert bl.block_sizes == [2] * 5
    _check_identity(A, bl, 1e-12)
