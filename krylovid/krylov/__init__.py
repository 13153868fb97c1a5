"""Krylov solvers: Lanczos, resumable block Lanczos, CG and Gauss quadrature bounds.

* :func:`lanczos` -> :class:`LanczosResult` (``A Q = Q T + r e_j^T``);
* :class:`BlockLanczos` (resumable, rank-revealing deflation) and
  :func:`block_lanczos` -> :class:`BlockLanczosResult`;
* :func:`cg`, :func:`block_cg` (stopping rule ``||r|| <= atol + rtol * ||b||``);
* :func:`gauss_quadrature`, :func:`gauss_radau`, :func:`quadratic_form_bounds`
  (certified bounds on ``b^T (A + shift I)^{-1} b``).
"""

from ._common import ConvergenceWarning
from .block_lanczos import BlockLanczos, BlockLanczosResult, block_lanczos
from .cg import BlockCGResult, CGResult, block_cg, cg
from .lanczos import LanczosResult, lanczos
from .quadrature import QuadraticFormBounds, gauss_quadrature, gauss_radau, quadratic_form_bounds

__all__ = [
    "lanczos",
    "LanczosResult",
    "BlockLanczos",
    "block_lanczos",
    "BlockLanczosResult",
    "cg",
    "block_cg",
    "CGResult",
    "BlockCGResult",
    "ConvergenceWarning",
    "gauss_quadrature",
    "gauss_radau",
    "quadratic_form_bounds",
    "QuadraticFormBounds",
]
