"""Low-rank / subspace approximations of softmax attention (one head).

Every function here returns ``P_hat @ V`` where ``P_hat`` is an approximation of
rank at most ``m`` of the row-stochastic attention matrix
``P = softmax(scale Q K^T)``.  All are linear in ``V``, so passing ``V = I``
returns ``P_hat`` itself; by Eckart–Young ``||P - P_hat|| >= ||P - P_m||`` for
the truncated SVD ``P_m`` (:func:`truncated_svd_attention`, the oracle), in the
Frobenius and the spectral norm.

Inputs are single heads: ``Q`` of shape ``(n_q, d)``, ``K`` ``(n_k, d)``, ``V``
``(n_k, d_v)``.  Loop over heads (or use ``numpy.vectorize``-style wrappers) for
batches.
"""
from __future__ import annotations

from .._validation import check_int, check_positive
from ..backend import array_namespace, default_rng, eps, standard_normal, svd, to_numpy
from ..sketch import randomized_svd
from ._common import check_qkv, matmul_t, softmax
from .exact import AttentionOperator, attention_matrix, softmax_attention

__all__ = ["lowrank_attention", "nystrom_attention", "linformer_attention",
           "truncated_svd_attention", "stable_pinv_apply"]

_NYSTROM = ("segment_means", "sampled", "skyformer")


def _single_head(Q, K, V, scale, causal=False):
    t = check_qkv(Q, K, V, scale=scale, causal=causal)
    if t.Q.ndim != 2:
        raise ValueError(f"Q, K, V must be 2-D (one head), got Q of shape {tuple(t.Q.shape)}")
    return t


def stable_pinv_apply(A, B, rcond=None):
    """``pinv(A) @ B`` through an SVD with singular values below ``rcond * s_max`` dropped.

    Parameters
    ----------
    A : array of shape (m, p)
    B : array of shape (m, k)
    rcond : float, optional
        Relative cutoff, default ``max(m, p) * eps``.

    Returns
    -------
    array of shape (p, k)

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 0.0], [0.0, 0.0]])
    >>> stable_pinv_apply(A, np.eye(2)).tolist()
    [[1.0, 0.0], [0.0, 0.0]]
    """
    xp = array_namespace(A, B)
    U, s, Vt = svd(A)
    rc = max(A.shape) * eps(xp, A.dtype) if rcond is None else float(rcond)
    keep = s > rc * s[0] if s.shape[0] else s > 0
    inv = xp.where(keep, 1.0 / xp.where(keep, s, xp.ones_like(s)), xp.zeros_like(s))
    return Vt.T @ (inv[:, None] * (U.T @ B))


def _check_m(m, name, limit, what):
    m = check_int(m, name, minimum=1)
    if m > limit:
        raise ValueError(f"{name}={m} exceeds {what}={limit}")
    return m


def lowrank_attention(Q, K, V, rank, rng=None, power_iters=2, oversample=10, causal=False, scale=None):
    """Randomized SVD of ``P`` through implicit products: ``Y = U diag(s) (V_t @ V)``.

    Parameters
    ----------
    Q : array of shape (n_q, d)
    K : array of shape (n_k, d)
    V : array of shape (n_k, d_v)
    rank : int
        Rank ``m <= min(n_q, n_k)``.
    rng : None, int or numpy.random.Generator
    power_iters, oversample : int
        As in :func:`krylovid.sketch.randomized_svd`.
    causal : bool
    scale : float, optional
        Default ``1/sqrt(d)``.

    Returns
    -------
    array of shape (n_q, d_v)

    Notes
    -----
    ``P`` is applied as :class:`~krylovid.attention.exact.AttentionOperator`
    (blocked, never formed); the sketch costs ``(m + p)(2 q + 2)`` products with
    ``P`` or ``P^T``, each as expensive as exact attention with that many value
    columns — an analysis tool (near-optimal rank-``m`` error), not a speed-up.

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 20, 4))
    >>> Y = lowrank_attention(Q, K, V, rank=20, rng=0)
    >>> bool(np.allclose(Y, softmax_attention(Q, K, V)))
    True
    """
    t = _single_head(Q, K, V, scale, causal)
    m = _check_m(rank, "rank", min(t.n_q, t.n_k), "min(n_q, n_k)")
    P = AttentionOperator(t.Q, t.K, causal=causal, scale=t.scale)
    res = randomized_svd(P, m, oversample=oversample, power_iters=power_iters, rng=rng)
    return (res.U * res.s[None, :]) @ (res.Vt @ t.V)


