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
import scipy.linalg as sla

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


def _cupy_or_none():
    """CuPy's array-API namespace when CuPy imports and a GPU answers, else ``None``."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        cupy.zeros(1).sum().item()
    except Exception:  # not installed, no driver, no device, broken runtime
        return None
    return array_namespace(cupy.zeros(1))


_CUPY = _cupy_or_none()
_BACKENDS = ["strict"] + ([pytest.param("cupy", marks=pytest.mark.gpu)] if _CUPY is not None else [])


@pytest.fixture(params=_BACKENDS, scope="module")
def xp(request):
    """The namespace under test: array_api_strict, and CuPy when a GPU is usable."""
    if request.param == "strict":
        return array_namespace(pytest.importorskip("array_api_strict").ones(1))
    return _CUPY


@pytest.mark.gpu
def test_cupy_toeplitz_matches_numpy():
    """The GPU section: runs the whole module on CuPy too; skips cleanly without one."""
    if _CUPY is None:
        pytest.skip("CuPy not importable or no usable GPU: the CuPy variants of this module are not run")
    from krylovid.operators import Toeplitz

    c, r = np.arange(1.0, 9.0), np.arange(1.0, 5.0)
    y = Toeplitz(asarray(c, _CUPY), asarray(r, _CUPY)).matvec(asarray(np.ones(4), _CUPY))
    _same_backend(y, _CUPY)
    np.testing.assert_allclose(to_numpy(y), sla.toeplitz(c, r) @ np.ones(4), rtol=1e-12)


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
    for got, want in results.values():
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


# ----------------------------------------------------------------------------- Krylov and sketching primitives
# Test problem: T Toeplitz (40, 5), A = T T^T (PSD, rank 5) built from operators on
# the backend under test; dense references from scipy.linalg.toeplitz.
_g0 = np.random.default_rng(2024)
_C, _R = _g0.standard_normal(40), _g0.standard_normal(5)
_T_REF = sla.toeplitz(_C, _R)
_A_REF = _T_REF @ _T_REF.T


def _problem(xp):
    from krylovid.operators import Toeplitz

    on = (lambda a: a) if xp is None else (lambda a: asarray(a, xp))
    T = Toeplitz(on(_C), on(_R))
    return T, T @ T.T, on


def _host_seeded(xp) -> bool:
    """True where random draws are made on the host (all but CuPy): results match NumPy's."""
    from krylovid.backend import is_cupy

    return not is_cupy(xp)


def _host(a):
    return np.asarray(to_numpy(a), dtype=np.float64)


def test_lanczos_on_backend_matches_numpy(xp):
    from krylovid.krylov import lanczos
    from krylovid.operators import Shifted

    b = np.random.default_rng(1).standard_normal(40)
    results = {}
    for name, ns in (("numpy", None), ("backend", xp)):
        _, A, on = _problem(ns)
        results[name] = lanczos(Shifted(A, 0.1), on(b), 12)
    ref, got = results["numpy"], results["backend"]
    _same_backend(got.Q, xp)
    assert got.info.status == ref.info.status == "invariant"  # rank 5 + shift: 6 distinct eigenvalues
    assert got.num_steps == ref.num_steps == 6
    np.testing.assert_allclose(got.alpha, ref.alpha, rtol=1e-10, atol=1e-10 * np.abs(ref.alpha).max())
    np.testing.assert_allclose(got.beta[:-1], ref.beta[:-1], rtol=1e-10)
    # Lanczos identities on the backend result: Q^T Q = I, A Q = Q T + r e^T
    Q = _host(got.Q)
    np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-12)
    AQ = (_A_REF + 0.1 * np.eye(40)) @ Q
    E = np.zeros((1, 6))
    E[0, -1] = 1.0
    np.testing.assert_allclose(
        AQ, Q @ got.tridiagonal() + _host(got.residual)[:, None] @ E, atol=1e-10 * np.linalg.norm(_A_REF)
    )
    # the Ritz values are the exact distinct eigenvalues of A + 0.1 I
    w = np.linalg.eigvalsh(_A_REF + 0.1 * np.eye(40))
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(got.tridiagonal()))[1:], w[-5:], rtol=1e-9)


