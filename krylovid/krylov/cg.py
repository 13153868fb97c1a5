"""Conjugate gradients for ``(A + shift I) x = b``, single and block right-hand side.

:func:`block_cg` runs one independent (preconditioned) CG recurrence per
column, vectorized: every iteration applies the operator to the whole block
once.  This is the simple and robust variant (no block-coefficient
factorizations that can break down on rank-deficient blocks).  :func:`cg` is its
one-column case.  Stopping rule, per column: ``||r_j|| <= atol + rtol * ||b_j||``
with ``r_j`` the recursively updated residual.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import _as_scalar, check_int
from ..backend import Array, asarray, is_numpy
from ..info import KrylovInfo
from ._common import ConvergenceWarning, host, prepare_block, prepare_operator, prepare_vector, working_dtype

__all__ = ["cg", "block_cg", "CGResult", "BlockCGResult"]


@dataclass(frozen=True)
class CGResult:
    """Output of :func:`cg`.

    Attributes
    ----------
    x : array of shape (n,)
        Approximate solution of ``(A + shift I) x = b``.
    info : KrylovInfo
        ``status`` ``"converged"``, ``"max_iter"`` or ``"breakdown"`` (non-positive
        curvature: ``A + shift I`` or ``M`` is not positive definite);
        ``residual`` is the final ``||r||``; ``history`` the residual norms.
    """

    x: Array
    info: KrylovInfo


@dataclass(frozen=True)
class BlockCGResult:
    """Output of :func:`block_cg`.

    Attributes
    ----------
    X : array of shape (n, k)
        Approximate solutions, one per column of ``B``.
    info : KrylovInfo
        Overall status (``"converged"`` only when every column converged);
        ``residual`` is the largest final column residual; ``history`` the
        largest column residual at each convergence check.
    residuals : ndarray of shape (k,)
        Final residual norm of each column (host).
    converged : ndarray of shape (k,)
        Whether each column met ``||r_j|| <= atol + rtol * ||b_j||`` (host).
    """

    X: Array
    info: KrylovInfo
    residuals: np.ndarray
    converged: np.ndarray


def cg(A, b, *, x0=None, rtol=1e-8, atol=0.0, maxiter=None, M=None, shift=0.0) -> CGResult:
    """Solve ``(A + shift I) x = b`` for symmetric positive definite ``A + shift I``.

    Parameters
    ----------
    A : LinearOperator or array of shape (n, n)
        Symmetric operator; ``A + shift I`` must be positive definite.
    b : array of shape (n,)
        Right-hand side (``b = 0`` gives ``x = 0``).
    x0 : array of shape (n,), optional
        Initial guess (default zero).
    rtol, atol : float
        Stopping rule ``||r|| <= atol + rtol * ||b||`` on the recursively
        updated residual ``r = b - (A + shift I) x``.
    maxiter : int, optional
        Iteration budget (default ``10 n``).
    M : LinearOperator or array of shape (n, n), optional
        Symmetric positive definite preconditioner approximating
        ``(A + shift I)^{-1}`` (applied to residuals).
    shift : float
        Diagonal shift; ``A`` and the shift are kept apart.

    Returns
    -------
    CGResult

    Warns
    -----
    ConvergenceWarning
        When the tolerance is not met within ``maxiter`` (status
        ``"max_iter"``) or the curvature ``p^T (A + shift I) p`` is not
        positive (status ``"breakdown"``).

    Notes
    -----
    Preconditioned CG: ``alpha = r^T z / p^T (A + sI) p``, ``x += alpha p``,
    ``r -= alpha (A + sI) p``, ``z = M r``, ``p = z + (r_new^T z_new / r^T z) p``.
    In exact arithmetic the error in the ``(A + sI)``-norm decreases
    monotonically and the method terminates in at most ``n`` steps.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> res = cg(A, np.array([1.0, 2.0]), shift=1.0)
    >>> np.allclose(res.x, np.linalg.solve(A + np.eye(2), [1.0, 2.0])), res.info.status
    (True, 'converged')
    """
    op = prepare_operator(A)
    xp, n = op.xp, op.shape[0]
    dtype = working_dtype(op, b)
    b = prepare_vector(b, n, xp, allow_zero=True, dtype=dtype)
    if x0 is not None:
        x0 = prepare_vector(x0, n, xp, "x0", allow_zero=True, dtype=dtype)[:, None]
    out = _solve(op, b[:, None], x0, rtol, atol, maxiter, M, shift, dtype)
    X, info = out[0], out[1]
    return CGResult(x=X[:, 0], info=info)


def block_cg(A, B, *, X0=None, rtol=1e-8, atol=0.0, maxiter=None, M=None, shift=0.0) -> BlockCGResult:
    """Solve ``(A + shift I) X = B`` column by column (vectorized independent CG).

    Parameters
    ----------
    A : LinearOperator or array of shape (n, n)
        Symmetric operator; ``A + shift I`` must be positive definite.
    B : array of shape (n, k)
        Right-hand sides (zero columns give zero solutions).
    X0 : array of shape (n, k), optional
        Initial guesses (default zero).
    rtol, atol, maxiter, M, shift
        As in :func:`cg`; the stopping rule ``||r_j|| <= atol + rtol * ||b_j||``
        holds per column, and a converged column is frozen.

    Returns
    -------
    BlockCGResult

    Notes
    -----
    Each column runs its own CG recurrence (own ``alpha_j``, ``beta_j``); the
    block form only batches the operator applications (one ``matmat`` per
    iteration on all ``k`` columns, so ``info.matvecs = k * iterations``).
    Unlike true block CG it never needs to factor ``P^T A P`` and so needs no
    rank handling, at the price of not sharing search directions.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag([1.0, 2.0, 4.0])
    >>> res = block_cg(A, np.eye(3))
    >>> np.allclose(res.X, np.diag([1.0, 0.5, 0.25])), bool(res.converged.all())
    (True, True)
    """
    op = prepare_operator(A)
    xp, n = op.xp, op.shape[0]
    dtype = working_dtype(op, B)
    B = prepare_block(B, n, xp, dtype=dtype)
    if X0 is not None:
        X0 = prepare_block(X0, n, xp, "X0", dtype=dtype)
        if X0.shape != B.shape:
            raise ValueError(f"X0 must have the shape of B {tuple(B.shape)}, got {tuple(X0.shape)}")
    X, info, res, conv = _solve(op, B, X0, rtol, atol, maxiter, M, shift, dtype)
    return BlockCGResult(X=X, info=info, residuals=res, converged=conv)


def _options(op, rtol, atol, maxiter, M, shift):
    rtol, atol = _as_scalar(rtol, "rtol"), _as_scalar(atol, "atol")
    if rtol < 0 or atol < 0:
        raise ValueError(f"rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    n = op.shape[0]
    maxiter = 10 * n if maxiter is None else check_int(maxiter, "maxiter", minimum=1)
    shift = _as_scalar(shift, "shift")
    if M is not None:
        M = prepare_operator(M, "M")
        if M.shape != op.shape:
            raise ValueError(f"M must have shape {op.shape}, got {M.shape}")
        if M.xp is not op.xp:
            raise TypeError("M and A must compute in the same array namespace")
    return rtol, atol, maxiter, M, shift


def _solve(op, B, X0, rtol, atol, maxiter, M, shift, dtype):
    rtol, atol, maxiter, M, shift = _options(op, rtol, atol, maxiter, M, shift)
    xp = op.xp
    apply = (lambda X: op.matmat(X) + shift * X) if shift != 0.0 else op.matmat
    precond = M.matmat if M is not None else (lambda R: R)
    col_norm = lambda Y: xp.sqrt(xp.sum(Y * Y, axis=0))  # noqa: E731
    thresh = atol + rtol * host(col_norm(B))
    X = xp.zeros(B.shape, dtype=dtype) if X0 is None else X0
    X = xp.where(xp.any(B != 0, axis=0)[None, :], X, xp.zeros_like(X))  # b_j = 0 -> x_j = 0
    R = B - apply(X) if X0 is not None else B
    state = _iterate(xp, apply, precond, X, R, thresh, maxiter, 1 if is_numpy(xp) else 10, dtype)
    X, rn, its, broken, history = state
    conv = rn <= thresh
    status = "converged" if conv.all() else ("breakdown" if broken.any() else "max_iter")
    k = int(B.shape[1])
    msg = _message(status, its, rn, thresh, broken)
    if status != "converged":
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    info = KrylovInfo(
        status=status,
        iterations=its,
        matvecs=k * its + (k if X0 is not None else 0),
        residual=float(rn.max()),
        message=msg,
        history=tuple(history),
    )
    return X, info, rn, conv


def _iterate(xp, apply, precond, X, R, thresh, maxiter, check_every, dtype):
    """The vectorized CG loop; convergence is checked on the host every ``check_every`` steps."""
    Z = precond(R)
    P = Z
    rz = xp.sum(R * Z, axis=0)
    thresh_d = asarray(thresh, xp, dtype=dtype)
    active = xp.ones(rz.shape, dtype=xp.bool)
    broken = xp.zeros(rz.shape, dtype=xp.bool)
    history, its = [], 0
    for its in range(maxiter + 1):
        if its % check_every == 0 or its == maxiter:
            rn = xp.sqrt(xp.sum(R * R, axis=0))
            active = (rn > thresh_d) & ~broken
            history.append(float(xp.max(rn)))
            if not bool(xp.any(active)) or its == maxiter:
                break
        AP = apply(P)
        pAp = xp.sum(P * AP, axis=0)
        bad = active & (pAp <= 0) & (rz > 0)
        broken, active = broken | bad, active & ~bad
        ok = active & (pAp > 0)
        alpha = xp.where(ok, rz / xp.where(ok, pAp, 1.0), 0.0)
        X = X + alpha * P
        R = R - alpha * AP
        Z = precond(R)
        rz_new = xp.sum(R * Z, axis=0)
        beta = xp.where(active & (rz > 0), rz_new / xp.where(rz > 0, rz, 1.0), 0.0)
        P = Z + beta * P
        rz = rz_new
    rn = host(xp.sqrt(xp.sum(R * R, axis=0)))
    return X, rn, its, host(broken) > 0, history


def _message(status, its, rn, thresh, broken) -> str:
    if status == "converged":
        return f"converged in {its} iterations (max ||r|| = {rn.max():.3g})"
    if status == "breakdown":
        return (
            f"non-positive curvature in {int(broken.sum())} column(s): A + shift I (or M) "
            f"is not positive definite; stopped after {its} iterations"
        )
    worst = int(np.argmax(rn / np.maximum(thresh, np.finfo(float).tiny)))
    return (
        f"did not converge in {its} iterations: ||r|| = {rn[worst]:.3g} > "
        f"atol + rtol * ||b|| = {thresh[worst]:.3g} (column {worst})"
    )