def truncated_svd_attention(Q, K, V, rank, causal=False, scale=None):
    """The oracle ``P_m @ V`` with ``P_m`` the best rank-``m`` approximation of ``P`` (dense SVD).

    Forms the ``n_q x n_k`` matrix: small ``n`` only (a few thousand).

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 10, 4))
    >>> bool(np.allclose(truncated_svd_attention(Q, K, V, 10), softmax_attention(Q, K, V)))
    True
    """
    t = _single_head(Q, K, V, scale, causal)
    m = _check_m(rank, "rank", min(t.n_q, t.n_k), "min(n_q, n_k)")
    U, s, Vt = svd(attention_matrix(t.Q, t.K, causal=causal, scale=t.scale))
    return (U[:, :m] * s[None, :m]) @ (Vt[:m, :] @ t.V)


def _segment_means(xp, X, m):
    """Means of ``m`` contiguous segments of the rows of ``X`` (sizes differ by at most one)."""
    n = X.shape[0]
    bounds = [(i * n) // m for i in range(m + 1)]
    cs = xp.concat([xp.zeros((1, X.shape[1]), dtype=X.dtype), xp.cumulative_sum(X, axis=0)], axis=0)
    lo, hi = xp.asarray(bounds[:-1]), xp.asarray(bounds[1:])
    counts = xp.astype(hi - lo, X.dtype)[:, None]
    return (xp.take(cs, hi, axis=0) - xp.take(cs, lo, axis=0)) / counts


def _landmark_nystrom(xp, Q, K, V, Ql, Kl, scale, rcond):
    """Nyströmformer form ``softmax(Q Kl^T) pinv(softmax(Ql Kl^T)) softmax(Ql K^T) V``."""
    F = softmax(xp, matmul_t(xp, Q, Kl) * scale)
    A = softmax(xp, matmul_t(xp, Ql, Kl) * scale)
    B = softmax(xp, matmul_t(xp, Ql, K) * scale)
    return F @ stable_pinv_apply(A, B @ V, rcond)


def _sq_dists(xp, X, Y):
    nx = xp.sum(X * X, axis=1)[:, None]
    ny = xp.sum(Y * Y, axis=1)[None, :]
    return xp.maximum(nx + ny - 2.0 * matmul_t(xp, X, Y), xp.zeros((1, 1), dtype=X.dtype))


def _skyformer(xp, Q, K, V, idx, scale, rcond):
    """PSD Nyström of the Gaussian kernel on ``[Q; K]``, rescaled to the softmax kernel and row-normalised."""
    X = xp.concat([Q, K], axis=0)
    L = xp.take(X, idx, axis=0)
    G = lambda Y, Z: xp.exp(-0.5 * scale * _sq_dists(xp, Y, Z))  # noqa: E731
    b = 0.5 * scale * xp.sum(K * K, axis=1)
    w = xp.exp(b - xp.max(b))[:, None]                     # exp(scale |k|^2 / 2), rescaled
    CkT = G(L, K)                                          # (m, n_k)
    core = G(L, L)
    rhs = xp.concat([CkT @ (w * V), CkT @ w], axis=1)
    Z = G(Q, L) @ stable_pinv_apply(core, rhs, rcond)
    num, den = Z[:, :-1], Z[:, -1:]
    tiny = eps(xp, Q.dtype) * float(to_numpy(xp.max(xp.abs(den))))   # one host scalar
    return num / xp.where(xp.abs(den) > tiny, den, xp.full_like(den, tiny))


def nystrom_attention(Q, K, V, num_landmarks, method="segment_means", rng=None, scale=None, rcond=None):
    """Nyström approximations of softmax attention with ``m`` landmarks.

    Parameters
    ----------
    Q : array of shape (n_q, d)
    K : array of shape (n_k, d)
    V : array of shape (n_k, d_v)
    num_landmarks : int
        ``m``; at most ``min(n_q, n_k)`` (``n_q + n_k`` for ``"skyformer"``).
    method : {"segment_means", "sampled", "skyformer"}
        ``"segment_means"``: Nyströmformer (Xiong et al. 2021), landmarks the
        means of ``m`` contiguous segments of ``Q`` and of ``K``;
        ``"sampled"``: ``m`` query/key pairs drawn uniformly without replacement;
        both use ``softmax(Q K~^T) pinv(softmax(Q~ K~^T)) softmax(Q~ K^T) V``.
        ``"skyformer"`` (Chen et al. 2021): writes ``exp(s q.k) =
        exp(s|q|^2/2) exp(-s|q-k|^2/2) exp(s|k|^2/2)``, approximates the PSD
        Gaussian kernel on the ``n_q + n_k`` points ``[Q; K]`` by column-sampling
        Nyström on ``m`` uniformly sampled points, restores the exact diagonal
        factors and row-normalises with the approximated row sums.
    rng : None, int or numpy.random.Generator
        For ``"sampled"`` and ``"skyformer"``.
    scale : float, optional
        Default ``1/sqrt(d)``.
    rcond : float, optional
        Relative cutoff of the pseudo-inverse (SVD-based; see :func:`stable_pinv_apply`).
        Default ``1e-3`` for ``"segment_means"`` and ``"sampled"`` and
        ``max(m) * eps`` for ``"skyformer"``; pass e.g. ``1e-13`` for the
        (numerically) exact Moore–Penrose inverse.

    Returns
    -------
    array of shape (n_q, d_v)

    Notes
    -----
    The pseudo-inverse is computed from an SVD with small singular values
    dropped instead of Nyströmformer's iterative Newton–Schulz scheme.  With an
    exact pseudo-inverse the result is exact for ``m = n`` (``P pinv(P) P =
    P``), but for ``m < n`` the landmark kernel ``softmax(Q~ K~^T)`` is badly
    conditioned and its tiny singular values blow the error up (errors of 10 to
    100 times ``||P V||`` on MiniLM heads); dropping singular values below
    ``1e-3 s_max`` (the default) damps those directions, as the few
    Newton–Schulz iterations of Nyströmformer do implicitly, and keeps the
    error below about 1.  Cost ``O(n m d + m^3)``.
    :func:`krylovid.sketch.nystrom` is not used because it needs products of
    the full Gaussian kernel with a dense test matrix (``O(n^2)``); column
    sampling needs only ``m`` kernel columns.

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 16, 4))
    >>> Y = nystrom_attention(Q, K, V, num_landmarks=16, rcond=1e-13)
    >>> bool(np.allclose(Y, softmax_attention(Q, K, V)))
    True
    """
    t = _single_head(Q, K, V, scale)
    xp = t.xp
    if method not in _NYSTROM:
        raise ValueError(f"method must be one of {_NYSTROM}, got {method!r}")
    if rcond is not None:
        rcond = check_positive(rcond, "rcond", strict=False)
    if method == "skyformer":
        m = _check_m(num_landmarks, "num_landmarks", t.n_q + t.n_k, "n_q + n_k")
        idx = default_rng(rng).choice(t.n_q + t.n_k, size=m, replace=False)
        return _skyformer(xp, t.Q, t.K, t.V, xp.asarray(sorted(idx.tolist())), t.scale, rcond)
    m = _check_m(num_landmarks, "num_landmarks", min(t.n_q, t.n_k), "min(n_q, n_k)")
    if method == "segment_means":
        Ql, Kl = _segment_means(xp, t.Q, m), _segment_means(xp, t.K, m)
    else:
        gen = default_rng(rng)
        iq = xp.asarray(sorted(gen.choice(t.n_q, size=m, replace=False).tolist()))
        ik = iq if t.n_q == t.n_k else xp.asarray(sorted(gen.choice(t.n_k, size=m, replace=False).tolist()))
        Ql, Kl = xp.take(t.Q, iq, axis=0), xp.take(t.K, ik, axis=0)
    return _landmark_nystrom(xp, t.Q, t.K, t.V, Ql, Kl, t.scale, 1e-3 if rcond is None else rcond)


def linformer_attention(Q, K, V, proj_dim, rng=None, scale=None):
    """Linformer: keys and values projected along the sequence axis, ``softmax(Q (E K)^T) (E V)``.

    Parameters
    ----------
    Q : array of shape (n_q, d)
    K : array of shape (n_k, d)
    V : array of shape (n_k, d_v)
    proj_dim : int
        ``k``, the projected sequence length.
    rng : None, int or numpy.random.Generator
    scale : float, optional

    Returns
    -------
    array of shape (n_q, d_v)

    Notes
    -----
    Wang et al. (2020) learn ``E`` (``k x n``); without trained projections we
    use a fixed Gaussian ``E / sqrt(k)`` (entries ``N(0, 1/k)``), a
    Johnson–Lindenstrauss sketch.  The result has rank at most ``k`` but is not
    consistent: the error does not vanish at ``k = n`` because the softmax is
    taken over projected keys.

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 32, 4))
    >>> linformer_attention(Q, K, V, proj_dim=8, rng=0).shape
    (32, 4)
    """
    t = _single_head(Q, K, V, scale)
    k = check_int(proj_dim, "proj_dim", minimum=1)
    E = standard_normal(rng, (k, t.n_k), xp=t.xp, dtype=t.Q.dtype) / (k ** 0.5)
    return softmax_attention(t.Q, E @ t.K, E @ t.V, scale=t.scale)
