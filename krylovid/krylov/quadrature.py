"""Gauss and Gauss-Radau quadrature from a Lanczos tridiagonal, and certified bounds.

The Lanczos process on ``(A, b)`` defines the Gauss quadrature rule of the
spectral measure of ``A`` weighted by ``b``:
``b^T f(A) b ~ ||b||^2 e_1^T f(T_j) e_1``.  For ``f(x) = 1 / (x + s)`` the
Gauss rule is a lower bound and the Gauss-Radau rule with a node at a lower
spectral bound is an upper bound (Golub & Meurant, *Matrices, Moments and
Quadrature with Applications*, 2010, ch. 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from .._validation import _as_scalar, check_int
from ..info import KrylovInfo
from ._common import host
from .lanczos import lanczos

__all__ = ["gauss_quadrature", "gauss_radau", "quadratic_form_bounds", "QuadraticFormBounds"]


@dataclass(frozen=True)
class QuadraticFormBounds:
    """Bounds ``lower <= b^T (A + shift I)^{-1} b <= upper`` from ``j`` Lanczos steps.

    Attributes
    ----------
    lower, upper : float
        Certified bounds (up to rounding errors).
    gauss : float
        The Gauss estimate (a lower bound).
    radau_upper : float
        Gauss-Radau estimate with the node at ``lambda_min`` (the upper bound).
    radau_lower : float
        Gauss-Radau estimate with the node at ``lambda_max`` (a lower bound;
        ``nan`` when ``lambda_max`` was not given).
    info : KrylovInfo
        The Lanczos run's status (``"invariant"`` means the bounds are exact up
        to rounding); ``residual`` is ``upper - lower``.
    """

    lower: float
    upper: float
    gauss: float
    radau_upper: float
    radau_lower: float
    info: KrylovInfo

    @property
    def estimate(self) -> float:
        """Midpoint of the bounds."""
        return 0.5 * (self.lower + self.upper)

    @property
    def gap(self) -> float:
        """``upper - lower``."""
        return self.upper - self.lower


def _coefficients(alpha, beta, *, need_last: bool):
    alpha = host(alpha).ravel() if alpha is not None else None
    if alpha is None or alpha.size == 0:
        raise ValueError("alpha must be a non-empty 1-D array")
    beta = host(beta).ravel() if beta is not None else np.zeros(0)
    j = alpha.size
    allowed = (j,) if need_last else (j - 1, j)
    if beta.size not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"beta must have length {want} for {j} Lanczos steps, got {beta.size}")
    if not (np.all(np.isfinite(alpha)) and np.all(np.isfinite(beta))):
        raise ValueError("alpha and beta must be finite (alpha or beta contains NaN or inf)")
    return alpha, beta


def _rule(alpha, off, b_norm, f) -> float:
    """``b_norm^2 e_1^T f(T) e_1`` through the eigendecomposition of the tridiagonal ``T``."""
    if alpha.size == 1:
        theta, first = alpha.copy(), np.ones(1)
    else:
        theta, S = sla.eigh_tridiagonal(alpha, off)
        first = S[0, :]
    values = np.asarray(f(theta), dtype=np.float64)
    if values.shape != theta.shape:
        raise ValueError(f"f must be vectorized: f(theta) returned shape {values.shape} for {theta.shape}")
    return float(b_norm**2 * np.sum(values * first**2))


def _check_f_and_norm(f, b_norm) -> float:
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    b_norm = _as_scalar(b_norm, "b_norm")
    if b_norm < 0:
        raise ValueError(f"b_norm must be non-negative, got {b_norm}")
    return b_norm


def gauss_quadrature(alpha, beta, b_norm, f) -> float:
    """Gauss quadrature estimate ``||b||^2 e_1^T f(T_j) e_1`` of ``b^T f(A) b``.

    Parameters
    ----------
    alpha : array of shape (j,)
        Diagonal of the Lanczos tridiagonal ``T_j``.
    beta : array of shape (j,) or (j - 1,)
        Off-diagonal (``beta[:j-1]``; a trailing ``beta[j-1]``, the residual
        norm, is ignored).
    b_norm : float
        ``||b||``.
    f : callable
        Vectorized function of the Ritz values (a 1-D NumPy array).

    Returns
    -------
    float

    Notes
    -----
    With ``T_j = S diag(theta) S^T`` this is ``||b||^2 sum_i f(theta_i) S_{1i}^2``,
    exact for polynomials of degree ``2j - 1``.  For ``f`` whose derivatives of
    even order are positive on the spectrum (e.g. ``1 / (x + s)``), it is a lower bound.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.krylov import lanczos
    >>> A, b = np.diag([1.0, 2.0, 4.0]), np.ones(3)
    >>> r = lanczos(A, b, 3)
    >>> round(gauss_quadrature(r.alpha, r.beta, r.b_norm, lambda x: 1 / x), 12)
    1.75
    """
    b_norm = _check_f_and_norm(f, b_norm)
    alpha, beta = _coefficients(alpha, beta, need_last=False)
    return _rule(alpha, beta[: alpha.size - 1], b_norm, f)


def gauss_radau(alpha, beta, b_norm, f, node) -> float:
    """Gauss-Radau estimate of ``b^T f(A) b`` with one node prescribed at ``node``.

    Parameters
    ----------
    alpha : array of shape (j,)
        Diagonal of ``T_j``.
    beta : array of shape (j,)
        Off-diagonal of ``T_j`` followed by ``beta[j-1] = ||r||``, the coupling
        to the next Lanczos vector (as in :class:`~krylovid.krylov.LanczosResult`).
    b_norm : float
        ``||b||``.
    f : callable
        Vectorized function of the nodes.
    node : float
        Prescribed node: a lower or upper bound of the spectrum of ``A``.

    Returns
    -------
    float

    Notes
    -----
    ``T_j`` is extended to ``T~ = [[T_j, beta_j e_j], [beta_j e_j^T, omega]]``
    with ``omega = node + delta_j`` where ``(T_j - node I) delta = beta_j^2 e_j``,
    so that ``node`` is an eigenvalue of ``T~``; the estimate is
    ``||b||^2 e_1^T f(T~) e_1``.  For ``f`` with negative derivatives of odd
    order (e.g. ``1 / (x + s)``) a node at a lower bound of the spectrum gives an
    upper bound and a node at an upper bound gives a lower bound.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.krylov import lanczos
    >>> A, b = np.diag([1.0, 2.0, 4.0]), np.ones(3)
    >>> r = lanczos(A, b, 1)
    >>> gauss_radau(r.alpha, r.beta, r.b_norm, lambda x: 1 / x, 1.0) >= 1.75
    True
    """
    b_norm = _check_f_and_norm(f, b_norm)
    node = _as_scalar(node, "node")
    alpha, beta = _coefficients(alpha, beta, need_last=True)
    j = alpha.size
    if beta[-1] == 0.0:  # invariant Krylov space: the Gauss rule is exact
        return _rule(alpha, beta[: j - 1], b_norm, f)
    rhs = np.zeros(j)
    rhs[-1] = beta[-1] ** 2
    shifted = np.diag(alpha - node) + np.diag(beta[: j - 1], 1) + np.diag(beta[: j - 1], -1)
    try:
        delta = np.linalg.solve(shifted, rhs)
    except np.linalg.LinAlgError:
        raise ValueError(f"node = {node} coincides with a Ritz value; move it outside the spectrum") from None
    alpha_ext = np.append(alpha, node + delta[-1])
    return _rule(alpha_ext, beta, b_norm, f)


def quadratic_form_bounds(
    A, b, shift, num_iter, *, lambda_min=0.0, lambda_max=None, reorth: str = "full"
) -> QuadraticFormBounds:
    """Certified bounds on ``b^T (A + shift I)^{-1} b`` from ``num_iter`` Lanczos steps.

    Parameters
    ----------
    A : LinearOperator or array of shape (n, n)
        Symmetric operator with spectrum in ``[lambda_min, lambda_max]``.
    b : array of shape (n,)
        Non-zero vector.
    shift : float
        Shift ``s`` with ``lambda_min + s > 0``.
    num_iter : int
        Lanczos steps.
    lambda_min : float
        Lower bound of the spectrum of ``A`` (default 0: ``A`` positive semidefinite).
    lambda_max : float, optional
        Upper bound of the spectrum; adds the Radau lower bound.
    reorth : {"full", "local", "none"}
        Passed to :func:`~krylovid.krylov.lanczos`.

    Returns
    -------
    QuadraticFormBounds

    Notes
    -----
    For ``f(x) = 1 / (x + s)``, ``f^{(2k)} > 0`` and ``f^{(2k+1)} < 0`` on
    ``(-s, inf)``, so Gauss and Radau-at-``lambda_max`` are lower bounds and
    Radau-at-``lambda_min`` is an upper bound (Golub & Meurant 2010, Thm 6.4).
    The bounds hold up to rounding; a ``lambda_min`` above the smallest Ritz
    value (or ``lambda_max`` below the largest) cannot be a spectral bound and
    is refused.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag(np.linspace(0.0, 10.0, 50))
    >>> bnd = quadratic_form_bounds(A, np.ones(50), 1.0, 6, lambda_max=10.0)
    >>> exact = np.sum(1.0 / (np.linspace(0.0, 10.0, 50) + 1.0))
    >>> bool(bnd.lower <= exact <= bnd.upper)
    True
    """
    shift = _as_scalar(shift, "shift")
    lambda_min = _as_scalar(lambda_min, "lambda_min")
    if lambda_min + shift <= 0:
        raise ValueError(f"lambda_min + shift must be positive, got {lambda_min} + {shift}")
    num_iter = check_int(num_iter, "num_iter", minimum=1)
    if lambda_max is not None:
        lambda_max = _as_scalar(lambda_max, "lambda_max")
        if lambda_max < lambda_min:
            raise ValueError(f"lambda_max must be >= lambda_min, got {lambda_max} < {lambda_min}")
    res = lanczos(A, b, num_iter, reorth=reorth)
    _check_spectral_bounds(res.tridiagonal(), lambda_min, lambda_max)
    f = lambda x: 1.0 / (x + shift)  # noqa: E731
    gauss = gauss_quadrature(res.alpha, res.beta, res.b_norm, f)
    radau_upper = gauss_radau(res.alpha, res.beta, res.b_norm, f, lambda_min)
    radau_lower = float("nan")
    lower = gauss
    if lambda_max is not None:
        radau_lower = gauss_radau(res.alpha, res.beta, res.b_norm, f, lambda_max)
        lower = max(gauss, radau_lower)
    upper = max(radau_upper, lower)  # rounding can invert them when the space is invariant
    info = KrylovInfo(
        status=res.info.status,
        iterations=res.info.iterations,
        matvecs=res.info.matvecs,
        residual=upper - lower,
        message=res.info.message,
    )
    return QuadraticFormBounds(
        lower=lower, upper=upper, gauss=gauss, radau_upper=radau_upper, radau_lower=radau_lower, info=info
    )


def _check_spectral_bounds(T, lambda_min, lambda_max) -> None:
    theta = np.linalg.eigvalsh(T)
    slack = 1e-12 * max(1.0, float(np.abs(theta).max()))
    if lambda_min > theta[0] + slack:
        raise ValueError(
            f"lambda_min = {lambda_min} exceeds the Ritz value {theta[0]:.6g}: "
            "it is not a lower bound of the spectrum of A"
        )
    if lambda_max is not None and lambda_max < theta[-1] - slack:
        raise ValueError(
            f"lambda_max = {lambda_max} is below the Ritz value {theta[-1]:.6g}: "
            "it is not an upper bound of the spectrum of A"
        )
