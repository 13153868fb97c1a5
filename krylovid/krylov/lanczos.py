"""The symmetric Lanczos process with optional reorthogonalization.

:func:`lanczos` builds an orthonormal basis ``Q`` of the Krylov space
``K_j(A, b)`` and the tridiagonal projection ``T = Q^T A Q``; its result feeds
Gauss quadrature (:mod:`krylovid.krylov.quadrature`) and stochastic Lanczos
quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_int
from ..backend import Array
from ..info import KrylovInfo
from ._common import machine_eps, prepare_operator, prepare_vector, vector_norm, working_dtype

__all__ = ["lanczos", "LanczosResult"]

_REORTH = ("full", "local", "none")


@dataclass(frozen=True)
class LanczosResult:
    """Output of :func:`lanczos`: ``A Q = Q T + r e_j^T``.

    Attributes
    ----------
    Q : array of shape (n, j)
        Orthonormal Lanczos basis, ``Q[:, 0] = b / ||b||``.
    alpha : ndarray of shape (j,)
        Diagonal of ``T`` (host NumPy array).
    beta : ndarray of shape (j,)
        ``beta[i]`` couples steps ``i`` and ``i + 1``: ``beta[:j-1]`` is the
        off-diagonal of ``T`` and ``beta[j-1] = ||r||`` (host NumPy array).
    residual : array of shape (n,)
        The residual vector ``r = A q_j - alpha_j q_j - beta_{j-1} q_{j-1}``
        (after reorthogonalization); ``r / beta[j-1]`` would be the next basis vector.
    b_norm : float
        ``||b||``.
    info : KrylovInfo
        ``status`` is ``"invariant"`` when the Krylov space became invariant
        (``||r|| <= tol``: the projection is exact), ``"max_iter"`` when the
        requested number of steps was run, ``"breakdown"`` when the operator
        returned non-finite values (the steps before are kept).
    """

    Q: Array
    alpha: np.ndarray
    beta: np.ndarray
    residual: Array
    b_norm: float
    info: KrylovInfo

    @property
    def num_steps(self) -> int:
        """Number of Lanczos steps ``j``."""
        return int(self.alpha.shape[0])

    def tridiagonal(self) -> np.ndarray:
        """The dense ``(j, j)`` symmetric tridiagonal ``T`` (host NumPy array)."""
        j = self.num_steps
        T = np.diag(self.alpha)
        if j > 1:
            off = self.beta[: j - 1]
            T += np.diag(off, 1) + np.diag(off, -1)
        return T


def lanczos(A, b, num_iter, *, reorth: str = "full", tol=None) -> LanczosResult:
    """Run ``num_iter`` steps of the symmetric Lanczos process on ``(A, b)``.

    Parameters
    ----------
    A : LinearOperator or array of shape (n, n)
        Symmetric operator (a stored matrix is checked for symmetry).
    b : array of shape (n,)
        Non-zero starting vector.
    num_iter : int
        Number of steps ``j`` (at most ``n``; larger values are clipped).
    reorth : {"full", "local", "none"}
        ``"full"``: classical Gram-Schmidt against all previous vectors,
        applied twice ("twice is enough"); ``"local"``: a second pass against
        the last two vectors only; ``"none"``: the plain three-term recurrence.
    tol : float, optional
        Relative invariance threshold: the process stops with status
        ``"invariant"`` when ``beta_j <= tol * ||A||_est``.  Default
        ``sqrt(eps)``.  ``||A||_est`` is the running maximum of
        ``|alpha_i| + beta_i + beta_{i-1}`` (a Gershgorin bound of ``||T||``).

    Returns
    -------
    LanczosResult

    Notes
    -----
    With ``q_1 = b / ||b||`` the recurrence is
    ``beta_j q_{j+1} = A q_j - alpha_j q_j - beta_{j-1} q_{j-1}``,
    ``alpha_j = q_j^T A q_j``; after ``j`` steps ``A Q_j = Q_j T_j + r e_j^T``
    with ``T_j`` tridiagonal.  One scalar per step goes to the host (the
    recurrence coefficients are needed there anyway).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag(np.arange(1.0, 6.0))
    >>> res = lanczos(A, np.ones(5), 5)
    >>> res.info.status
    'invariant'
    >>> np.allclose(np.linalg.eigvalsh(res.tridiagonal()), np.arange(1.0, 6.0))
    True
    """
    op = prepare_operator(A)
    xp, n = op.xp, op.shape[0]
    num_iter = check_int(num_iter, "num_iter", minimum=1)
    if reorth not in _REORTH:
        raise ValueError(f"reorth must be one of {_REORTH}, got {reorth!r}")
    dtype = working_dtype(op, b)
    b = prepare_vector(b, n, xp, dtype=dtype)
    rel_tol = _tol(tol, xp, dtype)
    return _run(op, b, min(num_iter, n), reorth, rel_tol, dtype)


def _tol(tol, xp, dtype) -> float:
    if tol is None:
        return float(np.sqrt(machine_eps(xp, dtype)))
    tol = float(tol)
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite non-negative number, got {tol}")
    return tol


def _run(op, b, m, reorth, rel_tol, dtype) -> LanczosResult:
    xp, n = op.xp, op.shape[0]
    b_norm = vector_norm(b, xp)
    Qt = xp.zeros((m, n), dtype=dtype)  # basis stored by rows
    Qt[0, :] = b / b_norm
    alpha, beta = np.zeros(m), np.zeros(m)
    norm_est, status, r = 0.0, "max_iter", None
    j = 0
    for j in range(m):
        q = Qt[j, :]
        w = op.matvec(q)
        if j > 0:
            w = w - float(beta[j - 1]) * Qt[j - 1, :]
        a = float(q @ w)
        w = w - a * q
        w = _reorthogonalize(w, Qt, j, reorth)
        bj = vector_norm(w, xp)
        if not (np.isfinite(a) and np.isfinite(bj)):
            status = "breakdown"
            break
        alpha[j], beta[j], r = a, bj, w
        norm_est = max(norm_est, abs(a) + bj + (beta[j - 1] if j > 0 else 0.0))
        if bj <= rel_tol * norm_est:
            status = "invariant"
            j += 1
            break
        if j + 1 < m:
            Qt[j + 1, :] = w / bj
    else:
        j = m
    if status == "breakdown" and j == 0:
        raise ValueError("A returned non-finite values for the starting vector")
    return _finish(op, Qt, alpha, beta, r, b_norm, j, status, rel_tol)


def _reorthogonalize(w, Qt, j, reorth):
    if reorth == "none":
        return w
    lo = 0 if reorth == "full" else max(0, j - 1)
    Qj = Qt[lo : j + 1, :]
    for _ in range(2 if reorth == "full" else 1):
        w = w - (Qj @ w) @ Qj
    return w


def _finish(op, Qt, alpha, beta, r, b_norm, j, status, rel_tol) -> LanczosResult:
    if status == "breakdown":
        # the failed step is dropped; the residual of step j-1 is recomputed from beta
        r = Qt[j, :] * float(beta[j - 1]) if j < Qt.shape[0] else r
    msg = {
        "invariant": f"Krylov space invariant after {j} steps (beta <= {rel_tol:.3g} * ||A||_est)",
        "max_iter": f"ran the requested {j} steps",
        "breakdown": f"A returned non-finite values at step {j + 1}; kept {j} steps",
    }[status]
    info = KrylovInfo(
        status=status,
        iterations=j,
        matvecs=j if status != "breakdown" else j + 1,
        residual=float(beta[j - 1]),
        message=msg,
        history=tuple(float(x) for x in beta[:j]),
    )
    Q = Qt[:j, :].T
    return LanczosResult(Q=Q, alpha=alpha[:j].copy(), beta=beta[:j].copy(), residual=r, b_norm=b_norm, info=info)
