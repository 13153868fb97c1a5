"""Operator conformance suite (DESIGN §5 "Tests in layers").

Every operator is registered once in :data:`CASES` as an :class:`OpCase`
whose ``build(xp)`` returns the operator and an INDEPENDENT dense NumPy
reference (built with NumPy / ``scipy.linalg.toeplitz`` / ``scipy.sparse``,
never through krylovid).  Each test is parametrized over the registry, so an
operator added to it is checked for matvec, matmat (k = 1, 3), rmatvec /
rmatmat, the adjoint dot test, composition, ``to_dense``, ``.T.T``, shape
errors and the round trip through SciPy.

``tests/test_strict_backend.py`` reuses the registry with ``xp`` set to
``array_api_strict``.  Tolerances are derived from the dtype
(``TOL_FACTOR * eps``) and scaled by the norms involved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import given, settings
from hypothesis import strategies as st

from krylovid.backend import asarray, to_numpy
from krylovid.operators import (
    Counted,
    Dense,
    Diagonal,
    FromScipy,
    Identity,
    LinearOperator,
    Product,
    Scaled,
    Shifted,
    Sum,
    Toeplitz,
    Transposed,
    aslinearoperator,
    to_scipy,
)

TOL_FACTOR = 1e3


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class OpCase:
    """One registry entry.

    ``build(xp)`` returns ``(op, ref)``: the operator computing in namespace
    ``xp`` (``None``: plain NumPy arrays) and its dense ``(m, n)`` NumPy
    reference.  ``numpy_only`` marks operators that wrap SciPy objects.
    """

    name: str
    build: Callable
    numpy_only: bool = False


def _g(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _on(a, xp):
    """NumPy data ``a`` as an array of ``xp`` (unchanged for ``xp=None``)."""
    return a if xp is None else asarray(a, xp)


def _dense(shape, seed, xp, sym=False):
    M = _g(seed).standard_normal(shape)
    if sym:
        M = M + M.T
    return Dense(_on(M, xp)), M


def _toeplitz(m, n, seed, xp, sym=False):
    g = _g(seed)
    c = g.standard_normal(m)
    if sym:
        return Toeplitz(_on(c, xp)), sla.toeplitz(c)
    r = g.standard_normal(n)
    return Toeplitz(_on(c, xp), _on(r, xp)), sla.toeplitz(c, r)


def _diagonal(n, seed, xp):
    d = _g(seed).uniform(0.5, 2.0, n)
    return Diagonal(_on(d, xp)), np.diag(d)


def _identity(n, xp):
    if xp is None:
        return Identity(n), np.eye(n)
    return Identity(n, xp=xp, dtype=xp.float64), np.eye(n)


def _sum(xp):
    (A, a), (B, b) = _dense((6, 4), 10, xp), _toeplitz(6, 4, 11, xp)
    return A + B, a + b


def _difference(xp):
    (A, a), (D, d) = _dense((5, 5), 12, xp), _diagonal(5, 13, xp)
    return A - D, a - d


def _product(xp):
    (A, a), (B, b) = _dense((6, 4), 14, xp), _toeplitz(4, 3, 15, xp)
    return A @ B, a @ b


def _product3(xp):
    (A, a), (B, b), (D, d) = _toeplitz(5, 4, 16, xp), _dense((4, 4), 17, xp), _diagonal(4, 18, xp)
    return Product(A, B, D), a @ b @ d


def _scaled(xp):
    T, t = _toeplitz(6, 4, 19, xp)
    return 2.5 * T, 2.5 * t


def _negated(xp):
    A, a = _dense((4, 6), 20, xp)
    return -A, -a


def _transposed(xp):
    A, a = _dense((6, 4), 21, xp)
    return Transposed(A), a.T


def _toeplitz_T(xp):
    T, t = _toeplitz(7, 4, 22, xp)
    return T.T, t.T


def _shifted_dense(xp):
    A, a = _dense((5, 5), 23, xp)
    return Shifted(A, 0.7), a + 0.7 * np.eye(5)


def _shifted_toeplitz(xp):
    T, t = _toeplitz(6, 6, 24, xp, sym=True)
    return Shifted(T, 3.0).with_shift(-1.5), t - 1.5 * np.eye(6)


def _counted(xp):
    T, t = _toeplitz(5, 7, 25, xp)
    return Counted(T), t


def _scipy_sparse(xp):
    S = sp.random(6, 5, density=0.5, random_state=26, format="csr")
    return FromScipy(S), S.toarray()


def _scipy_linop(xp):
    M = _g(27).standard_normal((5, 4))
    L = spla.LinearOperator((5, 4), matvec=lambda x: M @ x, rmatvec=lambda y: M.T @ y, dtype=np.float64)
    return aslinearoperator(L), M


CASES = [
    OpCase("dense_square", lambda xp: _dense((5, 5), 1, xp)),
    OpCase("dense_rect", lambda xp: _dense((6, 4), 2, xp)),
    OpCase("dense_sym", lambda xp: _dense((5, 5), 3, xp, sym=True)),
    OpCase("diagonal", lambda xp: _diagonal(5, 4, xp)),
    OpCase("identity", lambda xp: _identity(4, xp)),
    OpCase("toeplitz_tall", lambda xp: _toeplitz(7, 4, 5, xp)),
    OpCase("toeplitz_wide", lambda xp: _toeplitz(3, 6, 6, xp)),
    OpCase("toeplitz_sym", lambda xp: _toeplitz(6, 6, 7, xp, sym=True)),
    OpCase("toeplitz_n1", lambda xp: _toeplitz(5, 1, 8, xp)),
    OpCase("toeplitz_m1", lambda xp: _toeplitz(1, 4, 9, xp)),
    OpCase("shifted_dense", _shifted_dense),
    OpCase("shifted_toeplitz", _shifted_toeplitz),
    OpCase("sum", _sum),
    OpCase("difference", _difference),
    OpCase("product", _product),
    OpCase("product3", _product3),
    OpCase("scaled", _scaled),
    OpCase("negated", _negated),
    OpCase("transposed", _transposed),
    OpCase("toeplitz_T", _toeplitz_T),
    OpCase("counted", _counted),
    OpCase(
        "aslinearoperator_array",
        lambda xp: (aslinearoperator(_on(_g(28).standard_normal((3, 5)), xp)), _g(28).standard_normal((3, 5))),
    ),
    OpCase("scipy_sparse", _scipy_sparse, numpy_only=True),
    OpCase("scipy_linop", _scipy_linop, numpy_only=True),
]

IDS = [c.name for c in CASES]


# ----------------------------------------------------------------------------- helpers
def assert_close(got, want, scale, dtype=np.float64, factor=TOL_FACTOR):
    """``|got - want| <= factor * eps(dtype) * scale`` elementwise (``got`` on any backend)."""
    got = to_numpy(got)
    assert got.shape == np.shape(want)
    atol = factor * float(np.finfo(dtype).eps) * max(float(scale), 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)


def _norm(a) -> float:
    return float(np.linalg.norm(a))


@pytest.fixture(params=CASES, ids=IDS)
def case(request):
    op, ref = request.param.build(None)
    return op, ref


# ----------------------------------------------------------------------------- conformance
def test_shape_dtype_and_type(case):
    op, ref = case
    assert isinstance(op, LinearOperator)
    assert op.shape == ref.shape
    assert op.dtype == np.float64


def test_matvec(case, rng):
    op, ref = case
    x = rng.standard_normal(ref.shape[1])
    y = op.matvec(x)
    assert isinstance(y, np.ndarray) and y.shape == (ref.shape[0],)
    assert_close(y, ref @ x, _norm(ref) * _norm(x))
    assert_close(op @ x, ref @ x, _norm(ref) * _norm(x))


@pytest.mark.parametrize("k", [1, 3])
def test_matmat(case, rng, k):
    op, ref = case
    X = rng.standard_normal((ref.shape[1], k))
    Y = op.matmat(X)
    assert Y.shape == (ref.shape[0], k)
    assert_close(Y, ref @ X, _norm(ref) * _norm(X))
    assert_close(op @ X, ref @ X, _norm(ref) * _norm(X))


@pytest.mark.parametrize("k", [1, 3])
def test_rmatvec_rmatmat(case, rng, k):
    op, ref = case
    y = rng.standard_normal(ref.shape[0])
    assert_close(op.rmatvec(y), ref.T @ y, _norm(ref) * _norm(y))
    assert_close(y @ op, ref.T @ y, _norm(ref) * _norm(y))
    Y = rng.standard_normal((ref.shape[0], k))
    assert_close(op.rmatmat(Y), ref.T @ Y, _norm(ref) * _norm(Y))
    assert_close(Y.T @ op, Y.T @ ref, _norm(ref) * _norm(Y))


def test_adjoint_dot_test(case, rng):
    """<A x, y> = <x, A^T y> for random x, y, both sides through the operator."""
    op, ref = case
    x = rng.standard_normal(ref.shape[1])
    y = rng.standard_normal(ref.shape[0])
    lhs = float(np.dot(op.matvec(x), y))
    rhs = float(np.dot(x, op.rmatvec(y)))
    tol = TOL_FACTOR * np.finfo(np.float64).eps * max(_norm(ref) * _norm(x) * _norm(y), 1.0)
    assert abs(lhs - rhs) <= tol
    assert abs(lhs - float(y @ ref @ x)) <= tol


def test_to_dense_and_double_transpose(case):
    op, ref = case
    assert_close(op.to_dense(), ref, _norm(ref))
    assert op.T.shape == ref.T.shape
    assert_close(op.T.to_dense(), ref.T, _norm(ref))
    assert_close(op.T.T.to_dense(), ref, _norm(ref))
    assert op.T.T.shape == op.shape


def test_symmetric_flag_is_truthful(case):
    op, ref = case
    if op.symmetric:
        np.testing.assert_array_equal(ref, ref.T)
        assert op.T is op


def test_composition_matches_dense(case, rng):
    op, ref = case
    B = rng.standard_normal((ref.shape[1], 3))
    C = rng.standard_normal((2, ref.shape[0]))
    right, left = op @ Dense(B), Dense(C) @ op
    assert isinstance(right, Product) and isinstance(left, Product)
    assert right.shape == (ref.shape[0], 3) and left.shape == (2, ref.shape[1])
    assert_close(right.to_dense(), ref @ B, _norm(ref) * _norm(B))
    assert_close(left.to_dense(), C @ ref, _norm(ref) * _norm(C))
    gram = op.T @ op
    assert_close(gram.to_dense(), ref.T @ ref, _norm(ref) ** 2)


def test_shape_errors_name_the_expected_shape(case):
    op, ref = case
    m, n = ref.shape
    with pytest.raises(ValueError, match=re.escape(f"({n},)")):
        op.matvec(np.ones(n + 1))
    with pytest.raises(ValueError, match=re.escape(f"({m},)")):
        op.rmatvec(np.ones(m + 1))
    with pytest.raises(ValueError, match=re.escape(f"({n}, k)")):
        op.matmat(np.ones((n + 2, 2)))
    with pytest.raises(ValueError, match=re.escape(f"({m}, k)")):
        op.rmatmat(np.ones((m + 2, 2)))
    with pytest.raises(ValueError):
        op.matmat(np.ones(n))  # a vector is not a block
    with pytest.raises(ValueError):
        op.matvec(np.ones((n, 1)))  # a block is not a vector


def test_to_scipy_round_trip(case, rng):
    op, ref = case
    S = to_scipy(op)
    assert isinstance(S, spla.LinearOperator) and S.shape == ref.shape
    x, y = rng.standard_normal(ref.shape[1]), rng.standard_normal(ref.shape[0])
    X = rng.standard_normal((ref.shape[1], 3))
    scale = _norm(ref) * max(_norm(x), _norm(y), _norm(X))
    assert_close(S.matvec(x), ref @ x, scale)
    assert_close(S.rmatvec(y), ref.T @ y, scale)
    assert_close(S.matmat(X), ref @ X, scale)
    assert_close(S @ x, ref @ x, scale)


def test_scipy_cg_on_to_scipy_matches_dense_solve(case, rng):
    """SciPy's CG on to_scipy(A^T A + I) solves the same system as a dense solve."""
    op, ref = case
    n = ref.shape[1]
    G = to_scipy(Shifted(op.T @ op, 1.0))
    b = rng.standard_normal(n)
    x, info = spla.cg(G, b, rtol=1e-12, atol=0.0, maxiter=10 * n)
    assert info == 0
    x_ref = np.linalg.solve(ref.T @ ref + np.eye(n), b)
    np.testing.assert_allclose(x, x_ref, rtol=0, atol=1e-9 * _norm(x_ref))


