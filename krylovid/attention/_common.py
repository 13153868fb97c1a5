"""Shared input checks and small helpers for the attention modules.

Conventions used by every attention function (DESIGN §4):

* ``Q`` has shape ``(..., n_q, d)``, ``K`` has shape ``(..., n_k, d)`` and
  ``V`` has shape ``(..., n_k, d_v)``; the leading dimensions (batch, heads)
  must agree exactly between the three arrays.
* ``scale=None`` means ``1 / sqrt(d)``; the logits are ``scale * Q K^T``.
* ``causal=True`` requires ``n_q == n_k`` and lets query ``i`` see keys
  ``j <= i``.
* A boolean ``mask`` of shape ``(..., n_q, n_k)`` (leading dimensions
  broadcastable against those of ``Q``) keeps the entries where it is ``True``.
* The computation dtype is float32 when every input is float32, else float64.

The helpers only use ``xp.*`` so they run on NumPy, CuPy and
``array-api-strict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._validation import check_array, check_int
from ..backend import Array, Namespace, array_namespace

__all__ = [
    "QKV",
    "check_qkv",
    "check_qk",
    "check_scale",
    "check_block_size",
    "check_mask",
    "check_causal",
    "causal_mask",
    "masked_logits",
    "logsumexp",
    "softmax",
    "matmul_t",
    "compute_dtype",
    "leading_shape",
    "auto_block_size",
    "safe_exp_shift",
]


@dataclass(frozen=True)
class QKV:
    """Validated attention inputs (all arrays of one namespace and dtype).

    Attributes
    ----------
    xp : namespace
        Array namespace of the inputs.
    Q : array of shape (..., n_q, d)
    K : array of shape (..., n_k, d)
    V : array of shape (..., n_k, d_v) or None
    scale : float
        Logit scale (``1/sqrt(d)`` by default).
    """

    xp: Namespace
    Q: Array
    K: Array
    V: Array
    scale: float

    @property
    def n_q(self) -> int:
        return int(self.Q.shape[-2])

    @property
    def n_k(self) -> int:
        return int(self.K.shape[-2])

    @property
    def d(self) -> int:
        return int(self.Q.shape[-1])

    @property
    def dtype(self):
        return self.Q.dtype


def check_scale(scale, d: int) -> float:
    """``1/sqrt(d)`` when ``scale`` is None, else a finite positive float."""
    if scale is None:
        return 1.0 / math.sqrt(d)
    if isinstance(scale, bool):
        raise TypeError(f"scale must be a real number or None, got {scale!r}")
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise TypeError(f"scale must be a real number or None, got {scale!r}") from None
    if not math.isfinite(s) or s <= 0:
        raise ValueError(f"scale must be finite and positive, got {s}")
    return s


def check_block_size(block_size, name: str = "block_size"):
    """None or an integer >= 1."""
    if block_size is None:
        return None
    return check_int(block_size, name, minimum=1)


def check_causal(causal, n_q: int, n_k: int) -> bool:
    """``causal`` must be a bool; causal attention needs ``n_q == n_k``."""
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {causal!r}")
    if causal and n_q != n_k:
        raise ValueError(f"causal=True needs as many queries as keys, got n_q={n_q}, n_k={n_k}")
    return causal


def check_qk(Q, K, *, names=("Q", "K"), scale=None, causal=False) -> QKV:
    """Validate a query/key pair; returns a :class:`QKV` with ``V=None``."""
    return check_qkv(Q, K, None, names=names, scale=scale, causal=causal)


def check_qkv(Q, K, V=None, *, names=("Q", "K", "V"), scale=None, causal=False) -> QKV:
    """Validate ``Q, K, V`` shapes, values and dtypes for attention.

    Parameters
    ----------
    Q : array of shape (..., n_q, d)
    K : array of shape (..., n_k, d)
    V : array of shape (..., n_k, d_v), optional
    names : tuple of str
        Argument names for the error messages.
    scale : float or None
        Logit scale; None gives ``1/sqrt(d)``.
    causal : bool
        Whether causal attention is requested (then ``n_q == n_k``).

    Returns
    -------
    QKV
        Arrays converted to a common namespace and floating dtype.

    Raises
    ------
    ValueError
        Wrong number of dimensions, empty or non-finite arrays, mismatched
        feature sizes, sequence lengths or leading (batch/head) dimensions.
    TypeError
        Non-numeric or complex input, arrays of different libraries.
    """
    arrays = [a for a in (Q, K, V) if a is not None]
    try:
        xp = array_namespace(*arrays)
    except TypeError as exc:
        raise TypeError(f"{', '.join(names)}: {exc}") from None
    dtype = compute_dtype(xp, *arrays)
    Q = check_array(Q, names[0], xp=xp, dtype=dtype)
    K = check_array(K, names[1], xp=xp, dtype=dtype)
    V = None if V is None else check_array(V, names[2], xp=xp, dtype=dtype)
    for a, name in zip((Q, K, V), names, strict=False):
        if a is not None and a.ndim < 2:
            raise ValueError(f"{name} must have shape (..., n, d) with at least 2 dimensions, got {tuple(a.shape)}")
    if Q.shape[-1] != K.shape[-1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same feature size d, got {Q.shape[-1]} and {K.shape[-1]}"
        )
    if tuple(Q.shape[:-2]) != tuple(K.shape[:-2]):
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same leading (batch/head) dimensions, "
            f"got {tuple(Q.shape[:-2])} and {tuple(K.shape[:-2])}"
        )
    if V is not None:
        if V.shape[-2] != K.shape[-2]:
            raise ValueError(
                f"{names[2]} must have as many rows as {names[1]} (n_k={K.shape[-2]}), got shape {tuple(V.shape)}"
            )
        if tuple(V.shape[:-2]) != tuple(K.shape[:-2]):
            raise ValueError(
                f"{names[2]} and {names[1]} must have the same leading (batch/head) dimensions, "
                f"got {tuple(V.shape[:-2])} and {tuple(K.shape[:-2])}"
            )
    check_causal(causal, int(Q.shape[-2]), int(K.shape[-2]))
    return QKV(xp=xp, Q=Q, K=K, V=V, scale=check_scale(scale, int(Q.shape[-1])))


def _is_float32(xp, a) -> bool:
    return getattr(a, "dtype", None) == xp.float32


def compute_dtype(xp, *arrays):
    """float32 when every (non-None) array is float32, else float64."""
    return xp.float32 if all(_is_float32(xp, a) for a in arrays if a is not None) else xp.float64


def check_mask(mask, xp, lead, n_q: int, n_k: int, name: str = "mask"):
    """Validate a boolean keep-mask of shape ``(..., n_q, n_k)``.

    The last two dimensions must be exactly ``(n_q, n_k)``; the leading ones
    must broadcast against ``lead`` (the batch/head shape of ``Q``).
    """
    if mask is None:
        return None
    try:
        xp_m = array_namespace(mask)
    except TypeError:
        raise TypeError(f"{name} must be a boolean array, got {type(mask).__name__}") from None
    if xp_m is not xp:
        from ..backend import asarray, to_numpy

        mask = asarray(to_numpy(mask), xp)
    if not hasattr(mask, "dtype") or mask.dtype != xp.bool:
        raise TypeError(f"{name} must be a boolean array (True = keep), got dtype {getattr(mask, 'dtype', None)}")
    if mask.ndim < 2 or tuple(mask.shape[-2:]) != (n_q, n_k):
        raise ValueError(f"{name} must have shape (..., {n_q}, {n_k}), got {tuple(mask.shape)}")
    ml = tuple(mask.shape[:-2])
    if len(ml) > len(lead) or any(m not in (1, l) for m, l in zip(ml[::-1], tuple(lead)[::-1], strict=False)):
        raise ValueError(f"{name}: leading dimensions {ml} do not broadcast against {tuple(lead)}")
    return mask


def leading_shape(x) -> tuple:
    """Batch/head dimensions of an ``(..., n, d)`` array."""
    return tuple(int(s) for s in x.shape[:-2])


def causal_mask(xp, n_q: int, n_k: int, *, row_offset: int = 0, col_offset: int = 0):
    """Boolean ``(n_q, n_k)`` block of the causal mask: True where ``j <= i``.

    ``row_offset`` / ``col_offset`` are the global indices of the first row /
    column, so a block ``[i0:i1, j0:j1]`` of the full mask is
    ``causal_mask(xp, i1-i0, j1-j0, row_offset=i0, col_offset=j0)``.
    """
    i = xp.arange(row_offset, row_offset + n_q)[:, None]
    j = xp.arange(col_offset, col_offset + n_k)[None, :]
    return j <= i


def matmul_t(xp, A, B):
    """``A @ B^T`` over the last two dimensions (batched)."""
    return xp.matmul(A, xp.matrix_transpose(B))


def masked_logits(xp, S, keep):
    """``S`` with ``-inf`` where ``keep`` is False (``keep`` None: unchanged)."""
    if keep is None:
        return S
    return xp.where(keep, S, xp.asarray(-xp.inf, dtype=S.dtype))


def safe_exp_shift(xp, m):
    """Replace ``-inf`` row maxima (fully masked rows) by 0 for a safe ``exp(S - m)``."""
    return xp.where(xp.isfinite(m), m, xp.zeros_like(m))


def logsumexp(xp, S, axis: int = -1):
    """Stable ``log(sum(exp(S), axis))``; ``-inf`` for rows that are all ``-inf``."""
    m = xp.max(S, axis=axis, keepdims=True)
    ms = safe_exp_shift(xp, m)
    out = xp.log(xp.sum(xp.exp(S - ms), axis=axis, keepdims=True)) + ms
    return xp.squeeze(out, axis=axis)


def softmax(xp, S, axis: int = -1):
    """Stable softmax along ``axis``; fully masked (all ``-inf``) rows give zeros."""
    m = safe_exp_shift(xp, xp.max(S, axis=axis, keepdims=True))
    E = xp.exp(S - m)
    Z = xp.sum(E, axis=axis, keepdims=True)
    return E / xp.where(Z > 0, Z, xp.ones_like(Z))


def auto_block_size(n_q: int, n_k: int, batch: int, *, dense_limit: int = 1 << 22) -> int | None:
    """Block size for the blocked kernels: None (dense) when small.

    Dense when ``batch * n_q * n_k <= dense_limit`` elements; else square
    blocks of about ``dense_limit / batch`` elements, between 64 and 1024.
    """
    if batch * n_q * n_k <= dense_limit:
        return None
    b = int(math.sqrt(dense_limit / max(batch, 1)))
    return max(64, min(1024, b))
