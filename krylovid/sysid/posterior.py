"""Posterior of the FIR coefficients (DESIGN §2, "Estimate").

With ``Kbar = L L^T``, ``G = L^T M L`` and ``z = L^T Phi^T y``, at the shift
``lam = sigma2 / c``:

* mean ``g_hat = Kbar Phi^T (A + lam I)^{-1} y = L (G + lam I)^{-1} z``;
* variance ``diag(c Kbar - c^2 Kbar Phi^T Sigma^{-1} Phi Kbar) = c lam diag(L (G + lam I)^{-1} L^T)``.

:class:`Posterior` holds them; :func:`dual_posterior` computes them from a
Krylov space of the dual operator (exact when the space is invariant).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import array_namespace, asarray, is_numpy
from ..krylov.cg import cg
from ..operators import LinearOperator
from .augmented import AugmentedKrylov
from .gram import DualOperator

__all__ = ["Posterior", "dual_posterior"]


@dataclass(frozen=True)
class Posterior:
    """Posterior of the FIR coefficients at one shift.

    Attributes
    ----------
    mean : array of shape (n_tot,)
        ``Kbar Phi^T (A + lam I)^{-1} y`` (independent of ``c`` at fixed ``lam``).
    variance_over_c : array of shape (n_tot,)
        ``diag(Kbar - Kbar Phi^T (A + lam I)^{-1} Phi Kbar)``; times ``c`` it is
        the posterior variance.
    exact : bool
        False when the variance comes from the Krylov projection.

    Notes
    -----
    ``mean`` and ``variance_over_c`` live in the namespace of the data (on the
    device for CuPy input); :class:`~krylovid.sysid.KernelFIR` copies them to the host.
    """

    mean: np.ndarray
    variance_over_c: np.ndarray
    exact: bool = True


def dual_posterior(problem, params, lam: float, est: AugmentedKrylov | None = None, rtol: float = 1e-12) -> Posterior:
    """Posterior mean ``L (G + lam)^{-1} z`` and variance ``lam diag(L (G + lam)^{-1} L^T)``.

    The mean is solved by CG on ``G + lam I`` preconditioned with the spectral
    information of the Krylov space (exact deflation of the captured
    eigenpairs); the variance uses the projection
    ``(G + lam)^{-1} ~ Q S (Theta + lam)^{-1} S^T Q^T + (I - Q Q^T) / lam``,
    exact when the space is invariant, otherwise an upper bound.

    Parameters
    ----------
    problem : FIRProblem
    params : dict
        Kernel shape parameters.
    lam : float
        Shift ``sigma2 / c``.
    est : AugmentedKrylov, optional
        A space of the (possibly leading-block) dual operator; built here when omitted.
    rtol : float
        CG tolerance of the mean.

    Returns
    -------
    Posterior

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> rng = np.random.default_rng(0)
    >>> p = FIRProblem(rng.standard_normal(80), rng.standard_normal(80), 6)
    >>> post = dual_posterior(p, {"beta": 0.7}, 0.5)
    >>> K, Phi = p.kernel.dense(6, {"beta": 0.7}), p.dense_regressor
    >>> mean = K @ Phi.T @ np.linalg.solve(Phi @ K @ Phi.T + 0.5 * np.eye(80), p.y)
    >>> bool(np.allclose(post.mean, mean))
    True
    """
    p, lam = problem, float(lam)
    if est is None:
        z = p.kernel.sqrt_rmatmat(p.n, params, p.Phty[:, None])[:, 0]
        est = AugmentedKrylov(DualOperator(p, params), z, trace=p.kernel_trace_gram(params), block_size=8, rng=0)
        est.extend_to(min(p.n, 200))
    G, z, k = est.A, est.b, est.D  # the (possibly leading-block) dual operator and vector
    Q, theta, S = est.basis()  # Q on the device, the small theta and S on the host
    xp = array_namespace(Q)
    QS = Q @ asarray(S, xp, dtype=Q.dtype)
    res = cg(
        G, z, x0=est.solve(lam), rtol=rtol, atol=0.0, maxiter=max(200, k), M=_DeflatedInverse(QS, theta, lam), shift=lam
    )
    pad = xp.concat([res.x[:, None], QS], axis=1)
    if k < p.n:
        pad = xp.concat([pad, xp.zeros((p.n - k, pad.shape[1]), dtype=pad.dtype)], axis=0)
    LX = p.kernel.sqrt_matmat(p.n, params, pad)
    mean, LQS = LX[:, 0], LX[:, 1:]
    diagK = asarray(p.kernel.diagonal(p.n, params), xp, dtype=LX.dtype)
    inv = asarray(1.0 / (theta + lam), xp, dtype=LX.dtype)
    LQS2 = LQS**2
    var = lam * xp.sum(LQS2 * inv[None, :], axis=1) + diagK - xp.sum(LQS2, axis=1)
    return Posterior(mean, xp.clip(var, min=0.0), exact=bool(est.invariant and k == p.n))


class _DeflatedInverse(LinearOperator):
    """``V (Theta + lam)^{-1} V^T + (I - V V^T) / lam``: the Krylov-spectral preconditioner."""

    def __init__(self, V, theta, lam):
        xp = array_namespace(V)
        self.V, self.w, self.lam = V, asarray(1.0 / (theta + lam), xp, dtype=V.dtype), float(lam)
        self.Vt = V.T if is_numpy(xp) else xp.permute_dims(V, (1, 0))
        super().__init__((V.shape[0], V.shape[0]), xp=xp, symmetric=True)

    def _matmat(self, X):
        C = self.Vt @ X
        return self.V @ (C * self.w[:, None]) + (X - self.V @ C) / self.lam
