"""Primal and dual operators of the marginal likelihood and the data's square-root factor (DESIGN §3, "Scale").

With ``Kbar = L L^T`` and ``M = Phi^T Phi``:

* :class:`PrimalOperator` — ``A = Phi Kbar Phi^T`` (``N x N``, FFT matvecs);
* :class:`DualOperator` — ``G = L^T M L`` (``n x n``), or its leading
  ``k x k`` block for kernels whose square root is upper triangular;
* :class:`RDualOperator` — ``H = R1 Kbar R1^T`` (``n x n``), or its
  leading block, the cancellation-free dual of the Krylov evaluator;
* :class:`RDualFactor` — its square root ``B = R1 L`` (``H = B B^T``), whose
  products carry a structured rounding error (the square-root rounding model
  of :mod:`krylovid.sysid.augmented`);
* :class:`RFactor` — the thin QR of ``[Phi y]``: ``R1`` (``n x n``),
  ``w = Q1^T y`` and the least-squares residual norm, so that
  ``G = (R1 L)^T (R1 L)`` and ``z = L^T Phi^T y = (R1 L)^T w`` without
  forming ``M`` (no squared condition number);
* :func:`tsqr_r` — that factor accumulated over row chunks;
* :func:`choose_formulation` and :func:`truncation_index` — which form to run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..backend import array_namespace, is_numpy
from ..operators import LinearOperator
from .kernels.base import tail_index as truncation_index

__all__ = [
    "PrimalOperator",
    "DualOperator",
    "RDualOperator",
    "RDualFactor",
    "RFactor",
    "tsqr_r",
    "truncation_index",
    "choose_formulation",
]


class PrimalOperator(LinearOperator):
    """``A = Phi Kbar Phi^T`` (``N x N``) applied with FFT convolutions and the kernel's matmat.

    Parameters
    ----------
    problem : FIRProblem
    params : dict
        Kernel shape parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> rng = np.random.default_rng(0)
    >>> p = FIRProblem(rng.standard_normal(60), rng.standard_normal(60), 5)
    >>> A = PrimalOperator(p, {"beta": 0.7})
    >>> Phi = p.dense_regressor
    >>> ref = Phi @ p.kernel.dense(5, {"beta": 0.7}) @ Phi.T
    >>> bool(np.allclose(A.matmat(np.eye(60)), ref))
    True
    """

    def __init__(self, problem, params):
        self.problem, self.params = problem, params
        super().__init__((problem.N, problem.N), xp=problem.xp, symmetric=True)

    def _matmat(self, X):
        p = self.problem
        return p.Phi.matmat(p.kernel.matmat(p.n, self.params, p.Phi.rmatmat(X)))


class DualOperator(LinearOperator):
    """``G = L^T M L`` (``n x n``), or its leading ``k x k`` block, with ``Kbar = L L^T`` and ``M = Phi^T Phi``.

    The leading block is used for kernels whose square root is upper
    triangular (TC, DI): then ``G[:k, :k] = L_k^T M[:k, :k] L_k`` only needs
    ``M``'s leading block, and the trailing coordinates, whose prior variance
    decays geometrically, are accounted for by the certificate of the Krylov
    evaluator.

    Parameters
    ----------
    problem : FIRProblem
    params : dict
    k : int, optional
        Size of the leading block (default ``n``).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> rng = np.random.default_rng(0)
    >>> p = FIRProblem(rng.standard_normal(60), rng.standard_normal(60), 5)
    >>> L = p.kernel.sqrt(5, {"beta": 0.7})
    >>> G = DualOperator(p, {"beta": 0.7}).matmat(np.eye(5))
    >>> bool(np.allclose(G, L.T @ p.gram @ L))
    True
    """

    def __init__(self, problem, params, k: int | None = None):
        self.problem, self.params = problem, params
        n = problem.n
        self.k = n if k is None else int(k)
        xp = problem.xp
        M = problem.gram
        self.M = (
            M
            if self.k == n
            else (M[: self.k, : self.k] if not is_numpy(xp) else np.ascontiguousarray(M[: self.k, : self.k]))
        )
        super().__init__((self.k, self.k), xp=xp, symmetric=True)

    def _pad(self, X):
        if self.k == self.problem.n:
            return X
        if is_numpy(self.xp):
            out = np.zeros((self.problem.n, X.shape[1]))
            out[: self.k] = X
            return out
        xp = self.xp
        return xp.concat([X, xp.zeros((self.problem.n - self.k, X.shape[1]), dtype=X.dtype)], axis=0)

    def _matmat(self, X):
        ker, n, p, k = self.problem.kernel, self.problem.n, self.params, self.k
        LX = ker.sqrt_matmat(n, p, self._pad(X))[:k, :]
        return ker.sqrt_rmatmat(n, p, self._pad(self.M @ LX))[:k, :]


class RDualOperator(LinearOperator):
    """``H = R1 Kbar R1^T`` (``n x n``) with ``R1^T R1 = Phi^T Phi``, or its leading ``k x k`` block.

    With the thin QR ``Phi = Q1 R1`` and ``w = Q1^T y``,
    ``A = Phi Kbar Phi^T = Q1 H Q1^T``, so
    ``y^T (A + lam I)^{-1} y = w^T (H + lam I)^{-1} w + ||y - Q1 w||^2 / lam`` and
    ``log det(A + lam I_N) = log det(H + lam I_n) + (N - n) log lam``: both
    terms are sums of positive parts (no cancellation at small ``lam``) and
    the small eigenvalues of ``Phi^T Phi`` that low-pass inputs create are
    never squared.

    With ``k < n`` (kernels whose square root ``L`` is upper triangular, such
    as TC and DI) the operator is ``H_k = R1_k L_k L_k^T R1_k^T`` with the
    leading blocks ``R1_k = R1[:k, :k]``, ``L_k = L[:k, :k]``: the part of
    ``Phi Kbar Phi^T`` carried by ``L``'s first ``k`` columns, which live on the
    first ``k`` coordinates because both factors are triangular.

    Parameters
    ----------
    R1 : ndarray of shape (n, n)
        Upper triangular factor of ``Phi``.
    kernel : Kernel
    params : dict
    k : int, optional
        Size of the leading block (default ``n``: the whole ``H``, kernel matvecs only).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> rng = np.random.default_rng(0)
    >>> p = FIRProblem(rng.standard_normal(60), rng.standard_normal(60), 5)
    >>> R1 = p.r_factor.R1
    >>> H = RDualOperator(R1, p.kernel, {"beta": 0.7}).matmat(np.eye(5))
    >>> bool(np.allclose(H, R1 @ p.kernel.dense(5, {"beta": 0.7}) @ R1.T))
    True
    """

    def __init__(self, R1, kernel, params, k: int | None = None):
        n = R1.shape[0]
        self.n, self.kernel, self.params = n, kernel, params
        self.k = n if k is None else int(k)
        xp = array_namespace(R1)
        if self.k == n:
            self.R1 = R1
        else:
            self.R1 = np.ascontiguousarray(R1[: self.k, : self.k]) if is_numpy(xp) else R1[: self.k, : self.k]
        self.R1t = self.R1.T if is_numpy(xp) else xp.permute_dims(self.R1, (1, 0))
        super().__init__((self.k, self.k), xp=xp, symmetric=True)

    def _matmat(self, X):
        ker, n, k, p = self.kernel, self.n, self.k, self.params
        V = self.R1t @ X
        if k == n:
            return self.R1 @ ker.matmat(n, p, V)
        if is_numpy(self.xp):  # the NumPy path as before (in place, no concatenation)
            pad = np.zeros((n, X.shape[1]))
            pad[:k] = V
            pad[:k] = ker.sqrt_rmatmat(n, p, pad)[:k]
            pad[k:] = 0.0
            return self.R1 @ ker.sqrt_matmat(n, p, pad)[:k]
        xp = self.xp
        zeros = xp.zeros((n - k, X.shape[1]), dtype=X.dtype)
        top = ker.sqrt_rmatmat(n, p, xp.concat([V, zeros], axis=0))[:k, :]
        return self.R1 @ ker.sqrt_matmat(n, p, xp.concat([top, zeros], axis=0))[:k, :]


class RDualFactor(LinearOperator):
    """``B = R1_k L_k`` (``k x k``), the square root of :class:`RDualOperator` (``H_k = B B^T``).

    ``matmat`` is ``B @ Y`` and ``rmatmat`` is ``B^T @ X``, each one
    triangular product with ``R1`` and one product with the kernel's square root
    ``L = kernel.sqrt(n, params)`` (the structured ``O(n)`` recursions for
    TC/DC/DI/HF; for the other kernels ``B`` is formed once densely, ``O(n^3)``).
    With ``k < n`` (triangular ``L`` only) it is the leading block, as in
    :class:`RDualOperator`.  The prior whose objective this factor certifies is
    ``L L^T`` (what the exact QR and spectral evaluators use as well); for
    TC/DC it equals ``Kbar`` up to the rounding of its closed-form entries.

    Parameters
    ----------
    R1 : ndarray of shape (n, n)
        Upper triangular factor of ``Phi``.
    kernel : Kernel
    params : dict
    k : int, optional
        Size of the leading block (default ``n``).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> rng = np.random.default_rng(0)
    >>> p = FIRProblem(rng.standard_normal(60), rng.standard_normal(60), 5)
    >>> B = RDualFactor(p.r_factor.R1, p.kernel, {"beta": 0.7})
    >>> Bd = B.matmat(np.eye(5))
    >>> H = RDualOperator(p.r_factor.R1, p.kernel, {"beta": 0.7}).matmat(np.eye(5))
    >>> bool(np.allclose(Bd @ Bd.T, H)) and bool(np.allclose(B.rmatmat(np.eye(5)), Bd.T))
    True
    """

    def __init__(self, R1, kernel, params, k: int | None = None):
        n = R1.shape[0]
        self.n, self.kernel, self.params = n, kernel, params
        self.k = n if k is None else int(k)
        if self.k < n and not kernel.sqrt_triangular:
            raise ValueError("k < n needs a kernel with an upper triangular square root")
        xp = array_namespace(R1)
        self.R1 = R1 if self.k == n else R1[: self.k, : self.k]
        self.R1t = xp.permute_dims(self.R1, (1, 0))
        self.dense = None
        if not kernel.fast_sqrt:  # dense square root (clipped eigendecomposition): form B once
            self.dense = self.R1 @ kernel.sqrt(n, params, xp=xp)[: self.k, : self.k]
        super().__init__((self.k, self.k), xp=xp)

    def _pad(self, X):
        if self.k == self.n:
            return X
        zeros = self.xp.zeros((self.n - self.k, X.shape[1]), dtype=X.dtype)
        return self.xp.concat([X, zeros], axis=0)

    def _matmat(self, Y):
        if self.dense is not None:
            return self.dense @ Y
        return self.R1 @ self.kernel.sqrt_matmat(self.n, self.params, self._pad(Y))[: self.k, :]

    def _rmatmat(self, X):
        if self.dense is not None:
            return self.xp.permute_dims(self.dense, (1, 0)) @ X
        return self.kernel.sqrt_rmatmat(self.n, self.params, self._pad(self.R1t @ X))[: self.k, :]


@dataclass(frozen=True)
class RFactor:
    """Thin QR of ``[Phi y]``: ``[[R1, w], [0, r]]``.

    Attributes
    ----------
    R1 : ndarray of shape (n, n)
        Upper triangular, ``R1^T R1 = Phi^T Phi``.
    w : ndarray of shape (n,)
        ``Q1^T y``: ``Phi g_LS = Q1 w`` and ``||Phi g_LS|| = ||w||``.
    residual_norm : float
        ``||y - Phi g_LS||`` (``|r|``).
    """

    R1: np.ndarray
    w: np.ndarray
    residual_norm: float


def tsqr_r(rows, num_rows: int, num_cols: int, chunk_rows: int | None = None) -> np.ndarray:
    """Triangular factor of a tall matrix given by row blocks (tall-skinny QR).

    Parameters
    ----------
    rows : callable
        ``rows(start, stop)`` returns the dense rows ``start:stop`` (shape ``(stop - start, num_cols)``).
    num_rows, num_cols : int
    chunk_rows : int, optional
        Rows per block (default ``max(4 num_cols, 2048)``); memory is ``O(chunk_rows * num_cols)``.

    Returns
    -------
    R : ndarray of shape (num_cols, num_cols)
        Upper triangular with ``R^T R = X^T X`` (zero rows padded when ``num_rows < num_cols``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((100, 4))
    >>> R = tsqr_r(lambda a, b: X[a:b], 100, 4, chunk_rows=16)
    >>> bool(np.allclose(R.T @ R, X.T @ X))
    True
    """
    chunk = int(chunk_rows or max(4 * num_cols, 2048))
    R, xp = None, None
    for start in range(0, num_rows, chunk):
        block = rows(start, min(num_rows, start + chunk))
        if xp is None:
            xp = array_namespace(block)
        if is_numpy(xp):
            R = np.linalg.qr(block if R is None else np.concatenate([R, block], axis=0), mode="r")
        else:  # the array API has only the reduced mode: its R is the same factor
            R = xp.linalg.qr(block if R is None else xp.concat([R, block], axis=0), mode="reduced")[1]
    if R.shape[0] < num_cols:
        R = xp.concat([R, xp.zeros((num_cols - R.shape[0], num_cols), dtype=R.dtype)], axis=0)
    return R


def choose_formulation(problem, dual_max_n: int = 12000) -> str:
    """``"dual"`` when ``M`` fits (``n <= dual_max_n``) and ``2 n^2 <= 10 m (N + n) log2(N + n)``."""
    n, N, m = problem.n, problem.N, problem.num_inputs
    primal_cost = 10.0 * m * (N + n) * math.log2(N + n)
    return "dual" if n <= dual_max_n and 2.0 * n * n <= max(primal_cost, 4.0 * N * n / max(m, 1)) else "primal"
