"""krylovid: kernel-regularized system identification tuned by augmented Krylov
methods, and attention approximations on the same numerical core.

Subpackages: :mod:`krylovid.operators`, :mod:`krylovid.krylov`,
:mod:`krylovid.sketch`, :mod:`krylovid.sysid`, :mod:`krylovid.attention`.
"""

__version__ = "0.1.0"

from .sysid import KernelFIR, objective  # noqa: E402

__all__ = ["KernelFIR", "objective", "__version__"]
