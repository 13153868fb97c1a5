"""Range finder, randomized SVD / eigh and Nyström against dense references."""

import array_api_strict as xs
import numpy as np
import pytest
from array_api_compat import array_namespace, is_array_api_strict_namespace
from hypothesis import given, settings
from hypothesis import strategies as st

from krylovid.operators import Counted, Dense, LinearOperator
from krylovid.sketch import nystrom, randomized_eigh, randomized_svd, range_finder


def _is_strict(x):
    return is_array_api_strict_namespace(array_namespace(x))


def _matrix(m, n, decay, seed=0):
    """``U diag(sigma) V^T`` with ``sigma_i = decay(i)`` and Haar U, V."""
    rng = np.random.default_rng(seed)
    r = min(m, n)
    U, _ = np.linalg.qr(rng.standard_normal((m, r)))
    V, _ = np.linalg.qr(rng.standard_normal((n, r)))
    s = decay(np.arange(r))
    return U @ np.diag(s) @ V.T, s


def _psd(n, decay, seed=0):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = decay(np.arange(n))
    return (U * lam) @ U.T, lam


SLOW = lambda i: 1.0 / (1.0 + i) ** 0.5  # noqa: E731  slowly decaying spectrum


def test_range_finder_orthonormal_and_near_optimal():
    A, s = _matrix(80, 60, SLOW)
    k = 8
    errs = []
    for q in (0, 1, 3):
        Q = range_finder(A, k, oversample=5, power_iters=q, rng=1)
        assert Q.shape == (80, 13)
        np.testing.assert_allclose(Q.T @ Q, np.eye(13), atol=1e-12)
        errs.append(np.linalg.norm(A - Q @ (Q.T @ A), 2) / s[k + 5])
    assert errs[0] > errs[1] > errs[2]  # power iterations help
    assert errs[2] < 1.3  # close to the best rank-(k+p) error


