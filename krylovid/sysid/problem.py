"""``FIRProblem``: validated data of one identification problem and the
quantities every evaluator of the objective shares.

The model (DESIGN §2) is ``y = Phi g + e``, ``g ~ N(0, c Kbar)``,
``e ~ N(0, sigma2 I)``, so ``Sigma = c (A + lam I)`` with ``A = Phi Kbar Phi^T``
and ``lam = sigma2 / c``.  Everything that does not depend on the
hyperparameters is computed here once: the regressor operator, the
least-squares fit (for the ``"ls"`` noise variance and for the exact split
``y = Phi g_LS + r``), ``Phi^T y`` and, lazily, the Gram matrix
``M = Phi^T Phi`` used by the dual formulation and the thin QR factor of
``[Phi y]`` used by the exact QR and spectral evaluators.
"""

from __future__ import annotations

import math
import warnings
from functools import cached_property

import numpy as np
import scipy.linalg as sla

from .._validation import check_int
from ..backend import (
    array_namespace,
    cholesky,
    diagonal,
    is_numpy,
    numpy_namespace,
    solve_triangular,
    triangular_rcond,
)
from .data import check_data
from .gram import RFactor, tsqr_r
from .kernels import BlockDiagonalKernel, get_kernel
from .kernels.base import ones_gram_diagonal
from .regressors import _real_dtype, fir_regressor, ls_fir

__all__ = ["FIRProblem", "PrecisionWarning", "FLOAT32_MESSAGE"]

#: Above this many coefficients the least-squares fit is solved by CG on the Gram matrix.
LS_CG_MIN_N = 3000
#: Up to this many entries of ``Phi`` the least-squares fit comes from the thin QR of ``[Phi y]``.
LS_DENSE_MAX = 2 * 10**7
#: Largest (1-norm estimate of the) condition number of the Cholesky factor of ``Phi^T Phi`` used as ``R1``.
R_CHOL_MAX_COND = 1e3
#: The warning of ``dtype="float32"`` (figures: ``python benchmarks/gpu_check.py --float32-accuracy``, CPU).
FLOAT32_MESSAGE = (
    "dtype='float32': the data, the FFT products with Phi, the Gram matrix and the R factor are computed in "
    "single precision; measured on the CPU (TC, N = 2e3..1e5) F then differs from float64 by up to 1e-8 "
    "relative for white inputs and 2e-7 for a low-pass input, the impulse response by up to 2e-6 of its "
    "peak, and worse-conditioned inputs lose more; bounds and certificates cover only the float64 arithmetic "
    "that follows. Use float64 (the default) unless speed matters more than these digits"
)


class PrecisionWarning(UserWarning):
    """Single precision was requested: results carry float32 rounding errors."""


