"""Input checks shared by every public function (DESIGN §6).

Each check raises ``ValueError`` or ``TypeError`` with a message that names the
offending argument, so bad input never turns into a wrong number or a bare
NumPy traceback.
"""

from __future__ import annotations

import numbers

import numpy as np

from .backend import array_namespace, asarray, to_numpy

__all__ = ["check_array", "check_positive", "check_in_range", "check_int", "check_finite"]


def check_finite(x, name: str):
    """Raise ``ValueError`` naming ``name`` when ``x`` holds NaN or inf."""
    xp = array_namespace(x)
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} contains NaN or inf values")
    return x


def check_array(
    x, name: str, *, ndim=None, min_size: int = 1, finite: bool = True, xp=None, dtype=None, allow_complex: bool = False
):
    """Validate and convert ``x`` to a floating array of namespace ``xp``.

    Parameters
    ----------
    x : array_like
        The input.
    name : str
        Argument name used in error messages.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    min_size : int
        Smallest allowed number of elements (default 1: empty arrays are refused).
    finite : bool
        Refuse NaN/inf.
    xp : namespace, optional
        Target namespace (default: the namespace of ``x``; NumPy for lists).
    dtype : dtype, optional
        Target floating dtype (default: float64, or float32 kept as float32).

    Returns
    -------
    array
        ``x`` as an array of ``xp``.
    """
    if x is None:
        raise TypeError(f"{name} is required, got None")
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}")
    if isinstance(x, (list, tuple, numbers.Number)):
        try:
            x = np.asarray(x)
        except ValueError as exc:
            raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    try:
        xp_x = array_namespace(x)
    except TypeError:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}") from None
    xp = xp_x if xp is None else xp
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    if isinstance(x, np.ndarray) and kind not in ("f", "i", "u", "b", "c"):
        raise TypeError(f"{name} must have a numeric dtype, got {x.dtype}")
    is_complex = kind == "c" or (not isinstance(x, np.ndarray) and xp_x.isdtype(x.dtype, "complex floating"))
    if is_complex and not allow_complex:
        raise TypeError(f"{name} must be real, got dtype {x.dtype}")
    if dtype is None and is_complex:
        # allow_complex: keep the imaginary part (casting to float64 would drop it)
        dtype = xp.complex64 if str(x.dtype) == "complex64" else xp.complex128
    elif dtype is None:
        dtype = xp.float32 if str(x.dtype) == "float32" else xp.float64
    x = asarray(x, xp, dtype=dtype) if xp_x is not xp else xp.astype(x, dtype) if x.dtype != dtype else x
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must be {want}-dimensional, got shape {tuple(x.shape)}")
    size = 1
    for s in x.shape:
        size *= int(s)
    if size < min_size:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    if finite:
        check_finite(x, name)
    return x


def check_positive(value, name: str, *, strict: bool = True) -> float:
    """A finite real scalar that is > 0 (or >= 0 with ``strict=False``)."""
    v = _as_scalar(value, name)
    if strict and not v > 0:
        raise ValueError(f"{name} must be positive, got {v}")
    if not strict and not v >= 0:
        raise ValueError(f"{name} must be non-negative, got {v}")
    return v


def check_in_range(value, name: str, low: float, high: float, *, closed: bool = False) -> float:
    """A finite real scalar inside ``(low, high)`` (or ``[low, high]`` when ``closed``)."""
    v = _as_scalar(value, name)
    ok = (low <= v <= high) if closed else (low < v < high)
    if not ok:
        br = "[]" if closed else "()"
        raise ValueError(f"{name} must lie in {br[0]}{low}, {high}{br[1]}, got {v}")
    return v


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (not bool) within optional bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def _as_scalar(value, name: str) -> float:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        v = float(to_numpy(value)) if not isinstance(value, numbers.Real) else float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v