# ----------------------------------------------------------------------------- scipy round trips on larger operators
def test_scipy_eigsh_on_toeplitz_matches_dense():
    c = 0.8 ** np.arange(60)
    T = Toeplitz(c)
    w = spla.eigsh(to_scipy(T), k=4, which="LA", return_eigenvectors=False, tol=1e-12)
    w_ref = np.linalg.eigvalsh(sla.toeplitz(c))[-4:]
    np.testing.assert_allclose(np.sort(w), w_ref, rtol=1e-10)


def test_scipy_svds_on_product_matches_dense(rng):
    A = rng.standard_normal((40, 25))
    c, r = rng.standard_normal(25), rng.standard_normal(30)
    P = Dense(A) @ Toeplitz(c, r)
    s = spla.svds(to_scipy(P), k=3, return_singular_vectors=False, tol=1e-12, random_state=0)
    s_ref = np.linalg.svd(A @ sla.toeplitz(c, r), compute_uv=False)[:3]
    np.testing.assert_allclose(np.sort(s)[::-1], s_ref, rtol=1e-10)


def test_from_scipy_of_to_scipy_is_equivalent(rng):
    c, r = rng.standard_normal(8), rng.standard_normal(5)
    back = FromScipy(to_scipy(Toeplitz(c, r)))
    X = rng.standard_normal((5, 2))
    assert_close(back.matmat(X), sla.toeplitz(c, r) @ X, 10 * _norm(X))


