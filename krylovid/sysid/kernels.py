"""Prior covariance kernels for regularized FIR identification (DESIGN §2).

A :class:`Kernel` is a *family* of ``n x n`` prior covariances ``Kbar(theta)``
indexed by its shape parameters ``theta`` (the scale ``c`` is not part of the
kernel: the prior is ``g ~ N(0, c Kbar(theta))``).  Hyperparameters are passed
as a dict; a ``"c"`` entry is accepted everywhere and ignored by the kernel.

Every kernel offers ``dense``, ``matmat`` (``Kbar @ X``), ``sqrt`` (a square
root ``L`` with ``L L^T = Kbar``), ``sqrt_matmat`` / ``sqrt_rmatmat``
(``L @ X`` / ``L^T @ X``), ``trace`` and ``logdet``.  The structured kernels
apply ``Kbar`` in ``O(n k)`` for a block of ``k`` columns with prefix/suffix
sums and stable first-order filters: no generator form that over- or
underflows (such as ``(sqrt(alpha)/rho)^j``) is ever formed.

Indices in the formulas run over ``k, j = 1..n`` (DESIGN §2 table):

=====  ============================================  ======================
TC     ``beta^max(k,j)``                             ``0 < beta < 1``
DC     ``alpha^((k+j)/2) rho^|k-j|``                 ``0<alpha<1, -1<rho<1``
SS     ``beta^(k+j+m)/2 - beta^(3m)/6, m=max(k,j)``  ``0 < beta < 1``
SE     ``exp(-(k-j)^2 / (2 h^2))``                   ``h > 0``
HF     ``(-1)^(k+j) beta^max(k,j)``                  ``0 < beta < 1``
DI     ``diag(beta^k)``                              ``0 < beta < 1``
CS     ``k j min(k,j)/2 - min(k,j)^3/6``             none
=====  ============================================  ======================

User kernels: :class:`CallableKernel` (a function ``fn(n, **params)``) and
:class:`OperatorKernel` (a fixed matrix).  Several inputs:
:class:`BlockDiagonalKernel`.  Names are resolved by :func:`get_kernel`.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .._validation import check_int
from ..backend import (array_namespace, asarray, is_cupy, is_numpy, numpy_namespace,
                       to_numpy)
from ..operators import LinearOperator

__all__ = [
    "Kernel", "TCKernel", "DCKernel", "SSKernel", "SEKernel", "HFKernel", "DIKernel",
    "CSKernel", "CallableKernel", "OperatorKernel", "BlockDiagonalKernel", "KernelOperator",
    "KernelSqrtOperator",
    "get_kernel", "KERNEL_NAMES",
]

_BETA_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 0.99)
_TINY = float(np.finfo(np.float64).tiny)


# ----------------------------------------------------------------------------- helpers
def _cumsum(xp, X):
    """Inclusive prefix sums along axis 0."""
    return xp.cumulative_sum(X, axis=0)


def _rcumsum(xp, X):
    """Inclusive suffix sums along axis 0."""
    return xp.flip(xp.cumulative_sum(xp.flip(X, axis=0), axis=0), axis=0)


def _ar1_filter(xp, X, rho: float, *, reverse: bool = False):
    """First-order recursion ``f_k = x_k + rho f_{k-1}`` along axis 0 (or backwards).

    Stable for ``|rho| < 1``: SciPy's / CuPy's ``lfilter`` where available,
    a row loop otherwise.
    """
    if reverse:
        return xp.flip(_ar1_filter(xp, xp.flip(X, axis=0), rho), axis=0)
    if is_numpy(xp):
        from scipy.signal import lfilter

        return lfilter([1.0], [1.0, -rho], X, axis=0)
    if is_cupy(xp):  # pragma: no cover - needs a GPU
        from cupyx.scipy.signal import lfilter

        return lfilter(xp.asarray([1.0]), xp.asarray([1.0, -rho]), X, axis=0)
    rows, prev = [], None
    for i in range(X.shape[0]):
        prev = X[i, ...] if prev is None else X[i, ...] + rho * prev
        rows.append(prev)
    return xp.stack(rows, axis=0)


def _index(xp, n):
    """``[1, 2, ..., n]`` as float64 (column indices of the table)."""
    return xp.arange(1, n + 1, dtype=xp.float64)


def _pow(xp, base: float, expo):
    """``base ** expo`` for ``0 < base`` and a float array ``expo >= 0`` (no overflow).

    Values below the smallest normal double are flushed to zero: subnormal
    operands make the products and filters downstream orders of magnitude slower.
    """
    v = xp.exp(expo * math.log(base))
    return v * xp.astype(v >= _TINY, xp.float64)


def _geom_sum(r: float, n: int) -> float:
    """``sum_{k=1..n} r^k`` for ``0 < r < 1``, accurate for ``r`` near 1."""
    lr = math.log(r)
    return r * math.expm1(n * lr) / math.expm1(lr)


def _as_block(X, n: int, what: str):
    """Validate ``X`` of shape ``(n, k)`` or ``(n,)``; return (xp, 2-D X, was_1d)."""
    if not hasattr(X, "shape") or getattr(X, "ndim", 0) not in (1, 2):
        raise ValueError(f"{what}: X must be an array of shape ({n}, k) or ({n},), got {type(X).__name__}")
    if X.shape[0] != n:
        raise ValueError(f"{what}: X must have {n} rows, got shape {tuple(X.shape)}")
    xp = array_namespace(X)
    if X.dtype != xp.float64:
        X = xp.astype(X, xp.float64)
    return xp, (X[:, None] if X.ndim == 1 else X), X.ndim == 1


def _transform(value: float, low: float, high: float) -> float:
    if math.isfinite(low) and math.isfinite(high):
        if (low, high) == (-1.0, 1.0):
            return math.atanh(value)
        t = (value - low) / (high - low)
        return math.log(t) - math.log1p(-t)
    if math.isfinite(low):
        return math.log(value - low)
    if math.isfinite(high):
        return -math.log(high - value)
    return value


def _inverse(z: float, low: float, high: float) -> float:
    if math.isfinite(low) and math.isfinite(high):
        if (low, high) == (-1.0, 1.0):
            v = math.tanh(z)
        else:
            t = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
            v = low + (high - low) * t
    elif math.isfinite(low):
        v = low + math.exp(min(z, 700.0))
    elif math.isfinite(high):
        v = high - math.exp(min(-z, 700.0))
    else:
        return z
    # keep the value strictly inside the open interval
    return float(np.clip(v, np.nextafter(low, high), np.nextafter(high, low)))


# ----------------------------------------------------------------------------- base class
class Kernel:
    """A family of prior covariances ``Kbar(theta)`` of any size ``n``.

    Subclasses set ``name``, ``param_names`` and ``bounds`` and implement
    ``_dense(n, p)`` (NumPy, float64); structured ones also override
    ``_matmat``, ``_sqrt_dense``, ``_sqrt_matmat``, ``_sqrt_rmatmat``,
    ``_trace`` and ``_logdet``.  The public methods validate ``n`` and the
    parameters first (see :meth:`check_params`).

    Attributes
    ----------
    name : str
        Short name (``"TC"``).
    param_names : tuple of str
        Shape-parameter names (the scale ``c`` is not one of them).
    bounds : dict
        ``name -> (low, high)``, an open interval.
    fast_matmat, fast_sqrt : bool
        Whether ``matmat`` / ``sqrt_matmat`` run in ``O(n k)`` (else dense).

    Examples
    --------
    >>> import numpy as np
    >>> K = get_kernel("TC")
    >>> K.dense(3, {"beta": 0.5}).tolist()
    [[0.5, 0.25, 0.125], [0.25, 0.25, 0.125], [0.125, 0.125, 0.125]]
    >>> np.allclose(K.matmat(3, {"beta": 0.5}, np.eye(3)), K.dense(3, {"beta": 0.5}))
    True
    """

    name = "kernel"
    param_names: tuple = ()
    bounds: dict = {}
    fast_matmat = False
    fast_sqrt = False

    # ------------------------------------------------------------ parameters
    def default_grid(self, n: int | None = None) -> list:
        """Starting points (dicts of shape parameters) for a multistart search."""
        return [{}] if not self.param_names else [self.from_unconstrained(np.zeros(len(self.param_names)))]

    def check_params(self, params) -> dict:
        """Validate ``params`` and return a dict of float shape parameters.

        Raises ``ValueError`` naming the parameter when it is missing, unknown,
        not finite or outside its open interval (``TypeError`` when not a real
        number).  A ``"c"`` entry (the scale) must be positive and is dropped.
        """
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict of hyperparameters, got {type(params).__name__}")
        unknown = sorted(set(params) - set(self.param_names) - {"c"})
        if unknown:
            raise ValueError(f"{self.name} kernel: unknown hyperparameter(s) {unknown}; "
                             f"expected {list(self.param_names)} (and optionally 'c')")
        out = {}
        for key in (("c",) if "c" in params else ()) + tuple(self.param_names):
            if key not in params:
                raise ValueError(f"{self.name} kernel: missing hyperparameter '{key}'")
            v = params[key]
            if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.ndarray, np.generic)):
                raise TypeError(f"{key} must be a real number, got {v!r}")
            v = float(np.asarray(v).reshape(()))
            lo, hi = (0.0, math.inf) if key == "c" else self.bounds[key]
            if not math.isfinite(v):
                raise ValueError(f"{key} must be finite, got {v}")
            if not lo < v < hi:
                raise ValueError(f"{key} must lie in the open interval ({lo}, {hi}), got {v}")
            if key != "c":
                out[key] = v
        return out

    def to_unconstrained(self, params) -> np.ndarray:
        """Map the shape parameters to ``R^p`` (logit on (0,1), atanh on (-1,1), log on (0,inf))."""
        p = self.check_params(params)
        return np.array([_transform(p[k], *self.bounds[k]) for k in self.param_names], dtype=float)

    def from_unconstrained(self, z) -> dict:
        """Inverse of :meth:`to_unconstrained` (results clipped strictly inside the bounds)."""
        z = np.asarray(z, dtype=float).reshape(-1)
        if z.shape[0] != len(self.param_names):
            raise ValueError(f"z must have {len(self.param_names)} entries for {self.name}, got {z.shape[0]}")
        if not np.all(np.isfinite(z)):
            raise ValueError("z contains NaN or inf values")
        return {k: _inverse(float(zi), *self.bounds[k]) for k, zi in zip(self.param_names, z)}

    # ------------------------------------------------------------ public API
    def _prep(self, n, params):
        return check_int(n, "n", minimum=1), self.check_params(params)

    def dense(self, n: int, params=None, xp=None):
        """``Kbar`` as a dense ``(n, n)`` float64 array of namespace ``xp`` (default NumPy)."""
        n, p = self._prep(n, params)
        return _to_xp(self._dense(n, p), xp)

    def matmat(self, n: int, params, X):
        """``Kbar @ X`` for ``X`` of shape ``(n, k)`` (or ``(n,)``), in the namespace of ``X``."""
        n, p = self._prep(n, params)
        xp, X2, flat = _as_block(X, n, "matmat")
        Y = self._matmat(n, p, X2, xp)
        return Y[:, 0] if flat else Y

    def sqrt(self, n: int, params=None, xp=None):
        """A square root ``L`` (``(n, n)``) with ``L L^T = Kbar``.

        Closed form for TC/HF/DC/DI (triangular or diagonal); otherwise the
        clipped eigendecomposition ``V sqrt(max(w, 0))``, which exists for the
        extremely ill-conditioned SS kernel where a plain Cholesky fails.
        """
        n, p = self._prep(n, params)
        return _to_xp(self._sqrt_dense(n, p), xp)

    def sqrt_matmat(self, n: int, params, X):
        """``L @ X`` with ``L = sqrt(n, params)``; ``O(n k)`` when ``fast_sqrt``."""
        n, p = self._prep(n, params)
        xp, X2, flat = _as_block(X, n, "sqrt_matmat")
        Y = self._sqrt_matmat(n, p, X2, xp)
        return Y[:, 0] if flat else Y

    def sqrt_rmatmat(self, n: int, params, X):
        """``L^T @ X`` with ``L = sqrt(n, params)``; ``O(n k)`` when ``fast_sqrt``."""
        n, p = self._prep(n, params)
        xp, X2, flat = _as_block(X, n, "sqrt_rmatmat")
        Y = self._sqrt_rmatmat(n, p, X2, xp)
        return Y[:, 0] if flat else Y

    def trace(self, n: int, params=None) -> float:
        """``tr Kbar`` (closed form for the built-in kernels)."""
        n, p = self._prep(n, params)
        return float(self._trace(n, p))

    def logdet(self, n: int, params=None) -> float:
        """``log det Kbar`` (closed form for TC, HF, DC, DI; eigenvalues otherwise).

        Raises ``ValueError`` when ``Kbar`` is numerically singular (then no
        accurate value exists in double precision, e.g. SS for large ``n``).
        """
        n, p = self._prep(n, params)
        return float(self._logdet(n, p))

    def operator(self, n: int, params=None) -> "KernelOperator":
        """``Kbar`` as a symmetric :class:`~krylovid.operators.LinearOperator`."""
        n, p = self._prep(n, params)
        return KernelOperator(self, n, p)

    def sqrt_operator(self, n: int, params=None) -> "KernelSqrtOperator":
        """The square root ``L`` of :meth:`sqrt` as a LinearOperator (``matmat`` = ``L @ X``,
        ``rmatmat`` = ``L^T @ X``), ``O(n k)`` per block when ``fast_sqrt``."""
        n, p = self._prep(n, params)
        return KernelSqrtOperator(self, n, p)

    # ------------------------------------------------------------ default implementations
    def _dense(self, n, p):
        raise NotImplementedError

    def _matmat(self, n, p, X, xp):
        return asarray(self._dense(n, p), xp, dtype=xp.float64) @ X

    def _sqrt_dense(self, n, p):
        w, V = np.linalg.eigh(self._dense(n, p))
        return V * np.sqrt(np.maximum(w, 0.0))[None, :]

    def _sqrt_matmat(self, n, p, X, xp):
        return asarray(self._sqrt_dense(n, p), xp, dtype=xp.float64) @ X

    def _sqrt_rmatmat(self, n, p, X, xp):
        return asarray(self._sqrt_dense(n, p), xp, dtype=xp.float64).T @ X

    def _trace(self, n, p):
        return float(np.trace(self._dense(n, p)))

    def _logdet(self, n, p):
        w = np.linalg.eigvalsh(self._dense(n, p))
        if w[0] <= n * np.finfo(float).eps * max(abs(w[-1]), 1e-300):
            raise ValueError(f"{self.name} kernel of size {n} is numerically singular "
                             f"(smallest eigenvalue {w[0]:.3g}); its log-determinant is not available")
        return float(np.sum(np.log(w)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _to_xp(M: np.ndarray, xp):
    return M if xp is None or is_numpy(xp) else asarray(M, xp, dtype=xp.float64)


class KernelOperator(LinearOperator):
    """``Kbar(theta)`` of a :class:`Kernel` at fixed ``n`` and parameters, as an operator."""

    def __init__(self, kernel: Kernel, n: int, params: dict, xp=None):
        self.kernel, self.params = kernel, dict(params)
        super().__init__((n, n), None, xp, symmetric=True)

    def _matmat(self, X):
        return self.kernel.matmat(self.shape[0], self.params, X)


class KernelSqrtOperator(LinearOperator):
    """The square root ``L`` (``L L^T = Kbar``) of a :class:`Kernel` as an operator."""

    def __init__(self, kernel: Kernel, n: int, params: dict, xp=None):
        self.kernel, self.params = kernel, dict(params)
        super().__init__((n, n), None, xp)

    def _matmat(self, X):
        return self.kernel.sqrt_matmat(self.shape[0], self.params, X)

    def _rmatmat(self, X):
        return self.kernel.sqrt_rmatmat(self.shape[0], self.params, X)


# ----------------------------------------------------------------------------- TC family
class TCKernel(Kernel):
    """Tuned/correlated kernel ``Kbar[k, j] = beta^max(k, j)``.

    Notes
    -----
    ``Kbar = U D U^T`` with ``U`` the upper-triangular matrix of ones and
    ``D = diag(beta^k (1 - beta))`` for ``k < n``, ``D_nn = beta^n``; hence
    ``Kbar x`` = prefix sum, scaling by ``D``, suffix sum (``O(n)``),
    ``L = U D^{1/2}`` is a square root and
    ``log det Kbar = (n(n+1)/2) log beta + (n-1) log(1-beta)``.

    Examples
    --------
    >>> TCKernel().trace(3, {"beta": 0.5})
    0.875
    """

    name = "TC"
    param_names = ("beta",)
    bounds = {"beta": (0.0, 1.0)}
    fast_matmat = fast_sqrt = True

    def default_grid(self, n=None):
        return [{"beta": b} for b in _BETA_GRID]

    def _d(self, n, beta, xp):
        k = _index(xp, n)
        d = _pow(xp, beta, k) * (1.0 - beta)
        return xp.where(k == n, _pow(xp, beta, k), d)

    def _dense(self, n, p):
        k = np.arange(1, n + 1, dtype=float)
        return p["beta"] ** np.maximum(k[:, None], k[None, :])

    def _matmat(self, n, p, X, xp):
        return _rcumsum(xp, self._d(n, p["beta"], xp)[:, None] * _cumsum(xp, X))

    def _sqrt_dense(self, n, p):
        s = np.sqrt(to_numpy(self._d(n, p["beta"], numpy_namespace())))
        return np.triu(np.ones((n, n))) * s[None, :]

    def _sqrt_matmat(self, n, p, X, xp):
        return _rcumsum(xp, xp.sqrt(self._d(n, p["beta"], xp))[:, None] * X)

    def _sqrt_rmatmat(self, n, p, X, xp):
        return xp.sqrt(self._d(n, p["beta"], xp))[:, None] * _cumsum(xp, X)

    def _trace(self, n, p):
        return _geom_sum(p["beta"], n)

    def _logdet(self, n, p):
        b = p["beta"]
        return 0.5 * n * (n + 1) * math.log(b) + (n - 1) * math.log1p(-b)


class HFKernel(TCKernel):
    """High-frequency kernel ``Kbar[k, j] = (-1)^(k+j) beta^max(k, j)``: ``S Kbar_TC S``, ``S = diag((-1)^k)``.

    Examples
    --------
    >>> HFKernel().dense(2, {"beta": 0.5}).tolist()
    [[0.5, -0.25], [-0.25, 0.25]]
    """

    name = "HF"

    @staticmethod
    def _sign(n, xp):
        return 2.0 * ((_index(xp, n) + 1.0) % 2.0) - 1.0

    def _dense(self, n, p):
        s = np.where(np.arange(1, n + 1) % 2 == 0, 1.0, -1.0)
        return s[:, None] * super()._dense(n, p) * s[None, :]

    def _matmat(self, n, p, X, xp):
        s = self._sign(n, xp)[:, None]
        return s * super()._matmat(n, p, s * X, xp)

    def _sqrt_dense(self, n, p):
        s = np.where(np.arange(1, n + 1) % 2 == 0, 1.0, -1.0)
        return s[:, None] * super()._sqrt_dense(n, p)

    def _sqrt_matmat(self, n, p, X, xp):
        return self._sign(n, xp)[:, None] * super()._sqrt_matmat(n, p, X, xp)

    def _sqrt_rmatmat(self, n, p, X, xp):
        return super()._sqrt_rmatmat(n, p, self._sign(n, xp)[:, None] * X, xp)


class DIKernel(Kernel):
    """Diagonal kernel ``Kbar = diag(beta^k)``.

    Examples
    --------
    >>> DIKernel().dense(2, {"beta": 0.5}).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """

    name = "DI"
    param_names = ("beta",)
    bounds = {"beta": (0.0, 1.0)}
    fast_matmat = fast_sqrt = True

    def default_grid(self, n=None):
        return [{"beta": b} for b in _BETA_GRID]

    def _diag(self, n, p, xp, half=False):
        return _pow(xp, p["beta"], _index(xp, n) * (0.5 if half else 1.0))

    def _dense(self, n, p):
        return np.diag(to_numpy(self._diag(n, p, numpy_namespace())))

    def _matmat(self, n, p, X, xp):
        return self._diag(n, p, xp)[:, None] * X

    def _sqrt_dense(self, n, p):
        return np.diag(to_numpy(self._diag(n, p, numpy_namespace(), half=True)))

    def _sqrt_matmat(self, n, p, X, xp):
        return self._diag(n, p, xp, half=True)[:, None] * X

    _sqrt_rmatmat = _sqrt_matmat

    def _trace(self, n, p):
        return _geom_sum(p["beta"], n)

    def _logdet(self, n, p):
        return 0.5 * n * (n + 1) * math.log(p["beta"])


# ----------------------------------------------------------------------------- DC
class DCKernel(Kernel):
    """Diagonal/correlated kernel ``Kbar[k, j] = alpha^((k+j)/2) rho^|k-j|``.

    Notes
    -----
    ``Kbar = D_a T D_a`` with ``D_a = diag(alpha^(k/2))`` and ``T`` the AR(1)
    (Kac–Murdock–Szegő) matrix ``T[k, j] = rho^|k-j|``.  ``T x = f + b - x``
    with the forward filter ``f_k = x_k + rho f_{k-1}`` and the backward
    filter ``b_k = x_k + rho b_{k+1}``, both stable for ``|rho| < 1``.  The
    Cholesky factor of ``T`` is ``(I - rho S)^{-1} G`` (``S`` the down-shift,
    ``G = diag(1, s, ..., s)``, ``s = sqrt(1 - rho^2)``), so
    ``L = D_a (I - rho S)^{-1} G`` and
    ``log det Kbar = (n(n+1)/2) log alpha + (n-1) log(1 - rho^2)``.

    Examples
    --------
    >>> DCKernel().dense(2, {"alpha": 0.25, "rho": 0.5}).round(12).tolist()
    [[0.25, 0.0625], [0.0625, 0.0625]]
    """

    name = "DC"
    param_names = ("alpha", "rho")
    bounds = {"alpha": (0.0, 1.0), "rho": (-1.0, 1.0)}
    fast_matmat = fast_sqrt = True

    def default_grid(self, n=None):
        return [{"alpha": a, "rho": r} for a in _BETA_GRID for r in (-0.5, 0.0, 0.5, 0.9)]

    @staticmethod
    def _a(n, p, xp):
        return _pow(xp, p["alpha"], 0.5 * _index(xp, n))

    @staticmethod
    def _g(n, p, xp):
        rho = p["rho"]
        s = math.sqrt((1.0 - rho) * (1.0 + rho))
        return xp.concat([xp.ones(1, dtype=xp.float64), xp.full(n - 1, s, dtype=xp.float64)])

    def _dense(self, n, p):
        k = np.arange(1, n + 1, dtype=float)
        return p["alpha"] ** ((k[:, None] + k[None, :]) / 2) * p["rho"] ** np.abs(k[:, None] - k[None, :])

    def _matmat(self, n, p, X, xp):
        a = self._a(n, p, xp)[:, None]
        Y = a * X
        TY = _ar1_filter(xp, Y, p["rho"]) + _ar1_filter(xp, Y, p["rho"], reverse=True) - Y
        return a * TY

    def _sqrt_dense(self, n, p):
        nx = numpy_namespace()
        k = np.arange(n)
        expo = np.tril(k[:, None] - k[None, :])
        lower = np.tril(p["rho"] ** expo)
        return to_numpy(self._a(n, p, nx))[:, None] * lower * to_numpy(self._g(n, p, nx))[None, :]

    def _sqrt_matmat(self, n, p, X, xp):
        return self._a(n, p, xp)[:, None] * _ar1_filter(xp, self._g(n, p, xp)[:, None] * X, p["rho"])

    def _sqrt_rmatmat(self, n, p, X, xp):
        Y = _ar1_filter(xp, self._a(n, p, xp)[:, None] * X, p["rho"], reverse=True)
        return self._g(n, p, xp)[:, None] * Y

    def _trace(self, n, p):
        return _geom_sum(p["alpha"], n)

    def _logdet(self, n, p):
        return 0.5 * n * (n + 1) * math.log(p["alpha"]) + (n - 1) * math.log1p(-p["rho"] ** 2)


# ----------------------------------------------------------------------------- SS, CS, SE
class SSKernel(Kernel):
    """Stable-spline kernel ``Kbar[k, j] = beta^(k+j+m)/2 - beta^(3m)/6``, ``m = max(k, j)``.

    Notes
    -----
    For ``j < k``: ``Kbar = (beta^(2k)/2) beta^j - beta^(3k)/6``; for ``j >= k``:
    ``Kbar = (beta^k/2) beta^(2j) - beta^(3j)/6``.  So ``Kbar x`` needs two
    exclusive prefix sums (of ``beta^j x_j`` and ``x_j``) and two suffix sums
    (of ``beta^(2j) x_j`` and ``beta^(3j) x_j``): ``O(n)``, and every factor is
    a power ``<= 1`` (no overflow).  The kernel is extremely ill-conditioned
    (``lambda_min / lambda_max ~ 1e-20`` at ``n = 60``, ``beta = 0.8``): its square root is the clipped
    eigendecomposition, never a plain Cholesky factor.

    Examples
    --------
    >>> round(float(SSKernel().dense(1, {"beta": 0.5})[0, 0]), 12)  # beta^3 / 3
    0.041666666667
    """

    name = "SS"
    param_names = ("beta",)
    bounds = {"beta": (0.0, 1.0)}
    fast_matmat = True

    def default_grid(self, n=None):
        return [{"beta": b} for b in _BETA_GRID]

    def _dense(self, n, p):
        b = p["beta"]
        k = np.arange(1, n + 1, dtype=float)
        m = np.maximum(k[:, None], k[None, :])
        return b ** (k[:, None] + k[None, :] + m) / 2 - b ** (3 * m) / 6

    def _matmat(self, n, p, X, xp):
        b, k = p["beta"], _index(xp, n)[:, None]
        b1, b2, b3 = _pow(xp, b, k), _pow(xp, b, 2 * k), _pow(xp, b, 3 * k)
        p1 = _cumsum(xp, b1 * X) - b1 * X
        p0 = _cumsum(xp, X) - X
        s2 = _rcumsum(xp, b2 * X)
        s3 = _rcumsum(xp, b3 * X)
        return (b2 * p1 + b1 * s2) / 2 - (b3 * p0 + s3) / 6

    def _trace(self, n, p):
        return _geom_sum(p["beta"] ** 3, n) / 3


class CSKernel(Kernel):
    """Cubic-spline kernel ``Kbar[k, j] = k j min(k,j)/2 - min(k,j)^3/6`` (no shape parameter).

    Notes
    -----
    For ``j < k``: ``(k/2) j^2 - j^3/6``; for ``j >= k``: ``(k^2/2) j - k^3/6``:
    running sums give ``O(n)`` products.

    Examples
    --------
    >>> CSKernel().dense(2, {}).round(12).tolist()
    [[0.333333333333, 0.833333333333], [0.833333333333, 2.666666666667]]
    """

    name = "CS"
    fast_matmat = True

    def _dense(self, n, p):
        k = np.arange(1, n + 1, dtype=float)
        m = np.minimum(k[:, None], k[None, :])
        return k[:, None] * k[None, :] * m / 2 - m ** 3 / 6

    def _matmat(self, n, p, X, xp):
        k = _index(xp, n)[:, None]
        p2 = _cumsum(xp, k * k * X) - k * k * X
        p3 = _cumsum(xp, k ** 3 * X) - k ** 3 * X
        s1 = _rcumsum(xp, k * X)
        s0 = _rcumsum(xp, X)
        return (k * p2 + k * k * s1) / 2 - (p3 + k ** 3 * s0) / 6

    def _trace(self, n, p):
        return (n * (n + 1) / 2) ** 2 / 3


class SEKernel(Kernel):
    """Squared-exponential (Gaussian) kernel ``Kbar[k, j] = exp(-(k-j)^2 / (2 h^2))``.

    Notes
    -----
    Toeplitz: ``matmat`` uses :class:`~krylovid.operators.Toeplitz` (FFT
    circulant embedding) for ``n > 64`` and a dense product below.

    Examples
    --------
    >>> SEKernel().trace(4, {"h": 2.0})
    4.0
    """

    name = "SE"
    param_names = ("h",)
    bounds = {"h": (0.0, math.inf)}
    fast_matmat = True

    def default_grid(self, n=None):
        n = 50 if n is None else int(n)
        return [{"h": max(0.5, f * n)} for f in (0.02, 0.05, 0.1, 0.2, 0.4)]

    def _dense(self, n, p):
        k = np.arange(n, dtype=float)
        return np.exp(-((k[:, None] - k[None, :]) ** 2) / (2 * p["h"] ** 2))

    def _matmat(self, n, p, X, xp):
        if n <= 64:
            return super()._matmat(n, p, X, xp)
        from ..operators import Toeplitz

        d = xp.arange(n, dtype=xp.float64)
        return Toeplitz(xp.exp(-(d * d) / (2 * p["h"] ** 2))).matmat(X)

    def _trace(self, n, p):
        return float(n)


# ----------------------------------------------------------------------------- user kernels
class CallableKernel(Kernel):
    """A kernel from a user function ``fn(n, **params) -> (n, n)`` symmetric PSD matrix.

    Parameters
    ----------
    fn : callable
        ``fn(n, **params)`` returning an array of shape ``(n, n)``.
    param_names : tuple of str
        Names of the shape parameters passed to ``fn``.
    bounds : dict, optional
        ``name -> (low, high)`` open intervals (default ``(-inf, inf)``).
    grid : list of dict, optional
        Multistart points (default: the image of 0 under :meth:`from_unconstrained`).
    name : str
        Display name.

    Examples
    --------
    >>> import numpy as np
    >>> K = CallableKernel(lambda n, a: a * np.eye(n), ("a",), {"a": (0, np.inf)})
    >>> K.dense(2, {"a": 2.0}).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """

    def __init__(self, fn, param_names=(), bounds=None, grid=None, name="callable"):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        self.fn, self.name = fn, str(name)
        self.param_names = tuple(str(k) for k in param_names)
        bounds = {} if bounds is None else dict(bounds)
        extra = sorted(set(bounds) - set(self.param_names))
        if extra:
            raise ValueError(f"bounds: names {extra} are not in param_names {list(self.param_names)}")
        self.bounds = {k: tuple(float(b) for b in bounds.get(k, (-math.inf, math.inf)))
                       for k in self.param_names}
        for k, (lo, hi) in self.bounds.items():
            if not lo < hi:
                raise ValueError(f"bounds: empty interval for '{k}': ({lo}, {hi})")
        self._grid = None if grid is None else [dict(g) for g in grid]

    def default_grid(self, n=None):
        return super().default_grid(n) if self._grid is None else [dict(g) for g in self._grid]

    def _dense(self, n, p):
        M = np.asarray(to_numpy(self.fn(n, **p)), dtype=float)
        if M.shape != (n, n):
            raise ValueError(f"fn: the kernel function must return shape ({n}, {n}), got {M.shape}")
        if not np.all(np.isfinite(M)):
            raise ValueError("fn: the kernel function returned NaN or inf values")
        return (M + M.T) / 2


class OperatorKernel(Kernel):
    """A fixed user prior covariance (array or symmetric LinearOperator), no shape parameters.

    Examples
    --------
    >>> import numpy as np
    >>> OperatorKernel(np.diag([1.0, 2.0])).trace(2)
    3.0
    """

    def __init__(self, K, name="operator"):
        from ..operators import aslinearoperator

        self.op, self.name = aslinearoperator(K), str(name)
        if self.op.shape[0] != self.op.shape[1]:
            raise ValueError(f"K must be square, got shape {self.op.shape}")
        self.fast_matmat = not hasattr(K, "ndim")

    def _prep(self, n, params):
        n, p = super()._prep(n, params)
        if n != self.op.shape[0]:
            raise ValueError(f"n must equal the size of the fixed kernel, {self.op.shape[0]}, got {n}")
        return n, p

    def _dense(self, n, p):
        M = to_numpy(self.op.to_dense()).astype(float)
        return (M + M.T) / 2

    def _matmat(self, n, p, X, xp):
        if xp is not self.op.xp and not (is_numpy(xp) and is_numpy(self.op.xp)):
            return asarray(self._dense(n, p), xp, dtype=xp.float64) @ X
        return self.op.matmat(X)


# ----------------------------------------------------------------------------- multi-input
class BlockDiagonalKernel(Kernel):
    """Block-diagonal prior for ``num_inputs`` inputs: ``blkdiag(Kbar, ..., Kbar)``.

    The shape parameters (and the scale ``c``) are **shared** by all inputs,
    as in MATLAB's ``impulseest`` with one kernel for every input.  All sizes
    ``n`` passed to the methods are the *total* size ``num_inputs * order``
    (the number of columns of the multi-input regressor); each block has
    size ``n // num_inputs``.

    Parameters
    ----------
    kernel : Kernel, str or list
        The per-input kernel (a list must hold the same kernel for every input).
    num_inputs : int
        Number of inputs ``m``.

    Examples
    --------
    >>> K = BlockDiagonalKernel("TC", 2)
    >>> K.dense(4, {"beta": 0.5}).tolist()[0]
    [0.5, 0.25, 0.0, 0.0]
    """

    def __init__(self, kernel, num_inputs: int):
        self.num_inputs = check_int(num_inputs, "num_inputs", minimum=1)
        if isinstance(kernel, (list, tuple)):
            ks = [get_kernel(k) for k in kernel]
            if len(ks) != self.num_inputs or len({(type(k), k.name) for k in ks}) != 1:
                raise ValueError("kernel: a list must give the same kernel for each of the "
                                 f"{self.num_inputs} inputs (shape parameters are shared)")
            kernel = ks[0]
        self.base = get_kernel(kernel)
        self.name = f"{self.base.name}x{self.num_inputs}"
        self.param_names, self.bounds = self.base.param_names, self.base.bounds
        self.fast_matmat, self.fast_sqrt = self.base.fast_matmat, self.base.fast_sqrt

    def default_grid(self, n=None):
        return self.base.default_grid(None if n is None else n // self.num_inputs)

    def check_params(self, params):
        return self.base.check_params(params)

    def _prep(self, n, params):
        n, p = super()._prep(n, params)
        if n % self.num_inputs:
            raise ValueError(f"n must be a multiple of num_inputs={self.num_inputs}, got {n}")
        return n, p

    def _blocks(self, fn, n, p, X, xp):
        m, nb, k = self.num_inputs, n // self.num_inputs, X.shape[1]
        Xb = xp.reshape(xp.permute_dims(xp.reshape(X, (m, nb, k)), (1, 0, 2)), (nb, m * k))
        Yb = fn(nb, p, Xb, xp)
        return xp.reshape(xp.permute_dims(xp.reshape(Yb, (nb, m, k)), (1, 0, 2)), (n, k))

    def _dense(self, n, p):
        return np.kron(np.eye(self.num_inputs), self.base._dense(n // self.num_inputs, p))

    def _sqrt_dense(self, n, p):
        return np.kron(np.eye(self.num_inputs), self.base._sqrt_dense(n // self.num_inputs, p))

    def _matmat(self, n, p, X, xp):
        return self._blocks(self.base._matmat, n, p, X, xp)

    def _sqrt_matmat(self, n, p, X, xp):
        return self._blocks(self.base._sqrt_matmat, n, p, X, xp)

    def _sqrt_rmatmat(self, n, p, X, xp):
        return self._blocks(self.base._sqrt_rmatmat, n, p, X, xp)

    def _trace(self, n, p):
        return self.num_inputs * self.base._trace(n // self.num_inputs, p)

    def _logdet(self, n, p):
        return self.num_inputs * self.base._logdet(n // self.num_inputs, p)

    def __repr__(self):
        return f"BlockDiagonalKernel({self.base!r}, num_inputs={self.num_inputs})"


# ----------------------------------------------------------------------------- registry
_REGISTRY = {"TC": TCKernel, "DC": DCKernel, "SS": SSKernel, "SE": SEKernel, "HF": HFKernel,
             "DI": DIKernel, "CS": CSKernel}
KERNEL_NAMES = tuple(_REGISTRY)


def get_kernel(name_or_kernel) -> Kernel:
    """Resolve a kernel name, instance, callable or fixed matrix to a :class:`Kernel`.

    Parameters
    ----------
    name_or_kernel : str, Kernel, callable, array or LinearOperator
        A name in ``KERNEL_NAMES`` (case-insensitive); a Kernel (returned as
        is); a callable ``fn(n) -> (n, n)`` without shape parameters (wrapped
        in :class:`CallableKernel`); a fixed matrix (:class:`OperatorKernel`).

    Examples
    --------
    >>> get_kernel("tc").name
    'TC'
    """
    if isinstance(name_or_kernel, Kernel):
        return name_or_kernel
    if isinstance(name_or_kernel, str):
        key = name_or_kernel.strip().upper()
        if key not in _REGISTRY:
            raise ValueError(f"kernel: unknown kernel {name_or_kernel!r}; valid names are {list(KERNEL_NAMES)}")
        return _REGISTRY[key]()
    if isinstance(name_or_kernel, type) and issubclass(name_or_kernel, Kernel):
        return name_or_kernel()
    if isinstance(name_or_kernel, LinearOperator) or hasattr(name_or_kernel, "shape"):
        return OperatorKernel(name_or_kernel)
    if callable(name_or_kernel):
        return CallableKernel(name_or_kernel)
    raise TypeError(f"kernel: expected a name {list(KERNEL_NAMES)}, a Kernel, a callable or a matrix, "
                    f"got {type(name_or_kernel).__name__}")
