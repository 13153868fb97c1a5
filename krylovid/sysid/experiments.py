"""Several experiments, one model: the joint likelihood of independent records.

Each record ``(u_r, y_r)`` has its own regressor ``Phi_r`` (its own initial
conditions: zero past input, or its first outputs dropped) and the same
coefficients ``g``.  Stacking by rows,

``y = [y_1; ...; y_R] = [Phi_1; ...; Phi_R] g + e``,

is again the model of DESIGN §2, so every evaluator applies unchanged:
``M = sum_r Phi_r^T Phi_r``, ``Phi^T y = sum_r Phi_r^T y_r``, and the primal
operator ``A = Phi Kbar Phi^T`` is applied through the per-record FFT products
(the records are never concatenated into one signal, which would invent
dynamics across the seams).

:class:`JointProblem` is a :class:`~krylovid.sysid.FIRProblem` built from a list
of records and a prior over all ``m * order`` coefficients (for example the
per-input prior of :mod:`krylovid.sysid.priors`).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..operators import LinearOperator
from .data import check_data
from .problem import LS_CG_MIN_N, FIRProblem
from .regressors import FIRRegressor

__all__ = ["StackedRegressor", "JointProblem"]

_DENSE_LS_LIMIT = 2 * 10**7


class StackedRegressor(LinearOperator):
    """``Phi = [Phi_1; ...; Phi_R]``: FIR regressors of several records stacked by rows.

    Parameters
    ----------
    blocks : list of FIRRegressor
        Same ``order``, ``delay`` and number of inputs.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid.regressors import fir_regressor
    >>> P = StackedRegressor([fir_regressor(np.array([1.0, 2.0]), 2), fir_regressor(np.array([3.0, 4.0]), 2)])
    >>> P.dense().tolist()
    [[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [3.0, 0.0]]
    """

    def __init__(self, blocks):
        self.blocks = list(blocks)
        widths = {b.shape[1] for b in self.blocks}
        if len(widths) != 1:
            raise ValueError("all records must have the same number of inputs and the same order")
        self.offsets = np.cumsum([0] + [b.shape[0] for b in self.blocks])
        first = self.blocks[0]
        self.order, self.delay, self.num_inputs = first.order, first.delay, first.num_inputs
        super().__init__((int(self.offsets[-1]), widths.pop()), np.float64, None)

    def _matmat(self, X):
        return np.concatenate([np.asarray(b.matmat(X)) for b in self.blocks], axis=0)

    def _rmatmat(self, Y):
        o = self.offsets
        return sum(np.asarray(b.rmatmat(Y[o[i] : o[i + 1]])) for i, b in enumerate(self.blocks))

    def gram(self):
        """``sum_r Phi_r^T Phi_r`` (each by its FFT correlations and boundary recursion)."""
        return sum(np.asarray(b.gram()) for b in self.blocks)

    def dense(self):
        return np.concatenate([np.asarray(b.dense()) for b in self.blocks], axis=0)

    def to_dense(self):
        return self.dense()

    def trace_gram(self) -> float:
        return float(sum(b.trace_gram() for b in self.blocks))


class JointProblem(FIRProblem):
    """A :class:`~krylovid.sysid.FIRProblem` over several records with a prior over all coefficients.

    Parameters
    ----------
    records : list of (u, y)
        ``u`` of shape ``(N_r,)`` or ``(N_r, m)``, ``y`` of shape ``(N_r,)``;
        ``m`` must agree; each record has its own initial conditions.
    order : int
    kernel : Kernel
        Prior family over ``m * order`` coefficients (used as given: for several
        inputs pass a multi-input kernel such as
        :class:`~krylovid.sysid.kernels.BlockDiagonalKernel`).
    delay : int
    initial : {"zero", "drop"}

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid.kernels import get_kernel
    >>> rng = np.random.default_rng(0)
    >>> recs = [(rng.standard_normal(50), rng.standard_normal(50)) for _ in range(2)]
    >>> p = JointProblem(recs, 5, get_kernel("TC"))
    >>> p.N, p.n
    (100, 5)
    """

    def __init__(self, records, order, kernel, *, delay: int = 1, initial: str = "zero"):
        if not records:
            raise ValueError("records: at least one (u, y) record is needed")
        data = [check_data(u, y, order, delay=delay, initial=initial) for u, y in records]
        ms = {u.shape[1] for u, _ in data}
        if len(ms) != 1:
            raise ValueError(f"u: all records must have the same number of inputs, got {sorted(ms)}")
        self.order, self.delay, self.initial = int(order), int(delay), initial
        self.num_inputs = ms.pop()
        self.kernel = kernel
        self.Phi = StackedRegressor([FIRRegressor(u, order, delay=delay, initial=initial) for u, _ in data])
        self.records = data
        self.y = np.concatenate([y[b.rows] for (_, y), b in zip(data, self.Phi.blocks, strict=True)])
        self.u = None
        self.N, self.n = int(self.Phi.shape[0]), int(self.Phi.shape[1])
        if self.N <= self.n:
            raise ValueError(f"too little data: {self.N} usable outputs for {self.n} FIR coefficients")
        self.g_ls = self._least_squares()
        resid = self.y - self.Phi.matvec(self.g_ls)
        self.ls_residual2 = float(resid @ resid)
        self.fit2 = float(np.sum((self.y - resid) ** 2))
        self.Phty = self.Phi.rmatvec(self.y)

    @property
    def y_norm2(self) -> float:
        return float(self.y @ self.y)

    def _least_squares(self) -> np.ndarray:
        g = self._ls_cg() if self.n > LS_CG_MIN_N else None
        if g is not None:
            return np.asarray(g, dtype=np.float64)
        if self.N * self.n <= _DENSE_LS_LIMIT:
            g, *_ = sla.lstsq(self.dense_regressor, self.y, lapack_driver="gelsy", check_finite=False)
            return np.asarray(g, dtype=np.float64)
        w, V = np.linalg.eigh(self.gram)
        keep = w > w[-1] * self.n * np.finfo(float).eps
        return V[:, keep] @ ((V[:, keep].T @ np.asarray(self.Phty)) / w[keep])

    def regressor_rows(self, start: int, stop: int) -> np.ndarray:
        """Dense rows ``start:stop`` of the stacked ``Phi`` (for the chunked QR)."""
        o = self.Phi.offsets
        parts = []
        for i, b in enumerate(self.Phi.blocks):
            a, z = max(start, o[i]), min(stop, o[i + 1])
            if a >= z:
                continue
            u = self.records[i][0]
            t = np.asarray(b.rows)[a - o[i] : z - o[i]]
            lags = t[:, None] - self.delay - np.arange(self.order)[None, :]
            parts.append(
                np.concatenate(
                    [np.where(lags >= 0, u[np.clip(lags, 0, None), j], 0.0) for j in range(self.num_inputs)], axis=1
                )
            )
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, self.n))
