"""Kernel base class, its operator views and the shared numeric helpers (DESIGN §2).

:class:`Kernel` holds the validation, parameter transforms and the generic
dense fallbacks; :class:`KernelOperator` / :class:`KernelSqrtOperator` wrap a
kernel at fixed ``n`` and parameters as LinearOperators.  The private helpers
(prefix/suffix sums, the stable AR(1) filter, underflow-safe powers) are used
by the structured kernels in the sibling modules.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..._validation import check_int
from ...backend import array_namespace, asarray, is_cupy, is_numpy, numpy_namespace, to_numpy
from ...operators import LinearOperator

__all__ = ["Kernel", "KernelOperator", "KernelSqrtOperator", "tail_index", "ones_gram_diagonal"]

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


def tail_index(diag, rel_tol: float = 1e-18, minimum: int = 16) -> int:
    """Smallest ``k`` with ``sum(diag[k:]) <= rel_tol * sum(diag)`` (at least ``minimum``, at most ``len(diag)``).

    Examples
    --------
    >>> import numpy as np
    >>> tail_index(0.5 ** np.arange(100), rel_tol=1e-6, minimum=1)
    20
    """
    diag = np.asarray(diag, dtype=np.float64)
    tail = np.cumsum(diag[::-1])[::-1]
    idx = np.nonzero(tail <= rel_tol * tail[0])[0]
    k = int(idx[0]) if idx.size else diag.size
    return int(min(diag.size, max(k, minimum)))


def ones_gram_diagonal(M) -> np.ndarray:
    """``S_k = sum_{i, j <= k} M_ij``: the diagonal of ``U^T M U`` for the upper-triangular ones matrix ``U``.

    ``M`` is a symmetric ``(n, n)`` array; ``O(n^2)`` time, ``O(n)`` extra memory.

    Examples
    --------
    >>> import numpy as np
    >>> ones_gram_diagonal(np.array([[1.0, 2.0], [2.0, 3.0]])).tolist()
    [1.0, 8.0]
    """
    xp = array_namespace(M)
    if not is_numpy(xp):  # on the device: one O(n^2) reduction, only the length-n result comes to the host
        below_d = xp.sum(xp.tril(M, k=-1), axis=1)
        return np.cumsum(2.0 * to_numpy(below_d) + to_numpy(xp.linalg.diagonal(M)))
    M = np.asarray(M, dtype=np.float64)
    below = np.array([M[k, :k].sum() for k in range(M.shape[0])])
    return np.cumsum(2.0 * below + np.diag(M))


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
    sqrt_triangular : bool
        Whether the square root ``L`` of :meth:`sqrt` is upper triangular, so that
        the leading ``k x k`` block of ``L^T M L`` only involves ``M[:k, :k]``
        (what :meth:`truncation_index` relies on).

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.sysid.kernels import get_kernel
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
    sqrt_triangular = False

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
            raise ValueError(
                f"{self.name} kernel: unknown hyperparameter(s) {unknown}; "
                f"expected {list(self.param_names)} (and optionally 'c')"
            )
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
        return {k: _inverse(float(zi), *self.bounds[k]) for k, zi in zip(self.param_names, z, strict=True)}

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

    def diagonal(self, n: int, params=None) -> np.ndarray:
        """``diag(Kbar)`` of shape ``(n,)`` (closed form for the built-in kernels, else from column blocks)."""
        n, p = self._prep(n, params)
        return np.asarray(self._diagonal(n, p), dtype=np.float64)

    def sqrt_gram_diagonal(self, n: int, params, M, ones_prefix=None):
        """``diag(L^T M L)`` of shape ``(n,)`` for a symmetric ``M`` (``L = sqrt(n, params)``), or ``None``.

        ``None`` when the kernel has no cheap form (the caller then does without).
        ``ones_prefix`` is :func:`ones_gram_diagonal` of ``M`` when already known
        (the TC form needs it and it costs ``O(n^2)`` to compute).
        """
        n, p = self._prep(n, params)
        d = self._sqrt_gram_diagonal(n, p, M, ones_prefix)
        return None if d is None else np.asarray(d, dtype=np.float64)

    def truncation_index(self, n: int, params, M, ones_prefix=None, rel_tol: float = 1e-18, minimum: int = 16) -> int:
        """Size ``k`` of the leading block of ``G = L^T M L`` that holds all but ``rel_tol`` of its trace.

        ``n`` (no truncation) unless :attr:`sqrt_triangular` and the kernel has a
        cheap :meth:`sqrt_gram_diagonal`.
        """
        if not self.sqrt_triangular:
            return int(n)
        d = self.sqrt_gram_diagonal(n, params, M, ones_prefix)
        return int(n) if d is None else tail_index(d, rel_tol, minimum)

    def operator(self, n: int, params=None) -> KernelOperator:
        """``Kbar`` as a symmetric :class:`~krylovid.operators.LinearOperator`."""
        n, p = self._prep(n, params)
        return KernelOperator(self, n, p)

    def sqrt_operator(self, n: int, params=None) -> KernelSqrtOperator:
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
        # Eigenvalues below eps * ||Kbar|| are rounding noise of the eigendecomposition itself; zeroing them
        # changes L L^T by at most that much and keeps subnormal numbers (which slow LAPACK down by orders of
        # magnitude, e.g. the SS kernel near beta = 1) out of every product with L.
        w = np.where(w > np.finfo(np.float64).eps * max(float(w[-1]), 0.0), w, 0.0)
        return V * np.sqrt(w)[None, :]

    def _sqrt_matmat(self, n, p, X, xp):
        return asarray(self._sqrt_dense(n, p), xp, dtype=xp.float64) @ X

    def _sqrt_rmatmat(self, n, p, X, xp):
        return asarray(self._sqrt_dense(n, p), xp, dtype=xp.float64).T @ X

    def _trace(self, n, p):
        return float(np.trace(self._dense(n, p)))

    def _diagonal(self, n, p):
        out = np.empty(n)
        step = max(1, min(n, 4_000_000 // max(n, 1)))
        for a in range(0, n, step):
            b = min(n, a + step)
            E = np.zeros((n, b - a))
            E[np.arange(a, b), np.arange(b - a)] = 1.0
            out[a:b] = np.asarray(to_numpy(self._matmat(n, p, E, numpy_namespace())))[np.arange(a, b), np.arange(b - a)]
        return out

    def _sqrt_gram_diagonal(self, n, p, M, ones_prefix):
        return None

    def _logdet(self, n, p):
        w = np.linalg.eigvalsh(self._dense(n, p))
        if w[0] <= n * np.finfo(float).eps * max(abs(w[-1]), 1e-300):
            raise ValueError(
                f"{self.name} kernel of size {n} is numerically singular "
                f"(smallest eigenvalue {w[0]:.3g}); its log-determinant is not available"
            )
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
