"""Stochastic Lanczos quadrature (SLQ) for ``tr f(A)`` and ``log det(A + s I)``.

Ubaru, Chen, Saad (2017), "Fast estimation of tr(f(A)) via stochastic Lanczos
quadrature".  For a probe ``z``, ``z^T f(A) z ~ ||z||^2 sum_i tau_i^2 f(theta_i)``
where ``T_j = S diag(theta) S^T`` is the Lanczos tridiagonal of ``A`` started at
``z / ||z||`` and ``tau = S^T e_1`` (``j``-point Gauss quadrature).  Because
Krylov spaces are shift invariant, the Ritz values of ``A + s I`` are
``theta + s`` with the same ``tau``: one Lanczos run per probe serves every
shift.

The Lanczos recurrence here is private, batched over the probes (one block
application of ``A`` per step for all probes, each column an independent
Lanczos run with full reorthogonalisation), which is what makes SLQ cheap on
block-first operators.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._validation import check_array, check_int
from ..backend import array_namespace, eps, to_numpy
from ..info import KrylovInfo
from ._utils import check_output_finite, symmetric_operator
from .trace import TraceEstimate, _test_vectors

__all__ = ["SLQQuadrature", "SLQResult", "slq", "slq_quadrature", "slq_logdet"]


@dataclass(frozen=True)
class SLQQuadrature:
    """Per-probe Gauss quadrature rules of a symmetric ``A`` (host arrays).

    Attributes
    ----------
    nodes : ndarray of shape (num_probes, num_iter)
        Ritz values ``theta`` (padded with a valid node where a probe's Krylov
        space became invariant early).
    weights : ndarray of shape (num_probes, num_iter)
        ``||z||^2 tau_i^2`` (zero on padding); ``sum_i weights f(nodes)``
        estimates ``z^T f(A) z``.
    weights_prev : ndarray of shape (num_probes, num_iter)
        The same for the rule with one Lanczos step fewer (bias indicator).
    nodes_prev : ndarray of shape (num_probes, num_iter)
    num_matvecs : int
    info : KrylovInfo
    """

    nodes: np.ndarray
    weights: np.ndarray
    nodes_prev: np.ndarray
    weights_prev: np.ndarray
    num_matvecs: int
    info: KrylovInfo

    def clipped(self, lower: float = 0.0) -> SLQQuadrature:
        """The same rules with every node raised to ``lower`` at least.

        For an operator whose spectrum is known to lie above ``lower`` (``0``
        for a positive semidefinite ``A``) a Ritz value below it is rounding
        (a few ``eps ||A||``); clipping keeps ``log(theta + s)`` defined for
        every shift ``s > -lower``.

        Examples
        --------
        >>> import numpy as np
        >>> quad = slq_quadrature(np.diag([0.0, 1.0, 2.0]), 2, 3, rng=0).clipped(0.0)
        >>> bool(quad.nodes.min() >= 0.0)
        True
        """
        lower = float(lower)
        return replace(self, nodes=np.maximum(self.nodes, lower), nodes_prev=np.maximum(self.nodes_prev, lower))

    def probe_values(self, f, *, previous=False):
        """``z_p^T f(A) z_p`` estimates, shape ``(num_probes,)``; ``f`` acts on ndarrays."""
        nodes = self.nodes_prev if previous else self.nodes
        w = self.weights_prev if previous else self.weights
        return np.sum(w * np.asarray(f(nodes), dtype=np.float64), axis=1)

    def trace(self, f):
        """``(estimate, std_error, lanczos_change)`` of ``tr f(A)``."""
        v = self.probe_values(f)
        v_prev = self.probe_values(f, previous=True)
        m = v.shape[0]
        se = float(np.std(v, ddof=1) / np.sqrt(m)) if m > 1 else float("nan")
        return float(np.mean(v)), se, float(abs(np.mean(v) - np.mean(v_prev)))

    def logdet(self, shifts):
        """``(logdet, std_error, lanczos_change)`` arrays of shape ``(len(shifts),)``.

        Raises ``ValueError`` when some ``theta_i + s <= 0`` (then ``A + s I``
        is not positive definite).
        """
        shifts = np.atleast_1d(np.asarray(to_numpy(shifts), dtype=np.float64))
        lo = float(np.min(np.where(self.weights > 0, self.nodes, np.inf)))
        bad = shifts[shifts + lo <= 0]
        if bad.size:
            raise ValueError(
                f"shifts: A + s I is not positive definite for s = {bad.tolist()} (smallest Ritz value {lo:.6g})"
            )
        out = np.empty((3, shifts.size))
        for i, s in enumerate(shifts):
            out[:, i] = self.trace(lambda t, s=s: np.log(np.maximum(t + s, np.finfo(float).tiny)))
        return out[0], out[1], out[2]


@dataclass(frozen=True)
class SLQResult:
    """``log det(A + s I)`` for every shift ``s``.

    Attributes
    ----------
    logdet : ndarray of shape (len(shifts),)
    std_error : ndarray of shape (len(shifts),)
        Monte Carlo standard error (sample standard deviation over probes
        divided by ``sqrt(num_probes)``); it does not include the Lanczos
        quadrature bias, see ``lanczos_change``.
    lanczos_change : ndarray of shape (len(shifts),)
        ``|estimate(j) - estimate(j - 1)|``, a bias indicator of the
        ``j``-step quadrature.
    shifts : ndarray of shape (len(shifts),)
    num_matvecs : int
    quadrature : SLQQuadrature
        Reusable for further shifts (``quadrature.logdet(new_shifts)``).
    info : KrylovInfo
    """

    logdet: np.ndarray
    std_error: np.ndarray
    lanczos_change: np.ndarray
    shifts: np.ndarray
    num_matvecs: int
    quadrature: SLQQuadrature
    info: KrylovInfo


def _batched_lanczos(op, Z, num_iter, reorth):
    """Independent Lanczos runs on the columns of ``Z`` (n, p), one block matvec per step.

    Returns host arrays ``alpha`` (j, p), ``beta`` (j, p), ``active`` (j, p):
    ``active[i, c]`` is False once column ``c``'s Krylov space was exhausted.
    """
    xp = array_namespace(Z)
    dtype = Z.dtype
    tiny = 1e3 * eps(xp, dtype)
    Q = Z / xp.linalg.vector_norm(Z, axis=0)[None, :]
    Q_prev = xp.zeros_like(Q)
    b_prev = xp.zeros((Z.shape[1],), dtype=dtype)
    anorm = xp.zeros((Z.shape[1],), dtype=dtype)
    basis, alphas, betas, actives = [], [], [], []
    for _ in range(num_iter):
        basis.append(Q)
        W = op.matmat(Q)
        a = xp.sum(Q * W, axis=0)
        W = W - a[None, :] * Q - b_prev[None, :] * Q_prev
        if reorth == "full":
            V = xp.stack(basis)  # (i, n, p)
            for _ in range(2):  # twice is enough
                W = W - xp.sum(V * xp.sum(V * W[None, ...], axis=1)[:, None, :], axis=0)
        b = xp.linalg.vector_norm(W, axis=0)
        anorm = xp.maximum(anorm, xp.abs(a) + b + b_prev)
        ok = b > tiny * anorm
        actives.append(xp.linalg.vector_norm(Q, axis=0) > 0)
        alphas.append(a)
        betas.append(xp.where(ok, b, xp.zeros_like(b)))
        Q_prev, Q = Q, xp.where(ok[None, :], W / xp.where(ok, b, xp.ones_like(b))[None, :], xp.zeros_like(W))
        b_prev = betas[-1]
    check_output_finite(xp.stack(alphas), "A")
    alpha = to_numpy(xp.stack(alphas)).astype(np.float64)
    beta = to_numpy(xp.stack(betas)).astype(np.float64)
    return alpha, beta, to_numpy(xp.stack(actives)).astype(bool)


def _gauss_rules(alpha, beta, active, norms2, drop):
    """Nodes/weights (p, j) of each probe's Gauss rule, using ``length - drop`` steps."""
    j, p = alpha.shape
    nodes, weights = np.zeros((p, j)), np.zeros((p, j))
    for c in range(p):
        L = max(int(active[:, c].sum()) - drop, 1)
        T = np.diag(alpha[:L, c]) + np.diag(beta[: L - 1, c], 1) + np.diag(beta[: L - 1, c], -1)
        theta, S = np.linalg.eigh(T)
        nodes[c, :] = theta[0]
        nodes[c, :L] = theta
        weights[c, :L] = norms2[c] * S[0, :] ** 2
    return nodes, weights


