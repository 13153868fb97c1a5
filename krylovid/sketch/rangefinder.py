"""Randomized range finder with subspace (power) iteration (Halko, Martinsson, Tropp 2011)."""

from __future__ import annotations

from .._validation import check_int
from ._utils import as_operator, check_output_finite, check_rank, orthonormalize
from .random import SKETCH_KINDS, sketch_matrix

__all__ = ["range_finder", "sketch_size"]


def sketch_size(k: int, oversample: int, limit: int) -> int:
    """Number of test vectors ``l = min(k + oversample, limit)``.

    Examples
    --------
    >>> sketch_size(10, 5, 100), sketch_size(10, 5, 12)
    (15, 12)
    """
    return min(k + oversample, limit)


def range_finder(A, k, *, oversample=10, power_iters=0, rng=None, kind="gaussian"):
    """Orthonormal basis approximately spanning the dominant range of ``A``.

    Parameters
    ----------
    A : array or LinearOperator of shape (m, n)
        Any real matrix; ``A^T`` is applied through ``rmatmat`` when
        ``power_iters > 0``.
    k : int
        Target rank, ``1 <= k <= min(m, n)``.
    oversample : int
        Extra test vectors ``p >= 0``; the basis has ``l = min(k + p, m, n)``
        columns.
    power_iters : int
        Number ``q >= 0`` of subspace iterations ``(A A^T)^q A Omega``, with a
        re-orthonormalisation after every application of ``A`` or ``A^T``.
    rng : None, int or numpy.random.Generator
    kind : str
        Test matrix kind (see :func:`~krylovid.sketch.sketch_matrix`).

    Returns
    -------
    Q : array of shape (m, l)
        Orthonormal columns (``Q^T Q = I``), in the namespace of ``A``.

    Notes
    -----
    ``Y = A Omega``, ``Q = orth(Y)``; then ``q`` times ``Q = orth(A orth(A^T Q))``.
    The error ``||A - Q Q^T A||`` is close to the optimal ``sigma_{k+1}`` and
    improves like ``(sigma_{k+1} / sigma_k)^(2q+1)`` in the gap-dependent
    part.  Cost: ``l (2 q + 1)`` operator applications.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag([3.0, 2.0, 1e-9, 1e-9, 1e-9])
    >>> Q = range_finder(A, 2, oversample=0, power_iters=1, rng=0)
    >>> bool(np.linalg.norm(A - Q @ (Q.T @ A)) < 1e-8)
    True
    """
    op = as_operator(A)
    m, n = op.shape
    k = check_rank(k, "k", min(m, n), "min(A.shape)")
    oversample = check_int(oversample, "oversample", minimum=0)
    power_iters = check_int(power_iters, "power_iters", minimum=0)
    if kind not in SKETCH_KINDS:
        raise ValueError(f"kind must be one of {SKETCH_KINDS}, got {kind!r}")
    ell = sketch_size(k, oversample, min(m, n))
    Omega = sketch_matrix(kind, n, ell, rng=rng, xp=op.xp, dtype=op.dtype)
    Y = op.matmat(Omega)
    check_output_finite(Y)
    Q = orthonormalize(Y)
    for _ in range(power_iters):
        Z = orthonormalize(op.rmatmat(Q))
        Q = orthonormalize(op.matmat(Z))
    return Q
