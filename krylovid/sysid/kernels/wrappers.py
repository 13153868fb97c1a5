"""User and multi-input kernels, and the name registry (:func:`get_kernel`)."""

from __future__ import annotations

import math

import numpy as np

from ..._validation import check_int
from ...backend import asarray, is_numpy, to_numpy
from ...operators import LinearOperator
from .base import Kernel
from .correlated import DCKernel, SEKernel
from .spline import CSKernel, SSKernel
from .tc import DIKernel, HFKernel, TCKernel

__all__ = ["CallableKernel", "OperatorKernel", "BlockDiagonalKernel", "get_kernel", "KERNEL_NAMES"]


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
        self.bounds = {k: tuple(float(b) for b in bounds.get(k, (-math.inf, math.inf))) for k in self.param_names}
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
        from ...operators import aslinearoperator

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
                raise ValueError(
                    "kernel: a list must give the same kernel for each of the "
                    f"{self.num_inputs} inputs (shape parameters are shared)"
                )
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

    def _diagonal(self, n, p):
        return np.tile(np.asarray(self.base._diagonal(n // self.num_inputs, p), dtype=np.float64), self.num_inputs)

    def _sqrt_gram_diagonal(self, n, p, M, ones_prefix):
        nb = n // self.num_inputs
        parts = [
            self.base._sqrt_gram_diagonal(nb, p, M[i * nb : (i + 1) * nb, i * nb : (i + 1) * nb], None)
            for i in range(self.num_inputs)
        ]
        return None if any(d is None for d in parts) else np.concatenate(parts)

    def _logdet(self, n, p):
        return self.num_inputs * self.base._logdet(n // self.num_inputs, p)

    def __repr__(self):
        return f"BlockDiagonalKernel({self.base!r}, num_inputs={self.num_inputs})"


# ----------------------------------------------------------------------------- registry
_REGISTRY = {
    "TC": TCKernel,
    "DC": DCKernel,
    "SS": SSKernel,
    "SE": SEKernel,
    "HF": HFKernel,
    "DI": DIKernel,
    "CS": CSKernel,
}
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
    raise TypeError(
        f"kernel: expected a name {list(KERNEL_NAMES)}, a Kernel, a callable or a matrix, "
        f"got {type(name_or_kernel).__name__}"
    )
