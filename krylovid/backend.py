"""Array-namespace layer: one place for what the array API standard lacks.

Every public function of krylovid starts with ``xp = array_namespace(*arrays)``
and from then on calls only ``xp.*`` and the helpers below, so the same code
runs on NumPy, CuPy and ``array-api-strict`` (the CPU stand-in for CuPy in the
tests).  Arrays move between host and device only through :func:`to_numpy` and
:func:`asarray`, at explicit boundaries.

The helpers cover:

* namespace dispatch (:func:`array_namespace`, :func:`is_numpy`, :func:`is_cupy`,
  :func:`is_strict`);
* random numbers (:func:`default_rng` normalises ``int`` / ``Generator`` /
  ``None``; :func:`standard_normal`, :func:`rademacher`, :func:`uniform` draw on
  the backend of ``xp``);
* host <-> device (:func:`to_numpy`, :func:`asarray`);
* the FFT (:func:`rfft`, :func:`irfft`);
* small dense linear algebra not (or not uniformly) in the standard:
  :func:`eigh`, :func:`cholesky`, :func:`solve_triangular`, :func:`qr`,
  :func:`svd`;
* dtype helpers (:func:`float_dtype`, :func:`eps`);
* the static types :data:`Array` and :data:`Namespace` used in annotations.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np
import scipy.linalg as sla

__all__ = [
    "Array",
    "Namespace",
    "array_namespace",
    "is_numpy",
    "is_cupy",
    "is_strict",
    "default_rng",
    "standard_normal",
    "rademacher",
    "uniform",
    "to_numpy",
    "asarray",
    "rfft",
    "irfft",
    "eigh",
    "cholesky",
    "solve_triangular",
    "qr",
    "svd",
    "diagonal",
    "triangular_rcond",
    "float_dtype",
    "eps",
    "numpy_namespace",
]


#: An array of any supported backend (``numpy.ndarray``, ``cupy.ndarray``, an
#: array-API array).  The array API has no common static type, so to a type
#: checker this is ``Any``: annotations say "an array" without forbidding
#: ``.shape`` or arithmetic, as ``object`` would.
Array = Any

#: An array namespace (``xp``): a module such as ``array_api_compat.numpy``,
#: ``cupy`` or ``array_api_strict``.
Namespace = Any


def numpy_namespace():
    """The array-API compatible NumPy namespace (functions return ``np.ndarray``)."""
    return array_api_compat.array_namespace(np.empty(0))


def array_namespace(*arrays):
    """Namespace shared by ``arrays`` (``None`` and Python scalars are ignored).

    Plain lists/tuples and NumPy scalars are treated as NumPy.  Raises
    ``TypeError`` when arrays of different libraries are mixed.

    Examples
    --------
    >>> import numpy as np
    >>> xp = array_namespace(np.ones(3), None, 2.0)
    >>> is_numpy(xp), xp.sum(xp.ones(3)).item()
    (True, 3.0)
    >>> is_numpy(array_namespace())  # no array at all: NumPy
    True
    """
    arrs = []
    for a in arrays:
        if a is None or isinstance(a, (bool, int, float, complex)):
            continue
        if isinstance(a, (list, tuple, np.generic)):
            a = np.asarray(a)
        arrs.append(a)
    if not arrs:
        return numpy_namespace()
    try:
        return array_api_compat.array_namespace(*arrs)
    except TypeError as exc:
        raise TypeError(f"arrays from different array libraries were mixed: {exc}") from None


def is_numpy(xp) -> bool:
    """Whether ``xp`` is NumPy (plain or its array-API compatible wrapper)."""
    return array_api_compat.is_numpy_namespace(xp)


def is_cupy(xp) -> bool:
    """Whether ``xp`` is CuPy (CuPy itself need not be installed to ask)."""
    return array_api_compat.is_cupy_namespace(xp)


def is_strict(xp) -> bool:
    """Whether ``xp`` is ``array_api_strict`` (the test stand-in for CuPy)."""
    return array_api_compat.is_array_api_strict_namespace(xp)


# ----------------------------------------------------------------------------- rng
def default_rng(rng=None) -> np.random.Generator:
    """Normalise ``rng`` (None, int, SeedSequence or Generator) to a NumPy Generator.

    A Generator is returned as is (so successive calls advance it), anything
    else seeds a fresh one.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.random.default_rng(0)
    >>> default_rng(g) is g
    True
    >>> default_rng(7).integers(0, 100) == default_rng(7).integers(0, 100)  # same seed, same draws
    True
    >>> default_rng(-1)
    Traceback (most recent call last):
    ...
    ValueError: rng: a seed must be non-negative, got -1
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (bool, np.bool_)):
        raise TypeError("rng: expected None, an int, a SeedSequence or a numpy Generator, got bool")
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        if isinstance(rng, (int, np.integer)) and rng < 0:
            raise ValueError(f"rng: a seed must be non-negative, got {rng}")
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(rng.randint(0, 2**31 - 1))
    raise TypeError(f"rng: expected None, an int, a SeedSequence or a numpy Generator, got {type(rng).__name__}")


