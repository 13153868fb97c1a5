"""The one converter from arrays and SciPy objects to krylovid operators.

Every routine that accepts "a matrix or an operator" calls
:func:`aslinearoperator` once at its top; nothing else inspects the type of
its input.  It lives apart from :mod:`.base` because it needs the concrete
operators (:class:`~.dense.Dense`, :class:`~.scipy_adapter.FromScipy`), which
themselves derive from the base class.
"""

from __future__ import annotations

import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..backend import array_namespace
from .base import LinearOperator
from .dense import Dense
from .scipy_adapter import FromScipy

__all__ = ["aslinearoperator", "is_scipy_operator"]


def is_scipy_operator(A) -> bool:
    """Whether ``A`` is a SciPy sparse matrix/array or a ``scipy.sparse.linalg.LinearOperator``.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> is_scipy_operator(sp.eye(3)), is_scipy_operator(np.eye(3))
    (True, False)
    """
    return sp.issparse(A) or isinstance(A, spla.LinearOperator)


def aslinearoperator(A, *, symmetric: bool | None = None) -> LinearOperator:
    """Wrap ``A`` as a krylovid operator.

    Parameters
    ----------
    A : LinearOperator, array of shape (m, n), SciPy sparse matrix or SciPy LinearOperator
        A krylovid operator is returned unchanged; a 2-D array of any supported
        namespace becomes :class:`~krylovid.operators.Dense`; a SciPy sparse
        matrix or ``scipy.sparse.linalg.LinearOperator`` becomes
        :class:`~krylovid.operators.FromScipy` (NumPy only).
    symmetric : bool, optional
        Declare the operator symmetric (its adjoint is then itself).

    Returns
    -------
    LinearOperator

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> op = aslinearoperator(np.eye(2), symmetric=True)
    >>> type(op).__name__, op.symmetric, op.matvec(np.array([1.0, 2.0])).tolist()
    ('Dense', True, [1.0, 2.0])
    >>> type(aslinearoperator(sp.eye(3))).__name__
    'FromScipy'
    >>> aslinearoperator("A")
    Traceback (most recent call last):
    ...
    TypeError: A: cannot interpret a str as a linear operator
    """
    if isinstance(A, LinearOperator):
        return A
    if is_scipy_operator(A):
        return FromScipy(A, symmetric=bool(symmetric))
    if hasattr(A, "shape") and hasattr(A, "dtype"):
        array_namespace(A)  # raises TypeError for non-arrays
        return Dense(A, symmetric=symmetric)
    raise TypeError(f"A: cannot interpret a {type(A).__name__} as a linear operator")
