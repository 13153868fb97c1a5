"""Exact blocked softmax attention against a dense NumPy reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krylovid.attention.exact import (
    AttentionOperator,
    attention_logits,
    attention_matrix,
    attention_matvec,
    attention_rmatvec,
    row_normalizer,
    softmax_attention,
)
from krylovid.operators import LinearOperator


def dense_reference(Q, K, V=None, causal=False, mask=None, scale=None):
    """Independent dense softmax (numpy only): returns (P @ V, P, log D)."""
    scale = 1 / np.sqrt(Q.shape[-1]) if scale is None else scale
    S = np.einsum("...id,...jd->...ij", Q, K) * scale
    keep = np.ones(S.shape, dtype=bool)
    if causal:
        keep &= np.tril(np.ones(S.shape[-2:], dtype=bool))
    if mask is not None:
        keep &= mask
    S = np.where(keep, S, -np.inf)
    m = np.max(S, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    E = np.exp(S - m)
    Z = E.sum(-1, keepdims=True)
    P = E / np.where(Z > 0, Z, 1)
    with np.errstate(divide="ignore"):
        logD = np.log(Z[..., 0]) + m[..., 0]
    return (None if V is None else P @ V), P, logD


@pytest.fixture
def qkv(rng):
    Q, K = rng.standard_normal((2, 2, 3, 37, 6)) * 1.5
    V = rng.standard_normal((2, 3, 37, 5))
    return Q, K, V


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("block", [None, 1, 5, 16, 37, 100])
def test_blocked_equals_dense(qkv, causal, block):
    Q, K, V = qkv
    ref, P, logD = dense_reference(Q, K, V, causal)
    np.testing.assert_allclose(softmax_attention(Q, K, V, causal=causal, block_size=block), ref, atol=1e-12)
    np.testing.assert_allclose(row_normalizer(Q, K, causal=causal, block_size=block), logD, atol=1e-12)
    np.testing.assert_allclose(
        attention_rmatvec(Q, K, V, causal=causal, block_size=block), np.swapaxes(P, -1, -2) @ V, atol=1e-12
    )


def test_large_logits_do_not_overflow(rng):
    Q, K, V = rng.standard_normal((3, 20, 4))
    Q *= 300.0  # logits ~ 1e3: exp would overflow without the running max
    ref, _, logD = dense_reference(Q, K, V)
    Y = softmax_attention(Q, K, V, block_size=3)
    assert np.all(np.isfinite(Y))
    np.testing.assert_allclose(Y, ref, atol=1e-10)
    np.testing.assert_allclose(row_normalizer(Q, K, block_size=3), logD, rtol=1e-12)


def test_cross_attention_and_scale(rng):
    Q = rng.standard_normal((7, 4))
    K = rng.standard_normal((11, 4))
    V = rng.standard_normal((11, 3))
    ref, P, _ = dense_reference(Q, K, V, scale=0.3)
    np.testing.assert_allclose(softmax_attention(Q, K, V, scale=0.3, block_size=4), ref, atol=1e-13)
    np.testing.assert_allclose(attention_matrix(Q, K, scale=0.3), P, atol=1e-14)
    np.testing.assert_allclose(attention_matrix(Q, K).sum(-1), 1.0, atol=1e-14)
    np.testing.assert_allclose(attention_logits(Q, K, scale=0.3), Q @ K.T * 0.3, atol=1e-14)


@pytest.mark.parametrize("block", [None, 4])
def test_mask_broadcast_and_fully_masked_rows(qkv, rng, block):
    Q, K, V = qkv
    mask = rng.random((3, 37, 37)) < 0.4  # broadcasts over the batch axis
    mask[1, 5, :] = False  # a fully masked row
    ref, P, logD = dense_reference(Q, K, V, True, mask)
    Y = softmax_attention(Q, K, V, causal=True, block_size=block, mask=mask)
    np.testing.assert_allclose(Y, ref, atol=1e-12)
    assert np.all(Y[:, 1, 5] == 0)
    L = row_normalizer(Q, K, causal=True, block_size=block, mask=mask)
    assert np.all(np.isneginf(L[:, 1, 5]))
    np.testing.assert_allclose(
        attention_rmatvec(Q, K, V, causal=True, mask=mask, block_size=block), np.swapaxes(P, -1, -2) @ V, atol=1e-12
    )


@pytest.mark.parametrize("causal", [False, True])
def test_matvec_rmatvec_and_unnormalized(rng, causal):
    Q, K = rng.standard_normal((2, 13, 4))
    X = rng.standard_normal((13, 3))
    _, P, logD = dense_reference(Q, K, causal=causal)
    A = P * np.exp(logD)[:, None]
    np.testing.assert_allclose(attention_matvec(Q, K, X, causal=causal, block_size=5), P @ X, atol=1e-13)
    np.testing.assert_allclose(attention_matvec(Q, K, X[:, 0], causal=causal, block_size=5), P @ X[:, 0], atol=1e-13)
    np.testing.assert_allclose(attention_matvec(Q, K, X, causal=causal, normalized=False), A @ X, rtol=1e-12)
    np.testing.assert_allclose(
        attention_rmatvec(Q, K, X, causal=causal, normalized=False, block_size=4), A.T @ X, rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(attention_rmatvec(Q, K, X, causal=causal, log_normalizer=logD), P.T @ X, atol=1e-13)


def test_attention_operator_adjoint_and_dense(rng):
    Q = rng.standard_normal((9, 4))
    K = rng.standard_normal((12, 4))
    op = AttentionOperator(Q, K, block_size=4)
    assert isinstance(op, LinearOperator) and op.shape == (9, 12)
    _, P, logD = dense_reference(Q, K)
    np.testing.assert_allclose(op.to_dense(), P, atol=1e-14)
    np.testing.assert_allclose(op.log_normalizer, logD, atol=1e-13)
    x, y = rng.standard_normal(12), rng.standard_normal(9)
    assert abs(y @ op.matvec(x) - x @ op.rmatvec(y)) < 1e-12  # adjoint dot test
    np.testing.assert_allclose(op.T.to_dense(), P.T, atol=1e-14)
    opc = AttentionOperator(Q[:9], K[:9], causal=True, normalized=False)
    _, Pc, Lc = dense_reference(Q[:9], K[:9], causal=True)
    np.testing.assert_allclose(opc.to_dense(), Pc * np.exp(Lc)[:, None], rtol=1e-12)


def test_auto_block_for_long_sequence(rng):
    # n = 2100 exceeds the dense limit (2**22 entries): the automatic block path runs
    n = 2100
    Q, K = rng.standard_normal((2, n, 4))
    V = rng.standard_normal((n, 2))
    Y = softmax_attention(Q, K, V, causal=True)
    idx = np.array([0, 1, 777, 1500, n - 1])
    ref, _, _ = dense_reference(Q[idx], K, V, mask=np.arange(n)[None, :] <= idx[:, None])
    np.testing.assert_allclose(Y[idx], ref, atol=1e-12)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 5e-6), (np.float64, 2e-14)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("spread", [2.0, 4.0])
def test_one_numpy_head_default_blocks(rng, dtype, tol, causal, spread):
    """The single-head NumPy kernel (512 x 512 / 256 x 512 blocks, exp2, BLAS-accumulated products and row sums).

    Sizes that leave partial query and key blocks; the reference is dense float64 on the
    same (rounded) inputs, the tolerance relative to the output's size and growing with the
    logits (rounding of ``scale q.k`` in the working precision).  ``spread = 4`` puts the
    shift bound above ``2**126`` times the smallest weights in float32: the clipped path.
    """
    tol = tol * spread**2 / 4
    n, d = 1100, 16
    Q, K = (spread * rng.standard_normal((2, n, d))).astype(dtype)
    V = rng.standard_normal((n, 3)).astype(dtype)
    ref, _, logD = dense_reference(*(a.astype(np.float64) for a in (Q, K, V)), causal=causal)
    Y = softmax_attention(Q, K, V, causal=causal)
    assert Y.dtype == dtype
    assert np.max(np.abs(Y - ref)) <= tol * np.max(np.abs(ref))
    np.testing.assert_allclose(row_normalizer(Q, K, causal=causal), logD, atol=tol * np.max(np.abs(logD)))
    X = rng.standard_normal(n).astype(dtype)  # one column: the matvec path of the operator
    P = dense_reference(*(a.astype(np.float64) for a in (Q, K)), causal=causal)[1]
    np.testing.assert_allclose(attention_matvec(Q, K, X, causal=causal), P @ X, atol=10 * tol * np.abs(X).max())


@pytest.mark.parametrize("dtype, tol", [(np.float32, 5e-6), (np.float64, 2e-14)])
def test_one_numpy_head_strided_inputs(rng, dtype, tol):
    """Fortran-ordered queries and keys, values a strided view, n_q != n_k: BLAS gets its operands right."""
    n_q, n_k, d = 700, 1300, 8
    Q = np.asfortranarray(2.0 * rng.standard_normal((n_q, d))).astype(dtype, order="F")
    K = np.asfortranarray(2.0 * rng.standard_normal((n_k, d))).astype(dtype, order="F")
    V = rng.standard_normal((n_k, 10)).astype(dtype)[:, ::2]
    ref, _, _ = dense_reference(*(a.astype(np.float64) for a in (Q, K, V)))
    Y = softmax_attention(Q, K, V)
    assert Y.dtype == dtype and Y.shape == (n_q, 5)
    assert np.max(np.abs(Y - ref)) <= tol * np.max(np.abs(ref))


def test_strict_backend_float32(strict_xp, rng):
    xp = strict_xp
    Q, K, V = rng.standard_normal((3, 10, 4)).astype(np.float32)
    ref, P, logD = dense_reference(*(a.astype(np.float64) for a in (Q, K, V)), causal=True)
    Qs, Ks, Vs = (xp.asarray(a) for a in (Q, K, V))
    Y = softmax_attention(Qs, Ks, Vs, causal=True, block_size=3)
    assert Y.dtype == xp.float32
    np.testing.assert_allclose(np.asarray(Y), ref, atol=1e-5)
    op = AttentionOperator(Qs, Ks, causal=True, block_size=4)
    assert op.dtype == xp.float32
    np.testing.assert_allclose(np.asarray(op.T.to_dense()), P.T, atol=1e-5)
    np.testing.assert_allclose(np.asarray(row_normalizer(Qs, Ks, causal=True)), logD, atol=1e-5)


def test_float32_preserved_numpy(rng):
    Q, K, V = rng.standard_normal((3, 6, 4)).astype(np.float32)
    assert softmax_attention(Q, K, V).dtype == np.float32
    assert softmax_attention(Q, K, V.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda Q, K, V: softmax_attention(Q, K[:, :3], V), "feature size"),
        (lambda Q, K, V: softmax_attention(Q, K, V[:5]), "V must have as many rows"),
        (lambda Q, K, V: softmax_attention(Q[0], K, V), "Q must have shape"),
        (lambda Q, K, V: softmax_attention(Q[:4], K, V, causal=True), "causal"),
        (lambda Q, K, V: softmax_attention(Q, K, V, block_size=0), "block_size"),
        (lambda Q, K, V: softmax_attention(Q, K, V, scale=-1.0), "scale"),
        (lambda Q, K, V: softmax_attention(Q, K, V, mask=np.ones((6, 5), bool)), "mask"),
        (lambda Q, K, V: softmax_attention(Q[None], K, V), "leading"),
        (lambda Q, K, V: attention_matvec(Q, K, V[:4]), "X"),
        (lambda Q, K, V: attention_rmatvec(Q, K, V[:4]), "X"),
        (lambda Q, K, V: AttentionOperator(Q[None], K[None]), "2-D"),
    ],
)
def test_bad_input_raises_value_error(rng, call, match):
    Q, K, V = rng.standard_normal((3, 6, 4))
    with pytest.raises(ValueError, match=match):
        call(Q, K, V)


def test_bad_types(rng):
    Q, K, V = rng.standard_normal((3, 6, 4))
    with pytest.raises(TypeError, match="mask"):
        softmax_attention(Q, K, V, mask=np.ones((6, 6)))
    with pytest.raises(TypeError, match="causal"):
        softmax_attention(Q, K, V, causal="yes")
    with pytest.raises(TypeError, match="Q"):
        softmax_attention("abc", K, V)


@settings(max_examples=25, deadline=None)
@given(
    bad=st.sampled_from([np.nan, np.inf, -np.inf]), which=st.integers(0, 2), i=st.integers(0, 5), j=st.integers(0, 3)
)
def test_non_finite_input_named(bad, which, i, j):
    arrs = [np.ones((6, 4)) * 0.1 for _ in range(3)]
    arrs[which][i, j] = bad
    with pytest.raises(ValueError, match="QKV"[which]):
        softmax_attention(*arrs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["one_head", "causal", "batched_mask"])
def test_bound_shift_underflow_falls_back_to_online_pass(dtype, case):
    """A key of huge norm orthogonal to the queries makes the Cauchy–Schwarz shift underflow every row."""
    rng = np.random.default_rng(7)
    n, d = 12, 4
    Q = rng.standard_normal((n, d))
    Q[:, 0] = 0.0
    K = rng.standard_normal((n, d))
    K[3] = 0.0
    K[3, 0] = 1e4 if dtype == np.float64 else 400.0  # scale |q| |k_3| far above every logit
    V = rng.standard_normal((n, 3))
    S = Q @ K.T / 2.0
    keep = np.ones((n, n), bool)
    if case == "causal":
        keep = np.tril(keep)
    if case == "batched_mask":
        keep = rng.random((n, n)) < 0.7
        keep[:, 0] = True
    Sm = np.where(keep, S, -np.inf)
    P = np.exp(Sm - Sm.max(axis=1, keepdims=True))
    ref_logD = np.log(P.sum(axis=1)) + Sm.max(axis=1)
    ref = (P / P.sum(axis=1, keepdims=True)) @ V
    args = [a.astype(dtype) for a in (Q, K, V)]
    kw = {"causal": case == "causal"}
    if case == "batched_mask":
        args = [np.stack([a, a]) for a in args]
        kw["mask"] = np.stack([keep, keep])
        ref, ref_logD = np.stack([ref, ref]), np.stack([ref_logD, ref_logD])
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(softmax_attention(*args, **kw), ref, atol=tol)
    np.testing.assert_allclose(row_normalizer(args[0], args[1], **kw), ref_logD, rtol=tol)
