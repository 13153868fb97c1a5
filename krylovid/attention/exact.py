"""Exact softmax attention, blocked with online log-sum-exp merging.

``Y = softmax(scale * Q K^T) V`` is computed block by block over queries and
keys with a running row maximum and normaliser (flash-attention style), so the
``n_q x n_k`` matrix is never formed for long sequences.  The same kernel gives
the row log-normalisers ``log D = log(A 1)`` and implicit products ``P X`` and
``P^T X`` with the row-stochastic ``P = D^{-1} A``, which make ``P`` a
:class:`~krylovid.operators.LinearOperator` (:class:`AttentionOperator`) for the
spectral diagnostics.

Rows with no admissible key (fully masked) give a zero output row and a log
normaliser of ``-inf``.
"""
from __future__ import annotations

from ..backend import array_namespace
from .._validation import check_array
from ..operators.base import LinearOperator
from ._common import (auto_block_size, causal_mask, check_block_size, check_mask, check_qk,
                      check_qkv, leading_shape, masked_logits, matmul_t, safe_exp_shift, softmax)

__all__ = ["softmax_attention", "attention_logits", "attention_matrix", "row_normalizer",
           "attention_matvec", "attention_rmatvec", "AttentionOperator"]


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


def _resolve_block(block_size, Q, K):
    b = check_block_size(block_size)
    if b is None:
        batch = 1
        for s in leading_shape(Q):
            batch *= s
        b = auto_block_size(int(Q.shape[-2]), int(K.shape[-2]), batch)
    return b


def _flash(xp, Q, K, V, scale, causal, mask, block):
    """Online-softmax pass: returns ``(P V or None, log D)``.

    For each query block the key blocks are visited in order keeping the
    running row maximum ``m``, normaliser ``l = sum exp(S - m)`` and
    accumulator ``acc = sum exp(S - m) V``; on a new block with maximum
    ``m'`` both are rescaled by ``exp(m - m')``.
    """
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
        Query/key block size of the online-softmax loop.  None: a single dense
        block when ``batch * n_q * n_k <= 2**22``, else an automatic size.
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
    With logits ``S = scale Q K^T`` split into key blocks ``S_j``, the running
    state ``m = max_j rowmax(S_j)``, ``l = sum_j exp(S_j - m) 1`` and
    ``acc = sum_j exp(S_j - m) V_j`` is merged block by block (rescaling by
    ``exp(m_old - m_new)``), and ``Y = acc / l``.  Memory is
    ``O(batch * block_size^2)``.  Fully masked rows return zeros.

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
    out, _ = _flash(t.xp, t.Q, t.K, t.V, t.scale, causal, mask, _resolve_block(block_size, t.Q, t.K))
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
    _, logD = _flash(t.xp, t.Q, t.K, None, t.scale, causal, mask, _resolve_block(block_size, t.Q, t.K))
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
    Y, logD = _flash(t.xp, t.Q, t.K, t.V, t.scale, causal, mask, _resolve_block(block_size, t.Q, t.K))
    if not normalized:
        Y = Y * xp.exp(logD)[..., None]
    return Y[:, 0] if vec else Y


def attention_rmatvec(Q, K, X, causal=False, scale=None, block_size=None, normalized=True,
                      mask=None, log_normalizer=None):
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
        raise ValueError(f"X must have shape (..., n_q={t.n_q}, k) with the leading dimensions of Q, "
                         f"got {tuple(X.shape)}")
    block = _resolve_block(block_size, t.Q, t.K)
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
        self.block_size = _resolve_block(block_size, t.Q, t.K)
        _, self.log_normalizer = _flash(t.xp, t.Q, t.K, None, t.scale, causal, None, self.block_size)

    def _matmat(self, X):
        X = X if X.dtype == self.dtype else self.xp.astype(X, self.dtype)
        Y, _ = _flash(self.xp, self.Q, self.K, X, self.scale, self.causal, None, self.block_size)
        if not self.normalized:
            Y = Y * self.xp.exp(self.log_normalizer)[:, None]
        return Y

    def _rmatmat(self, X):
        return attention_rmatvec(self.Q, self.K, X, causal=self.causal, scale=self.scale,
                                 block_size=self.block_size, normalized=self.normalized,
                                 log_normalizer=self.log_normalizer if self.normalized else None)
