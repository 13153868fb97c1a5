"""The numerical primitives under ``array_api_strict`` (the CPU stand-in for CuPy)
and, when a GPU is present, under CuPy.

Operators come from the conformance registry of ``tests/test_operators.py``
(loaded by file path so this works under any pytest import mode): each is built
from arrays of the backend under test; results must be arrays of that backend
and match the independent dense NumPy reference.  The Krylov and sketching
routines are run on the same problem with NumPy and with the backend and the
results compared (same seeds, same host-side random draws).
"""
from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

from krylovid.backend import array_namespace, asarray, is_numpy, to_numpy


def _load_registry():
    path = pathlib.Path(__file__).with_name("test_operators.py")
    spec = importlib.util.spec_from_file_location("_krylovid_operator_registry", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(mod)
    return mod


_REG = _load_registry()
CASES = [c for c in _REG.CASES if not c.numpy_only]
assert_close = _REG.assert_close


def _cupy_namespace():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("CuPy is installed but no GPU is visible")
        cupy.zeros(1).sum().item()
    except Exception as exc:  # no driver / no device / broken runtime
        pytest.skip(f"CuPy present but unusable: {exc}")
    return array_namespace(cupy.zeros(1))


@pytest.fixture(params=["strict", pytest.param("cupy", marks=pytest.mark.gpu)], scope="module")
def xp(request):
    """The namespace under test: array_api_strict, or CuPy (skipped without a GPU)."""
    if request.param == "strict":
        return array_namespace(pytest.importorskip("array_api_strict").ones(1))
    return _cupy_namespace()


def _same_backend(arr, xp):
    got = array_namespace(arr)
    assert got is xp or got.__name__ == xp.__name__, f"result in {got.__name__}, expected {xp.__name__}"
    assert not isinstance(arr, np.ndarray)


def _norm(a):
    return float(np.linalg.norm(a))


# ----------------------------------------------------------------------------- operators
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_operator_registry_on_backend(case, xp):
    op, ref = case.build(xp)
    assert op.shape == ref.shape and not is_numpy(op.xp)
    m, n = ref.shape
    g = np.random.default_rng(99)
    x, y = g.standard_normal(n), g.standard_normal(m)
    X, Y = g.standard_normal((n, 3)), g.standard_normal((m, 3))
    scale = _norm(ref) * max(_norm(X), _norm(Y))
    results = {
        "matvec": (op.matvec(asarray(x, xp)), ref @ x),
        "matmat": (op.matmat(asarray(X, xp)), ref @ X),
        "rmatvec": (op.rmatvec(asarray(y, xp)), ref.T @ y),
        "rmatmat": (op.rmatmat(asarray(Y, xp)), ref.T @ Y),
        "matmul": (op @ asarray(X, xp), ref @ X),
        "to_dense": (op.to_dense(), ref),
        "T": (op.T.matmat(asarray(Y, xp)), ref.T @ Y),
        "TT": (op.T.T.matvec(asarray(x, xp)), ref @ x),
    }
    for what, (got, want) in results.items():
        _same_backend(got, xp)
        assert_close(got, want, scale)
    # adjoint dot test computed on the backend
    lhs = float(to_numpy(xp.sum(op.matvec(asarray(x, xp)) * asarray(y, xp))))
    rhs = float(to_numpy(xp.sum(asarray(x, xp) * op.rmatvec(asarray(y, xp)))))
    assert abs(lhs - rhs) <= 1e3 * np.finfo(float).eps * max(_norm(ref) * _norm(x) * _norm(y), 1.0)


def test_composition_on_backend(xp):
    from krylovid.operators import Counted, Dense, Shifted, Toeplitz

    g = np.random.default_rng(7)
    c, r, M = g.standard_normal(9), g.standard_normal(5), g.standard_normal((5, 5))
    import scipy.linalg as sla

    t = sla.toeplitz(c, r)
    T = Counted(Toeplitz(asarray(c, xp), asarray(r, xp)))
    G = Shifted(T.T @ T, 0.5) + Dense(asarray(M, xp)) * 2.0
    X = g.standard_normal((5, 4))
    out = G.matmat(asarray(X, xp))
    _same_backend(out, xp)
    assert_close(out, (t.T @ t + 0.5 * np.eye(5) + 2.0 * M) @ X, _norm(t) ** 2 * _norm(X))
    assert T.matvecs == 8  # 4 columns forward + 4 adjoint


def test_operator_inputs_from_other_backend_are_refused(xp):
    from krylovid.operators import Dense

    op = Dense(asarray(np.eye(3), xp))
    with pytest.raises(TypeError):
        op.matvec(np.ones(3))  # a host array on a device operator must not pass silently
