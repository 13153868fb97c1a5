"""Linear operators: block-first ``LinearOperator`` base and concrete operators.

See :class:`LinearOperator` for the protocol (``_matmat`` hook, ``@``, ``.T``,
sums, products, scaling).
"""

from .base import LinearOperator, Product, Scaled, Sum, Transposed
from .convert import aslinearoperator, is_scipy_operator
from .counting import Counted
from .dense import Dense, Diagonal, Identity
from .scipy_adapter import FromScipy, to_scipy
from .shifted import Shifted
from .toeplitz import Toeplitz

__all__ = [
    "LinearOperator",
    "Sum",
    "Product",
    "Scaled",
    "Transposed",
    "aslinearoperator",
    "is_scipy_operator",
    "Counted",
    "Dense",
    "Diagonal",
    "Identity",
    "FromScipy",
    "to_scipy",
    "Shifted",
    "Toeplitz",
]
