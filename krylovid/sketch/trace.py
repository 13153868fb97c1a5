"""Stochastic trace estimators: Hutchinson, Hutch++ and XTrace.

Every estimator returns a :class:`TraceEstimate` whose ``std_error`` is an
estimate of the standard deviation of ``estimate`` computed from the same
samples (a sample standard deviation over exchangeable / i.i.d. terms), so
``|estimate - tr A|`` is within a few ``std_error`` with high probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_int
from ..backend import array_namespace, default_rng, eps, to_numpy
from ..info import KrylovInfo
from ._utils import as_operator, check_output_finite, orthonormalize, symmetric_operator
from .random import gaussian_matrix, rademacher_matrix

__all__ = ["TraceEstimate", "hutchinson", "hutchpp", "xtrace", "xnystrace", "TRACE_DISTRIBUTIONS"]

#: Test-vector distributions accepted by the estimators.
TRACE_DISTRIBUTIONS = ("rademacher", "gaussian", "sphere")


@dataclass(frozen=True)
class TraceEstimate:
    """Estimate of ``tr(A)`` (or of ``tr f(A)``).

    Attributes
    ----------
    estimate : float
    std_error : float
        Estimated standard deviation of ``estimate`` (``nan`` when it cannot
        be formed, e.g. from one sample; ``0`` when the result is exact).
    num_matvecs : int
        Number of vectors ``A`` was applied to.
    info : KrylovInfo
    """

    estimate: float
    std_error: float
    num_matvecs: int
    info: KrylovInfo


def _test_vectors(distribution, n, m, rng, xp, dtype):
    """``n x m`` test vectors with ``E[z z^T] = I``."""
    if distribution == "rademacher":
        return rademacher_matrix(n, m, rng=rng, xp=xp, dtype=dtype)
    if distribution == "gaussian":
        return gaussian_matrix(n, m, rng=rng, xp=xp, dtype=dtype)
    if distribution == "sphere":
        G = gaussian_matrix(n, m, rng=rng, xp=xp, dtype=dtype)
        return G * (math.sqrt(n) / xp.linalg.vector_norm(G, axis=0))[None, :]
    raise ValueError(f"distribution must be one of {TRACE_DISTRIBUTIONS}, got {distribution!r}")


def _mean_se(values: np.ndarray):
    m = values.shape[0]
    se = float(np.std(values, ddof=1) / math.sqrt(m)) if m > 1 else float("nan")
    return float(np.mean(values)), se


def _colsum(X, Y):
    """Column-wise inner products ``sum_i X_ij Y_ij``."""
    xp = array_namespace(X, Y)
    return xp.sum(X * Y, axis=0)


def hutchinson(A, num_samples, rng=None, distribution="rademacher"):
    """Girard–Hutchinson estimator ``tr A ~ (1/m) sum_i z_i^T A z_i``.

    Parameters
    ----------
    A : array or LinearOperator of shape (n, n)
    num_samples : int
        Number ``m >= 1`` of test vectors (= matvecs).
    rng : None, int or numpy.random.Generator
    distribution : {"rademacher", "gaussian", "sphere"}
        Test vectors: random signs, standard Gaussian, or uniform on the sphere
        of radius ``sqrt(n)``.

    Returns
    -------
    TraceEstimate
        ``std_error = std(z_i^T A z_i) / sqrt(m)`` (sample standard deviation).

    Notes
    -----
    Unbiased because ``E[z z^T] = I``.  For Rademacher vectors the variance
    is ``2 (||A||_F^2 - sum_i A_ii^2) / m`` (symmetric ``A``).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag(np.arange(1.0, 11.0))
    >>> hutchinson(A, 4, rng=0).estimate   # exact for diagonal A with signs
    55.0
    """
    op = as_operator(A, square=True)
    m = check_int(num_samples, "num_samples", minimum=1)
    n = op.shape[0]
    Z = _test_vectors(distribution, n, m, rng, op.xp, op.dtype)
    AZ = op.matmat(Z)
    check_output_finite(AZ)
    vals = to_numpy(_colsum(Z, AZ)).astype(np.float64)
    est, se = _mean_se(vals)
    info = KrylovInfo("converged", m, m, residual=se, message=f"Hutchinson, {m} {distribution} samples")
    return TraceEstimate(est, se, m, info)


def hutchpp(A, num_matvecs, rng=None, distribution="rademacher"):
    """Hutch++ (Meyer, Musco, Musco, Woodruff 2021): low-rank deflation + Hutchinson.

    Parameters
    ----------
    A : array or LinearOperator of shape (n, n)
    num_matvecs : int
        Total budget ``m >= 3``: ``m // 3`` vectors sketch the range, ``m // 3``
        apply ``A`` to its basis and the remaining ``m - 2 (m // 3)`` feed
        Hutchinson on the deflated matrix.
    rng : None, int or numpy.random.Generator
    distribution : {"rademacher", "gaussian", "sphere"}

    Returns
    -------
    TraceEstimate
        ``std_error`` is the Hutchinson standard error of the deflated part
        (conditional on the sketch; the deflated part is the only random term
        given ``Q``).

    Notes
    -----
    ``Q = orth(A S)``, ``tr A = tr(Q^T A Q) + tr((I - Q Q^T) A (I - Q Q^T))``;
    the second term is estimated with test vectors projected by
    ``I - Q Q^T``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag(0.5 ** np.arange(50))
    >>> res = hutchpp(A, 60, rng=0)
    >>> bool(abs(res.estimate - 2.0) < 1e-4)
    True
    """
    op = as_operator(A, square=True)
    m = check_int(num_matvecs, "num_matvecs", minimum=3)
    n, xp = op.shape[0], op.xp
    ns = min(m // 3, n)
    ng = m - 2 * ns
    gen = default_rng(rng)
    S = _test_vectors(distribution, n, ns, gen, xp, op.dtype)
    AS = op.matmat(S)
    check_output_finite(AS)
    Q = orthonormalize(AS)
    t_low = float(to_numpy(xp.sum(Q * op.matmat(Q))))
    G = _test_vectors(distribution, n, ng, gen, xp, op.dtype)
    G = G - Q @ (Q.T @ G)
    vals = to_numpy(_colsum(G, op.matmat(G))).astype(np.float64)
    t_res, se = _mean_se(vals)
    est = t_low + t_res
    info = KrylovInfo(
        "converged", ng, 2 * ns + ng, residual=se, message=f"Hutch++: rank-{ns} deflation + {ng} Hutchinson samples"
    )
    return TraceEstimate(est, se, 2 * ns + ng, info)


def _xtrace_normalize(Om, Y, R, W, S, n, m):
    """Rescale the columns as in the 'improved' (sphere) XTrace variant."""
    xp = array_namespace(Om)
    dSW = _colsum(S, W)
    denom = n - _colsum(W, W) + dSW * dSW  # ||s_i|| = 1
    scale = math.sqrt(n - m + 1) / xp.sqrt(denom)
    return Om * scale[None, :], Y * scale[None, :], R * scale[None, :], W * scale[None, :]


def _xtrace_samples(op, Om, Y, Q, R, normalize):
    """The ``m`` exchangeable XTrace estimates (Epperly, Tropp, Webber 2024, Alg. 1)."""
    xp = array_namespace(Q)
    n, m = Om.shape
    W = Q.T @ Om
    Rinv_T = xp.linalg.inv(R).T  # small (m x m): stays on the device
    S = Rinv_T / xp.linalg.vector_norm(Rinv_T, axis=0)[None, :]
    if normalize:
        Om, Y, R, W = _xtrace_normalize(Om, Y, R, W, S, n, m)
    Z = op.matmat(Q)
    H = Q.T @ Z
    HW, T = H @ W, Z.T @ Om
    dSW, dSHS = _colsum(S, W), _colsum(S, H @ S)
    ests = (
        xp.linalg.trace(H)
        - dSHS
        + _colsum(Om, Y)
        - _colsum(W, R)
        - _colsum(T, W)
        + _colsum(W, HW)
        + dSW * _colsum(S, R - HW)
        + dSW * dSW * dSHS
        + _colsum(T - H.T @ W, S) * dSW
    )
    return to_numpy(ests).astype(np.float64), Z


def xtrace(A, num_matvecs, rng=None, distribution="sphere"):
    """XTrace: the exchangeable trace estimator of Epperly, Tropp and Webber (2024).

    Parameters
    ----------
    A : array or LinearOperator of shape (n, n)
    num_matvecs : int
        Budget ``>= 4``; ``m = num_matvecs // 2`` test vectors (``m <= n``),
        ``2 m`` applications of ``A``.
    rng : None, int or numpy.random.Generator
    distribution : {"sphere", "gaussian", "rademacher"}
        ``"sphere"`` is the paper's improved variant (test vectors uniform on
        the sphere of radius ``sqrt(n)`` with the leave-one-out rescaling).

    Returns
    -------
    TraceEstimate
        ``estimate`` is the mean of ``m`` exchangeable leave-one-out
        estimates ``t_i`` (Hutch++ with the range sketched from all test
        vectors but ``omega_i``, Hutchinson on ``omega_i``); ``std_error =
        std(t_i) / sqrt(m)``, the paper's error estimate.

    Notes
    -----
    With ``Y = A Omega = Q R``, the basis without column ``i`` is
    ``Q (I - s_i s_i^T)``, ``s_i`` the normalised ``i``-th column of
    ``R^{-T}``; every ``t_i`` is then a closed form in ``Q^T A Q``,
    ``Q^T Omega`` and ``(A Q)^T Omega``.  If ``Y`` is numerically rank
    deficient the sketch already spans the range of ``A``: the result is
    ``tr(Q^T A Q)`` with status ``"invariant"`` and ``std_error = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag(0.5 ** np.arange(60))
    >>> res = xtrace(A, 40, rng=0)
    >>> bool(abs(res.estimate - 2.0) < 1e-3)
    True
    """
    op = as_operator(A, square=True)
    n, xp = op.shape[0], op.xp
    budget = check_int(num_matvecs, "num_matvecs", minimum=4)
    m = min(budget // 2, n)
    if distribution not in TRACE_DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {TRACE_DISTRIBUTIONS}, got {distribution!r}")
    Om = _test_vectors(distribution, n, m, rng, xp, op.dtype)
    Y = op.matmat(Om)
    check_output_finite(Y)
    Q, R = xp.linalg.qr(Y, mode="reduced")
    d = to_numpy(xp.abs(xp.linalg.diagonal(R)))
    if d.min() <= m * eps(xp, op.dtype) * max(d.max(), np.finfo(np.float64).tiny) or m == n:
        est = float(to_numpy(xp.sum(Q * op.matmat(Q))))
        info = KrylovInfo(
            "invariant", m, 2 * m, residual=0.0, message="the sketch spans the range of A: tr(Q^T A Q) is exact"
        )
        return TraceEstimate(est, 0.0, 2 * m, info)
    vals, _ = _xtrace_samples(op, Om, Y, Q, R, distribution == "sphere")
    est, se = _mean_se(vals)
    info = KrylovInfo("converged", m, 2 * m, residual=se, message=f"XTrace with {m} {distribution} test vectors")
    return TraceEstimate(est, se, 2 * m, info)


def _loo_scale(Om):
    """Leave-one-out normalisation ``(n - m + 1) / (n - ||w_i||^2 + (s_i^T w_i)^2)`` for sphere vectors."""
    xp = array_namespace(Om)
    n, m = Om.shape
    Qo, Ro = xp.linalg.qr(Om, mode="reduced")
    Wo = Qo.T @ Om
    So = xp.linalg.inv(Ro).T
    So = So / xp.linalg.vector_norm(So, axis=0)[None, :]
    d = _colsum(So, Wo)
    return (n - m + 1) / (n - _colsum(Wo, Wo) + d * d)


def _xnystrace_samples(Y, Om, nu, normalize):
    """The ``m`` exchangeable XNysTrace estimates, or ``None`` if the core is not PD."""
    xp = array_namespace(Y)
    n, m = Om.shape
    Q, R = xp.linalg.qr(Y, mode="reduced")
    H = Om.T @ Y
    try:
        L = xp.linalg.cholesky((H + H.T) / 2)  # H = L L^T
    except (np.linalg.LinAlgError, ValueError):
        return None
    if not bool(xp.all(xp.isfinite(L))):
        return None
    Linv = xp.linalg.inv(L)  # small (m x m)
    B = R @ Linv.T  # R L^{-T}: Nystrom = Q B B^T Q^T
    RHinv = B @ Linv  # R H^{-1}
    S = RHinv / xp.linalg.vector_norm(Linv, axis=0)[None, :]  # divide by sqrt(diag H^{-1})
    dSW = _colsum(S, Q.T @ Om)
    scale = _loo_scale(Om) if normalize else 1.0
    ests = xp.sum(B * B) - _colsum(S, S) + dSW * dSW * scale - nu * n
    return to_numpy(ests).astype(np.float64)


def xnystrace(A, num_matvecs, rng=None, distribution="sphere"):
    """XNysTrace: exchangeable Nyström trace estimator for symmetric PSD ``A``.

    Epperly, Tropp and Webber (2024).  Each of the ``m`` estimates is the
    trace of the Nyström approximation built from all test vectors but
    ``omega_i`` plus a Hutchinson correction on ``omega_i``; all ``m`` share
    one sketch ``Y = A Omega``, so only ``m`` applications of ``A`` are needed.

    Parameters
    ----------
    A : array or LinearOperator of shape (n, n)
        Symmetric positive semidefinite.
    num_matvecs : int
        ``m >= 2`` test vectors (``m <= n``) = applications of ``A``.
    rng : None, int or numpy.random.Generator
    distribution : {"sphere", "gaussian", "rademacher"}

    Returns
    -------
    TraceEstimate
        ``std_error = std(t_i) / sqrt(m)``.  The ``t_i`` are correlated, and
        for rapidly decaying spectra this error estimate is optimistic (by a
        factor 2-3 in our tests, while the error itself is far below that of
        :func:`xtrace`); use :func:`xtrace` when a calibrated error bar
        matters more than accuracy.  When ``Omega^T A Omega`` is not
        numerically positive definite (``A`` of rank below ``m`` or not PSD)
        the plain Hutchinson estimate from the same samples is returned with
        status ``"fallback"``.

    Notes
    -----
    Shifted Nyström ``Y_nu = Y + nu Omega = Q R``, ``H = Omega^T Y_nu = L L^T``,
    ``B = R L^{-T}``; with ``s_i`` the ``i``-th column of ``R H^{-1}`` divided by
    ``sqrt((H^{-1})_{ii})`` and ``w_i = Q^T omega_i``:
    ``t_i = ||B||_F^2 - ||s_i||^2 + c_i (s_i^T w_i)^2 - nu n``
    (``c_i`` the leave-one-out normalisation of sphere vectors, else 1).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag(0.6 ** np.arange(50))
    >>> res = xnystrace(A, 20, rng=0)
    >>> bool(abs(res.estimate - 2.5) < 1e-3)
    True
    """
    op = symmetric_operator(A)
    n, xp = op.shape[0], op.xp
    m = min(check_int(num_matvecs, "num_matvecs", minimum=2), n)
    if distribution not in TRACE_DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {TRACE_DISTRIBUTIONS}, got {distribution!r}")
    Om = _test_vectors(distribution, n, m, rng, xp, op.dtype)
    Y = op.matmat(Om)
    check_output_finite(Y)
    nu = eps(xp, op.dtype) * float(to_numpy(xp.linalg.vector_norm(Y))) / math.sqrt(n)
    vals = _xnystrace_samples(Y + nu * Om, Om, nu, distribution == "sphere")
    status, msg = "converged", f"XNysTrace with {m} {distribution} test vectors"
    if vals is None:
        vals = to_numpy(_colsum(Om, Y)).astype(np.float64)
        status, msg = "fallback", "Omega^T A Omega not positive definite: Hutchinson estimate from the same samples"
    est, se = _mean_se(vals)
    return TraceEstimate(est, se, m, KrylovInfo(status, m, m, residual=se, message=msg))