# ----------------------------------------------------------------------------- Counted
def test_counted_counts_columns_forward_and_adjoint(rng):
    T = Toeplitz(rng.standard_normal(6), rng.standard_normal(4))
    C = Counted(T)
    assert (C.matvecs, C.calls) == (0, 0)
    C.matvec(np.ones(4))
    C.matmat(np.ones((4, 3)))
    C.rmatmat(np.ones((6, 5)))
    C.rmatvec(np.ones(6))
    assert (C.matvecs, C.calls) == (1 + 3 + 5 + 1, 4)
    C.to_dense()  # applies to the 4 columns of the identity
    assert C.matvecs == 10 + 4
    C.reset()
    assert (C.matvecs, C.calls) == (0, 0)


def test_counted_inside_composition_counts_only_its_factor(rng):
    C = Counted(Dense(rng.standard_normal((4, 4))))
    P = Dense(rng.standard_normal((3, 4))) @ C @ Diagonal(np.ones(4))
    P.matmat(np.ones((4, 2)))
    P.rmatmat(np.ones((3, 7)))
    assert (C.matvecs, C.calls) == (9, 2)
    G = C.T @ C  # A^T A: each product applies C once forward, once adjoint
    G.matmat(np.ones((4, 3)))
    assert C.matvecs == 9 + 6