class FIRProblem:
    """Data and shared precomputations of a kernel-regularized FIR problem.

    Parameters
    ----------
    u : array of shape (N,) or (N, m)
        Input signal(s).
    y : array of shape (N,)
        Output signal.
    order : int
        FIR order ``n`` per input.
    kernel : str, Kernel or callable
        Prior covariance family; several inputs get a block-diagonal prior.
    delay : int
        Input delay ``d`` (``d = 0``: feedthrough).
    initial : {"zero", "drop"}
        Zero past input, or drop the first outputs (DESIGN §2).
    dtype : {None, "float64", "float32"}
        Working precision of the data and of the products with ``Phi``
        (default float64 on every backend, also for float32 input).  ``"float32"``
        only on request: a :class:`PrecisionWarning` says what it costs.

    Notes
    -----
    The arrays live in the namespace of ``u`` (NumPy, CuPy, ``array_api_strict``,
    ...): ``y``, ``Phty``, ``g_ls``, the Gram matrix and the R factor are computed
    there; only scalars (``ls_residual2``, ``fit2``) and the length-``n``
    :attr:`gram_prefix` are host values.  ``y`` is moved to the namespace of ``u``.

    Attributes
    ----------
    xp : namespace
        Array namespace of the data.
    Phi : LinearOperator of shape (N_eff, n_tot)
        FIR regressor (FFT matvecs).
    y : array of shape (N_eff,)
        Outputs used in the likelihood.
    N, n : int
        ``N_eff`` and ``n_tot = m * order``.
    kernel : Kernel
        Prior covariance family over the ``n_tot`` coefficients.
    ls_residual2 : float
        ``||y - Phi g_LS||^2``.
    fit2 : float
        ``||Phi g_LS||^2``.
    Phty : array of shape (n_tot,)
        ``Phi^T y``.
    """

    #: Defaults for subclasses that build their own data (the multi-experiment problem is NumPy only).
    xp = numpy_namespace()
    dtype = np.float64

    def __init__(self, u, y, order, *, kernel="TC", delay: int = 1, initial: str = "zero", dtype=None):
        order = check_int(order, "order", minimum=1)
        delay = check_int(delay, "delay", minimum=0)
        if initial not in ("zero", "drop"):
            raise ValueError(f"initial must be 'zero' or 'drop', got {initial!r}")
        u2, y_full = check_data(u, y, order, delay=delay, initial=initial)
        self.order, self.delay, self.initial = order, delay, initial
        self.num_inputs = int(u2.shape[1])
        self.xp = xp = array_namespace(u2)
        self.dtype = _real_dtype(xp, dtype)
        if self.dtype != xp.float64:
            warnings.warn(FLOAT32_MESSAGE, PrecisionWarning, stacklevel=2)
            u2, y_full = xp.astype(u2, self.dtype), xp.astype(y_full, self.dtype)
        base = get_kernel(kernel)
        self.kernel = base if self.num_inputs == 1 else BlockDiagonalKernel(base, self.num_inputs)
        self.Phi = fir_regressor(u2, order, delay=delay, initial=initial, dtype=self.dtype)
        first = self.Phi.first
        self.y = np.ascontiguousarray(y_full[first:]) if is_numpy(xp) else y_full[first:]
        self.N, self.n = int(self.Phi.shape[0]), int(self.Phi.shape[1])
        if self.N <= self.n:
            raise ValueError(
                f"too little data: {self.N} usable outputs for {self.n} FIR coefficients "
                f"(order={order}, inputs={self.num_inputs}); need more samples than coefficients"
            )
        self.u = u2
        self.Phty = self.Phi.rmatvec(self.y)
        g = self._ls_cg() if self.n > LS_CG_MIN_N else self._ls_r_factor()
        if g is None:
            g = ls_fir(u2, y_full, order, delay=delay, initial=initial).g
        self.g_ls = xp.reshape(g, (-1,))
        resid = self.y - self.Phi.matvec(self.g_ls)
        self.ls_residual2 = float(resid @ resid)
        fit = self.y - resid
        self.fit2 = float(fit @ fit)

    def _ls_r_factor(self):
        """Least squares ``g = R1^{-1} w`` from the thin QR of ``[Phi y]`` (which the exact evaluators reuse).

        Only where the dense QR is affordable (``N n <= 2e7``, as :func:`ls_fir`'s own QR path) and ``R1``
        is well conditioned; ``None`` otherwise (the caller then uses :func:`ls_fir`, which handles rank
        deficiency).
        """
        if self.N * self.n > LS_DENSE_MAX:
            return None
        rf = self.r_factor
        d = self.xp.abs(diagonal(rf.R1))
        if d.shape[0] == 0 or not float(self.xp.min(d)) > 1e-10 * float(self.xp.max(d)):
            return None
        return solve_triangular(rf.R1, rf.w, lower=False)

    def _ls_cg(self):
        """Least squares by Jacobi-preconditioned CG on ``M g = Phi^T y`` (large ``n``).

        For inputs that excite the system ``M`` is well conditioned and CG
        converges in tens of ``O(n^2)`` products instead of an ``O(n^3)``
        factorization.  Returns ``None`` (caller falls back to a direct
        solve) when it does not reach relative residual 1e-13.
        """
        from ..krylov.cg import cg
        from ..operators import Dense, Diagonal

        M = self.gram
        b = self.Phi.rmatvec(self.y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = cg(Dense(M, symmetric=True), b, rtol=1e-13, maxiter=400, M=Diagonal(1.0 / diagonal(M)))
        x = res.x
        r = M @ x - b
        ok = float(r @ r) <= 1e-24 * float(b @ b)
        return x if ok else None

    @property
    def y_norm2(self) -> float:
        return float(self.y @ self.y)

    @property
    def ls_noise_variance(self) -> float:
        """``||y - Phi g_LS||^2 / (N - n)``: the ``"ls"`` noise variance of DESIGN §2."""
        return self.ls_residual2 / (self.N - self.n)

    @cached_property
    def gram(self):
        """``M = Phi^T Phi`` of shape ``(n_tot, n_tot)`` (autocorrelation + boundary corrections), namespace ``xp``."""
        M = self.Phi.gram()
        return np.asarray(M) if is_numpy(self.xp) else M

    @cached_property
    def dense_regressor(self):
        """Dense ``Phi`` of shape ``(N, n_tot)`` (small problems only), namespace ``xp``."""
        P = self.Phi.dense()
        return np.asarray(P) if is_numpy(self.xp) else P

    def _kernel_column_blocks(self, params):
        """Yield ``(start, stop, Kbar[:, start:stop])`` in blocks of at most ~4e6 entries."""
        n, xp = self.n, self.xp
        step = max(1, min(n, 4_000_000 // max(n, 1)))
        for start in range(0, n, step):
            stop = min(n, start + step)
            if is_numpy(xp):
                E = np.zeros((n, stop - start))
                E[np.arange(start, stop), np.arange(stop - start)] = 1.0
            else:
                E = xp.eye(n, stop - start, k=-start, dtype=xp.float64)
            yield start, stop, self.kernel.matmat(n, params, E)

    def kernel_trace_gram(self, params) -> float:
        """``tr(Kbar M) = tr(Phi Kbar Phi^T)``, exact, from column blocks of ``Kbar``."""
        M, xp = self.gram, self.xp
        return float(sum(float(xp.sum(M[:, a:b] * KE)) for a, b, KE in self._kernel_column_blocks(params)))

    @cached_property
    def gram_prefix(self) -> np.ndarray:
        """``S_k = sum_{i, j <= k} M_ij`` of shape ``(n_tot,)``: ``diag(U^T M U)`` for the ones matrix ``U``.

        With it ``diag(L^T M L) = D * S`` for the TC square root ``L = U D^{1/2}``
        at any ``beta`` in ``O(n)`` (used by the truncated dual formulation).  A host NumPy array
        whatever the namespace (``O(n)``; the tuning loop reads it per shape).
        """
        return ones_gram_diagonal(self.gram)

    def sqrt_gram_diagonal(self, params):
        """``diag(L^T M L)`` of shape ``(n_tot,)`` from the kernel's hook, or ``None`` (no cheap form)."""
        return self.kernel.sqrt_gram_diagonal(self.n, params, self.gram, self.gram_prefix)

    @cached_property
    def r_factor(self) -> RFactor:
        """Thin QR of ``[Phi y]`` (:class:`~krylovid.sysid.gram.RFactor`), computed once.

        From the Cholesky factor of the Gram matrix ``M`` (``O(n^3 / 3)``, no
        ``O(N n^2)`` pass over the data) when LAPACK's condition estimate of
        that factor is at most ``R_CHOL_MAX_COND`` (then ``cond(M) <= 1e6`` and
        every eigenvalue of ``L^T M L`` keeps a relative accuracy near
        ``1e-10``); otherwise by the tall-skinny QR of :meth:`compute_r_factor`,
        which never squares the condition number (low-pass inputs).
        """
        rf = self.gram_r_factor
        return rf if rf is not None else self.compute_r_factor()

    @cached_property
    def gram_r_factor(self) -> RFactor | None:
        """:attr:`r_factor` from the Cholesky factor of ``Phi^T Phi``, or ``None`` when that is too ill
        conditioned (then only the ``O(N n^2)`` tall-skinny QR is accurate)."""
        return self._r_factor_from_gram()

    def _r_factor_from_gram(self) -> RFactor | None:
        xp = self.xp
        if is_numpy(xp):
            try:
                R = sla.cholesky(self.gram, lower=False, check_finite=False)
            except np.linalg.LinAlgError:
                return None
            rcond, info = sla.lapack.dtrcon(R, norm="1")
            if info != 0 or not rcond * R_CHOL_MAX_COND >= 1.0:
                return None
            w = sla.solve_triangular(R, np.asarray(self.Phty, dtype=np.float64), trans="T", check_finite=False)
            resid = self.y - np.asarray(self.Phi.matvec(sla.solve_triangular(R, w, check_finite=False)))
            return RFactor(R, w, float(np.sqrt(resid @ resid)))
        try:
            R = cholesky(self.gram, lower=False)
        except Exception:  # noqa: BLE001 - each library raises its own LinAlgError
            return None
        if not bool(xp.all(xp.isfinite(R))) or not triangular_rcond(R) * R_CHOL_MAX_COND >= 1.0:
            return None
        w = solve_triangular(R, self.Phty, lower=False, trans=True)
        resid = self.y - self.Phi.matvec(solve_triangular(R, w, lower=False))
        return RFactor(R, w, math.sqrt(float(resid @ resid)))

    def compute_r_factor(self, chunk_rows: int | None = None) -> RFactor:
        """Thin QR of ``[Phi y]`` by a tall-skinny QR over row chunks of ``Phi`` (memory ``O(chunk * n)``).

        Parameters
        ----------
        chunk_rows : int, optional
            Rows per chunk (default ``max(4 (n + 1), 2048)``).

        Returns
        -------
        RFactor
            ``R1`` (``n x n``, upper triangular), ``w = Q1^T y`` and ``||y - Phi g_LS||``.
        """
        n, xp = self.n, self.xp

        def rows(start, stop):
            return xp.concat([self.regressor_rows(start, stop), self.y[start:stop, None]], axis=1)

        R = tsqr_r(rows, self.N, n + 1, chunk_rows)
        if is_numpy(xp):
            return RFactor(np.ascontiguousarray(R[:n, :n]), R[:n, n].copy(), abs(float(R[n, n])))
        return RFactor(R[:n, :n], R[:n, n], abs(float(R[n, n])))

    def regressor_rows(self, start: int, stop: int):
        """Dense rows ``start:stop`` of ``Phi`` (for the chunked QR of the Chen–Ljung method), namespace ``xp``."""
        xp = self.xp
        t = np.asarray(self.Phi.rows)[start:stop]
        lags = t[:, None] - self.delay - np.arange(self.order)[None, :]
        if is_numpy(xp):
            blocks = []
            for j in range(self.num_inputs):
                col = self.u[:, j]
                blocks.append(np.where(lags >= 0, col[np.clip(lags, 0, None)], 0.0))
            return np.concatenate(blocks, axis=1)
        # the same gather on the device (indices built there too)
        first = self.Phi.first
        t_d = xp.arange(first + start, first + start + t.shape[0])
        lags_d = t_d[:, None] - self.delay - xp.arange(self.order)[None, :]
        mask = lags_d >= 0
        idx = xp.reshape(xp.where(mask, lags_d, 0), (-1,))
        shape = tuple(lags_d.shape)
        blocks = [xp.where(mask, xp.reshape(xp.take(self.u[:, j], idx), shape), 0.0) for j in range(self.num_inputs)]
        return xp.concat(blocks, axis=1)

    def shape_params(self, hyperparameters: dict) -> dict:
        """The kernel's shape parameters from a hyperparameter dict (``c`` removed), validated."""
        if not isinstance(hyperparameters, dict):
            raise TypeError(f"hyperparameters must be a dict, got {type(hyperparameters).__name__}")
        shape = {k: v for k, v in hyperparameters.items() if k != "c"}
        return self.kernel.check_params(shape)
