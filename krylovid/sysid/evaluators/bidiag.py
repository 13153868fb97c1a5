"""Singular values of ``B`` and the projection ``U^T w`` without the singular vectors.

The spectral evaluator needs, per shape, only ``s_i^2`` (the singular values
of ``B = R1 L``) and ``c_i^2 = (U^T w)_i^2`` — not ``U`` and ``V``.  With the
Householder reflector ``H`` that maps ``w`` to ``alpha e1``
(``alpha = -sign(w_1) ||w||``), ``c = U^T w = alpha U'^T e1`` where ``U'``
are the left singular vectors of ``B' = H B``.  The Householder
bidiagonalization of ``B'^T = Q Bu P^T`` (LAPACK ``dgebrd``, upper
bidiagonal ``Bu``) has right reflectors that never touch the first
coordinate, so ``P e1 = e1``; with the bidiagonal SVD ``Bu = Q2 S P2^T``,
``B' = (P P2) S (Q Q2)^T`` and ``c = alpha P2^T e1``: ``dbdsqr`` delivers it by
rotating one vector (``ncvt = 1``) instead of forming ``U`` and ``V``.

Cost: about that of the singular values alone (``8/3 n^3`` flops for the
bidiagonalization, ``O(n^2)`` after it), half of an SVD with vectors or less.
Accuracy: both steps are backward stable, so the singular values are
accurate to ``eps ||B||`` in absolute terms, as those of a full SVD (``B B^T``
is never formed: the small singular values that low-pass inputs create are
kept), and ``sum_i c_i^2 f(s_i)`` agrees with the full SVD's to rounding.

LAPACK's ``dgebrd`` and ``dbdsqr`` are not wrapped in ``scipy.linalg.lapack``;
they are called through the function pointers that
``scipy.linalg.cython_lapack`` exports (the route Numba takes).  When these are
not available, or the input is not a NumPy ``float64`` array, or ``dbdsqr``
does not converge, the full thin SVD of the backend gives the same numbers.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cython_lapack

from ...backend import Array, array_namespace, is_numpy, svd

__all__ = ["ProjectedSVD", "projected_svd", "lapack_available"]


@dataclass(frozen=True)
class ProjectedSVD:
    """Singular values of ``B`` and the coordinates of ``w`` in its left singular basis.

    Attributes
    ----------
    s : array of shape (k,)
        Singular values of ``B``, descending.
    c : array of shape (k,)
        ``U^T w`` (signs follow the basis the algorithm chose; ``c**2`` is basis-independent
        for distinct singular values).
    method : str
        ``"bidiagonal"`` (``dgebrd`` + ``dbdsqr`` with one vector) or ``"svd"`` (full thin SVD).
    """

    s: Array
    c: Array
    method: str


def _lapack_routines():
    """``(dgebrd, dbdsqr)`` as ctypes functions from ``scipy.linalg.cython_lapack``, or ``None``."""
    capi = getattr(cython_lapack, "__pyx_capi__", {})
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    out = []
    for name, nargs in (("dgebrd", 11), ("dbdsqr", 15)):
        cap = capi.get(name)
        if cap is None:  # pragma: no cover
            return None
        sig = get_name(cap)
        # LP64 Fortran interface only: every integer argument an ``int *`` (4 bytes here)
        if sig is None or sig.count(b"int *") == 0 or b"int64" in sig or ctypes.sizeof(ctypes.c_int) != 4:
            return None  # pragma: no cover
        out.append(ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * nargs))(get_pointer(cap, sig)))
    return tuple(out)


_ROUTINES = _lapack_routines()


def lapack_available() -> bool:
    """Whether the bidiagonal path (``dgebrd`` + ``dbdsqr`` from SciPy's Cython LAPACK) is available.

    Examples
    --------
    >>> isinstance(lapack_available(), bool)
    True
    """
    return _ROUTINES is not None


def _int(v: int):
    return ctypes.byref(ctypes.c_int(int(v)))


def _bidiagonal(B: np.ndarray, w: np.ndarray):
    """``(s, c)`` by the bidiagonal route, or ``None`` when ``dbdsqr`` does not converge."""
    dgebrd, dbdsqr = _ROUTINES
    n = B.shape[0]
    nw = float(np.linalg.norm(w))
    v = np.array(w, dtype=np.float64)
    alpha = -np.copysign(nw, v[0]) if nw > 0 else 0.0
    v[0] -= alpha
    vv = float(v @ v)
    # B' = H B (C order), so that its transpose -- what dgebrd bidiagonalizes -- is Fortran-ordered in place
    Bp = B - np.outer(v, (2.0 / vv) * (v @ B)) if vv > 0 else np.array(B, dtype=np.float64, order="C")
    At = Bp.T
    d, e = np.empty(n), np.empty(max(n - 1, 1))
    tauq, taup = np.empty(n), np.empty(n)
    info, query = ctypes.c_int(0), np.empty(1)
    nn = _int(n)
    args = (nn, nn, At.ctypes.data, nn, d.ctypes.data, e.ctypes.data, tauq.ctypes.data, taup.ctypes.data)
    dgebrd(*args, query.ctypes.data, _int(-1), ctypes.byref(info))
    work = np.empty(max(int(query[0]), 1))
    dgebrd(*args, work.ctypes.data, _int(work.size), ctypes.byref(info))
    if info.value != 0:  # pragma: no cover - dgebrd reports only illegal arguments
        return None
    vt = np.zeros(n)
    vt[0] = 1.0
    dummy, work = np.zeros(1), np.empty(4 * n)  # bound to names: a pointer does not keep an array alive
    dbdsqr(
        ctypes.byref(ctypes.c_char(b"U")), nn, _int(1), _int(0), _int(0),
        d.ctypes.data, e.ctypes.data, vt.ctypes.data, nn,
        dummy.ctypes.data, _int(1), dummy.ctypes.data, _int(1),
        work.ctypes.data, ctypes.byref(info),
    )  # fmt: skip
    if info.value != 0:
        return None
    return d, alpha * vt


def projected_svd(B, w, *, method: str = "auto") -> ProjectedSVD:
    """Singular values of a square ``B`` and ``c = U^T w`` (``B = U diag(s) V^T``), without ``U`` and ``V``.

    Parameters
    ----------
    B : array of shape (k, k)
    w : array of shape (k,)
    method : {"auto", "bidiagonal", "svd"}
        ``"auto"``: the bidiagonal route for NumPy ``float64`` input when SciPy's
        Cython LAPACK is available, else the backend's full SVD; ``"svd"``
        forces the latter (any backend); ``"bidiagonal"`` requires the former.

    Returns
    -------
    ProjectedSVD

    Notes
    -----
    ``sum_i c_i^2 / (s_i^2 + lam) = w^T (B B^T + lam I)^{-1} w`` for every
    ``lam > 0``, and ``sum_i c_i^2 = ||w||^2``; see the module notes for the
    algorithm.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> B, w = np.triu(rng.standard_normal((5, 5))), rng.standard_normal(5)
    >>> p = projected_svd(B, w)
    >>> U, s, Vt = np.linalg.svd(B)
    >>> bool(np.allclose(p.s, s) and np.allclose(p.c**2, (U.T @ w) ** 2))
    True
    """
    if method not in ("auto", "bidiagonal", "svd"):
        raise ValueError(f"method must be 'auto', 'bidiagonal' or 'svd', got {method!r}")
    xp = array_namespace(B, w)
    if B.ndim != 2 or B.shape[0] != B.shape[1] or B.shape[0] == 0:
        raise ValueError(f"B must be a non-empty square matrix, got shape {tuple(B.shape)}")
    if w.ndim != 1 or w.shape[0] != B.shape[0]:
        raise ValueError(f"w must have shape ({B.shape[0]},), got {tuple(w.shape)}")
    fast = is_numpy(xp) and _ROUTINES is not None and B.dtype == np.float64 and w.dtype == np.float64
    if method == "bidiagonal" and not fast:
        raise ValueError("method='bidiagonal' needs NumPy float64 input and SciPy's Cython LAPACK")
    if fast and method != "svd":
        out = _bidiagonal(B, w)
        if out is not None:
            return ProjectedSVD(out[0], out[1], "bidiagonal")
        if method == "bidiagonal":  # pragma: no cover - dbdsqr non-convergence is not known to occur
            raise np.linalg.LinAlgError("dbdsqr did not converge")
    U, s, _ = svd(B)
    return ProjectedSVD(s, U.T @ w, "svd")
