"""Full posterior covariance of the FIR coefficients (DESIGN §2, "Estimate").

The diagonal (the confidence band of the impulse response) comes from the
evaluators; linear functionals of ``g`` — the step response, the frequency
response, predictions — need the whole matrix
``C = c Kbar - c^2 Kbar Phi^T Sigma^{-1} Phi Kbar``.  With ``Kbar = L L^T``,
``M = Phi^T Phi`` and ``lam = sigma2 / c`` it equals

``C = sigma2 L (L^T M L + lam I)^{-1} L^T``

(Woodbury), which needs no inverse of ``Kbar`` (the SS kernel is singular to
working precision) and no ``N x N`` matrix: one symmetric eigendecomposition of
the ``n x n`` matrix ``G = L^T M L``.
"""

from __future__ import annotations

import numpy as np

from ..backend import eigh, is_numpy, to_numpy

__all__ = ["posterior_covariance", "MAX_COVARIANCE_N"]

#: Largest number of coefficients for which the model keeps the full covariance (``n^2`` doubles).
MAX_COVARIANCE_N = 4000


def posterior_covariance(problem, params: dict, lam: float, noise_variance: float) -> np.ndarray:
    """Posterior covariance ``sigma2 L (L^T M L + lam I)^{-1} L^T`` of shape ``(n_tot, n_tot)``.

    Parameters
    ----------
    problem : FIRProblem
        Supplies ``gram`` (``M = Phi^T Phi``), ``kernel`` and ``n``.
    params : dict
        Kernel shape parameters.
    lam : float
        ``sigma2 / c`` at the optimum.
    noise_variance : float
        ``sigma2``.

    Returns
    -------
    ndarray of shape (n_tot, n_tot)
        Symmetric positive semidefinite.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid import FIRProblem
    >>> rng = np.random.default_rng(0)
    >>> p = FIRProblem(rng.standard_normal(80), rng.standard_normal(80), 5)
    >>> C = posterior_covariance(p, {"beta": 0.7}, 0.5, 0.2)
    >>> K, Phi = 0.4 * p.kernel.dense(5, {"beta": 0.7}), p.dense_regressor   # c = sigma2 / lam = 0.4
    >>> S = Phi @ K @ Phi.T + 0.2 * np.eye(80)
    >>> bool(np.allclose(C, K - K @ Phi.T @ np.linalg.solve(S, Phi @ K)))
    True
    """
    n = problem.n
    xp = getattr(problem, "xp", None)
    if xp is not None and not is_numpy(xp):  # on the device; only the n x n result comes to the host
        L = problem.kernel.sqrt_matmat(n, params, xp.eye(n, dtype=xp.float64))
        Lt = xp.permute_dims(L, (1, 0))
        theta, V = eigh(Lt @ (problem.gram @ L))
        LV = L @ V
        C = (LV / (xp.clip(theta, min=0.0) + float(lam))[None, :]) @ xp.permute_dims(LV, (1, 0))
        return float(noise_variance) * to_numpy((C + xp.permute_dims(C, (1, 0))) / 2)
    L = np.asarray(problem.kernel.sqrt(n, params), dtype=np.float64)
    G = L.T @ (np.asarray(problem.gram, dtype=np.float64) @ L)
    theta, V = np.linalg.eigh((G + G.T) / 2)
    LV = L @ V
    C = (LV / (np.maximum(theta, 0.0) + float(lam))) @ LV.T
    return float(noise_variance) * (C + C.T) / 2
