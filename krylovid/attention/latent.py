"""Multi-head latent attention (MLA): converting MHA / GQA key-value projections to a latent cache.

Convention: ``y = x W^T + b`` with ``W_k, W_v`` of shape ``(H * d_h, width)``.
An MLA layer caches one latent vector per token, ``c = x W_down^T`` of length
``r`` (``W_down`` of shape ``(r, width)``), and recovers keys and values with
up-projections ``k = c W_up_k^T + b_k`` and ``v = c W_up_v^T + b_v``.  Since
``q_h . k_h = (q_h W_up_k,h) . c + q_h . b_k,h`` and the last term is constant
along a query row (softmax ignores it), ``W_up_k`` can be *absorbed* into the
query projection (:func:`absorb`) so attention scores are computed directly
against the cache.

All functions work on NumPy arrays (and any array-API namespace via
:mod:`krylovid.backend`).  Weights are small, so the SVDs are dense.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._validation import check_array, check_int, check_positive
from ..backend import Array, array_namespace, eigh, eps, svd

__all__ = [
    "MLAWeights",
    "mha_to_mla",
    "gqa_to_mla",
    "absorb",
    "AbsorbedQuery",
    "KVCacheSize",
    "kv_cache_bytes",
    "latent_kv",
    "numerical_rank",
]

_METHODS = ("svd", "svd_split", "pca")


@dataclass(frozen=True)
class MLAWeights:
    """Latent (MLA) key/value projections.

    Attributes
    ----------
    W_down : array of shape (r, width)
        Down-projection to the cached latent ``c = x W_down^T``.
    W_up_k, W_up_v : arrays of shape (H * d_h, r)
        Up-projections: ``k = c W_up_k^T + b_k``, ``v = c W_up_v^T + b_v``.
    b_k, b_v : arrays of shape (H * d_h,) or None
        Biases, carried over unchanged (they are not cached).
    latent_dim : int
        ``r``.
    method : str
        ``"svd"``, ``"svd_split"``, ``"pca"`` or ``"gqa"``.
    rank : int
        Numerical rank of ``[W_k; W_v]`` (the latent size at which ``"svd"`` is exact).
    error_k, error_v : float
        Relative Frobenius errors ``||W_k - W_up_k W_down||_F / ||W_k||_F`` (and for V).
    singular_values : array
        Singular values of the matrix that was factored (for diagnostics).
    """

    W_down: Array
    W_up_k: Array
    W_up_v: Array
    b_k: Array
    b_v: Array
    latent_dim: int
    method: str
    rank: int
    error_k: float
    error_v: float
    singular_values: Array

    @property
    def exact(self) -> bool:
        """True when the conversion loses nothing (up to rounding)."""
        return self.latent_dim >= self.rank and self.method in ("svd", "gqa")


def numerical_rank(s, shape, dtype=None) -> int:
    """Number of singular values ``s`` above ``max(shape) * eps * s[0]`` (the usual rank tolerance)."""
    xp = array_namespace(s)
    if s.shape[0] == 0:
        return 0
    tol = max(shape) * eps(xp, s.dtype if dtype is None else dtype) * float(s[0])
    return int(xp.sum(xp.astype(s > tol, xp.int64)))


def _rel(xp, A, B) -> float:
    den = float(xp.linalg.vector_norm(A))
    return float(xp.linalg.vector_norm(A - B)) / den if den > 0 else 0.0


def _check_kv(W_k, W_v, b_k, b_v):
    W_k = check_array(W_k, "W_k", ndim=2, dtype=None)
    xp = array_namespace(W_k)
    W_v = check_array(W_v, "W_v", ndim=2, xp=xp, dtype=W_k.dtype)
    if W_k.shape != W_v.shape:
        raise ValueError(f"W_k and W_v must have the same shape, got {tuple(W_k.shape)} and {tuple(W_v.shape)}")
    biases = []
    for b, name in ((b_k, "b_k"), (b_v, "b_v")):
        if b is not None:
            b = check_array(b, name, ndim=1, xp=xp, dtype=W_k.dtype)
            if b.shape[0] != W_k.shape[0]:
                raise ValueError(f"{name} must have length {W_k.shape[0]}, got {b.shape[0]}")
        biases.append(b)
    return xp, W_k, W_v, biases[0], biases[1]


def _too_large(latent_dim, rank, what):
    raise ValueError(
        f"latent_dim={latent_dim} exceeds the numerical rank {rank} of {what}; "
        f"a latent that large cannot be more accurate — use latent_dim <= {rank}"
    )


def _svd_joint(xp, W_k, W_v, r):
    """Thin SVD of ``[W_k; W_v] = U S V^T``: down = ``S_r V_r^T``, up = blocks of ``U_r``."""
    M = xp.concat([W_k, W_v], axis=0)
    U, s, Vt = svd(M)
    rank = numerical_rank(s, M.shape)
    if r > rank:
        _too_large(r, rank, "[W_k; W_v]")
    hd = W_k.shape[0]
    return s[:r, None] * Vt[:r, :], U[:hd, :r], U[hd:, :r], rank, s


def _svd_split(xp, W_k, W_v, r):
    """Separate SVDs; the latent is split ``r_k = ceil(r/2)``, ``r_v = floor(r/2)``."""
    r_k, r_v = (r + 1) // 2, r // 2
    Uk, sk, Vkt = svd(W_k)
    Uv, sv, Vvt = svd(W_v)
    rank_k, rank_v = numerical_rank(sk, W_k.shape), numerical_rank(sv, W_v.shape)
    if r_k > rank_k or r_v > rank_v:
        _too_large(r, rank_k + rank_v, f"W_k and W_v split evenly (ranks {rank_k} and {rank_v})")
    down = xp.concat([sk[:r_k, None] * Vkt[:r_k, :], sv[:r_v, None] * Vvt[:r_v, :]], axis=0)
    zk = xp.zeros((W_k.shape[0], r_v), dtype=W_k.dtype)
    zv = xp.zeros((W_v.shape[0], r_k), dtype=W_v.dtype)
    up_k = xp.concat([Uk[:, :r_k], zk], axis=1)
    up_v = xp.concat([zv, Uv[:, :r_v]], axis=1)
    return down, up_k, up_v, rank_k + rank_v, xp.concat([sk, sv])


def _pca(xp, W_k, W_v, r, X, ridge):
    """Activation-aware: PCA of the balanced outputs ``[X W_k^T / a_k, X W_v^T / a_v]`` (ridge-regularised)."""
    N, width = X.shape
    C = X.T @ X / N  # uncentred input covariance (width, width)
    a_k = float(xp.sqrt(xp.sum((W_k @ C) * W_k))) or 1.0  # ||X W_k^T||_F / sqrt(N)
    a_v = float(xp.sqrt(xp.sum((W_v @ C) * W_v))) or 1.0
    C = C + (ridge * float(xp.sum(xp.linalg.diagonal(C))) / width) * xp.eye(width, dtype=C.dtype)
    lam, E = eigh(C)
    S = E * xp.sqrt(xp.maximum(lam, xp.zeros_like(lam)))[None, :]  # C = S S^T
    M_bal = xp.concat([W_k / a_k, W_v / a_v], axis=0)
    U, s, _ = svd(M_bal @ S)  # left singular vectors = output PCA basis
    rank = numerical_rank(s, M_bal.shape)
    if r > rank:
        _too_large(r, rank, "the calibration outputs X [W_k; W_v]^T (increase ridge or use more tokens)")
    R = U[:, :r]  # (2 H d_h, r), orthonormal columns
    hd = W_k.shape[0]
    return R.T @ M_bal, a_k * R[:hd, :], a_v * R[hd:, :], rank, s


def mha_to_mla(W_k, W_v, latent_dim, method="svd", X=None, b_k=None, b_v=None, ridge=1e-3) -> MLAWeights:
    """Convert multi-head key/value projections to a latent (MLA) cache of size ``latent_dim``.

    Parameters
    ----------
    W_k, W_v : arrays of shape (H * d_h, width)
        Key and value projections (``k = x W_k^T + b_k``).
    latent_dim : int
        Cached values per token, ``r``.
    method : {"svd", "svd_split", "pca"}
        ``"svd"``: thin SVD of the stacked ``[W_k; W_v] = U S V^T``, down-projection
        ``S_r V_r^T`` and up-projections the two row blocks of ``U_r`` (so the
        up-projections have orthonormal joint columns and the latent carries the
        scale); optimal in Frobenius norm on the weights and exact when
        ``latent_dim`` equals the rank.  ``"svd_split"``: separate SVDs of
        ``W_k`` and ``W_v`` with ``ceil(r/2)`` latent dims for keys and
        ``floor(r/2)`` for values (block-diagonal up-projections).  ``"pca"``:
        activation-aware; the calibration outputs ``X W_k^T`` and ``X W_v^T`` are
        balanced to unit Frobenius norm each and their joint (uncentred) PCA gives
        an orthonormal basis ``R`` of the output space; ``W_down = R^T
        [W_k/a_k; W_v/a_v]`` and the up-projections undo the balancing.  The
        input covariance ``X^T X / N`` gets a ridge ``ridge * tr/width * I`` so
        few calibration tokens still give a full-rank, exact-at-rank result.
    X : array of shape (N, width), optional
        Calibration activations (required for ``"pca"``).
    b_k, b_v : arrays of shape (H * d_h,), optional
        Biases; carried over unchanged.
    ridge : float
        Relative isotropic regularisation of the calibration covariance (``"pca"``
        only; 0 gives plain PCA of the calibration outputs).

    Returns
    -------
    MLAWeights

    Raises
    ------
    ValueError
        If ``latent_dim`` exceeds the numerical rank of what is factored, shapes
        disagree, ``method`` is unknown, or ``"pca"`` is requested without ``X``.

    Notes
    -----
    ``"svd"`` minimises ``||[W_k; W_v] - W_up W_down||_F`` (Eckart–Young), i.e. the
    error for isotropic inputs; ``"pca"`` minimises the balanced output error
    ``||X [W_k/a_k; W_v/a_v]^T - X W_down^T W_up_bal^T||_F`` over rank-``r``
    projections of the output space, which is what matters on real activations.
    For all-MiniLM-L6-v2, ``[W_k; W_v]`` is ``768 x 384`` of rank 384, so
    ``latent_dim = 384`` halves the KV cache with zero error.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> W_k, W_v = rng.standard_normal((2, 8, 6))
    >>> mla = mha_to_mla(W_k, W_v, latent_dim=6)
    >>> bool(np.allclose(mla.W_up_k @ mla.W_down, W_k)), mla.exact
    (True, True)
    """
    xp, W_k, W_v, b_k, b_v = _check_kv(W_k, W_v, b_k, b_v)
    r = check_int(latent_dim, "latent_dim", minimum=1)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if method == "pca":
        if X is None:
            raise ValueError("X (calibration activations) is required for method='pca'")
        X = check_array(X, "X", ndim=2, xp=xp, dtype=W_k.dtype)
        if X.shape[1] != W_k.shape[1]:
            raise ValueError(f"X must have {W_k.shape[1]} columns (the model width), got {X.shape[1]}")
        ridge = check_positive(ridge, "ridge", strict=False)
        down, up_k, up_v, rank, s = _pca(xp, W_k, W_v, r, X, ridge)
    elif method == "svd":
        down, up_k, up_v, rank, s = _svd_joint(xp, W_k, W_v, r)
    else:
        down, up_k, up_v, rank, s = _svd_split(xp, W_k, W_v, r)
    return MLAWeights(
        down, up_k, up_v, b_k, b_v, r, method, rank, _rel(xp, W_k, up_k @ down), _rel(xp, W_v, up_v @ down), s
    )


def gqa_to_mla(W_k, W_v, num_q_heads, num_kv_heads, b_k=None, b_v=None) -> MLAWeights:
    """Exact MLA form of grouped-query attention (0/1 replication up-projections).

    Parameters
    ----------
    W_k, W_v : arrays of shape (num_kv_heads * d_h, width)
    num_q_heads, num_kv_heads : int
        ``num_q_heads`` must be a multiple of ``num_kv_heads``; query head ``h``
        uses key/value head ``h // (num_q_heads // num_kv_heads)``.
    b_k, b_v : arrays of shape (num_kv_heads * d_h,), optional

    Returns
    -------
    MLAWeights
        ``W_down = [W_k; W_v]`` (latent ``2 * num_kv_heads * d_h``, the GQA cache),
        ``W_up_k, W_up_v`` of shape ``(num_q_heads * d_h, latent)`` with 0/1
        entries, biases replicated per query head; ``method="gqa"``, exact.

    Examples
    --------
    >>> import numpy as np
    >>> W_k, W_v = np.random.default_rng(0).standard_normal((2, 4, 5))   # 2 kv heads x d_h = 2
    >>> mla = gqa_to_mla(W_k, W_v, num_q_heads=4, num_kv_heads=2)
    >>> mla.W_up_k.shape, bool(np.allclose((mla.W_up_k @ mla.W_down)[2:4], W_k[0:2]))
    ((8, 8), True)
    """
    xp, W_k, W_v, b_k, b_v = _check_kv(W_k, W_v, b_k, b_v)
    hq = check_int(num_q_heads, "num_q_heads", minimum=1)
    hkv = check_int(num_kv_heads, "num_kv_heads", minimum=1)
    if hq % hkv:
        raise ValueError(f"num_q_heads={hq} must be a multiple of num_kv_heads={hkv}")
    if W_k.shape[0] % hkv:
        raise ValueError(f"W_k has {W_k.shape[0]} rows, not a multiple of num_kv_heads={hkv}")
    dh, group = W_k.shape[0] // hkv, hq // hkv
    kv_rows = [(h // group) * dh + j for h in range(hq) for j in range(dh)]  # host-side index map
    eye = xp.eye(hkv * dh, dtype=W_k.dtype)
    rep = xp.take(eye, xp.asarray(kv_rows), axis=0)  # (hq dh, hkv dh) 0/1
    zero = xp.zeros_like(rep)
    up_k, up_v = xp.concat([rep, zero], axis=1), xp.concat([zero, rep], axis=1)
    rb = lambda b: None if b is None else rep @ b  # noqa: E731
    down = xp.concat([W_k, W_v], axis=0)
    s = svd(down)[1]
    return MLAWeights(
        down, up_k, up_v, rb(b_k), rb(b_v), 2 * hkv * dh, "gqa", numerical_rank(s, down.shape), 0.0, 0.0, s
    )


@dataclass(frozen=True)
class AbsorbedQuery:
    """Query projection with ``W_up_k`` folded in, per head.

    Attributes
    ----------
    W_q_latent : array of shape (H, r, width)
        ``q_lat,h = x W_q_latent[h]^T + b_q_latent[h]`` has length ``r`` and
        ``q_lat,h . c`` equals ``q_h . (c W_up_k,h^T)``.
    b_q_latent : array of shape (H, r) or None
    """

    W_q_latent: Array
    b_q_latent: Array


def absorb(W_q, W_up_k, num_heads, b_q=None) -> AbsorbedQuery:
    """Fold the key up-projection into the query side, so scores use the latent cache directly.

    Parameters
    ----------
    W_q : array of shape (H * d_h, width)
    W_up_k : array of shape (H * d_h, r)
    num_heads : int
    b_q : array of shape (H * d_h,), optional

    Returns
    -------
    AbsorbedQuery
        ``W_q_latent[h] = W_up_k,h^T W_q,h`` with ``W_q,h``, ``W_up_k,h`` the row
        blocks of head ``h``.

    Notes
    -----
    ``q_h k_h^T = (x W_q,h^T)(c W_up_k,h^T + b_k,h)^T = (x W_q,h^T W_up_k,h) c^T
    + q_h b_k,h^T``; the second term is the same for every key of a query row and
    cancels in the softmax, so the key bias need not be absorbed.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> W_q, W_up_k = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    >>> absorb(W_q, W_up_k, num_heads=2).W_q_latent.shape
    (2, 3, 5)
    """
    W_q = check_array(W_q, "W_q", ndim=2)
    xp = array_namespace(W_q)
    W_up_k = check_array(W_up_k, "W_up_k", ndim=2, xp=xp, dtype=W_q.dtype)
    H = check_int(num_heads, "num_heads", minimum=1)
    if W_up_k.shape[0] != W_q.shape[0] or W_q.shape[0] % H:
        raise ValueError(
            f"W_q ({tuple(W_q.shape)}) and W_up_k ({tuple(W_up_k.shape)}) must have the same "
            f"number of rows, a multiple of num_heads={H}"
        )
    dh, r = W_q.shape[0] // H, W_up_k.shape[1]
    Wq_h = xp.reshape(W_q, (H, dh, W_q.shape[1]))
    Wu_h = xp.reshape(W_up_k, (H, dh, r))
    W_lat = xp.matmul(xp.permute_dims(Wu_h, (0, 2, 1)), Wq_h)  # (H, r, width)
    b_lat = None
    if b_q is not None:
        b_q = check_array(b_q, "b_q", ndim=1, xp=xp, dtype=W_q.dtype)
        if b_q.shape[0] != W_q.shape[0]:
            raise ValueError(f"b_q must have length {W_q.shape[0]}, got {b_q.shape[0]}")
        b_lat = xp.matmul(xp.permute_dims(Wu_h, (0, 2, 1)), xp.reshape(b_q, (H, dh, 1)))[..., 0]
    return AbsorbedQuery(W_lat, b_lat)


def latent_kv(X, mla: MLAWeights, num_heads) -> tuple:
    """Latent cache ``C = X W_down^T`` (n, r) and per-head values (H, n, d_h) reconstructed from it."""
    X = check_array(X, "X", ndim=2)
    xp = array_namespace(X)
    H = check_int(num_heads, "num_heads", minimum=1)
    C = X @ mla.W_down.T
    Vf = C @ mla.W_up_v.T + (0.0 if mla.b_v is None else mla.b_v)
    n, hd = Vf.shape
    return C, xp.permute_dims(xp.reshape(Vf, (n, H, hd // H)), (1, 0, 2))


@dataclass(frozen=True)
class KVCacheSize:
    """KV-cache bytes per token: ``mha`` (full K and V), ``mla`` (latent) and ``ratio = mla / mha``."""

    mha: int
    mla: int
    ratio: float


def kv_cache_bytes(num_kv_heads, head_dim, latent_dim=None, num_layers=1, bytes_per_element=2) -> KVCacheSize:
    """KV-cache size per token before (``2 * num_kv_heads * head_dim``) and after (``latent_dim``) MLA.

    Parameters
    ----------
    num_kv_heads, head_dim : int
    latent_dim : int, optional
        Latent size ``r``; default ``2 * num_kv_heads * head_dim`` (no compression).
    num_layers : int
    bytes_per_element : int
        2 for fp16/bf16 caches (default), 4 for float32.

    Examples
    --------
    >>> kv_cache_bytes(12, 32, latent_dim=384, num_layers=6)
    KVCacheSize(mha=9216, mla=4608, ratio=0.5)
    """
    hkv = check_int(num_kv_heads, "num_kv_heads", minimum=1)
    dh = check_int(head_dim, "head_dim", minimum=1)
    r = 2 * hkv * dh if latent_dim is None else check_int(latent_dim, "latent_dim", minimum=1)
    L = check_int(num_layers, "num_layers", minimum=1)
    b = check_int(bytes_per_element, "bytes_per_element", minimum=1)
    mha, mla = 2 * hkv * dh * L * b, r * L * b
    return KVCacheSize(mha, mla, mla / mha)