def _device_generator(rng, xp):
    """A CuPy generator seeded from the host generator (only used for CuPy)."""
    import cupy  # noqa: F401  (only reached when xp is CuPy)

    seed = int(default_rng(rng).integers(0, 2**63 - 1))
    return cupy.random.default_rng(seed)


def standard_normal(rng, shape, *, xp=None, dtype=None):
    """Standard normal array of ``shape`` on the backend ``xp`` (default NumPy).

    Examples
    --------
    >>> x = standard_normal(0, (3, 2))
    >>> x.shape, str(x.dtype)
    ((3, 2), 'float64')
    """
    xp = numpy_namespace() if xp is None else xp
    dtype = xp.float64 if dtype is None else dtype
    if is_cupy(xp):
        return _device_generator(rng, xp).standard_normal(shape, dtype=dtype)
    return asarray(default_rng(rng).standard_normal(shape), xp, dtype=dtype)


def rademacher(rng, shape, *, xp=None, dtype=None):
    """Random signs (+1/-1) of ``shape`` on the backend ``xp``.

    Examples
    --------
    >>> sorted(set(rademacher(0, 100).tolist()))
    [-1.0, 1.0]
    """
    xp = numpy_namespace() if xp is None else xp
    dtype = xp.float64 if dtype is None else dtype
    signs = default_rng(rng).integers(0, 2, size=shape).astype(np.float64) * 2.0 - 1.0
    return asarray(signs, xp, dtype=dtype)


def uniform(rng, shape, low=0.0, high=1.0, *, xp=None, dtype=None):
    """Uniform samples on ``[low, high)`` of ``shape`` on the backend ``xp``."""
    xp = numpy_namespace() if xp is None else xp
    dtype = xp.float64 if dtype is None else dtype
    return asarray(default_rng(rng).uniform(low, high, size=shape), xp, dtype=dtype)


