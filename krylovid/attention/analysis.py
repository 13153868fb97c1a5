"""Diagnostics and the evaluation protocol for attention approximations (DESIGN §4).

* :func:`attention_spectrum`: leading singular values of ``P = softmax(scale Q K^T)``
  through implicit products (Lanczos on ``P P^T`` or randomized SVD), its stable
  rank ``||P||_F^2 / ||P||_2^2`` (``||P||_F`` computed exactly, blockwise) and the
  row entropies — never an ``n x n`` array.
* error measures: :func:`relative_error`, :func:`row_normalizer_error`,
  :func:`top1_retention`;
* :func:`error_curve` (error vs ``m`` over seeds, with timings),
  :func:`truncated_svd_bound`, :func:`stratify_by_entropy`,
  :func:`plot_error_curves`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_int
from ..backend import Array, array_namespace, default_rng, standard_normal, svd, to_numpy
from ..info import KrylovInfo
from ..krylov import lanczos
from ..operators.base import LinearOperator
from ..sketch import randomized_svd
from ._common import check_qk, check_qkv
from .exact import AttentionOperator, attention_matrix, attention_matvec, row_normalizer, softmax_attention

__all__ = [
    "SpectrumResult",
    "attention_spectrum",
    "frobenius_norm",
    "row_entropy",
    "relative_error",
    "row_normalizer_error",
    "top1_retention",
    "ErrorCurve",
    "error_curve",
    "TruncatedSVDBound",
    "truncated_svd_bound",
    "EntropyStrata",
    "stratify_by_entropy",
    "plot_error_curves",
]


# ----------------------------------------------------------------------------- spectrum
class _Gram(LinearOperator):
    """``P P^T`` as a symmetric operator (two implicit products per application)."""

    def __init__(self, P):
        super().__init__((P.shape[0], P.shape[0]), P.dtype, P.xp, symmetric=True)
        self.P = P

    def _matmat(self, X):
        return self.P.matmat(self.P.rmatmat(X))


def frobenius_norm(Q, K, causal=False, scale=None):
    """``||P||_F`` exactly and blockwise: ``||P_i||^2 = exp(logsumexp(2 s_i) - 2 logsumexp(s_i))``.

    Examples
    --------
    >>> import numpy as np
    >>> Q, K = np.random.default_rng(0).standard_normal((2, 6, 3))
    >>> from krylovid.attention.exact import attention_matrix
    >>> bool(np.isclose(frobenius_norm(Q, K), np.linalg.norm(attention_matrix(Q, K))))
    True
    """
    t = check_qk(Q, K, scale=scale, causal=causal)
    xp = t.xp
    log_d = row_normalizer(t.Q, t.K, causal=causal, scale=t.scale)
    log_d2 = row_normalizer(t.Q, t.K, causal=causal, scale=2.0 * t.scale)
    return float(to_numpy(xp.sqrt(xp.sum(xp.exp(log_d2 - 2.0 * log_d)))))


def row_entropy(Q, K, causal=False, scale=None):
    """Entropy ``H_i = -sum_j P_ij log P_ij`` of every row, blockwise: ``log D_i - scale q_i . (P K)_i``.

    Returns
    -------
    array of shape (n_q,)
        In nats; between 0 (one-hot row) and ``log n_k`` (uniform row).
    """
    t = check_qk(Q, K, scale=scale, causal=causal)
    xp = t.xp
    log_d = row_normalizer(t.Q, t.K, causal=causal, scale=t.scale)
    PK = attention_matvec(t.Q, t.K, t.K, causal=causal, scale=t.scale)
    H = log_d - t.scale * xp.sum(t.Q * PK, axis=-1)
    return xp.maximum(H, xp.zeros_like(H))


@dataclass(frozen=True)
class SpectrumResult:
    """Spectral diagnostics of one attention matrix.

    Attributes
    ----------
    singular_values : ndarray of shape (k,)
        Leading singular values of ``P`` (descending, host array).
    stable_rank : float
        ``||P||_F^2 / sigma_1^2`` (with the computed ``sigma_1``).
    frobenius_norm : float
        ``||P||_F`` (exact).
    row_entropy : array of shape (n_q,)
    mean_entropy : float
    info : KrylovInfo
    """

    singular_values: np.ndarray
    stable_rank: float
    frobenius_norm: float
    row_entropy: Array
    mean_entropy: float
    info: KrylovInfo


def _lanczos_singular_values(P, k, num_iter, rng):
    G = _Gram(P)
    n = P.shape[0]
    b = standard_normal(rng, (n,), xp=P.xp, dtype=P.dtype)
    res = lanczos(G, b, min(n, num_iter), reorth="full")
    theta = np.sort(np.linalg.eigvalsh(res.tridiagonal()))[::-1][:k]
    sv = np.sqrt(np.maximum(theta, 0.0))
    info = KrylovInfo(
        res.info.status,
        res.info.iterations,
        2 * res.info.matvecs,
        residual=res.info.residual,
        message="Lanczos on P P^T: " + res.info.message,
    )
    return sv, info


def attention_spectrum(Q, K, k, causal=False, method="lanczos", rng=None, scale=None, num_iter=None, power_iters=3):
    """Leading singular values, stable rank and row entropies of ``P``, matrix-free.

    Parameters
    ----------
    Q : array of shape (n_q, d)
    K : array of shape (n_k, d)
    k : int
        Number of singular values, ``1 <= k <= min(n_q, n_k)``.
    causal : bool
    method : {"lanczos", "randomized"}
        ``"lanczos"``: Lanczos with full reorthogonalisation on ``P P^T`` (one
        ``P`` and one ``P^T`` product per step, ``num_iter`` steps, default
        ``2k + 20``); singular values are square roots of the top Ritz values.
        ``"randomized"``: :func:`krylovid.sketch.randomized_svd` on the operator.
    rng : None, int or numpy.random.Generator
        Starting vector / test matrix.
    scale : float, optional
    num_iter : int, optional
    power_iters : int
        For ``"randomized"``.

    Returns
    -------
    SpectrumResult

    Notes
    -----
    Products with ``P`` and ``P^T`` go through the blocked kernels of
    :mod:`krylovid.attention.exact`; memory is ``O(n (d + k))``.  The stable
    rank ``||P||_F^2 / ||P||_2^2 >= 1`` is a smooth lower bound of the rank that
    counts how many directions carry the energy of ``P``.

    Examples
    --------
    >>> import numpy as np
    >>> Q, K = np.random.default_rng(0).standard_normal((2, 30, 4))
    >>> res = attention_spectrum(Q, K, k=3, rng=0)
    >>> from krylovid.attention.exact import attention_matrix
    >>> bool(np.allclose(res.singular_values, np.linalg.svd(attention_matrix(Q, K), compute_uv=False)[:3]))
    True
    """
    t = check_qk(Q, K, scale=scale, causal=causal)
    if t.Q.ndim != 2:
        raise ValueError(f"Q and K must be 2-D (one head), got Q of shape {tuple(t.Q.shape)}")
    k = check_int(k, "k", minimum=1, maximum=min(t.n_q, t.n_k))
    if method not in ("lanczos", "randomized"):
        raise ValueError(f"method must be 'lanczos' or 'randomized', got {method!r}")
    gen = default_rng(rng)
    P = AttentionOperator(t.Q, t.K, causal=causal, scale=t.scale)
    if method == "lanczos":
        it = 2 * k + 20 if num_iter is None else check_int(num_iter, "num_iter", minimum=k)
        sv, info = _lanczos_singular_values(P, k, it, gen)
    else:
        res = randomized_svd(P, k, power_iters=power_iters, rng=gen)
        sv, info = np.asarray(to_numpy(res.s), dtype=float), res.info
    fro = frobenius_norm(t.Q, t.K, causal=causal, scale=t.scale)
    H = row_entropy(t.Q, t.K, causal=causal, scale=t.scale)
    return SpectrumResult(sv, fro**2 / float(sv[0]) ** 2, fro, H, float(to_numpy(t.xp.mean(H))), info)


# ----------------------------------------------------------------------------- error measures
def relative_error(Y, Y_ref, ord="fro") -> float:
    """``||Y - Y_ref|| / ||Y_ref||`` in the Frobenius (``"fro"``) or spectral (``2``) norm.

    Examples
    --------
    >>> import numpy as np
    >>> relative_error(np.array([[1.0, 1.0]]), np.array([[1.0, 0.0]]))
    1.0
    """
    Y_ref = check_array(Y_ref, "Y_ref", ndim=(1, 2))
    xp = array_namespace(Y_ref)
    Y = check_array(Y, "Y", xp=xp, dtype=Y_ref.dtype, finite=False)
    if tuple(Y.shape) != tuple(Y_ref.shape):
        raise ValueError(f"Y must have the shape of Y_ref {tuple(Y_ref.shape)}, got {tuple(Y.shape)}")
    if ord == "fro":
        num, den = xp.linalg.vector_norm(Y - Y_ref), xp.linalg.vector_norm(Y_ref)
    elif ord == 2:
        to2d = (lambda A: A[:, None]) if Y.ndim == 1 else (lambda A: A)  # noqa: E731
        num, den = xp.linalg.matrix_norm(to2d(Y - Y_ref), ord=2), xp.linalg.matrix_norm(to2d(Y_ref), ord=2)
    else:
        raise ValueError(f"ord must be 'fro' or 2, got {ord!r}")
    den = float(to_numpy(den))
    return float(to_numpy(num)) / den if den > 0 else float(to_numpy(num))


def row_normalizer_error(log_d, log_d_ref) -> float:
    """Largest relative error of the row normalisers, ``max_i |D~_i / D_i - 1|``, from their logs.

    Examples
    --------
    >>> import numpy as np
    >>> round(row_normalizer_error(np.log([2.0, 4.4]), np.log([2.0, 4.0])), 12)
    0.1
    """
    log_d_ref = check_array(log_d_ref, "log_d_ref", ndim=1)
    xp = array_namespace(log_d_ref)
    log_d = check_array(log_d, "log_d", ndim=1, xp=xp, dtype=log_d_ref.dtype, finite=False)
    if log_d.shape != log_d_ref.shape:
        raise ValueError(f"log_d must have shape {tuple(log_d_ref.shape)}, got {tuple(log_d.shape)}")
    return float(to_numpy(xp.max(xp.abs(xp.expm1(log_d - log_d_ref)))))


def top1_retention(P_approx, P_ref) -> float:
    """Fraction of rows whose largest entry (top-1 key) is the same in ``P_approx`` and ``P_ref``.

    ``P_approx`` may be approximate probabilities or raw scores (only the argmax matters).

    Examples
    --------
    >>> import numpy as np
    >>> top1_retention(np.array([[0.1, 0.9], [0.6, 0.4]]), np.array([[0.2, 0.8], [0.3, 0.7]]))
    0.5
    """
    P_ref = check_array(P_ref, "P_ref", ndim=2)
    xp = array_namespace(P_ref)
    P_approx = check_array(P_approx, "P_approx", ndim=2, xp=xp, dtype=P_ref.dtype, finite=False)
    if P_approx.shape != P_ref.shape:
        raise ValueError(f"P_approx must have shape {tuple(P_ref.shape)}, got {tuple(P_approx.shape)}")
    same = xp.argmax(P_approx, axis=1) == xp.argmax(P_ref, axis=1)
    return float(to_numpy(xp.mean(xp.astype(same, P_ref.dtype))))


# ----------------------------------------------------------------------------- error curves
@dataclass(frozen=True)
class ErrorCurve:
    """Error of one method against ``m`` (rank / landmarks / features / budget) over seeds.

    Attributes
    ----------
    label : str
    ms : ndarray of shape (M,)
    errors : ndarray of shape (M, S)
        Relative error for every ``m`` and seed.
    times : ndarray of shape (M, S)
        Wall-clock seconds of each call.
    median, low, high : ndarrays of shape (M,)
        Median, minimum and maximum over seeds.
    worse_than_zero : ndarray of bool, shape (M,)
        Where the median relative error exceeds 1 (worse than a zero output).
    """

    label: str
    ms: np.ndarray
    errors: np.ndarray
    times: np.ndarray
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def median_time(self) -> np.ndarray:
        return np.median(self.times, axis=1)

    @property
    def worse_than_zero(self) -> np.ndarray:
        """Boolean array of shape (M,): the median error exceeds 1 at that ``m``.

        A zero output has relative error exactly 1, so such a method is worse
        than trivial there and should be reported as such, not ranked.
        """
        return self.median > 1.0


def _reference(xp, t, rows, causal):
    if rows is None:
        return softmax_attention(t.Q, t.K, t.V, causal=causal, scale=t.scale)
    if causal:
        raise ValueError("rows= is only supported for non-causal attention")
    return softmax_attention(xp.take(t.Q, rows, axis=0), t.K, t.V, scale=t.scale)


def error_curve(
    Q,
    K,
    V,
    method_fn,
    ms=(16, 32, 64, 128, 256, 512, 1024),
    seeds=(0, 1, 2),
    *,
    ord="fro",
    rows=None,
    reference=None,
    label=None,
    causal=False,
    scale=None,
) -> ErrorCurve:
    """Relative output error of ``method_fn`` against exact attention for every ``m`` and seed.

    Parameters
    ----------
    Q : array of shape (n_q, d)
    K : array of shape (n_k, d)
    V : array of shape (n_k, d_v)
        Pass ``V = I`` (``n_k x n_k``) to measure the error of the approximate
        attention matrix itself (then the truncated-SVD bound applies).
    method_fn : callable
        ``method_fn(Q, K, V, m, rng) -> Y`` of shape ``(n_q, d_v)``; ``rng`` is the seed.
    ms : sequence of int
        Budgets; those above ``min(n_q, n_k)`` are dropped.
    seeds : sequence of int
    ord : {"fro", 2}
    rows : array of int, optional
        Measure the error on these query rows only (exact rows are cheap:
        ``softmax(Q[rows] K^T) V``) — for long sequences.
    reference : array, optional
        Precomputed exact output (of the selected rows).
    label : str, optional
        Default ``method_fn.__name__``.

    Returns
    -------
    ErrorCurve

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.attention.lowrank import nystrom_attention
    >>> Q, K, V = np.random.default_rng(0).standard_normal((3, 64, 8)) * 0.5
    >>> fn = lambda Q, K, V, m, rng: nystrom_attention(Q, K, V, m, rcond=1e-13)
    >>> c = error_curve(Q, K, V, fn, ms=(8, 64), seeds=(0,))
    >>> bool(c.median[1] < 1e-8 < c.median[0])
    True
    """
    t = check_qkv(Q, K, V, scale=scale, causal=causal)
    xp = t.xp
    if not callable(method_fn):
        raise TypeError(f"method_fn must be callable, got {type(method_fn).__name__}")
    if rows is not None:
        rows = xp.asarray(to_numpy(rows).astype(np.int64))
    Y_ref = _reference(xp, t, rows, causal) if reference is None else reference
    n_max = min(t.n_q, t.n_k)
    ms = np.array(sorted({int(check_int(m, "ms", minimum=1)) for m in ms if int(m) <= n_max}), dtype=int)
    if ms.size == 0:
        raise ValueError(f"ms: no budget is <= min(n_q, n_k) = {n_max}")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    errors, times = np.empty((ms.size, len(seeds))), np.empty((ms.size, len(seeds)))
    for i, m in enumerate(ms):
        for j, s in enumerate(seeds):
            t0 = time.perf_counter()
            Y = method_fn(t.Q, t.K, t.V, int(m), s)
            times[i, j] = time.perf_counter() - t0
            Y = Y if rows is None else xp.take(Y, rows, axis=0)
            errors[i, j] = relative_error(Y, Y_ref, ord=ord)
    name = label if label is not None else getattr(method_fn, "__name__", "method")
    return ErrorCurve(name, ms, errors, times, np.median(errors, axis=1), errors.min(axis=1), errors.max(axis=1))


@dataclass(frozen=True)
class TruncatedSVDBound:
    """Best achievable rank-``m`` errors (dense SVD of ``P``; small ``n``).

    Attributes
    ----------
    ms : ndarray of shape (M,)
    matrix_error : ndarray of shape (M,)
        ``||P - P_m|| / ||P||`` — a lower bound on the relative matrix error of
        *every* rank-``m`` approximation (Eckart–Young), in the chosen norm.
    output_error : ndarray of shape (M,) or None
        Relative output error ``||(P - P_m) V|| / ||P V||`` of the oracle (the
        reference curve for output errors; not a strict lower bound for them).
    singular_values : ndarray
        All singular values of ``P``.
    """

    ms: np.ndarray
    matrix_error: np.ndarray
    output_error: Array
    singular_values: np.ndarray


def truncated_svd_bound(
    Q, K, V=None, ms=(16, 32, 64, 128, 256, 512, 1024), *, ord="fro", causal=False, scale=None
) -> TruncatedSVDBound:
    """Truncated-SVD (oracle) errors for the budgets ``ms`` (forms ``P``: small ``n`` only).

    Examples
    --------
    >>> import numpy as np
    >>> Q, K = np.random.default_rng(0).standard_normal((2, 20, 4))
    >>> b = truncated_svd_bound(Q, K, ms=(5, 20))
    >>> bool(b.matrix_error[1] < 1e-12 < b.matrix_error[0])
    True
    """
    t = check_qkv(Q, K, V, scale=scale, causal=causal)
    if ord not in ("fro", 2):
        raise ValueError(f"ord must be 'fro' or 2, got {ord!r}")
    P = attention_matrix(t.Q, t.K, causal=causal, scale=t.scale)
    U, s, Vt = svd(P)
    s_h = np.asarray(to_numpy(s), dtype=float)
    n_max = s_h.size
    ms = np.array(sorted({int(check_int(m, "ms", minimum=1)) for m in ms if int(m) <= n_max}), dtype=int)
    if ord == "fro":
        tail = np.sqrt(np.concatenate([np.cumsum((s_h**2)[::-1])[::-1], [0.0]]))
        mat = tail[ms] / tail[0]
    else:
        mat = np.array([s_h[m] / s_h[0] if m < n_max else 0.0 for m in ms])
    out = None
    if t.V is not None:
        Y = P @ t.V
        out = np.array([relative_error((U[:, :m] * s[None, :m]) @ (Vt[:m, :] @ t.V), Y, ord=ord) for m in ms])
    return TruncatedSVDBound(ms, mat, out, s_h)


@dataclass(frozen=True)
class EntropyStrata:
    """Heads grouped by mean row entropy.

    Attributes
    ----------
    edges : ndarray of shape (B + 1,)
        Bin edges (quantiles of the entropies).
    bins : ndarray of int, shape (num_heads,)
        Bin of every head.
    medians : ndarray of shape (B, ...)
        Median of ``values`` over the heads of each bin (NaN for empty bins).
    counts : ndarray of int, shape (B,)
    """

    edges: np.ndarray
    bins: np.ndarray
    medians: np.ndarray
    counts: np.ndarray


def stratify_by_entropy(entropies, values, num_bins=3) -> EntropyStrata:
    """Group per-head ``values`` (e.g. errors, shape ``(num_heads, ...)``) into entropy quantile bins.

    Examples
    --------
    >>> import numpy as np
    >>> s = stratify_by_entropy([0.1, 0.2, 3.0, 3.1], [1.0, 2.0, 10.0, 20.0], num_bins=2)
    >>> s.medians.tolist(), s.counts.tolist()
    ([1.5, 15.0], [2, 2])
    """
    H = np.asarray(to_numpy(entropies), dtype=float)
    vals = np.asarray(to_numpy(values), dtype=float)
    if H.ndim != 1 or H.size == 0 or not np.all(np.isfinite(H)):
        raise ValueError("entropies must be a non-empty 1-D array of finite numbers")
    if vals.shape[:1] != H.shape:
        raise ValueError(f"values must have {H.size} rows (one per head), got shape {vals.shape}")
    B = check_int(num_bins, "num_bins", minimum=1)
    edges = np.quantile(H, np.linspace(0.0, 1.0, B + 1))
    bins = np.clip(np.searchsorted(edges, H, side="right") - 1, 0, B - 1)
    medians = np.full((B,) + vals.shape[1:], np.nan)
    counts = np.bincount(bins, minlength=B)
    for b in range(B):
        if counts[b]:
            medians[b] = np.median(vals[bins == b], axis=0)
    return EntropyStrata(edges, bins, medians, counts)


def plot_error_curves(curves, bound=None, ax=None, title=None, xlabel="m", ylabel="relative error"):
    """Plot median error (with min–max band) against ``m`` for each curve, log–log.

    Headless-safe: never calls ``pyplot.show``; without ``ax`` a standalone
    :class:`matplotlib.figure.Figure` is created (no pyplot state).

    Parameters
    ----------
    curves : sequence of ErrorCurve
    bound : TruncatedSVDBound or (ms, errors) pair, optional
        Drawn as a dashed black line ("truncated SVD").
    ax : matplotlib Axes, optional

    Returns
    -------
    (Figure, Axes)
    """
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=(5.0, 3.6))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    for c in curves:
        if not isinstance(c, ErrorCurve):
            raise TypeError(f"curves must hold ErrorCurve objects, got {type(c).__name__}")
        (line,) = ax.plot(c.ms, c.median, marker="o", ms=3, label=c.label)
        ax.fill_between(c.ms, c.low, c.high, color=line.get_color(), alpha=0.2)
    if bound is not None:
        bms, berr = (bound.ms, bound.matrix_error) if isinstance(bound, TruncatedSVDBound) else bound
        pos = np.asarray(berr) > 0
        ax.plot(np.asarray(bms)[pos], np.asarray(berr)[pos], "k--", label="truncated SVD")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    return fig, ax
