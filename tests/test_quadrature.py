"""Tests of Gauss / Gauss-Radau quadrature and the quadratic-form bounds against dense values."""

from __future__ import annotations

import numpy as np
import pytest

from krylovid.krylov import QuadraticFormBounds, gauss_quadrature, gauss_radau, lanczos, quadratic_form_bounds


def _spd(rng, n, lo=-3, hi=1):
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    w = np.logspace(lo, hi, n)
    A = (V * w) @ V.T
    return (A + A.T) / 2, w


def _exact(A, b, s):
    return float(b @ np.linalg.solve(A + s * np.eye(A.shape[0]), b))


def test_gauss_is_exact_for_low_degree_polynomials(rng):
    A, _ = _spd(rng, 60, 0, 1)
    b = rng.standard_normal(60)
    r = lanczos(A, b, 4)
    # exact for degree <= 2j - 1 = 7
    for k in range(8):
        exact = b @ np.linalg.matrix_power(A, k) @ b
        est = gauss_quadrature(r.alpha, r.beta, r.b_norm, lambda x, k=k: x**k)
        assert np.isclose(est, exact, rtol=1e-9)
    assert not np.isclose(
        gauss_quadrature(r.alpha, r.beta, r.b_norm, lambda x: x**8), b @ np.linalg.matrix_power(A, 8) @ b, rtol=1e-9
    )


def test_radau_has_the_prescribed_node(rng):
    A, w = _spd(rng, 50, 0, 1)
    b = rng.standard_normal(50)
    r = lanczos(A, b, 5)
    seen = []
    gauss_radau(r.alpha, r.beta, r.b_norm, lambda x: seen.append(np.array(x)) or np.ones_like(x), 0.5)
    assert np.min(np.abs(seen[0] - 0.5)) < 1e-10 and seen[0].size == 6


@pytest.mark.parametrize("shift", [1e-2, 1.0])
def test_bounds_bracket_dense_value_and_tighten(rng, shift):
    A, w = _spd(rng, 150)
    b = rng.standard_normal(150)
    exact = _exact(A, b, shift)
    gaps = []
    for j in (2, 5, 10, 20, 40):
        bnd = quadratic_form_bounds(A, b, shift, j, lambda_min=0.0, lambda_max=w.max())
        assert isinstance(bnd, QuadraticFormBounds)
        tol = 1e-11 * exact
        assert bnd.lower - tol <= exact <= bnd.upper + tol
        assert bnd.gauss <= bnd.lower + tol and bnd.radau_lower <= exact + tol
        assert bnd.radau_upper <= bnd.upper
        gaps.append(bnd.gap)
    assert all(g2 < g1 for g1, g2 in zip(gaps[:-1], gaps[1:], strict=True))
    assert gaps[-1] < 1e-2 * gaps[0]


def test_tighter_lambda_min_gives_tighter_upper_bound(rng):
    A, w = _spd(rng, 100, 0, 1)  # spectrum in [1, 10]
    b = rng.standard_normal(100)
    exact = _exact(A, b, 0.1)
    loose = quadratic_form_bounds(A, b, 0.1, 6)  # lambda_min = 0
    tight = quadratic_form_bounds(A, b, 0.1, 6, lambda_min=w.min())
    assert exact <= tight.upper < loose.upper
    assert tight.lower == loose.lower  # Gauss does not depend on the nodes


def test_invariant_space_gives_exact_value(rng):
    F = rng.standard_normal((200, 5))
    A = F @ F.T  # rank 5: Krylov space of dimension 6
    b = rng.standard_normal(200)
    bnd = quadratic_form_bounds(A, b, 0.3, 30)
    assert bnd.info.status == "invariant" and bnd.info.iterations == 6
    exact = _exact(A, b, 0.3)
    assert abs(bnd.lower - exact) < 1e-10 * exact and abs(bnd.upper - exact) < 1e-10 * exact


def test_against_scalar_closed_form():
    # one Lanczos step: Gauss = ||b||^4 / (b^T (A + s) b); Radau at a: closed form of the 2x2 rule
    d = np.array([1.0, 3.0])
    b = np.array([1.0, 1.0])
    r = lanczos(np.diag(d), b, 1)
    g = gauss_quadrature(r.alpha, r.beta, r.b_norm, lambda x: 1 / x)
    assert np.isclose(g, 4.0 / 4.0)
    # with node a = 1 the 2-node Radau rule contains the true nodes {1, 3}: exact
    assert np.isclose(gauss_radau(r.alpha, r.beta, r.b_norm, lambda x: 1 / x, 1.0), 1.0 + 1.0 / 3.0)


def test_array_api_strict_backend(strict_xp, rng):
    A, w = _spd(rng, 40, 0, 1)
    b = rng.standard_normal(40)
    bnd = quadratic_form_bounds(strict_xp.asarray(A), strict_xp.asarray(b), 0.5, 8, lambda_max=w.max())
    ref = quadratic_form_bounds(A, b, 0.5, 8, lambda_max=w.max())
    assert np.isclose(bnd.lower, ref.lower) and np.isclose(bnd.upper, ref.upper)
    assert bnd.lower <= _exact(A, b, 0.5) <= bnd.upper


def test_wrong_spectral_bounds_are_refused(rng):
    A, w = _spd(rng, 30, 0, 1)
    b = rng.standard_normal(30)
    with pytest.raises(ValueError, match="lambda_min"):
        quadratic_form_bounds(A, b, 0.1, 5, lambda_min=5.0)
    with pytest.raises(ValueError, match="lambda_max"):
        quadratic_form_bounds(A, b, 0.1, 5, lambda_max=2.0)
    with pytest.raises(ValueError, match="positive"):
        quadratic_form_bounds(A, b, -1.0, 5)
    with pytest.raises(ValueError, match="lambda_max"):
        quadratic_form_bounds(A, b, 0.1, 5, lambda_min=1.0, lambda_max=0.5)


def test_bad_coefficients():
    with pytest.raises(ValueError, match="beta"):
        gauss_quadrature([1.0, 2.0], [1.0, 1.0, 1.0], 1.0, np.exp)
    with pytest.raises(ValueError, match="beta"):
        gauss_radau([1.0, 2.0], [1.0], 1.0, np.exp, 0.0)  # needs the residual norm too
    with pytest.raises(ValueError, match="alpha"):
        gauss_quadrature([], [], 1.0, np.exp)
    with pytest.raises(ValueError, match="NaN"):
        gauss_quadrature([1.0, np.nan], [1.0], 1.0, np.exp)
    with pytest.raises(TypeError, match="f"):
        gauss_quadrature([1.0], [], 1.0, "exp")
    with pytest.raises(ValueError, match="b_norm"):
        gauss_quadrature([1.0], [], -1.0, np.exp)
    with pytest.raises(ValueError, match="Ritz"):
        gauss_radau([2.0], [1.0], 1.0, np.exp, 2.0)
    with pytest.raises(ValueError, match="zero"):
        quadratic_form_bounds(np.eye(3), np.zeros(3), 1.0, 2)
