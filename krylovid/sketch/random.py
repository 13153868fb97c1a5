"""Random test matrices for sketching.

All test matrices ``Omega`` of shape ``(n, k)`` returned here have entries of
unit variance, so ``E[Omega Omega^T] = k I`` (the orthonormal one excepted: its
columns are orthonormal).  A *sketch* of ``X`` is ``S X`` with ``S = Omega^T``
up to scaling; :func:`srht_sketch` applies the structured one without forming
it.

The structured transform is the **subsampled randomized Hartley transform**:
``S = sqrt(n / k) R H D`` with ``D`` random signs, ``H`` the orthonormal
discrete Hartley transform (``H_{ij} = cas(2 pi i j / n) / sqrt(n)``,
``cas = cos + sin``; real, symmetric, orthogonal) computed with one real FFT in
``O(n log n)`` per column, and ``R`` a uniform choice of ``k`` rows without
replacement.  It plays the role of the SRHT (Walsh–Hadamard) or SRDCT, works for
every ``n`` (no power of two needed) and uses only ``xp.fft.rfft``, so it runs
on every backend.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_array, check_int
from ..backend import array_namespace, asarray, default_rng, numpy_namespace, rademacher, standard_normal

__all__ = [
    "gaussian_matrix",
    "rademacher_matrix",
    "orthogonal_matrix",
    "srht_matrix",
    "srht_sketch",
    "hartley_transform",
    "sketch_matrix",
    "SKETCH_KINDS",
]

#: Kinds accepted by :func:`sketch_matrix`.
SKETCH_KINDS = ("gaussian", "rademacher", "orthogonal", "srht")


def _setup(n, k, xp, dtype):
    n = check_int(n, "n", minimum=1)
    k = check_int(k, "k", minimum=1)
    xp = numpy_namespace() if xp is None else xp
    dtype = xp.float64 if dtype is None else dtype
    return n, k, xp, dtype


def gaussian_matrix(n, k, rng=None, xp=None, dtype=None):
    """Standard Gaussian test matrix.

    Parameters
    ----------
    n, k : int
        Shape ``(n, k)``.
    rng : None, int or numpy.random.Generator
        Source of randomness.
    xp : namespace, optional
        Array namespace of the result (default NumPy).
    dtype : dtype, optional
        Floating dtype (default float64).

    Returns
    -------
    array of shape (n, k)
        I.i.d. ``N(0, 1)`` entries.

    Examples
    --------
    >>> gaussian_matrix(4, 2, rng=0).shape
    (4, 2)
    """
    n, k, xp, dtype = _setup(n, k, xp, dtype)
    return standard_normal(rng, (n, k), xp=xp, dtype=dtype)


def rademacher_matrix(n, k, rng=None, xp=None, dtype=None):
    """Random-sign test matrix: i.i.d. ``+1``/``-1`` entries, shape ``(n, k)``.

    Examples
    --------
    >>> import numpy as np
    >>> bool(np.all(np.abs(rademacher_matrix(5, 3, rng=1)) == 1))
    True
    """
    n, k, xp, dtype = _setup(n, k, xp, dtype)
    return rademacher(rng, (n, k), xp=xp, dtype=dtype)


def orthogonal_matrix(n, k, rng=None, xp=None, dtype=None):
    """Orthonormalized Gaussian test matrix (``k <= n`` orthonormal columns).

    The columns are Haar distributed on the Stiefel manifold (QR of a Gaussian
    matrix with the signs of ``diag(R)`` fixed).

    Examples
    --------
    >>> import numpy as np
    >>> Q = orthogonal_matrix(6, 3, rng=0)
    >>> bool(np.allclose(Q.T @ Q, np.eye(3)))
    True
    """
    n, k, xp, dtype = _setup(n, k, xp, dtype)
    if k > n:
        raise ValueError(f"k must be <= n = {n} for orthonormal columns, got {k}")
    G = standard_normal(rng, (n, k), xp=xp, dtype=dtype)
    Q, R = xp.linalg.qr(G, mode="reduced")
    d = xp.linalg.diagonal(R) if hasattr(xp.linalg, "diagonal") else xp.diagonal(R)
    signs = xp.where(d < 0, xp.asarray(-1.0, dtype=dtype), xp.asarray(1.0, dtype=dtype))
    return Q * signs[None, :]


def hartley_transform(X):
    """Orthonormal discrete Hartley transform along axis 0 (one real FFT).

    Parameters
    ----------
    X : array of shape (n, k)

    Returns
    -------
    array of shape (n, k)
        ``H X`` with ``H_{ij} = (cos + sin)(2 pi i j / n) / sqrt(n)``;
        ``H`` is symmetric and orthogonal, so ``H (H X) = X``.

    Notes
    -----
    With ``F = rfft(X)`` (frequencies ``0..n//2``), ``(H X)_j = Re F_j - Im F_j``
    for ``j <= n // 2`` and ``(H X)_{n-j} = Re F_j + Im F_j`` for the mirrored
    frequencies, by conjugate symmetry of the full FFT.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(10.0).reshape(5, 2)
    >>> bool(np.allclose(hartley_transform(hartley_transform(X)), X))
    True
    """
    xp = array_namespace(X)
    n = X.shape[0]
    F = xp.fft.rfft(X, axis=0)
    re, im = xp.real(F), xp.imag(F)
    head = re - im  # frequencies 0 .. n//2
    tail = (re + im)[1 : (n + 1) // 2, ...]  # frequencies 1 .. ceil(n/2)-1, mirrored
    out = xp.concat([head, xp.flip(tail, axis=0)], axis=0)
    return out / math.sqrt(n)


def _srht_parts(n, k, rng):
    gen = default_rng(rng)
    signs = gen.integers(0, 2, size=n).astype(np.float64) * 2.0 - 1.0
    rows = np.sort(gen.choice(n, size=k, replace=False))
    return signs, rows


def srht_sketch(X, k, rng=None):
    """Apply a subsampled randomized Hartley transform: ``S X`` with ``S`` of shape ``(k, n)``.

    Parameters
    ----------
    X : array of shape (n, m)
        The matrix to sketch (a 1-D ``X`` is treated as one column).
    k : int
        Sketch size, ``1 <= k <= n``.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    array of shape (k, m)
        ``sqrt(n / k) R H D X``; ``E[S^T S] = I`` so ``E ||S x||^2 = ||x||^2``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((64, 1))
    >>> srht_sketch(x, 16, rng=0).shape
    (16, 1)
    """
    X = check_array(X, "X", ndim=(1, 2))
    xp = array_namespace(X)
    X2 = X[:, None] if X.ndim == 1 else X
    n = X2.shape[0]
    k = check_int(k, "k", minimum=1, maximum=n)
    signs, rows = _srht_parts(n, k, rng)
    D = asarray(signs, xp, dtype=X2.dtype)
    HX = hartley_transform(D[:, None] * X2)
    out = xp.take(HX, asarray(rows, xp, dtype=xp.int64), axis=0) * math.sqrt(n / k)
    return out[:, 0] if X.ndim == 1 else out


def srht_matrix(n, k, rng=None, xp=None, dtype=None):
    """Dense SRHT test matrix ``Omega = sqrt(n) D H R^T`` of shape ``(n, k)``.

    Scaled so that entries have unit variance like :func:`gaussian_matrix`
    (``Omega^T Omega = n I_k``).  Forming it costs ``O(n^2 log n)``; to sketch
    a matrix use :func:`srht_sketch` instead.

    Examples
    --------
    >>> import numpy as np
    >>> Om = srht_matrix(8, 3, rng=0)
    >>> bool(np.allclose(Om.T @ Om, 8 * np.eye(3)))
    True
    """
    n, k, xp, dtype = _setup(n, k, xp, dtype)
    if k > n:
        raise ValueError(f"k must be <= n = {n} for an SRHT, got {k}")
    signs, rows = _srht_parts(n, k, rng)
    E = xp.zeros((n, k), dtype=dtype)
    E = E + asarray((np.arange(n)[:, None] == rows[None, :]).astype(np.float64), xp, dtype=dtype)
    D = asarray(signs, xp, dtype=dtype)
    return D[:, None] * hartley_transform(E) * math.sqrt(n)


def sketch_matrix(kind, n, k, rng=None, xp=None, dtype=None):
    """Test matrix of the given ``kind`` (one of :data:`SKETCH_KINDS`), shape ``(n, k)``.

    Examples
    --------
    >>> sketch_matrix("rademacher", 5, 2, rng=0).shape
    (5, 2)
    """
    makers = {
        "gaussian": gaussian_matrix,
        "rademacher": rademacher_matrix,
        "orthogonal": orthogonal_matrix,
        "srht": srht_matrix,
    }
    if kind not in makers:
        raise ValueError(f"kind must be one of {SKETCH_KINDS}, got {kind!r}")
    return makers[kind](n, k, rng=rng, xp=xp, dtype=dtype)