def test_shifted_keeps_operator_and_shift_apart(rng):
    T = Toeplitz(rng.standard_normal(5))
    S = Shifted(T, 2.0)
    S2 = S.with_shift(-0.5)
    assert S2.A is T and S2.shift == -0.5 and S.shift == 2.0
    x = rng.standard_normal(5)
    assert_close(S2.matvec(x) - S.matvec(x), -2.5 * x, 10 * _norm(x))


# ----------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize(
    "make",
    [
        lambda g: (Dense(g.standard_normal((6, 4)).astype(np.float32)), None),
        lambda g: (Toeplitz(g.standard_normal(6).astype(np.float32), g.standard_normal(4).astype(np.float32)), None),
        lambda g: (Diagonal(g.standard_normal(4).astype(np.float32)), None),
    ],
    ids=["dense", "toeplitz", "diagonal"],
)
def test_float32_is_preserved_and_accurate(make, rng):
    op, _ = make(np.random.default_rng(5))
    ref = op.to_dense().astype(np.float64)
    x = rng.standard_normal(op.shape[1]).astype(np.float32)
    y = op.matvec(x)
    assert op.dtype == np.float32 and y.dtype == np.float32
    assert_close(y, ref @ x.astype(np.float64), _norm(ref) * _norm(x), dtype=np.float32, factor=50)
    T_ref = op.T.to_dense()
    assert_close(T_ref, ref.T, _norm(ref), dtype=np.float32, factor=50)


