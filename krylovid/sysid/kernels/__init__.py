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

The implementation is split by concept: :mod:`.base` (the :class:`Kernel`
base class, its operator views and shared helpers), :mod:`.tc` (TC, HF, DI),
:mod:`.correlated` (DC, SE), :mod:`.spline` (SS, CS) and :mod:`.wrappers`
(user and multi-input kernels, :func:`get_kernel`).  Every name is
re-exported here, so ``krylovid.sysid.kernels.<name>`` keeps resolving.
"""

from __future__ import annotations

# Re-exports: every top-level name of the former single-module ``kernels.py``
# (private helpers and imported names included) stays reachable from here.
import math  # noqa: F401
import numbers  # noqa: F401

import numpy as np  # noqa: F401

from ..._validation import check_int  # noqa: F401
from ...backend import array_namespace, asarray, is_cupy, is_numpy, numpy_namespace, to_numpy  # noqa: F401
from ...operators import LinearOperator  # noqa: F401
from .base import (  # noqa: F401
    _BETA_GRID,
    _TINY,
    Kernel,
    KernelOperator,
    KernelSqrtOperator,
    _ar1_filter,
    _as_block,
    _cumsum,
    _geom_sum,
    _index,
    _inverse,
    _pow,
    _rcumsum,
    _to_xp,
    _transform,
)
from .correlated import DCKernel, SEKernel
from .spline import CSKernel, SSKernel
from .tc import DIKernel, HFKernel, TCKernel
from .wrappers import _REGISTRY, KERNEL_NAMES, BlockDiagonalKernel, CallableKernel, OperatorKernel, get_kernel  # noqa: F401

__all__ = [
    "Kernel",
    "TCKernel",
    "DCKernel",
    "SSKernel",
    "SEKernel",
    "HFKernel",
    "DIKernel",
    "CSKernel",
    "CallableKernel",
    "OperatorKernel",
    "BlockDiagonalKernel",
    "KernelOperator",
    "KernelSqrtOperator",
    "get_kernel",
    "KERNEL_NAMES",
]