# ----------------------------------------------------------------------------- host/device
def to_numpy(x) -> np.ndarray:
    """Copy (or view) ``x`` as a host NumPy array; the explicit device -> host boundary.

    Examples
    --------
    >>> to_numpy([1.0, 2.0]).tolist()
    [1.0, 2.0]
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple, int, float, np.generic)):
        return np.asarray(x)
    xp = array_api_compat.array_namespace(x)
    if is_cupy(xp):
        return x.get()
    if is_strict(xp):
        return np.asarray(x.__array__() if hasattr(x, "__array__") else x._array)
    return np.asarray(x)


def asarray(x, xp, *, dtype=None):
    """Array of namespace ``xp`` from ``x`` (host data is copied to the device).

    Examples
    --------
    >>> xp = numpy_namespace()
    >>> asarray([1, 2], xp, dtype=xp.float32).dtype
    dtype('float32')
    """
    if is_strict(xp) and not isinstance(x, (int, float, bool, complex)):
        try:
            xp_x = array_api_compat.array_namespace(x)
        except TypeError:
            xp_x = None
        if xp_x is not None and not is_strict(xp_x):
            x = np.asarray(to_numpy(x))
    return xp.asarray(x, dtype=dtype)


# ----------------------------------------------------------------------------- fft
def rfft(x, n=None, axis=-1):
    """Real FFT along ``axis`` with zero padding to ``n``."""
    xp = array_namespace(x)
    return xp.fft.rfft(x, n=n, axis=axis)


def irfft(X, n=None, axis=-1):
    """Inverse of :func:`rfft` returning ``n`` real samples along ``axis``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> np.round(irfft(rfft(x, n=4), n=4), 12).tolist()  # zero padded to 4 samples
    [1.0, 2.0, 3.0, 0.0]
    """
    xp = array_namespace(X)
    return xp.fft.irfft(X, n=n, axis=axis)


# ----------------------------------------------------------------------------- linalg
def float_dtype(xp, *arrays):
    """The floating dtype to compute in: float32 only if every input is float32.

    Examples
    --------
    >>> import numpy as np
    >>> xp = numpy_namespace()
    >>> float_dtype(xp, np.ones(2, np.float32)), float_dtype(xp, np.ones(2, np.float32), np.ones(2))
    (<class 'numpy.float32'>, <class 'numpy.float64'>)
    """
    dts = [a.dtype for a in arrays if a is not None and hasattr(a, "dtype")]
    if dts and all(d == xp.float32 for d in dts):
        return xp.float32
    return xp.float64


def eps(xp, dtype=None) -> float:
    """Machine epsilon of ``dtype`` (default float64).

    Examples
    --------
    >>> xp = numpy_namespace()
    >>> eps(xp) == 2.0**-52, eps(xp, xp.float32) == 2.0**-23
    (True, True)
    """
    return float(xp.finfo(xp.float64 if dtype is None else dtype).eps)


def eigh(A):
    """Symmetric eigendecomposition ``A = V diag(w) V^T`` (ascending ``w``).

    Examples
    --------
    >>> import numpy as np
    >>> w, V = eigh(np.array([[2.0, 1.0], [1.0, 2.0]]))
    >>> np.round(w, 12).tolist()
    [1.0, 3.0]
    """
    xp = array_namespace(A)
    A = (A + A.T) / 2
    w, V = xp.linalg.eigh(A)
    return w, V


def cholesky(A, *, lower=True):
    """Cholesky factor of a symmetric positive definite ``A`` (raises ``numpy.linalg.LinAlgError``-like errors).

    Examples
    --------
    >>> import numpy as np
    >>> cholesky(np.array([[4.0, 2.0], [2.0, 2.0]])).tolist()
    [[2.0, 0.0], [1.0, 1.0]]
    """
    xp = array_namespace(A)
    L = xp.linalg.cholesky(A)
    if is_numpy(xp) and not np.all(np.isfinite(L)):
        raise np.linalg.LinAlgError("matrix is not positive definite")
    return L if lower else L.T


def solve_triangular(T, B, *, lower=True, trans=False):
    """Solve ``T X = B`` (or ``T^T X = B`` with ``trans``) for triangular ``T``.

    The array API has no triangular solve: NumPy uses SciPy, CuPy uses
    ``cupyx.scipy.linalg``, other namespaces go through the host.

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[2.0, 0.0], [1.0, 1.0]])
    >>> solve_triangular(L, np.array([2.0, 3.0])).tolist()
    [1.0, 2.0]
    >>> solve_triangular(L, np.array([3.0, 2.0]), trans=True).tolist()  # L^T x = b
    [0.5, 2.0]
    """
    xp = array_namespace(T, B)
    if is_numpy(xp):
        return sla.solve_triangular(T, B, lower=lower, trans=1 if trans else 0, check_finite=False)
    if is_cupy(xp):
        import cupyx.scipy.linalg as csla

        return csla.solve_triangular(T, B, lower=lower, trans=1 if trans else 0)
    X = sla.solve_triangular(to_numpy(T), to_numpy(B), lower=lower, trans=1 if trans else 0)
    return asarray(X, xp, dtype=T.dtype)


def qr(A):
    """Reduced QR factorisation ``A = Q R``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[3.0, 1.0], [4.0, 2.0], [0.0, 5.0]])
    >>> Q, R = qr(A)
    >>> Q.shape, R.shape, bool(np.allclose(Q @ R, A))
    ((3, 2), (2, 2), True)
    """
    xp = array_namespace(A)
    return xp.linalg.qr(A, mode="reduced")


def svd(A):
    """Thin SVD ``A = U diag(s) Vt``.

    Examples
    --------
    >>> import numpy as np
    >>> U, s, Vt = svd(np.diag([3.0, 4.0]))
    >>> s.tolist()
    [4.0, 3.0]
    """
    xp = array_namespace(A)
    return xp.linalg.svd(A, full_matrices=False)


def diagonal(A):
    """Main diagonal of a square ``A`` as a 1-D array of the same namespace.

    Examples
    --------
    >>> import numpy as np
    >>> diagonal(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [1.0, 4.0]
    """
    xp = array_namespace(A)
    if is_numpy(xp):
        return np.diagonal(A)
    return xp.linalg.diagonal(A)


def triangular_rcond(R) -> float:
    """Reciprocal 1-norm condition number of an upper triangular ``R`` (0 for a singular one).

    NumPy: LAPACK's estimate (``dtrcon``, ``O(n^2)``).  Other namespaces: the
    exact value ``1 / (||R||_1 ||R^{-1}||_1)`` from a triangular inverse on
    the device (``O(n^3)``, no ``n x n`` transfer to the host; at most the
    estimate, so never a more optimistic decision).

    Examples
    --------
    >>> import numpy as np
    >>> triangular_rcond(np.array([[2.0, 0.0], [0.0, 4.0]]))
    0.5
    """
    xp = array_namespace(R)
    if is_numpy(xp):
        rcond, info = sla.lapack.dtrcon(R, norm="1")
        return float(rcond) if info == 0 else 0.0
    n = R.shape[0]
    d = xp.abs(diagonal(R))
    if n == 0 or not float(xp.min(d)) > 0.0:
        return 0.0
    Rinv = solve_triangular(R, xp.eye(n, dtype=R.dtype), lower=False)
    norm1 = float(xp.max(xp.sum(xp.abs(R), axis=0)))
    inv1 = float(xp.max(xp.sum(xp.abs(Rinv), axis=0)))
    value = 1.0 / (norm1 * inv1)
    return value if math.isfinite(value) else 0.0