def test_toeplitz_to_dense_is_independent_of_matvec(rng):
    """to_dense builds entries directly; it must equal scipy.linalg.toeplitz exactly."""
    c, r = rng.standard_normal(9), rng.standard_normal(4)
    np.testing.assert_array_equal(Toeplitz(c, r).to_dense(), sla.toeplitz(c, r))


# ----------------------------------------------------------------------------- construction errors
def test_algebra_shape_mismatch_raises(rng):
    A, B = Dense(np.ones((3, 4))), Dense(np.ones((4, 3)))
    with pytest.raises(ValueError, match="shapes differ"):
        A + B
    with pytest.raises(ValueError, match="inner dimensions"):
        A @ A
    with pytest.raises(ValueError, match="square"):
        Shifted(A, 1.0)
    with pytest.raises(ValueError, match="square"):
        Dense(np.ones((3, 4)), symmetric=True)
    with pytest.raises(ValueError, match="shape"):
        Identity(-1)


def test_algebra_bad_operands_raise_typeerror():
    A = Dense(np.eye(3))
    with pytest.raises(TypeError):
        A * "2"
    with pytest.raises(TypeError):
        A + np.eye(3)
    with pytest.raises(TypeError):
        A * True
    with pytest.raises(TypeError, match="shift"):
        Shifted(A, "x")
    with pytest.raises(ValueError, match="shift"):
        Shifted(A, float("nan"))


def test_bad_operator_inputs_name_the_argument():
    with pytest.raises(ValueError, match="M"):
        Dense(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="M"):
        Dense(np.ones(3))
    with pytest.raises(ValueError, match="c"):
        Toeplitz(np.array([]))
    with pytest.raises(ValueError, match="r"):
        Toeplitz(np.ones(3), np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="d"):
        Diagonal(np.ones((2, 2)))
    with pytest.raises(TypeError, match="complex"):
        FromScipy(sp.eye(3, dtype=complex))
    with pytest.raises(TypeError, match="A"):
        aslinearoperator("not an operator")


def test_mixing_namespaces_in_algebra_raises_typeerror(strict_xp):
    A = Dense(np.eye(3))
    B = Dense(strict_xp.eye(3, dtype=strict_xp.float64))
    with pytest.raises(TypeError, match="namespace"):
        A + B
    with pytest.raises(TypeError, match="namespace"):
        A @ B
    with pytest.raises(TypeError, match="NumPy"):
        to_scipy(B)


def test_sum_and_scaled_types():
    A = Dense(np.eye(2))
    assert isinstance(A + A, Sum) and isinstance(2 * A, Scaled) and isinstance(A - A, Sum)
    assert_close((A - A).to_dense(), np.zeros((2, 2)), 1.0)


# ----------------------------------------------------------------------------- property test over sizes
@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 40), n=st.integers(1, 40), k=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_toeplitz_any_shape_matches_scipy(m, n, k, seed):
    """Circulant embedding is right for every (m, n), including the FFT-length edge cases."""
    g = np.random.default_rng(seed)
    c, r = g.standard_normal(m), g.standard_normal(n)
    ref = sla.toeplitz(c, r)
    T = Toeplitz(c, r)
    assert T.fft_len >= m + n - 1
    X, Y = g.standard_normal((n, k)), g.standard_normal((m, k))
    assert_close(T.matmat(X), ref @ X, _norm(ref) * _norm(X))
    assert_close(T.rmatmat(Y), ref.T @ Y, _norm(ref) * _norm(Y))
