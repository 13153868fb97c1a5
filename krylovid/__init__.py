"""krylovid: kernel-regularized system identification tuned by augmented Krylov
methods, and attention approximations on the same numerical core."""
__version__ = "0.1.0"
