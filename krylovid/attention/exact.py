"""Exact softmax attention, blocked with online log-sum-exp merging.

``Y = softmax(scale * Q K^T) V`` is computed block by block over queries and
keys (flash-attention style: a per-row shift bound folded into the logit
product, an online running maximum where that bound underflows), so the
``n_q x n_k`` matrix is never formed for long sequences.  The same kernel gives
the row log-normalisers ``log D = log(A 1)`` and implicit products ``P X`` and
``P^T X`` with the row-stochastic ``P = D^{-1} A``, which make ``P`` a
:class:`~krylovid.operators.LinearOperator` (:class:`AttentionOperator`) for the
spectral diagnostics.

Rows with no admissible key (fully masked) give a zero output row and a log
normaliser of ``-inf``.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas as _blas

from .._validation import check_array
from ..backend import array_namespace, is_numpy, to_numpy
from ..operators.base import LinearOperator
from ._common import (
    auto_block_size,
    causal_mask,
    check_block_size,
    check_mask,
    check_qk,
    check_qkv,
    leading_shape,
    masked_logits,
    matmul_t,
    safe_exp_shift,
    softmax,
)

__all__ = [
    "softmax_attention",
    "attention_logits",
    "attention_matrix",
    "row_normalizer",
    "attention_matvec",
    "attention_rmatvec",
    "AttentionOperator",
]


_LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(log2(e) x)


# ----------------------------------------------------------------------------- internals
def _keep(xp, mask, causal, i0, i1, j0, j1):
    """Boolean keep-mask of block ``[i0:i1, j0:j1]`` (None when everything is kept)."""
    keep = None
    if causal and j1 - 1 > i0:  # some entry of the block lies above the diagonal
        keep = causal_mask(xp, i1 - i0, j1 - j0, row_offset=i0, col_offset=j0)
    if mask is not None:
        m = mask[..., i0:i1, j0:j1]
        keep = m if keep is None else xp.logical_and(keep, m)
    return keep


def _blocks(n, b):
    b = n if b is None else b
    return [(s, min(s + b, n)) for s in range(0, n, b)]


def _block_logits(xp, Q, K, scale, mask, causal, i0, i1, j0, j1):
    S = matmul_t(xp, Q[..., i0:i1, :], K[..., j0:j1, :]) * scale
    return masked_logits(xp, S, _keep(xp, mask, causal, i0, i1, j0, j1))


def _auto_block(block, Q, K):
    """``block`` or, when None, :func:`auto_block_size` for these shapes (None = one dense block)."""
    if block is not None:
        return block
    batch = 1
    for s in leading_shape(Q):
        batch *= s
    return auto_block_size(int(Q.shape[-2]), int(K.shape[-2]), batch)


def _flash(xp, Q, K, V, scale, causal, mask, block):
    """Blocked ``(P V or None, log D)``: the bound-shifted single pass, the online pass where it underflows."""
    out, logD, bad = _shifted(xp, Q, K, V, scale, causal, mask, block)
    if bad is None:
        return out, logD
    if Q.ndim == 2 and mask is None and not causal:  # redo only the underflowed rows
        rows = xp.asarray(bad)
        o2, l2 = _online(xp, xp.take(Q, rows, axis=0), K, V, scale, False, None, block)
        logD = _put_rows(xp, logD[:, None], rows, l2[:, None])[:, 0]
        return (None if V is None else _put_rows(xp, out, rows, o2)), logD
    return _online(xp, Q, K, V, scale, causal, mask, block)


def _put_rows(xp, X, rows, new):
    """``X`` with the rows ``rows`` (host list) replaced by ``new`` (functional: the array API has no scatter)."""
    src = np.arange(X.shape[0])
    src[np.asarray(rows, dtype=np.int64)] = X.shape[0] + np.arange(len(rows))
    return xp.take(xp.concat([X, new], axis=0), xp.asarray(src), axis=0)


def _shift_bound(xp, Q, K, scale):
    """Per-row upper bound ``c_i = scale |q_i| max_j |k_j| >= max_j scale q_i . k_j`` (Cauchy–Schwarz)."""
    qn = xp.sqrt(xp.sum(Q * Q, axis=-1))
    kmax = xp.max(xp.sqrt(xp.sum(K * K, axis=-1)), axis=-1, keepdims=True)
    return scale * qn * kmax


def _with_column(xp, X, col):
    """``[X, col]`` along the last axis; ``col`` has the shape ``X.shape[:-1]``."""
    return xp.concat([X, xp.astype(col, X.dtype)[..., None]], axis=-1)


def _shifted(xp, Q, K, V, scale, causal, mask, block):
    """Single pass with the row shift ``c`` folded into the logit product, no running maximum.

    ``exp(scale q.k - c) <= 1`` never overflows, so the key blocks simply add
    up: ``[acc, l] = sum_j exp([scale Q, -c] [K, 1]^T) [V, 1]`` (the row sums
    come out of the same product as ``acc``).  Rows whose sum falls below
    ``n_k * tiny / eps`` lost their leading terms to underflow (``c`` far above
    the row maximum); they are returned in ``bad`` for the online pass.
    """
    if is_numpy(xp) and mask is None and Q.ndim == 2:
        return _shifted_numpy(Q, K, V, scale, causal, block)
    n_q, n_k = int(Q.shape[-2]), int(K.shape[-2])
    block = _auto_block(block, Q, K)
    c = _shift_bound(xp, Q, K, scale)
    ones = xp.ones(tuple(K.shape[:-1]), dtype=K.dtype)
    Qa, Ka = _with_column(xp, Q * scale, -c), _with_column(xp, K, ones)
    Va = ones[..., None] if V is None else _with_column(xp, V, ones)
    accs = []
    for i0, i1 in _blocks(n_q, block):
        acc = None
        for j0, j1 in _blocks(n_k, block):
            if causal and j0 > i1 - 1:
                break
            S = _block_logits(xp, Qa, Ka, 1.0, mask, causal, i0, i1, j0, j1)
            term = xp.matmul(xp.exp(S), Va[..., j0:j1, :])
            acc = term if acc is None else acc + term
        accs.append(acc)
    acc = accs[0] if len(accs) == 1 else xp.concat(accs, axis=-2)
    return _finish(xp, acc[..., :-1] if V is not None else None, acc[..., -1], c, mask, n_k)


def _finish(xp, acc, l, c, mask, n_k):
    """``(out, log D, bad rows or None)`` from ``acc = sum exp(S - c) V`` (or None), the row sums ``l`` and ``c``."""
    pos = l > 0
    tiny = float(xp.finfo(l.dtype).smallest_normal) / float(xp.finfo(l.dtype).eps) * n_k
    has_key = xp.ones(l.shape, dtype=xp.bool) if mask is None else xp.any(mask, axis=-1)
    bad = xp.logical_and(l < tiny, has_key)
    safe = xp.where(pos, l, xp.ones_like(l))
    logD = xp.where(pos, xp.log(safe) + c, xp.full_like(l, -xp.inf))
    if acc is None:
        out = None
    elif is_numpy(xp):  # acc is the kernel's own buffer
        out = acc
        out /= safe[..., None]
    else:
        out = acc / safe[..., None]
    if not bool(xp.any(bad)):
        return out, logD, None
    if l.ndim == 1:
        return out, logD, [int(i) for i in to_numpy(xp.nonzero(bad)[0]).tolist()]
    return out, logD, []


def _shifted_numpy(Q, K, V, scale, causal, block):
    """:func:`_shifted` for one NumPy head: preallocated blocks, in-place ``exp2``, products accumulated by BLAS.

    The logits enter in base 2, ``log2(e) (S - c)`` from ``[log2(e) scale Q,
    -log2(e) c] [K, 1]^T``, so the exponential is NumPy's ``exp2`` (in float32
    about 40% cheaper than ``exp``; the values are the same ``exp(S - c)``).
    The products with ``V`` and the row sums (a matrix-vector product with
    ones: an extra column of ones in ``V`` would give the BLAS kernel ``d_v + 1``
    columns, off its tile sizes) are accumulated in place by BLAS ``gemm`` /
    ``gemv`` with ``beta = 1`` (no temporary and no separate addition).
    """
    n_q, n_k, d = Q.shape[0], K.shape[0], Q.shape[1]
    dt = Q.dtype
    gemm, gemv = (_blas.sgemm, _blas.sgemv) if dt == np.float32 else (_blas.dgemm, _blas.dgemv)
    c = np.sqrt(np.einsum("ij,ij->i", Q, Q))  # the bound of _shift_bound, without temporaries
    c *= dt.type(scale * np.sqrt(np.max(np.einsum("ij,ij->i", K, K))))
    Qa = np.empty((n_q, d + 1), dt)
    np.multiply(Q, dt.type(scale * _LOG2E), out=Qa[:, :d])
    np.multiply(c, dt.type(-_LOG2E), out=Qa[:, d])
    bq, bk = _numpy_blocks(n_q, n_k, block, dt)
    # [K, 1]^T by key blocks, each contiguous: the column blocks of one (d + 1, n_k) array lie n_k apart, a
    # power of two that maps them onto the same cache sets (n = 65536 float32: 1.22-1.28x SDPA -> 1.04-1.11x)
    KaT = []
    for j0 in range(0, n_k, bk):
        B = np.empty((d + 1, min(j0 + bk, n_k) - j0), dt)
        B[:d] = K[j0 : j0 + bk].T
        B[d] = 1.0
        KaT.append(B)
    buf = np.empty(bq * bk, dt)
    ones = np.ones(bk, dt)
    Vc = None if V is None else np.ascontiguousarray(V)
    acc = None if V is None else np.zeros((n_q, V.shape[1]), dt)
    l = np.zeros(n_q, dt)
    # S - c >= -2c: where 2 log2(e) c can pass log2(tiny), clip at log2(tiny) (exp2 is many times slower on
    # subnormal results; each clipped entry adds at most tiny, below eps of any row sum that is kept)
    lo = dt.type(np.log2(np.finfo(dt).tiny))
    cmax = np.maximum.reduceat(c, np.arange(0, n_q, bq))
    clip = (2.0 * _LOG2E * cmax > -lo).tolist()
    for i0 in range(0, n_q, bq):
        i1 = min(i0 + bq, n_q)
        for j0 in range(0, n_k, bk):
            j1 = min(j0 + bk, n_k)
            if causal and j0 > i1 - 1:
                break
            Sb = buf[: (i1 - i0) * (j1 - j0)].reshape(i1 - i0, j1 - j0)  # contiguous: BLAS takes it as is
            np.matmul(Qa[i0:i1], KaT[j0 // bk], out=Sb)
            if clip[i0 // bq]:
                np.maximum(Sb, lo, out=Sb)
            if causal and j1 - 1 > i0:
                Sb[causal_mask(np, i1 - i0, j1 - j0, row_offset=i0, col_offset=j0) == 0] = -np.inf
            np.exp2(Sb, out=Sb)
            # column-major views of the row-major blocks: acc^T += V^T S^T, l += S 1
            if V is not None:
                gemm(1.0, Vc[j0:j1].T, Sb.T, beta=1.0, c=acc[i0:i1].T, overwrite_c=1)
            gemv(1.0, Sb.T, ones[: j1 - j0], beta=1.0, y=l[i0:i1], trans=1, overwrite_y=1)
    return _finish(np, acc, l, c, None, n_k)


def _numpy_blocks(n_q, n_k, block, dtype):
    """Query/key block sizes of the NumPy kernel: ``block`` if given, else 1 MiB of logits.

    512 x 512 in float32, 256 x 512 in float64: a block stays in the L2 cache
    between the two products and the exponential; measured against 256 x 512
    (float32), 256 x 1024, 128 x 1024 and other shapes at n = 4096 and 16384
    (one thread, side by side with torch's SDPA).
    """
    if block is not None:
        return block, block
    return min(n_q, 512 if dtype == np.float32 else 256), min(n_k, 512)


def _online(xp, Q, K, V, scale, causal, mask, block):
    """Online-softmax pass: returns ``(P V or None, log D)``.

    For each query block the key blocks are visited in order keeping the
    running row maximum ``m``, normaliser ``l = sum exp(S - m)`` and
    accumulator ``acc = sum exp(S - m) V``; on a new block with maximum
    ``m'`` both are rescaled by ``exp(m - m')``.
    """
    block = _auto_block(block, Q, K)
    n_q, n_k = int(Q.shape[-2]), int(K.shape[-2])
    outs, logs = [], []
    for i0, i1 in _blocks(n_q, block):
        m = l = acc = None
        for j0, j1 in _blocks(n_k, block):
            if causal and j0 > i1 - 1:
                break  # all later key blocks lie strictly above the diagonal
            S = _block_logits(xp, Q, K, scale, mask, causal, i0, i1, j0, j1)
            mb = xp.max(S, axis=-1)
            m_new = mb if m is None else xp.maximum(m, mb)
            ms = safe_exp_shift(xp, m_new)
            E = xp.exp(S - ms[..., None])
            if m is None:
                l = xp.sum(E, axis=-1)
                acc = None if V is None else xp.matmul(E, V[..., j0:j1, :])
            else:
                alpha = xp.exp(m - ms)
                l = alpha * l + xp.sum(E, axis=-1)
                if V is not None:
                    acc = alpha[..., None] * acc + xp.matmul(E, V[..., j0:j1, :])
            m = m_new
        pos = l > 0  # l == 0 exactly on fully masked rows
        logl = xp.log(xp.where(pos, l, xp.ones_like(l)))
        logs.append(xp.where(pos, logl + safe_exp_shift(xp, m), xp.full_like(l, -xp.inf)))
        if V is not None:
            outs.append(acc / xp.where(pos, l, xp.ones_like(l))[..., None])
    logD = logs[0] if len(logs) == 1 else xp.concat(logs, axis=-1)
    if V is None:
        return None, logD
    out = outs[0] if len(outs) == 1 else xp.concat(outs, axis=-2)
    return out, logD


def _prepare(Q, K, V, names, causal, scale, mask):
    t = check_qkv(Q, K, V, names=names, scale=scale, causal=causal)
    mask = check_mask(mask, t.xp, leading_shape(t.Q), t.n_q, t.n_k)
    return t, mask


def _dense_logits(Q, K, causal, scale, mask):
    """Validated ``(t, S)`` with the full masked logits ``S`` (one block)."""
    t, mask = _prepare(Q, K, None, ("Q", "K"), causal, scale, mask)
    return t, _block_logits(t.xp, t.Q, t.K, t.scale, mask, causal, 0, t.n_q, 0, t.n_k)


# ----------------------------------------------------------------------------- public API
def softmax_attention(Q, K, V, causal=False, block_size=None, scale=None, mask=None):
    """Exact softmax attention ``softmax(scale Q K^T) V``, blocked.

    Parameters
    ----------
    Q : array of shape (..., n_q, d)
        Queries (leading dimensions: batch, heads).
    K : array of shape (..., n_k, d)
        Keys.
    V : array of shape (..., n_k, d_v)
        Values.
    causal : bool
        Query ``i`` attends to keys ``j <= i`` (needs ``n_q == n_k``).
    block_size : int, optional
        Query/key block size.  None: 512 x 512 (float32) or 256 x 512
        (float64) blocks for one NumPy head;
        otherwise a single dense block when ``batch * n_q * n_k <= 2**22``,
        else an automatic size.
    scale : float, optional
        Logit scale, default ``1/sqrt(d)``.
    mask : bool array of shape (..., n_q, n_k), optional
        ``True`` where attention is allowed (combined with ``causal``).

    Returns
    -------
    array of shape (..., n_q, d_v)
        The attention output (dtype of the inputs: float32 or float64).

    Notes
    -----
    Each row is shifted by the Cauchy–Schwarz bound ``c_i = scale |q_i|
    max_j |k_j| >= max_j S_ij`` (``S = scale Q K^T``), folded into the logit
    product as one extra column (``[scale Q, -c] [K, 1]^T = S - c``), so
    ``exp(S - c) <= 1`` cannot overflow and the key blocks add up without a
    running maximum; the row sums come out of the same product as the output
    (``exp(S - c) [V, 1]``).  Per block: two matrix products and one ``exp``.
    For one NumPy head the block buffers are preallocated, the exponential is
    an in-place ``exp2`` of the logits scaled by ``log2(e)`` inside the
    product, and the products with ``V`` and the row sums (a separate
    matrix-vector product) are accumulated in place by BLAS.  Rows where ``c`` lies so far
    above the row maximum that the sum underflows are recomputed by the online
    pass (running maximum ``m``, ``l = sum_j exp(S_j - m) 1`` and ``acc``
    merged block by block with ``exp(m_old - m_new)``).  Memory is
    ``O(block_q * block_k)``; a NumPy head uses blocks of 1 MiB of logits
    unless ``block_size`` is given.  Fully masked rows return zeros.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Q, K, V = rng.standard_normal((3, 5, 4))
    >>> Y = softmax_attention(Q, K, V, block_size=2)
    >>> P = attention_matrix(Q, K)
    >>> bool(np.allclose(Y, P @ V))
    True
    """
    t, mask = _prepare(Q, K, V, ("Q", "K", "V"), causal, scale, mask)
    out, _ = _flash(t.xp, t.Q, t.K, t.V, t.scale, causal, mask, check_block_size(block_size))
    return out


def attention_logits(Q, K, causal=False, scale=None, mask=None):
    """Dense logits ``scale Q K^T`` with ``-inf`` at masked entries (small sizes).

    Parameters
    ----------
    Q : array of shape (..., n_q, d)
    K : array of shape (..., n_k, d)
    causal : bool
    scale : float, optional
        Default ``1/sqrt(d)``.
    mask : bool array of shape (..., n_q, n_k), optional
        ``True`` = keep.

    Returns
    -------
    array of shape (..., n_q, n_k)

    Examples
    --------
    >>> import numpy as np
    >>> S = attention_logits(np.eye(2), np.eye(2), causal=True, scale=1.0)
    >>> S.tolist()
    [[1.0, -inf], [0.0, 1.0]]
    """
    _, S = _dense_logits(Q, K, causal, scale, mask)
    return S


def attention_matrix(Q, K, causal=False, scale=None, mask=None):
    """Dense row-stochastic attention matrix ``P = softmax(scale Q K^T)`` (small sizes).

    Parameters
    ----------
    Q : array of shape (..., n_q, d)
    K : array of shape (..., n_k, d)
    causal : bool
    scale : float, optional
        Default ``1/sqrt(d)``.
    mask : bool array of shape (..., n_q, n_k), optional
        ``True`` = keep.  Fully masked rows are zero.

    Returns
    -------
    array of shape (..., n_q, n_k)

    Examples
    --------
    >>> import numpy as np
    >>> P = attention_matrix(np.ones((3, 2)), np.ones((3, 2)), causal=True)
    >>> np.round(P, 3).tolist()
    [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.333, 0.333, 0.333]]
    """
    t, S = _dense_logits(Q, K, causal, scale, mask)
    return softmax(t.xp, S, axis=-1)


def row_normalizer(Q, K, causal=False, scale=None, block_size=None, mask=None):
    """Row log-normalisers ``log D_i = log sum_j exp(scale q_i . k_j)``, blocked.

    Parameters
    ----------
    Q : array of shape (..., n_q, d)
    K : array of shape (..., n_k, d)
    causal : bool
    scale : float, optional
        Default ``1/sqrt(d)``.
    block_size : int, optional
        Block size (see :func:`softmax_attention`).
    mask : bool array of shape (..., n_q, n_k), optional

    Returns
    -------
    array of shape (..., n_q)
        ``log(A 1)`` with ``A = exp(scale Q K^T)`` (masked entries excluded);
        ``-inf`` on fully masked rows.  The log avoids overflow of ``D``.

    Examples
    --------
    >>> import numpy as np
    >>> row_normalizer(np.zeros((2, 3)), np.zeros((4, 3))).tolist() == [np.log(4)] * 2
    True
    """
    t, mask = _prepare(Q, K, None, ("Q", "K"), causal, scale, mask)
    _, logD = _flash(t.xp, t.Q, t.K, None, t.scale, causal, mask, check_block_size(block_size))
    return logD


def _as_block(X, name, xp, dtype):
    X = check_array(X, name, xp=xp, dtype=dtype)
    if X.ndim == 1:
        return X[:, None], True
    return X, False


def attention_matvec(Q, K, X, causal=False, scale=None, block_size=None, normalized=True, mask=None):
    """``P @ X`` (or ``A @ X`` with ``normalized=False``) without forming ``P``.

    Parameters
    ----------
    Q : array of shape (..., n_q, d)
    K : array of shape (..., n_k, d)
    X : array of shape (n_k,), (n_k, k) or (..., n_k, k)
        Leading dimensions, if any, equal those of ``Q``.
    causal, scale, block_size, mask
        As in :func:`softmax_attention`.
    normalized : bool
        True: the row-stochastic ``P = D^{-1} A``; False: ``A = exp(scale Q K^T)``
        itself (may overflow for large logits).

    Returns
    -------
    array of shape (n_q,), (n_q, k) or (..., n_q, k)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> Q, K = rng.standard_normal((2, 6, 3))
    >>> x = rng.standard_normal(6)
    >>> bool(np.allclose(attention_matvec(Q, K, x, block_size=4), attention_matrix(Q, K) @ x))
    True
    """
    xp = array_namespace(Q, K, X)
    t0 = check_qk(Q, K, scale=scale, causal=causal)
    Xb, vec = _as_block(X, "X", xp, t0.dtype)
    if Xb.ndim == 2 and t0.Q.ndim > 2:
        raise ValueError(f"X must have the leading dimensions of Q {leading_shape(t0.Q)}, got shape {tuple(X.shape)}")
    t, mask = _prepare(t0.Q, t0.K, Xb, ("Q", "K", "X"), causal, scale, mask)
    Y, logD = _flash(t.xp, t.Q, t.K, t.V, t.scale, causal, mask, check_block_size(block_size))
    if not normalized:
        Y = Y * xp.exp(logD)[..., None]
    return Y[:, 0] if vec else Y


def attention_rmatvec(
    Q, K, X, causal=False, scale=None, block_size=None, normalized=True, mask=None, log_normalizer=None
):
    """``P^T @ X`` (or ``A^T @ X``) without forming ``P``.

    Parameters
    ----------
    Q : array of shape (..., n_q, d)
    K : array of shape (..., n_k, d)
    X : array of shape (n_q,), (n_q, k) or (..., n_q, k)
    causal, scale, block_size, mask
        As in :func:`softmax_attention`.
    normalized : bool
        True: ``P^T X = A^T D^{-1} X``; False: ``A^T X``.
    log_normalizer : array of shape (..., n_q), optional
        Precomputed :func:`row_normalizer` (saves one pass when applying
        ``P^T`` repeatedly).

    Returns
    -------
    array of shape (n_k,), (n_k, k) or (..., n_k, k)

    Notes
    -----
    Two passes: the row log-normalisers ``log D`` (one online-softmax pass),
    then for every key block ``j`` the sum over query blocks
    ``sum_i exp(S_ij - log D_i)^T X_i``; every exponent is ``<= 0`` so nothing
    overflows.  Fully masked rows contribute nothing.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> Q, K = rng.standard_normal((2, 6, 3))
    >>> x = rng.standard_normal(6)
    >>> bool(np.allclose(attention_rmatvec(Q, K, x, block_size=4), attention_matrix(Q, K).T @ x))
    True
    """
    xp = array_namespace(Q, K, X)
    t, mask = _prepare(Q, K, None, ("Q", "K"), causal, scale, mask)
    Xb, vec = _as_block(X, "X", xp, t.dtype)
    if tuple(Xb.shape[:-1]) != tuple(t.Q.shape[:-1]):
        raise ValueError(
            f"X must have shape (..., n_q={t.n_q}, k) with the leading dimensions of Q, got {tuple(X.shape)}"
        )
    block = check_block_size(block_size)
    if normalized:
        if log_normalizer is None:
            _, logD = _flash(xp, t.Q, t.K, None, t.scale, causal, mask, block)
        else:
            logD = check_array(log_normalizer, "log_normalizer", xp=xp, dtype=t.dtype, finite=False)
            if tuple(logD.shape) != tuple(t.Q.shape[:-1]):
                raise ValueError(f"log_normalizer must have shape {tuple(t.Q.shape[:-1])}, got {tuple(logD.shape)}")
        # +inf on fully masked rows: exp(S - inf) = 0 removes them
        shift = xp.where(xp.isfinite(logD), logD, xp.full_like(logD, xp.inf))
    outs = []
    block = _auto_block(block, t.Q, t.K)
    for j0, j1 in _blocks(t.n_k, block):
        acc = None
        for i0, i1 in _blocks(t.n_q, block):
            if causal and i1 - 1 < j0:
                continue  # query block entirely above the diagonal for these keys
            S = _block_logits(xp, t.Q, t.K, t.scale, mask, causal, i0, i1, j0, j1)
            if normalized:
                S = S - shift[..., i0:i1, None]
            term = xp.matmul(xp.matrix_transpose(xp.exp(S)), Xb[..., i0:i1, :])
            acc = term if acc is None else acc + term
        if acc is None:
            acc = xp.zeros(tuple(Xb.shape[:-2]) + (j1 - j0, int(Xb.shape[-1])), dtype=t.dtype)
        outs.append(acc)
    Y = outs[0] if len(outs) == 1 else xp.concat(outs, axis=-2)
    return Y[:, 0] if vec else Y


class AttentionOperator(LinearOperator):
    """The row-stochastic attention matrix ``P`` as a matrix-free operator.

    Parameters
    ----------
    Q : array of shape (n_q, d)
    K : array of shape (n_k, d)
    causal : bool
    scale : float, optional
        Default ``1/sqrt(d)``.
    block_size : int, optional
        Block size of the implicit products.
    normalized : bool
        True (default): ``P = D^{-1} A``; False: ``A = exp(scale Q K^T)``.

    Attributes
    ----------
    log_normalizer : array of shape (n_q,)
        Row log-normalisers ``log D`` (computed once at construction).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> Q, K = rng.standard_normal((2, 8, 4))
    >>> P = AttentionOperator(Q, K, block_size=3)
    >>> bool(np.allclose(P.to_dense(), attention_matrix(Q, K)))
    True
    >>> bool(np.allclose(P.T.matvec(np.ones(8)).sum(), 8.0))
    True
    """

    def __init__(self, Q, K, causal=False, scale=None, block_size=None, normalized=True):
        t = check_qk(Q, K, scale=scale, causal=causal)
        if t.Q.ndim != 2:
            raise ValueError(f"AttentionOperator needs 2-D Q and K (one head), got Q of shape {tuple(t.Q.shape)}")
        super().__init__((t.n_q, t.n_k), t.dtype, t.xp)
        self.Q, self.K, self.scale, self.causal = t.Q, t.K, t.scale, causal
        self.normalized = bool(normalized)
        self.block_size = check_block_size(block_size)
        _, self.log_normalizer = _flash(t.xp, t.Q, t.K, None, t.scale, causal, None, self.block_size)

    def _matmat(self, X):
        X = X if X.dtype == self.dtype else self.xp.astype(X, self.dtype)
        Y, _ = _flash(self.xp, self.Q, self.K, X, self.scale, self.causal, None, self.block_size)
        if not self.normalized:
            Y = Y * self.xp.exp(self.log_normalizer)[:, None]
        return Y

    def _rmatmat(self, X):
        return attention_rmatvec(
            self.Q,
            self.K,
            X,
            causal=self.causal,
            scale=self.scale,
            block_size=self.block_size,
            normalized=self.normalized,
            log_normalizer=self.log_normalizer if self.normalized else None,
        )