def test_rsvd_error_close_to_optimal_tail():
    A, s = _matrix(70, 50, SLOW, seed=2)
    k = 6
    res = randomized_svd(A, k, oversample=10, power_iters=3, rng=0)
    err = np.linalg.norm(A - res.U @ np.diag(res.s) @ res.Vt, 2)
    assert err <= 1.1 * s[k]
    np.testing.assert_allclose(res.U.T @ res.U, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(res.Vt @ res.Vt.T, np.eye(k), atol=1e-12)
    assert np.all(np.diff(res.s) <= 0)
    assert abs(res.info.residual - s[k]) < 0.1 * s[k]  # tail estimate


def test_rsvd_error_shrinks_with_oversampling():
    A, s = _matrix(60, 60, lambda i: 0.9**i, seed=3)
    k = 5

    def mean_err(p):
        return np.mean(
            [
                np.linalg.norm(
                    A - (r := randomized_svd(A, k, oversample=p, power_iters=0, rng=t)).U @ np.diag(r.s) @ r.Vt, 2
                )
                for t in range(10)
            ]
        )

    e0, e5, e20 = mean_err(0), mean_err(5), mean_err(20)
    assert e0 > e5 > e20 and e20 < 1.5 * s[k]


def test_rsvd_exact_for_low_rank_operator_and_counts_matvecs():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((40, 4)) @ rng.standard_normal((4, 25))
    op = Counted(Dense(A))
    res = randomized_svd(op, 4, oversample=3, power_iters=1, rng=0)
    np.testing.assert_allclose(res.s, np.linalg.svd(A, compute_uv=False)[:4], rtol=1e-10)
    np.testing.assert_allclose(res.U @ np.diag(res.s) @ res.Vt, A, atol=1e-10)
    assert op.matvecs == res.info.matvecs == 7 * (2 * 1 + 2)


def test_randomized_eigh_indefinite():
    rng = np.random.default_rng(5)
    U, _ = np.linalg.qr(rng.standard_normal((50, 50)))
    lam = np.concatenate([[10.0, -8.0, 6.0, -5.0], 0.01 * rng.standard_normal(46)])
    A = (U * lam) @ U.T
    res = randomized_eigh(A, 4, oversample=6, power_iters=2, rng=1)
    np.testing.assert_allclose(res.w, [10.0, -8.0, 6.0, -5.0], atol=1e-3)
    np.testing.assert_allclose(A @ res.V, res.V * res.w, atol=0.05)
    np.testing.assert_allclose(res.V.T @ res.V, np.eye(4), atol=1e-12)


def test_array_api_strict_inputs():
    A, _ = _matrix(30, 20, lambda i: 0.5**i, seed=6)
    res = randomized_svd(xs.asarray(A), 3, rng=0)
    assert _is_strict(res.U)
    np.testing.assert_allclose(np.asarray(res.s), np.linalg.svd(A, compute_uv=False)[:3], rtol=1e-8)
    P, lam = _psd(25, lambda i: 0.5**i, seed=6)
    nres = nystrom(xs.asarray(P), 12, rng=0)
    assert _is_strict(nres.U)
    np.testing.assert_allclose(np.asarray(nres.s), nystrom(P, 12, rng=0).s, atol=1e-12)  # same draw
    np.testing.assert_allclose(np.asarray(nres.s)[:5], lam[:5], rtol=1e-2)
    e = randomized_eigh(xs.asarray(P), 3, rng=0)
    np.testing.assert_allclose(np.asarray(e.w), lam[:3], rtol=1e-8)


# ------------------------------------------------------------------ Nyström
def test_nystrom_exact_when_k_at_least_rank():
    rng = np.random.default_rng(7)
    G = rng.standard_normal((40, 5))
    A = G @ G.T
    res = nystrom(A, 7, rng=0)
    assert res.info.status == "converged"
    np.testing.assert_allclose(res.matmat(np.eye(40)), A, atol=1e-10 * np.linalg.norm(A))
    np.testing.assert_allclose(res.s[:5], np.linalg.eigvalsh(A)[::-1][:5], rtol=1e-10)
    assert np.all(res.s >= 0) and np.all(res.s[5:] < 1e-10 * res.s[0])


def test_nystrom_error_shrinks_with_rank_and_is_near_optimal():
    A, lam = _psd(60, lambda i: 0.8**i, seed=8)
    errs = []
    for k in (5, 10, 20):
        res = nystrom(A, k, rng=1)
        errs.append(np.linalg.norm(A - res.matmat(np.eye(60)), 2))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 50 * lam[15]  # Nyström with k=20 ~ optimal rank-15 tail


def test_nystrom_solve_and_preconditioner_vs_dense():
    A, lam = _psd(50, lambda i: 100 * 0.7**i, seed=9)
    res = nystrom(A, 25, rng=2)
    Ahat = res.matmat(np.eye(50))
    B = np.random.default_rng(3).standard_normal((50, 3))
    np.testing.assert_allclose(res.solve(B, 0.1), np.linalg.solve(Ahat + 0.1 * np.eye(50), B), atol=1e-10)
    np.testing.assert_allclose(res.solve(B[:, 0], 0.1), np.linalg.solve(Ahat + 0.1 * np.eye(50), B[:, 0]), atol=1e-10)
    mu = 1e-3
    Pinv = res.precondition(np.eye(50), mu)
    cond = lambda M: np.linalg.cond(M)  # noqa: E731
    assert cond(Pinv @ (A + mu * np.eye(50))) < 1e-3 * cond(A + mu * np.eye(50))


def test_nystrom_fallback_for_zero_and_non_psd():
    res = nystrom(np.zeros((6, 6)), 3, rng=0)
    assert res.info.status == "fallback"
    np.testing.assert_array_equal(res.s, 0.0)
    res = nystrom(-np.eye(6), 3, rng=0)
    assert res.info.status == "fallback" and np.all(res.s == 0)


def test_nystrom_operator_input_counts():
    A, _ = _psd(30, lambda i: 0.5**i, seed=10)
    op = Counted(Dense(A))
    res = nystrom(op, 6, rng=0)
    assert op.matvecs == res.info.matvecs == 6


# ------------------------------------------------------------------ bad input
class _NaNOp(LinearOperator):
    def __init__(self):
        super().__init__((5, 5), symmetric=True)

    def _matmat(self, X):
        return X * np.nan


@pytest.mark.parametrize("fn", [range_finder, randomized_svd, randomized_eigh, nystrom])
def test_bad_rank(fn):
    A = np.eye(6)
    with pytest.raises(ValueError, match="k"):
        fn(A, 7)
    with pytest.raises(ValueError, match="k"):
        fn(A, 0)
    with pytest.raises(TypeError, match="k"):
        fn(A, 2.5)


@pytest.mark.parametrize("fn", [range_finder, randomized_svd, randomized_eigh, nystrom])
def test_bad_matrix(fn):
    A = np.eye(5)
    A[1, 2] = np.nan
    with pytest.raises(ValueError, match="A"):
        fn(A, 2)
    with pytest.raises(ValueError, match="A"):
        fn(_NaNOp(), 2)
    with pytest.raises(TypeError, match="A"):
        fn("matrix", 2)


@pytest.mark.parametrize("fn", [randomized_eigh, nystrom])
def test_symmetric_routines_need_square(fn):
    with pytest.raises(ValueError, match="square"):
        fn(np.ones((5, 4)), 2)


def test_bad_options():
    with pytest.raises(ValueError, match="power_iters"):
        randomized_svd(np.eye(4), 2, power_iters=-1)
    with pytest.raises(ValueError, match="oversample"):
        range_finder(np.eye(4), 2, oversample=-2)
    with pytest.raises(ValueError, match="kind"):
        range_finder(np.eye(4), 2, kind="bogus")
    with pytest.raises(ValueError, match="shift"):
        nystrom(np.eye(4), 2, shift=-1.0)
    res = nystrom(np.eye(4), 2, rng=0)
    with pytest.raises(ValueError, match="lam"):
        res.solve(np.ones(4), 0.0)
    with pytest.raises(ValueError, match="B"):
        res.solve(np.ones(5), 1.0)


@settings(max_examples=25, deadline=None)
@given(
    i=st.integers(0, 5), j=st.integers(0, 5), bad=st.sampled_from([np.nan, np.inf, -np.inf]), which=st.integers(0, 3)
)
def test_nonfinite_entry_anywhere_is_refused(i, j, bad, which):
    from krylovid.sketch import hutchinson, slq_logdet

    A = np.eye(6)
    A[i, j] = bad
    calls = [
        lambda: randomized_svd(A, 2, rng=0),
        lambda: nystrom(A, 2, rng=0),
        lambda: hutchinson(A, 3, rng=0),
        lambda: slq_logdet(A, 1.0, 2, 3, rng=0),
    ]
    with pytest.raises(ValueError, match="A"):
        calls[which]()