def slq_quadrature(A, num_probes, num_iter, rng=None, *, distribution="rademacher", reorth="full"):
    """Lanczos quadrature rules of a symmetric ``A`` for ``num_probes`` random probes.

    Parameters
    ----------
    A : array or LinearOperator of shape (n, n)
        Symmetric.
    num_probes : int
        Number of probe vectors ``>= 1`` (``>= 2`` for a standard error).
    num_iter : int
        Lanczos steps per probe (capped at ``n``).
    rng : None, int or numpy.random.Generator
    distribution : {"rademacher", "gaussian", "sphere"}
    reorth : {"full", "none"}
        Full reorthogonalisation (default) or the plain three-term recurrence.

    Returns
    -------
    SLQQuadrature

    Examples
    --------
    >>> import numpy as np
    >>> quad = slq_quadrature(np.diag([1.0, 2.0, 3.0]), 4, 3, rng=0)
    >>> round(quad.trace(np.log)[0], 10) == round(float(np.log(6.0)), 10)
    True
    """
    op = symmetric_operator(A)
    n = op.shape[0]
    p = check_int(num_probes, "num_probes", minimum=1)
    j = min(check_int(num_iter, "num_iter", minimum=1), n)
    if reorth not in ("full", "none"):
        raise ValueError(f"reorth must be 'full' or 'none', got {reorth!r}")
    Z = _test_vectors(distribution, n, p, rng, op.xp, op.dtype)
    norms2 = to_numpy(op.xp.sum(Z * Z, axis=0)).astype(np.float64)
    alpha, beta, active = _batched_lanczos(op, Z, j, reorth)
    nodes, weights = _gauss_rules(alpha, beta, active, norms2, 0)
    nodes_prev, weights_prev = _gauss_rules(alpha, beta, active, norms2, 1)
    invariant = bool(np.all(active.sum(axis=0) < j)) or j == n
    status = "invariant" if invariant else "max_iter"
    msg = f"{p} probes x {j} Lanczos steps ({reorth} reorthogonalisation)" + (
        "; every probe's Krylov space is invariant: quadrature exact" if invariant else ""
    )
    info = KrylovInfo(status, j, p * j, message=msg)
    return SLQQuadrature(nodes, weights, nodes_prev, weights_prev, p * j, info)