def test_block_lanczos_on_backend_matches_numpy(xp):
    from krylovid.krylov import BlockLanczos, block_lanczos

    B = np.random.default_rng(2).standard_normal((40, 2))
    out = {}
    for name, ns in (("numpy", None), ("backend", xp)):
        _, A, on = _problem(ns)
        bl = BlockLanczos(A, on(B))
        bl.extend(2)
        bl.extend(3)  # resumable: 5 steps in two calls
        out[name] = (bl, block_lanczos(A, on(B), 5))
    (bl_ref, res_ref), (bl, res) = out["numpy"], out["backend"]
    _same_backend(bl.Q, xp)
    _same_backend(res.Q, xp)
    assert bl.invariant and bl_ref.invariant and bl.dim == bl_ref.dim == 7  # span(B) + range(A)
    assert res.info.status == res_ref.info.status == "invariant"
    np.testing.assert_allclose(_host(res.T), _host(res_ref.T), atol=1e-10 * np.linalg.norm(_A_REF))
    Q = _host(res.Q)
    np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=1e-12)
    # invariant space: T = Q^T A Q exactly and its nonzero eigenvalues are those of A
    np.testing.assert_allclose(_host(res.T), Q.T @ _A_REF @ Q, atol=1e-10 * np.linalg.norm(_A_REF))
    np.testing.assert_allclose(np.linalg.eigvalsh(_host(res.T))[-5:], np.linalg.eigvalsh(_A_REF)[-5:], rtol=1e-9)


def test_randomized_svd_on_backend(xp):
    from krylovid.sketch import randomized_svd

    s_ref = np.linalg.svd(_T_REF, compute_uv=False)
    T_np, _, _ = _problem(None)
    T, _, _ = _problem(xp)
    ref = randomized_svd(T_np, 3, oversample=2, power_iters=1, rng=5)
    got = randomized_svd(T, 3, oversample=2, power_iters=1, rng=5)
    for arr in (got.U, got.s, got.Vt):
        _same_backend(arr, xp)
    # rank-5 operator, 5 test vectors: the sketch spans the range, the result is exact
    np.testing.assert_allclose(_host(got.s), s_ref[:3], rtol=1e-10)
    U, s, Vt = _host(got.U), _host(got.s), _host(got.Vt)
    T3 = (U * s) @ Vt
    best = np.linalg.svd(_T_REF)
    np.testing.assert_allclose(T3, (best[0][:, :3] * best[1][:3]) @ best[2][:3], atol=1e-9)
    if _host_seeded(xp):  # same host draws: same numbers as the NumPy run
        np.testing.assert_allclose(s, _host(ref.s), rtol=1e-12)


def test_nystrom_on_backend(xp):
    from krylovid.sketch import nystrom

    _, A, on = _problem(xp)
    res = nystrom(A, 8, rng=3)  # k = 8 >= rank 5: exact up to the stabilising shift
    _same_backend(res.U, xp)
    _same_backend(res.s, xp)
    approx = _host(res.U) @ np.diag(_host(res.s)) @ _host(res.U).T
    np.testing.assert_allclose(approx, _A_REF, atol=1e-8 * np.linalg.norm(_A_REF))
    x = np.random.default_rng(4).standard_normal(40)
    y = res.solve(on(x), 0.5)
    _same_backend(y, xp)
    np.testing.assert_allclose(_host(y), np.linalg.solve(_A_REF + 0.5 * np.eye(40), x), rtol=1e-7)


