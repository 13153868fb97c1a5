"""Singular values and ``U^T w`` without singular vectors (evaluators/bidiag.py) against dense references."""

import numpy as np
import pytest

from krylovid.sysid.evaluators.bidiag import lapack_available, projected_svd

needs_lapack = pytest.mark.skipif(not lapack_available(), reason="SciPy's Cython LAPACK pointers not available")


def graded(n, decay, rng):
    """Upper-triangular ``R1 L``-like matrix whose columns decay like ``decay**j`` (clusters of tiny values)."""
    return np.triu(rng.standard_normal((n, n))) @ np.diag(decay ** np.arange(n))


def resolvent(s, c, lam):
    """``sum_i c_i^2 / (s_i^2 + lam)`` for each ``lam``."""
    return np.sum(c[:, None] ** 2 / (s[:, None] ** 2 + lam[None, :]), axis=0)


@needs_lapack
@pytest.mark.parametrize("n", [1, 2, 7, 60, 201])
@pytest.mark.parametrize("decay", [1.0, 0.9, 0.7])
def test_bidiagonal_matches_full_svd(n, decay):
    rng = np.random.default_rng(n)
    B, w = graded(n, decay, rng), rng.standard_normal(n)
    p = projected_svd(B, w, method="bidiagonal")
    assert p.method == "bidiagonal"
    U, s, _ = np.linalg.svd(B)
    c = U.T @ w
    # singular values accurate to eps ||B|| in absolute terms (also the tiny ones: no B B^T formed)
    assert np.max(np.abs(p.s - s)) <= 50 * n * np.finfo(float).eps * s[0]
    assert np.all(np.diff(p.s) <= 0)
    assert abs(np.sum(p.c**2) - w @ w) <= 1e-13 * (w @ w)
    # c_i^2 is basis-independent for well separated singular values
    gap = np.min(np.where(np.eye(n, dtype=bool), np.inf, np.abs(np.subtract.outer(s, s))), axis=1)
    sep = gap > 1e-6 * s[0]
    assert np.allclose(p.c[sep] ** 2, c[sep] ** 2, rtol=1e-8, atol=1e-12 * (w @ w))
    lam = np.logspace(-14, 2, 17) * s[0] ** 2
    assert np.allclose(resolvent(p.s, p.c, lam), resolvent(s, c, lam), rtol=1e-9)


@needs_lapack
def test_resolvent_against_dense_solve():
    """``sum c^2/(s^2+lam) = w^T (B B^T + lam I)^{-1} w`` where the dense solve is well conditioned."""
    rng = np.random.default_rng(5)
    B, w = graded(80, 0.95, rng), rng.standard_normal(80)
    p = projected_svd(B, w)
    for lam in (1e-3, 1.0, 1e3):
        ref = w @ np.linalg.solve(B @ B.T + lam * np.eye(80), w)
        assert np.isclose(resolvent(p.s, p.c, np.array([lam]))[0], ref, rtol=1e-9)


@needs_lapack
def test_zero_w_and_zero_matrix():
    B = graded(10, 0.8, np.random.default_rng(0))
    p = projected_svd(B, np.zeros(10))
    assert np.all(p.c == 0) and np.allclose(p.s, np.linalg.svd(B, compute_uv=False))
    q = projected_svd(np.zeros((4, 4)), np.ones(4))
    assert np.all(q.s == 0) and np.isclose(np.sum(q.c**2), 4.0)


def test_svd_route_and_input_checks():
    rng = np.random.default_rng(1)
    B, w = graded(12, 0.9, rng), rng.standard_normal(12)
    p = projected_svd(B, w, method="svd")
    U, s, _ = np.linalg.svd(B)
    assert p.method == "svd" and np.allclose(p.s, s) and np.allclose(p.c, U.T @ w)
    with pytest.raises(ValueError, match="method"):
        projected_svd(B, w, method="qr")
    with pytest.raises(ValueError, match="B must"):
        projected_svd(B[:, :5], w)
    with pytest.raises(ValueError, match="w must"):
        projected_svd(B, w[:5])
    with pytest.raises(ValueError, match="bidiagonal"):
        projected_svd(B.astype(np.float32), w.astype(np.float32), method="bidiagonal")