def _final_info(quad, change, se):
    """``converged`` when the last Lanczos step moved the estimate by less than its standard error."""
    base = quad.info
    if base.status == "invariant":
        return base
    ok = bool(np.all(np.asarray(change) <= np.nan_to_num(np.asarray(se), nan=0.0)))
    msg = base.message + (
        "; last-step change below the standard error"
        if ok
        else "; last-step change exceeds the standard error: increase num_iter"
    )
    return KrylovInfo(
        "converged" if ok else "max_iter", base.iterations, base.matvecs, residual=float(np.max(change)), message=msg
    )


def slq(A, f, num_probes, num_iter, rng=None, *, distribution="rademacher", reorth="full"):
    """Stochastic Lanczos quadrature estimate of ``tr f(A)`` for a symmetric ``A``.

    Parameters
    ----------
    A : array or LinearOperator of shape (n, n)
        Symmetric; ``f`` must be defined on its spectrum.
    f : callable
        Vectorised function on NumPy arrays (applied to Ritz values on the host).
    num_probes, num_iter, rng, distribution, reorth
        As in :func:`slq_quadrature`.

    Returns
    -------
    TraceEstimate
        ``std_error``: Monte Carlo standard error over probes;
        ``info.residual``: change of the estimate over the last Lanczos step.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag(np.linspace(1.0, 2.0, 30))
    >>> res = slq(A, np.sqrt, 8, 10, rng=0)
    >>> bool(abs(res.estimate - np.sqrt(np.linspace(1.0, 2.0, 30)).sum()) < 0.5)
    True
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    quad = slq_quadrature(A, num_probes, num_iter, rng, distribution=distribution, reorth=reorth)
    est, se, change = quad.trace(f)
    if not np.isfinite(est):
        raise ValueError("f returned non-finite values on the Ritz values of A")
    return TraceEstimate(est, se, quad.num_matvecs, _final_info(quad, [change], [se]))


def slq_logdet(A, shifts, num_probes, num_iter, rng=None, *, distribution="rademacher", reorth="full"):
    """``log det(A + s I)`` for many shifts ``s`` from one Lanczos run per probe.

    Parameters
    ----------
    A : array or LinearOperator of shape (n, n)
        Symmetric, with ``A + s I`` positive definite for every shift.
    shifts : float or array of shape (k,)
    num_probes, num_iter, rng, distribution, reorth
        As in :func:`slq_quadrature`.

    Returns
    -------
    SLQResult

    Notes
    -----
    Each probe's ``T_j = S diag(theta) S^T`` is eigendecomposed once; then
    ``log det(A + s I) ~ (1/p) sum_probes ||z||^2 sum_i tau_i^2 log(theta_i + s)``
    for every ``s`` in ``O(p j)``.  Cost: ``p j`` applications of ``A``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag(np.linspace(1.0, 3.0, 40))
    >>> res = slq_logdet(A, [0.0, 1.0], 10, 15, rng=0)
    >>> exact = [np.log(np.linspace(1.0, 3.0, 40) + s).sum() for s in (0.0, 1.0)]
    >>> bool(np.all(np.abs(res.logdet - exact) < 4 * res.std_error + 1e-8))
    True
    """
    shifts = to_numpy(check_array(shifts, "shifts", ndim=(0, 1))).astype(np.float64).reshape(-1)
    quad = slq_quadrature(A, num_probes, num_iter, rng, distribution=distribution, reorth=reorth)
    logdet, se, change = quad.logdet(shifts)
    return SLQResult(logdet, se, change, shifts, quad.num_matvecs, quad, _final_info(quad, change, se))
