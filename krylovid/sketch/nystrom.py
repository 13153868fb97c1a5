"""Numerically stable randomized Nyström approximation of a PSD operator.

Tropp, Yurtsever, Udell, Cevher (2017), "Fixed-rank approximation of a
positive-semidefinite matrix from streaming data", Alg. 3; Frangella, Tropp,
Udell (2023), "Randomized Nyström preconditioning".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_positive
from ..backend import Array, array_namespace, eps, solve_triangular, to_numpy
from ..info import KrylovInfo
from ._utils import check_output_finite, check_rank, symmetric_operator
from .random import orthogonal_matrix

__all__ = ["NystromResult", "nystrom"]


@dataclass(frozen=True)
class NystromResult:
    """Rank-``k`` Nyström approximation ``A ~ U diag(s) U^T`` of a PSD ``A``.

    Attributes
    ----------
    U : array of shape (n, k)
        Orthonormal columns.
    s : array of shape (k,)
        Non-negative eigenvalue estimates, descending.
    shift : float
        The stabilising shift ``nu`` that was used (and removed).
    info : KrylovInfo
        ``status`` is ``"converged"`` for the Cholesky route and ``"fallback"``
        when the core matrix was not numerically positive definite and a
        clipped eigendecomposition (pseudo-inverse) was used.
    """

    U: Array
    s: Array
    shift: float
    info: KrylovInfo

    def matmat(self, X):
        """Apply the approximation: ``U diag(s) U^T X`` for ``X`` of shape ``(n, m)`` or ``(n,)``."""
        X = self._check_rhs(X, "X")
        return self.U @ (self.s[:, None] * (self.U.T @ X)) if X.ndim == 2 else self.U @ (self.s * (self.U.T @ X))

    def solve(self, B, lam):
        """Apply ``(U diag(s) U^T + lam I)^{-1}`` to ``B``.

        Parameters
        ----------
        B : array of shape (n,) or (n, m)
        lam : float
            Positive regularisation.

        Returns
        -------
        array of the shape of ``B``

        Notes
        -----
        ``(U S U^T + lam I)^{-1} = U (S + lam I)^{-1} U^T + (I - U U^T) / lam``.

        Examples
        --------
        >>> import numpy as np
        >>> A = np.diag([4.0, 2.0, 0.0, 0.0])
        >>> res = nystrom(A, 3, rng=0)
        >>> x = res.solve(np.ones(4), 1.0)
        >>> np.round(x, 6).tolist()
        [0.2, 0.333333, 1.0, 1.0]
        """
        B = self._check_rhs(B, "B")
        lam = check_positive(lam, "lam")
        UtB = self.U.T @ B
        d = 1.0 / (self.s + lam)
        coef = (d[:, None] if B.ndim == 2 else d) - 1.0 / lam
        return B / lam + self.U @ (coef * UtB)

    def precondition(self, B, mu):
        """Apply the Nyström preconditioner ``P^{-1}`` of Frangella et al. for ``A + mu I``.

        ``P^{-1} = (s_k + mu) U (S + mu I)^{-1} U^T + (I - U U^T)``, with
        ``s_k`` the smallest retained eigenvalue estimate.
        """
        B = self._check_rhs(B, "B")
        mu = check_positive(mu, "mu")
        xp = array_namespace(self.U)
        s_min = float(to_numpy(xp.min(self.s)))
        UtB = self.U.T @ B
        d = (s_min + mu) / (self.s + mu) - 1.0
        return B + self.U @ ((d[:, None] if B.ndim == 2 else d) * UtB)

    def _check_rhs(self, B, name):
        xp = array_namespace(self.U)
        B = check_array(B, name, ndim=(1, 2), xp=xp, dtype=self.U.dtype)
        if B.shape[0] != self.U.shape[0]:
            raise ValueError(f"{name} must have {self.U.shape[0]} rows, got shape {tuple(B.shape)}")
        return B


def _core_factor(Y_nu, M, xp, dtype):
    """``B = Y_nu M^{-1/2}`` via Cholesky; ``None`` when ``M`` is not numerically PD."""
    try:
        L = xp.linalg.cholesky(M)
    except (np.linalg.LinAlgError, ValueError):
        return None
    if not bool(xp.all(xp.isfinite(L))):
        return None
    return solve_triangular(L, Y_nu.T, lower=True).T


def _core_factor_pinv(Y_nu, M, xp, dtype):
    """``B = Y_nu V diag(w^{-1/2}) `` on the eigenvalues above ``k eps max(w)`` (clipped pseudo-inverse)."""
    w, V = xp.linalg.eigh(M)
    k = M.shape[0]
    wmax = float(to_numpy(xp.max(w)))
    tol = max(wmax, 0.0) * k * eps(xp, dtype)
    keep = w > tol
    one = xp.asarray(1.0, dtype=dtype)
    scale = xp.where(keep, one / xp.sqrt(xp.where(keep, w, one)), xp.asarray(0.0, dtype=dtype))
    return (Y_nu @ V) * scale[None, :]


def nystrom(A, k, *, rng=None, shift=None):
    """Randomized Nyström approximation of a symmetric positive semidefinite ``A``.

    Parameters
    ----------
    A : array or LinearOperator of shape (n, n)
        Symmetric PSD (only ``A @ X`` is used).
    k : int
        Sketch size = rank of the approximation, ``1 <= k <= n``.
    rng : None, int or numpy.random.Generator
    shift : float, optional
        Stabilising shift ``nu >= 0``; default ``sqrt(n) eps ||A Omega||_2``.

    Returns
    -------
    NystromResult

    Notes
    -----
    With an orthonormal test matrix ``Omega`` (n x k): ``Y = A Omega``,
    ``Y_nu = Y + nu Omega``, ``Omega^T Y_nu = C C^T`` (Cholesky),
    ``B = Y_nu C^{-T} = U S V^T``, and ``A ~ U diag(max(S^2 - nu, 0)) U^T``,
    which is the Nyström approximation
    ``A_nu Omega (Omega^T A_nu Omega)^{-1} Omega^T A_nu - nu I`` restricted to
    ``range(U)``.  If the Cholesky factorisation fails (``A`` not PSD, or a
    zero shift on a rank-deficient ``A``) the inverse square root is taken
    from an eigendecomposition with eigenvalues below ``k eps max(w)``
    clipped.  The result is exact (up to ``O(nu)``) when ``k >= rank(A)``.
    ``k`` operator applications.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.random.default_rng(0).standard_normal((20, 3))
    >>> A = G @ G.T
    >>> res = nystrom(A, 5, rng=1)
    >>> bool(np.allclose(res.matmat(np.eye(20)), A))
    True
    """
    op = symmetric_operator(A)
    n = op.shape[0]
    k = check_rank(k, "k", n, "A.shape[0]")
    xp, dtype = op.xp, op.dtype
    Omega = orthogonal_matrix(n, k, rng=rng, xp=xp, dtype=dtype)
    Y = op.matmat(Omega)
    check_output_finite(Y)
    if shift is None:
        nu = math.sqrt(n) * eps(xp, dtype) * float(to_numpy(xp.linalg.matrix_norm(Y, ord=2)))
    else:
        nu = check_positive(shift, "shift", strict=False)
    Y_nu = Y + nu * Omega
    M = Omega.T @ Y_nu
    M = (M + M.T) / 2
    B = _core_factor(Y_nu, M, xp, dtype)
    status, msg = "converged", f"shifted Nystrom with nu = {nu:.3e} (Cholesky)"
    if B is None:
        B = _core_factor_pinv(Y_nu, M, xp, dtype)
        status = "fallback"
        msg = f"Omega^T (A + nu I) Omega not positive definite (nu = {nu:.3e}): clipped eigendecomposition used"
    U, S, _ = xp.linalg.svd(B, full_matrices=False)
    s = xp.clip(S * S - nu, min=0.0) if hasattr(xp, "clip") else xp.maximum(S * S - nu, 0.0)
    info = KrylovInfo(status, 1, k, residual=float("nan"), message=msg)
    return NystromResult(U=U, s=s, shift=nu, info=info)
