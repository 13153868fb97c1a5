"""Nyström approximations of softmax attention (one head), with a held-out choice of the pseudo-inverse rank.

Three landmark schemes share one pseudo-inverse step: Nyströmformer's segment
means, uniformly sampled query/key pairs, and Skyformer's PSD Gaussian-kernel
Nyström on ``[Q; K]``.  The landmark matrices are badly conditioned (condition
numbers of ``1e7`` and far beyond on real heads), and no fixed cutoff of their
pseudo-inverse suits every head: a large cutoff loses accuracy when the
landmarks carry the whole matrix (``m = n`` is exact only with the full
pseudo-inverse), a small one lets the noise of tiny singular values through
when they do not (errors of 10 to 100 times ``||P V||``).  By default the
number ``k`` of kept singular values is therefore *chosen per call* on a few
held-out query rows whose exact output is computed directly (``O(r n d)``
for ``r = 32`` rows); see :func:`nystrom_attention`.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_int, check_positive
from ..backend import array_namespace, default_rng, eps, is_numpy, svd, to_numpy
from ._common import check_qkv, matmul_t, softmax
from .exact import softmax_attention

__all__ = ["nystrom_attention", "stable_pinv_apply", "NUM_HELD_OUT"]

_METHODS = ("segment_means", "sampled", "skyformer")
NUM_HELD_OUT = 32
"""Number of held-out query rows used to choose the pseudo-inverse rank."""


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
    k = _rank_above(s, rc)
    return Vt[:k, :].T @ ((U[:, :k].T @ B) / s[:k, None])


def _rank_above(s, rcond):
    """Number of singular values (descending) above ``rcond * s[0]``."""
    if s.shape[0] == 0:
        return 0
    return int(to_numpy(s > rcond * s[0]).sum())


def _check_m(m, name, limit, what):
    m = check_int(m, name, minimum=1)
    if m > limit:
        raise ValueError(f"{name}={m} exceeds {what}={limit}")
    return m


# ----------------------------------------------------------------------------- held-out rank choice
def _held_out_rows(n, exclude):
    """Up to ``NUM_HELD_OUT`` evenly spaced rows of ``range(n)`` outside ``exclude`` (a set).

    Landmark rows are interpolated exactly by Nyström, so they would favour the
    full pseudo-inverse; they are used only when too few other rows exist.
    """
    pool = [i for i in range(n) if i not in exclude]
    if len(pool) < min(NUM_HELD_OUT, n):
        pool = list(range(n))
    r = min(NUM_HELD_OUT, len(pool))
    return [pool[(j * len(pool)) // r] for j in range(r)]


def _select_rank(xp, Fr, W, s, Yr, kmax, normalise, chunk=64):
    """Rank ``k <= kmax`` minimising the held-out error, and that relative error.

    ``Fr @ diag(1/s[:k]) @ W[:k]`` (``Fr``: held-out rows of the left factor
    times the right singular vectors) is the held-out output with ``k`` kept
    singular values; with ``normalise`` its last column is the row sum that
    divides the others (Skyformer).  The ``kmax`` partial sums are formed
    ``chunk`` at a time: ``O(r kmax c)`` work, ``O(chunk r c)`` memory.
    """
    Z = xp.zeros((Fr.shape[0], W.shape[1]), dtype=W.dtype)
    errs = []
    for k0 in range(0, kmax, chunk):
        k1 = min(k0 + chunk, kmax)
        terms = Fr[:, k0:k1].T[:, :, None] * (W[k0:k1, :] / s[k0:k1, None])[:, None, :]  # (k1 - k0, r, c)
        C = xp.cumulative_sum(terms, axis=0) + Z[None, ...]
        Z = C[-1, ...]
        Y = _normalise(xp, C[..., :-1], C[..., -1:]) if normalise else C
        errs.append(to_numpy(xp.sqrt(xp.sum((Y - Yr[None, ...]) ** 2, axis=(1, 2)))))
    err = np.concatenate(errs) / max(float(to_numpy(xp.sqrt(xp.sum(Yr**2)))), 1e-300)
    err[~np.isfinite(err)] = np.inf  # overflow: never chosen
    k = int(err.argmin()) + 1
    return k, float(err[k - 1])


def _normalise(xp, num, den):
    """``num / den`` with ``|den|`` floored at ``eps * max|den|`` (rows of approximate row sums)."""
    scale = xp.max(xp.abs(den), axis=-2, keepdims=True)
    tiny = eps(xp, num.dtype) * xp.where(scale > 0, scale, xp.ones_like(scale))
    return num / xp.where(xp.abs(den) > tiny, den, tiny)


def _warn_if_worse_than_zero(err, method, m):
    if err > 1.0:
        warnings.warn(
            f"nystrom_attention({method!r}, num_landmarks={m}): relative error {err:.3g} on "
            f"{NUM_HELD_OUT} held-out rows exceeds 1, worse than a zero output; use more landmarks "
            "or another method",
            RuntimeWarning,
            stacklevel=3,
        )


def _apply_pinv(xp, left, U, s, Vt, rhs, rows, Yr, rcond, normalise):
    """``left @ pinv_k(U diag(s) Vt) @ rhs`` with ``k`` chosen on held-out rows (or by ``rcond``)."""
    kmax = _rank_above(s, max(U.shape) * eps(xp, s.dtype))
    W = U[:, :kmax].T @ rhs
    if rcond is not None:
        k, err = min(_rank_above(s, rcond), kmax), None
    else:
        Fr = xp.take(left, xp.asarray(rows), axis=0) @ Vt[:kmax, :].T
        k, err = _select_rank(xp, Fr, W, s, Yr, kmax, normalise)
    k = max(k, 1)
    coef = Vt[:k, :].T @ (W[:k, :] / s[:k, None])
    return left @ coef, err


# ----------------------------------------------------------------------------- the three schemes
def _segment_means(xp, X, m):
    """Means of ``m`` contiguous segments of the rows of ``X`` (sizes differ by at most one)."""
    n = X.shape[0]
    bounds = [(i * n) // m for i in range(m + 1)]
    cs = xp.concat([xp.zeros((1, X.shape[1]), dtype=X.dtype), xp.cumulative_sum(X, axis=0)], axis=0)
    lo, hi = xp.asarray(bounds[:-1]), xp.asarray(bounds[1:])
    counts = xp.astype(hi - lo, X.dtype)[:, None]
    return (xp.take(cs, hi, axis=0) - xp.take(cs, lo, axis=0)) / counts


def _softmax_of_product(xp, A, B):
    """``softmax(A B^T)`` by rows (``A`` already scaled; no masking): in place for NumPy."""
    S = matmul_t(xp, A, B)
    if not is_numpy(xp):
        return softmax(xp, S)
    S -= S.max(axis=1, keepdims=True)
    np.exp(S, out=S)
    S /= S.sum(axis=1, keepdims=True)
    return S


def _exact_rows(t, rows):
    return softmax_attention(t.xp.take(t.Q, t.xp.asarray(rows), axis=0), t.K, t.V, scale=t.scale)


def _landmark_nystrom(t, Ql, Kl, rcond, exclude):
    """Nyströmformer form ``softmax(Q Kl^T) pinv_k(softmax(Ql Kl^T)) softmax(Ql K^T) V``."""
    xp = t.xp
    Kl_s = Kl * t.scale  # scale the small factor, not the n x m logits
    F = _softmax_of_product(xp, t.Q, Kl_s)
    U, s, Vt = svd(_softmax_of_product(xp, Ql, Kl_s))
    BV = _softmax_of_product(xp, Ql * t.scale, t.K) @ t.V
    rows = _held_out_rows(t.n_q, exclude)
    Yr = None if rcond is not None else _exact_rows(t, rows)
    return _apply_pinv(xp, F, U, s, Vt, BV, rows, Yr, rcond, normalise=False)


def _sq_dists(xp, X, Y):
    nx = xp.sum(X * X, axis=1)[:, None]
    ny = xp.sum(Y * Y, axis=1)[None, :]
    return xp.maximum(nx + ny - 2.0 * matmul_t(xp, X, Y), xp.zeros((1, 1), dtype=X.dtype))


def _skyformer(t, idx, rcond):
    """PSD Nyström of the Gaussian kernel on ``[Q; K]``, rescaled to the softmax kernel and row-normalised."""
    xp, Q, K, V, scale = t.xp, t.Q, t.K, t.V, t.scale
    L = xp.take(xp.concat([Q, K], axis=0), xp.asarray(idx), axis=0)
    G = lambda Y, Z: xp.exp(-0.5 * scale * _sq_dists(xp, Y, Z))  # noqa: E731
    b = 0.5 * scale * xp.sum(K * K, axis=1)
    w = xp.exp(b - xp.max(b))[:, None]  # exp(scale |k|^2 / 2), rescaled
    CkT = G(L, K)  # (m, n_k)
    rhs = xp.concat([CkT @ (w * V), CkT @ w], axis=1)
    U, s, Vt = svd(G(L, L))
    rows = _held_out_rows(t.n_q, {i for i in idx if i < t.n_q})
    Yr = None if rcond is not None else _exact_rows(t, rows)
    Z, err = _apply_pinv(xp, G(Q, L), U, s, Vt, rhs, rows, Yr, rcond, normalise=True)
    return _normalise(xp, Z[:, :-1], Z[:, -1:]), err


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
        None (default): the number ``k`` of singular values kept in the
        pseudo-inverse of the landmark matrix is chosen to minimise the error on
        ``NUM_HELD_OUT = 32`` held-out query rows (evenly spaced, not landmark
        rows), whose exact output is computed directly.  A float: fixed relative
        cutoff ``s_i > rcond * s_max`` (e.g. ``1e-13`` for the numerically exact
        Moore–Penrose inverse, ``1e-3`` for a classic regularised one).

    Returns
    -------
    array of shape (n_q, d_v)

    Warns
    -----
    RuntimeWarning
        When even the best held-out choice has a relative error above 1 on the
        held-out rows, i.e. the approximation is worse than returning zeros.

    Notes
    -----
    With the exact pseudo-inverse the landmark forms are exact at ``m = n``
    (``P pinv(P) P = P``), and Skyformer is exact whenever every key is a
    landmark (``G(Q,L) pinv(G(L,L)) G(L,K) = G(Q,K)`` for a PSD kernel when
    ``K ⊆ L``); that case is evaluated as exact attention, because the
    rescaling by ``exp(s|k|^2/2)`` turns rounding errors of the Gaussian factors
    into errors larger than the output when key norms spread (sharp heads).
    Below ``m = n`` the landmark kernel is badly conditioned and its smallest
    singular values amplify the mismatch between landmarks and rows; the
    held-out choice of ``k`` keeps the directions that help on rows the
    landmarks did not see.  It selects among ``k = 1..rank`` from the ``k``
    partial sums of one SVD (``O(r m d_v)`` extra), so it finds the full
    pseudo-inverse in the exact limit and a strongly truncated one on sharp
    heads; the exact held-out rows cost ``O(r n d)``.  Nyströmformer's
    iterative Newton–Schulz inverse is not used.  Cost ``O(n m d + m^3)``.

    Examples
    --------
    >>> import numpy as np
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 16, 4))
    >>> Y = nystrom_attention(Q, K, V, num_landmarks=16)
    >>> bool(np.allclose(Y, softmax_attention(Q, K, V)))
    True
    """
    t = check_qkv(Q, K, V, scale=scale)
    if t.Q.ndim != 2:
        raise ValueError(f"Q, K, V must be 2-D (one head), got Q of shape {tuple(t.Q.shape)}")
    xp = t.xp
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if rcond is not None:
        rcond = check_positive(rcond, "rcond", strict=False)
    if method == "skyformer":
        m = _check_m(num_landmarks, "num_landmarks", t.n_q + t.n_k, "n_q + n_k")
        idx = sorted(default_rng(rng).choice(t.n_q + t.n_k, size=m, replace=False).tolist())
        if sum(i >= t.n_q for i in idx) == t.n_k:  # every key is a landmark: the Nyström kernel is exact
            return softmax_attention(t.Q, t.K, t.V, scale=t.scale)
        out, err = _skyformer(t, idx, rcond)
    else:
        m = _check_m(num_landmarks, "num_landmarks", min(t.n_q, t.n_k), "min(n_q, n_k)")
        if method == "segment_means":
            Ql, Kl, exclude = _segment_means(xp, t.Q, m), _segment_means(xp, t.K, m), set()
        else:
            gen = default_rng(rng)
            iq = sorted(gen.choice(t.n_q, size=m, replace=False).tolist())
            ik = iq if t.n_q == t.n_k else sorted(gen.choice(t.n_k, size=m, replace=False).tolist())
            Ql, Kl, exclude = xp.take(t.Q, xp.asarray(iq), axis=0), xp.take(t.K, xp.asarray(ik), axis=0), set(iq)
        out, err = _landmark_nystrom(t, Ql, Kl, rcond, exclude)
    if err is not None:
        _warn_if_worse_than_zero(err, method, m)
    return out