def test_hutchpp_on_backend(xp):
    from krylovid.sketch.trace import hutchpp

    _, A, _ = _problem(xp)
    _, A_np, _ = _problem(None)
    got = hutchpp(A, 30, rng=1)  # 10 sketch vectors >= rank 5: the deflated part vanishes
    np.testing.assert_allclose(got.estimate, np.trace(_A_REF), rtol=1e-10)
    if _host_seeded(xp):
        assert abs(got.estimate - hutchpp(A_np, 30, rng=1).estimate) <= 1e-10 * np.trace(_A_REF)
    # a full-rank operator: error of the estimate shrinks as the budget grows (fixed seeds)
    from krylovid.operators import Diagonal

    d = 1.0 / np.arange(1, 201) ** 0.5
    D = Diagonal(asarray(d, xp))
    errs = [np.median([abs(hutchpp(D, m, rng=seed).estimate - d.sum()) for seed in range(6)]) for m in (12, 48, 192)]
    assert errs[2] < errs[1] < errs[0]


def test_slq_logdet_on_backend(xp):
    from krylovid.operators import Shifted
    from krylovid.sketch import slq_logdet

    shifts = np.array([0.0, 1.0, 10.0])
    exact = np.array([np.linalg.slogdet(_A_REF + (0.5 + s) * np.eye(40))[1] for s in shifts])
    _, A, _ = _problem(xp)
    got = slq_logdet(Shifted(A, 0.5), shifts, 16, 10, rng=3)
    assert isinstance(got.logdet, np.ndarray) and got.logdet.shape == (3,)
    assert np.all(np.abs(got.logdet - exact) <= 4 * got.std_error + 1e-8 * np.abs(exact))
    if _host_seeded(xp):
        _, A_np, _ = _problem(None)
        ref = slq_logdet(Shifted(A_np, 0.5), shifts, 16, 10, rng=3)
        np.testing.assert_allclose(got.logdet, ref.logdet, rtol=1e-10)
    # Monte Carlo error shrinks with the number of probes (fixed seeds, median over 5)
    errs = [
        np.median([abs(slq_logdet(Shifted(A, 0.5), 0.0, p, 10, rng=seed).logdet[0] - exact[0]) for seed in range(5)])
        for p in (2, 8, 64)
    ]
    assert errs[2] < errs[1] < errs[0]


def test_cg_and_block_cg_on_backend(xp):
    from krylovid.krylov import block_cg, cg

    g = np.random.default_rng(6)
    b, Bm = g.standard_normal(40), g.standard_normal((40, 3))
    _, A, on = _problem(xp)
    _, A_np, _ = _problem(None)
    ref_x = np.linalg.solve(_A_REF + 0.3 * np.eye(40), b)
    got = cg(A, on(b), shift=0.3, rtol=1e-10)
    _same_backend(got.x, xp)
    assert got.info.status == "converged"
    np.testing.assert_allclose(_host(got.x), ref_x, rtol=0, atol=1e-8 * np.linalg.norm(ref_x))
    # stopping rule ||r|| <= atol + rtol ||b|| holds for the true residual too
    r = b - (_A_REF + 0.3 * np.eye(40)) @ _host(got.x)
    assert np.linalg.norm(r) <= 1e-10 * np.linalg.norm(b) * 10
    # rank 5 + shift: 6 distinct eigenvalues, so CG is exact after 6 steps (convergence is
    # checked only every few iterations, hence the slack) -- far fewer than n = 40
    assert got.info.iterations <= 12
    res_np = cg(A_np, b, shift=0.3, rtol=1e-10)
    # NumPy checks convergence every step, device backends every few: compare the solutions
    np.testing.assert_allclose(_host(got.x), _host(res_np.x), rtol=0, atol=1e-8 * np.linalg.norm(ref_x))
    # block CG: every column converges
    blk = block_cg(A, on(Bm), shift=0.3, rtol=1e-10)
    _same_backend(blk.X, xp)
    assert bool(np.all(blk.converged))
    np.testing.assert_allclose(
        _host(blk.X), np.linalg.solve(_A_REF + 0.3 * np.eye(40), Bm), rtol=0, atol=1e-8 * np.linalg.norm(Bm) / 0.3
    )
