"""The FIR regressor ``Phi`` as a fast operator, its Gram matrix, and least squares.

Row ``t`` (``t = 1..N``) of the regression matrix of input ``i`` is
``[u_i(t-d), u_i(t-d-1), ..., u_i(t-d-n+1)]`` (``n`` = ``order``, ``d`` =
``delay``); several inputs are stacked side by side, ``Phi = [Phi_1 ... Phi_m]``,
so ``g = [g_1; ...; g_m]`` and ``y = Phi g + e`` (DESIGN §2).  Each block is a
Toeplitz matrix: products with ``Phi`` and ``Phi^T`` are FFT convolutions and
correlations, ``O((N + n) log(N + n))`` per column, one FFT per input block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy.fft import next_fast_len

from .._validation import check_array, check_int
from ..backend import (
    Array,
    array_namespace,
    asarray,
    cholesky,
    diagonal,
    eigh,
    irfft,
    is_numpy,
    qr,
    rfft,
    solve_triangular,
    to_numpy,
)
from ..operators import LinearOperator

__all__ = ["FIRRegressor", "fir_regressor", "LSResult", "ls_fir"]

_INITIAL = ("zero", "drop")


def _check_initial(initial):
    if initial not in _INITIAL:
        raise ValueError(f"initial must be one of {list(_INITIAL)}, got {initial!r}")
    return initial


class FIRRegressor(LinearOperator):
    """The FIR regression matrix ``Phi`` of shape ``(N_eff, m * order)`` (see :func:`fir_regressor`).

    Attributes
    ----------
    u : array of shape (N, m)
        The input (float64, or float32 on request; namespace ``xp``).
    order, delay : int
        ``n`` and ``d``.
    initial : {"zero", "drop"}
        Treatment of the unknown past input.
    rows : array of int, shape (N_eff,)
        0-based indices of the outputs kept: ``y_eff = y[rows]``.
    num_inputs : int
        ``m``.
    """

    def __init__(self, u, order: int, *, delay: int = 1, initial: str = "zero", dtype=None):
        u = check_array(u, "u", ndim=(1, 2), dtype=None)
        xp = array_namespace(u)
        self.real_dtype = f64 = _real_dtype(xp, dtype)
        if u.dtype != f64:
            u = xp.astype(u, f64)
        self.u = u[:, None] if u.ndim == 1 else u
        self.order = check_int(order, "order", minimum=1)
        self.delay = check_int(delay, "delay", minimum=0)
        self.initial = _check_initial(initial)
        N, m = self.u.shape
        self.num_inputs, self.num_samples = m, N
        self.first = self.order + self.delay - 1 if initial == "drop" else 0
        if self.first >= N:
            raise ValueError(
                f"order: with initial='drop', order + delay - 1 = {self.first} leaves no output rows out of N = {N}"
            )
        self.rows = np.arange(self.first, N)
        self.fft_len = next_fast_len(N + self.order - 1, real=True)
        # w_i(s) = u_i(s - d): the column generator of block i, zero before the start
        w = xp.concat([xp.zeros((self.delay, m), dtype=f64), self.u[: max(N - self.delay, 0), :]], axis=0)
        self._w = w[:N, :]
        self._spec = rfft(self._w, n=self.fft_len, axis=0)  # (F, m)
        self._spec_conj = xp.conj(self._spec)
        super().__init__((N - self.first, m * self.order), f64, xp)

    # ---------------------------------------------------------------- products
    def _matmat(self, X):
        xp, n, m, k = self.xp, self.order, self.num_inputs, X.shape[1]
        Xb = xp.reshape(X, (m, n, k))
        Xf = rfft(Xb, n=self.fft_len, axis=1)  # (m, F, k)
        Yf = xp.sum(xp.permute_dims(self._spec, (1, 0))[:, :, None] * Xf, axis=0)
        Y = irfft(Yf, n=self.fft_len, axis=0)
        return Y[self.first : self.num_samples, :]

    def _rmatmat(self, Y):
        xp, n, m, k = self.xp, self.order, self.num_inputs, Y.shape[1]
        if self.first:
            Y = xp.concat([xp.zeros((self.first, k), dtype=Y.dtype), Y], axis=0)
        Yf = rfft(Y, n=self.fft_len, axis=0)  # (F, k)
        Zf = xp.permute_dims(self._spec_conj, (1, 0))[:, :, None] * Yf[None, :, :]
        Z = irfft(Zf, n=self.fft_len, axis=1)[:, :n, :]  # (m, n, k)
        return xp.reshape(Z, (m * n, k))

    def dense(self):
        """``Phi`` as a dense ``(N_eff, m * order)`` array, built by indexing (small sizes)."""
        xp, N, n = self.xp, self.num_samples, self.order
        if not is_numpy(xp):  # gather on the device: the data never leave it
            lags = xp.arange(self.first, N)[:, None] - xp.arange(n)[None, :]
            mask = lags >= 0
            idx = xp.reshape(xp.where(mask, lags, 0), (-1,))
            shape = tuple(lags.shape)
            cols = [xp.where(mask, xp.reshape(xp.take(self._w[:, i], idx), shape), 0.0) for i in range(self.num_inputs)]
            return xp.concat(cols, axis=1)
        w = to_numpy(self._w)
        idx = np.arange(N)[:, None] - np.arange(n)[None, :]
        blocks = [np.where(idx >= 0, w[np.clip(idx, 0, None), i], 0.0) for i in range(self.num_inputs)]
        return asarray(np.concatenate(blocks, axis=1)[self.first :, :], self.xp, dtype=self.real_dtype)

    def to_dense(self):
        return self.dense()

    # ---------------------------------------------------------------- Gram
    def gram(self):
        """``M = Phi^T Phi`` of shape ``(m n, m n)`` without forming ``Phi``.

        Notes
        -----
        With ``w_i(s) = u_i(s - d)`` and the kept samples ``s = s0..N-1``
        (``s0 = first``), ``M_il[k, j] = sum_s w_i(s-k) w_l(s-j)``.  The first
        row and column are FFT cross-correlations of the (masked) generators;
        the rest follows from the exact boundary recursion
        ``M[k+1, j+1] = M[k, j] + w_i(s0-1-k) w_l(s0-1-j) - w_i(N-1-k) w_l(N-1-j)``,
        ``O(m^2 n^2)`` after ``O(m^2 N log N)`` for the correlations.
        """
        xp, n, m, N, s0 = self.xp, self.order, self.num_inputs, self.num_samples, self.first
        f64 = self.real_dtype
        mask = xp.astype(xp.arange(N)[:, None] >= s0, f64)
        spec_m = rfft(self._w * mask, n=self.fft_len, axis=0)  # (F, m)
        # corr[i, l, tau] = sum_s wm_i(s) w_l(s - tau), tau = 0..n-1
        cross = spec_m[:, :, None] * self._spec_conj[:, None, :]  # (F, m, m)
        corr = irfft(cross, n=self.fft_len, axis=0)[:n, :, :]  # (n, m, m)
        first_row = xp.permute_dims(corr, (1, 2, 0))  # [i, l, j] = M_il[0, j]
        first_col = xp.permute_dims(corr, (2, 1, 0))  # [i, l, k] = M_il[k, 0]
        head = self._tail(s0 - 1)  # (m, n): w(s0-1-r)
        tail = self._tail(N - 1)  # (m, n): w(N-1-r)
        if not is_numpy(xp):
            return self._gram_closed_form(first_row, first_col, head, tail)
        G = xp.zeros((m, n, m, n), dtype=f64)  # [i, k, l, j]
        row = first_row
        G[:, 0, :, :] = row
        for k in range(n - 1):
            inc = head[:, None, k : k + 1] * head[None, :, :-1] - tail[:, None, k : k + 1] * tail[None, :, :-1]
            row = xp.concat([first_col[:, :, k + 1 : k + 2], row[:, :, :-1] + inc], axis=2)
            G[:, k + 1, :, :] = row
        return xp.reshape(G, (m * n, m * n))

    def _gram_closed_form(self, first_row, first_col, head, tail):
        """The boundary recursion of :meth:`gram` summed in closed form (for devices: no loop over ``n``).

        Unrolled along each diagonal, ``M_il[k, j] = M_il[k - p, j - p] + (H_i H_l^T - T_i T_l^T)[k, j]`` with
        ``p = min(k, j)`` (a first-row or first-column entry) and ``H_i[k, c] = head_i[k - 1 - c]``,
        ``T_i[k, c] = tail_i[k - 1 - c]`` (``c < k``): strictly lower triangular Toeplitz matrices, so the
        correction is two ``(m n) x n`` products (``O(m^2 n^3)`` on the device instead of ``n`` sequential
        steps of ``O(m^2 n)``).
        """
        xp, n, m = self.xp, self.order, self.num_inputs
        k = xp.arange(n)[:, None]
        c = xp.arange(n)[None, :]
        lag = k - 1 - c  # H[k, c] = head[k - 1 - c] for c < k
        below = lag >= 0
        idx = xp.reshape(xp.where(below, lag, 0), (-1,))

        def toeplitz(v):  # (m, n) -> (m n, n): block i is the strictly lower Toeplitz matrix of v[i]
            blocks = [xp.where(below, xp.reshape(xp.take(v[i, :], idx), (n, n)), 0.0) for i in range(m)]
            return xp.concat(blocks, axis=0)

        H, T = toeplitz(head), toeplitz(tail)
        corr = H @ xp.permute_dims(H, (1, 0)) - T @ xp.permute_dims(T, (1, 0))  # [(i, k), (l, j)]
        # base[i, l, k, j] = first_col[i, l, k - j] (k >= j) or first_row[i, l, j - k] (k < j)
        d = k - c
        dist = xp.reshape(xp.abs(d), (-1,))
        lower = d >= 0
        base = [
            [
                xp.where(
                    lower,
                    xp.reshape(xp.take(first_col[i, l, :], dist), (n, n)),
                    xp.reshape(xp.take(first_row[i, l, :], dist), (n, n)),
                )
                for l in range(m)
            ]
            for i in range(m)
        ]
        B = xp.concat([xp.concat(row, axis=1) for row in base], axis=0)  # [(i, k), (l, j)]
        return B + corr

    def _tail(self, start: int):
        """``w_i(start - r)`` for ``r = 0..n-1`` as ``(m, n)``, zero for negative indices."""
        xp, n = self.xp, self.order
        hi = start + 1
        lo = max(hi - n, 0)
        f64 = self.real_dtype
        seg = xp.flip(self._w[lo:hi, :], axis=0) if hi > 0 else xp.zeros((0, self.num_inputs), dtype=f64)
        pad = xp.zeros((n - seg.shape[0], self.num_inputs), dtype=f64)
        return xp.permute_dims(xp.concat([seg, pad], axis=0), (1, 0))

    def trace_gram(self) -> float:
        """``||Phi||_F^2 = tr(Phi^T Phi)`` in ``O(m (N + n))``.

        Column ``k`` of block ``i`` holds ``w_i(s - k)``, ``s = s0..N-1``: its
        squared norm is a window sum of the cumulative sum of ``w_i^2``.
        """
        xp, n, N, s0 = self.xp, self.order, self.num_samples, self.first
        c = xp.concat(
            [xp.zeros((1, self.num_inputs), dtype=self.real_dtype), xp.cumulative_sum(self._w * self._w, axis=0)],
            axis=0,
        )  # c[j] = sum_{s<j}
        k = np.arange(n)
        hi = np.clip(N - k, 0, N)  # exclusive upper index of w
        lo = np.clip(s0 - k, 0, N)
        hi_i, lo_i = asarray(hi, xp), asarray(lo, xp)
        return float(xp.sum(xp.take(c, hi_i, axis=0) - xp.take(c, lo_i, axis=0)))


def _real_dtype(xp, dtype):
    """``xp.float64`` (default) or ``xp.float32`` from ``None``, a name or a dtype."""
    if dtype is None:
        return xp.float64
    name = getattr(dtype, "__name__", None) or str(dtype)
    name = name.rsplit(".", 1)[-1]
    if name in ("float64", "double"):
        return xp.float64
    if name in ("float32", "single"):
        return xp.float32
    raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")


def fir_regressor(u, order: int, *, delay: int = 1, initial: str = "zero", dtype=None) -> FIRRegressor:
    """FIR regression operator ``Phi`` for input ``u`` (DESIGN §2).

    Parameters
    ----------
    u : array of shape (N,) or (N, m)
        Input samples ``u(1..N)`` of ``m`` inputs.
    order : int
        Number of FIR coefficients ``n`` per input.
    delay : int, default 1
        ``d``: the first coefficient multiplies ``u(t-d)`` (``d = 0``: feedthrough).
    initial : {"zero", "drop"}
        ``"zero"``: ``u(t) = 0`` for ``t < 1`` and all ``N`` rows are kept.
        ``"drop"``: rows that need unknown past input are discarded, i.e. the
        first ``order + delay - 1`` rows; the kept rows are ``rows =
        arange(order + delay - 1, N)`` (0-based) and ``y_eff = y[rows]``.
    dtype : {None, "float64", "float32"}
        Precision of the stored input and of the FFT products (default float64;
        float32 only on request, see :class:`~krylovid.sysid.FIRProblem`).

    Returns
    -------
    FIRRegressor
        A :class:`~krylovid.operators.LinearOperator` of shape ``(N_eff, m * order)``.

    Examples
    --------
    >>> import numpy as np
    >>> Phi = fir_regressor(np.array([1.0, 2.0, 3.0]), 2)
    >>> Phi.dense().tolist()
    [[0.0, 0.0], [1.0, 0.0], [2.0, 1.0]]
    """
    return FIRRegressor(u, order, delay=delay, initial=initial, dtype=dtype)


@dataclass(frozen=True)
class LSResult:
    """Unregularized least-squares FIR fit.

    Attributes
    ----------
    g : array of shape (m * order,)
        Least-squares coefficients.
    residual : array of shape (N_eff,)
        ``y_eff - Phi g``.
    residual_variance : float
        ``||y_eff - Phi g||^2 / (N_eff - m * order)`` (the ``"ls"`` noise variance).
    dof : int
        ``N_eff - m * order``.
    rows : ndarray of int
        Outputs used, ``y_eff = y[rows]``.
    method : str
        ``"qr"`` or ``"normal"`` (Gram + Cholesky + iterative refinement).
    rank_deficient : bool
        Whether ``Phi`` was numerically rank deficient (``g`` then minimum-norm for ``"qr"``).
    """

    g: Array
    residual: Array
    residual_variance: float
    dof: int
    rows: np.ndarray
    method: str
    rank_deficient: bool = False


_DENSE_LIMIT = 2 * 10**7  # entries of Phi above which ls_fir uses the normal equations


def ls_fir(u, y, order: int, delay: int = 1, initial: str = "zero", *, method: str = "auto") -> LSResult:
    """Unregularized least-squares FIR estimate and the ``"ls"`` noise variance.

    Parameters
    ----------
    u : array of shape (N,) or (N, m)
        Input.
    y : array of shape (N,)
        Output.
    order, delay, initial
        As in :func:`fir_regressor`.
    method : {"auto", "qr", "normal"}
        ``"qr"``: dense ``Phi`` and a pivoted-QR least-squares solve (LAPACK
        ``gelsy``), backward stable.  ``"normal"``: the Gram matrix of
        :meth:`FIRRegressor.gram` (no ``O(N n^2)`` product), a Cholesky solve
        and two steps of iterative refinement with FFT products
        (``g += M^{-1} Phi^T (y - Phi g)``), which recovers QR accuracy for
        reasonably conditioned inputs (e.g. white noise, any SNR).
        ``"auto"``: QR when ``Phi`` has at most 2e7 entries.

    Returns
    -------
    LSResult
        ``g``, residual, ``residual_variance = ||y_eff - Phi g||^2 / (N_eff - m n)``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> u = rng.standard_normal(200)
    >>> y = fir_regressor(u, 3).matvec(np.array([1.0, 0.5, 0.25]))
    >>> np.allclose(ls_fir(u, y, 3).g, [1.0, 0.5, 0.25])
    True
    """
    from .data import check_data

    u2, y = check_data(u, y, order, delay=delay, initial=initial)
    if method not in ("auto", "qr", "normal"):
        raise ValueError(f"method must be 'auto', 'qr' or 'normal', got {method!r}")
    Phi = FIRRegressor(u2, order, delay=delay, initial=initial)
    xp = Phi.xp
    y_eff = y[Phi.first :]
    p = Phi.shape[1]
    if method == "auto":
        method = "qr" if Phi.shape[0] * p <= _DENSE_LIMIT else "normal"
    if method == "qr":
        g, deficient = _ls_qr(Phi, y_eff)
    else:
        g, deficient = _ls_normal(Phi, y_eff)
    r = y_eff - Phi.matvec(g)
    dof = Phi.shape[0] - p
    return LSResult(
        g=g,
        residual=r,
        residual_variance=float(xp.sum(r * r)) / dof,
        dof=dof,
        rows=Phi.rows,
        method=method,
        rank_deficient=deficient,
    )


def _ls_qr(Phi: FIRRegressor, y_eff):
    xp = Phi.xp
    if not is_numpy(xp):
        return _ls_qr_device(Phi, y_eff)
    A, b = to_numpy(Phi.dense()), to_numpy(y_eff)
    g, _, rank, _ = sla.lstsq(A, b, lapack_driver="gelsy", check_finite=False)
    return asarray(g, Phi.xp, dtype=Phi.xp.float64), bool(rank < A.shape[1])


def _ls_qr_device(Phi: FIRRegressor, y_eff):
    """``_ls_qr`` in a non-NumPy namespace: thin QR of the dense ``Phi`` on the device (the data stay there);
    a numerically rank-deficient ``R`` falls back to the minimum-norm normal-equations solve."""
    xp = Phi.xp
    Q, R = qr(Phi.dense())
    d = xp.abs(diagonal(R))
    if not float(xp.min(d)) > 1e-12 * float(xp.max(d)) * R.shape[0]:
        return _ls_normal(Phi, y_eff)
    return solve_triangular(R, xp.matmul(xp.permute_dims(Q, (1, 0)), y_eff), lower=False), False


def _ls_normal_device(Phi: FIRRegressor, y_eff):
    """``_ls_normal`` in a non-NumPy namespace: Gram, Cholesky (or eigh) and the refinement on the device."""
    xp = Phi.xp
    M = Phi.gram()
    deficient = False
    try:
        C = cholesky(M, lower=True)
        if not bool(xp.all(xp.isfinite(C))):
            raise np.linalg.LinAlgError
    except Exception:  # noqa: BLE001 - each library raises its own LinAlgError
        C, deficient = None, True
    if C is not None:

        def solve(b):
            return solve_triangular(C, solve_triangular(C, b, lower=True), lower=True, trans=True)

    else:
        w, V = eigh(M)
        keep = w > w[-1] * M.shape[0] * float(np.finfo(float).eps)
        inv = xp.where(keep, 1.0 / xp.where(keep, w, 1.0), 0.0)

        def solve(b):
            return V @ ((xp.permute_dims(V, (1, 0)) @ b) * inv)

    g = solve(Phi.rmatvec(y_eff))
    for _ in range(2):
        g = g + solve(Phi.rmatvec(y_eff - Phi.matvec(g)))
    return g, deficient


def _ls_normal(Phi: FIRRegressor, y_eff):
    if not is_numpy(Phi.xp):
        return _ls_normal_device(Phi, y_eff)
    M = to_numpy(Phi.gram())
    try:
        factor = sla.cho_factor(M, lower=True, check_finite=False)
        solve, deficient = (lambda b: sla.cho_solve(factor, b, check_finite=False)), False
        if not np.all(np.isfinite(factor[0])):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(M)
        keep = w > w[-1] * M.shape[0] * np.finfo(float).eps
        solve, deficient = (lambda b: V[:, keep] @ ((V[:, keep].T @ b) / w[keep])), True
    xp = Phi.xp
    g = asarray(solve(to_numpy(Phi.rmatvec(y_eff))), xp, dtype=xp.float64)
    for _ in range(2):
        r = y_eff - Phi.matvec(g)
        g = g + asarray(solve(to_numpy(Phi.rmatvec(r))), xp, dtype=xp.float64)
    return g, deficient
