"""System identification on a non-NumPy array namespace (issue 12).

``array_api_strict`` is the CPU stand-in for CuPy: every public sysid entry
point (``objective``, ``evaluate_objective``, ``KernelFIR`` fit / predict /
posterior / lam curve, ``identify_many``) is run on it and compared with the
NumPy result (the reference: the NumPy paths are the ones the rest of the
suite checks against dense formulas), to ``1e-10`` relative on ``F`` and
``1e-8`` on the impulse response.  A second group checks that no array of
length ``N`` and no ``n x n`` array crosses to the host while the
hyperparameters are tuned, with a counter on every conversion of an
``array_api_strict`` array to NumPy (``__array__``, ``__buffer__``,
``__dlpack__``); a self-test shows the counter catches a deliberate crossing.
The CuPy variants (``gpu`` marker) run the same checks when CuPy and a GPU are
usable and skip cleanly otherwise.
"""

from __future__ import annotations

import contextlib
import traceback
import warnings

import numpy as np
import pytest

from krylovid import KernelFIR
from krylovid.backend import array_namespace, asarray, to_numpy
from krylovid.batch import identify_many
from krylovid.sysid import FIRProblem, evaluate_objective, objective
from krylovid.sysid import model as model_module
from krylovid.sysid.evaluators import make_evaluator
from krylovid.sysid.tuning import tune

strict = pytest.importorskip("array_api_strict")


def _cupy_or_none():
    """CuPy's namespace when CuPy imports and a GPU answers, else ``None``."""
    try:
        import cupy

        cupy.asarray([1.0]).sum().item()
        return array_namespace(cupy.ones(1))
    except Exception:  # noqa: BLE001 - no CuPy, no driver, no device: all mean "skip"
        return None


_CUPY = _cupy_or_none()
_BACKENDS = ["strict", pytest.param("cupy", marks=pytest.mark.gpu)]

F_RTOL = 1e-10
G_ATOL = 1e-8


def _tolerances(xp, method):
    """``(F rtol, impulse-response atol)``.  Every path on array-api-strict (NumPy underneath) and the
    deterministic paths on CuPy must agree to 1e-10 / 1e-8.  The random blocks and probes are drawn on the
    host, the same on every backend, but on CuPy the device BLAS rounds differently, and rounding-level
    differences can change the Krylov deflation and restart decisions and the stochastic (SLQ) quadrature:
    there the Krylov values agree to their certified tolerance (1e-8 on each side), the fitted response to
    the flatness of the optimum, and SLQ to its Monte Carlo accuracy."""
    if "cupy" not in getattr(xp, "__name__", ""):
        return F_RTOL, G_ATOL
    return {"krylov": (3e-8, 1e-4), "lanczos": (1e-2, 1e-2)}.get(method, (F_RTOL, G_ATOL))


@pytest.fixture(params=_BACKENDS, scope="module")
def xp(request):
    """The namespace under test: array_api_strict always, CuPy when a GPU is usable."""
    if request.param == "strict":
        return array_namespace(strict.ones(1))
    if _CUPY is None:
        pytest.skip("CuPy not importable or no usable GPU: the CuPy variants are not run")
    return _CUPY


def _record(N=400, n=20, seed=0, inputs=1):
    rng = np.random.default_rng(seed)
    g0 = 0.8 ** np.arange(1, n + 1) * np.cos(0.3 * np.arange(n))
    u = rng.standard_normal((N, inputs)) if inputs > 1 else rng.standard_normal(N)
    u2 = u if inputs > 1 else u[:, None]
    y = sum(np.convolve(u2[:, i], np.r_[0.0, g0 / (i + 1)])[:N] for i in range(inputs))
    return u, y + 0.05 * rng.standard_normal(N), g0


def _on(xp, *arrays):
    return [asarray(a, xp, dtype=xp.float64) for a in arrays]


def _assert_in(arr, xp):
    got = array_namespace(arr)
    assert got.__name__ == xp.__name__ and not isinstance(arr, np.ndarray), f"result in {got.__name__}"


def _rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# ----------------------------------------------------------------------------- objective
_METHODS = [
    ("auto", {}),
    ("spectral", {}),
    ("krylov", {"formulation": "dual"}),
    ("krylov", {"formulation": "primal"}),
    ("krylov", {"formulation": "gram"}),
    ("qr", {}),
    ("cholesky", {}),
    ("lanczos", {}),
]


@pytest.mark.parametrize(("method", "options"), _METHODS, ids=[f"{m}-{o.get('formulation', '')}" for m, o in _METHODS])
def test_objective_matches_numpy(xp, method, options):
    u, y, _ = _record()
    hp = {"c": np.array([0.05, 0.5, 5.0]), "beta": 0.8}
    ref = objective(u, y, order=20, kernel="TC", hyperparameters=hp, method=method, random_state=0, **options)
    uu, yy = _on(xp, u, y)
    got = objective(uu, yy, order=20, kernel="TC", hyperparameters=hp, method=method, random_state=0, **options)
    assert isinstance(got, np.ndarray) and got.shape == (3,)
    assert _rel(got, ref) <= _tolerances(xp, method)[0]


@pytest.mark.parametrize("kernel", ["DC", "SS", "DI", "HF", "SE", "CS"])
def test_objective_other_kernels(xp, kernel):
    u, y, _ = _record(seed=1)
    params = {"DC": {"alpha": 0.8, "rho": 0.5}, "SS": {"beta": 0.9}, "SE": {"h": 3.0}, "CS": {}}.get(
        kernel, {"beta": 0.7}
    )
    hp = {"c": 0.7, **params}
    ref = objective(u, y, order=20, kernel=kernel, hyperparameters=hp, method="qr")
    got = objective(*_on(xp, u, y), order=20, kernel=kernel, hyperparameters=hp, method="auto")
    assert isinstance(got, float)
    assert abs(got - ref) <= F_RTOL * abs(ref)


def test_evaluate_objective_bounds_and_status(xp):
    u, y, _ = _record(seed=2)
    hp = {"c": np.logspace(-2, 1, 5), "beta": 0.85}
    kw = dict(order=20, kernel="TC", hyperparameters=hp, random_state=0, method="krylov")
    ref = evaluate_objective(u, y, **kw)
    got = evaluate_objective(*_on(xp, u, y), **kw)
    assert got.info["status"] == ref.info["status"] == "converged"
    for name in ("F", "F_lower", "F_upper"):
        assert _rel(getattr(got, name), getattr(ref, name)) <= _tolerances(xp, "krylov")[0], name
    assert got.noise_variance == pytest.approx(ref.noise_variance, rel=1e-12)


def test_problem_arrays_stay_in_namespace(xp):
    u, y, _ = _record()
    p = FIRProblem(*_on(xp, u, y), 20)
    q = FIRProblem(u, y, 20)
    for name in ("y", "Phty", "g_ls", "gram"):
        _assert_in(getattr(p, name), xp)
        np.testing.assert_allclose(to_numpy(getattr(p, name)), getattr(q, name), rtol=1e-10, atol=1e-10)
    rf, rq = p.r_factor, q.r_factor
    _assert_in(rf.R1, xp)
    # R1 is unique up to the signs of its rows: compare R1^T R1 and |w|
    np.testing.assert_allclose(to_numpy(rf.R1).T @ to_numpy(rf.R1), rq.R1.T @ rq.R1, rtol=1e-10, atol=1e-8)
    assert p.ls_residual2 == pytest.approx(q.ls_residual2, rel=1e-10)


@pytest.mark.parametrize(("inputs", "delay", "initial"), [(1, 1, "zero"), (2, 0, "drop"), (3, 2, "drop")])
def test_gram_on_device_against_dense(xp, inputs, delay, initial):
    """The device Gram matrix (closed-form boundary sums) equals ``Phi^T Phi`` of the dense regressor."""
    from krylovid.sysid.regressors import fir_regressor

    u = np.random.default_rng(inputs).standard_normal((200, inputs))
    Phi = fir_regressor(asarray(u, xp, dtype=xp.float64), 12, delay=delay, initial=initial)
    M = Phi.gram()
    _assert_in(M, xp)
    D = fir_regressor(u, 12, delay=delay, initial=initial).dense()
    np.testing.assert_allclose(to_numpy(M), D.T @ D, rtol=0, atol=1e-12 * np.abs(D.T @ D).max())


# ----------------------------------------------------------------------------- KernelFIR
@pytest.fixture(scope="module")
def fitted_pair(xp):
    """``(NumPy model, model fitted on xp, data)`` for the default method."""
    u, y, g0 = _record(N=500, n=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = KernelFIR(order=40, random_state=0).fit(u, y)
        got = KernelFIR(order=40, random_state=0).fit(*_on(xp, u, y))
    return ref, got, (u, y, g0)


def test_kernelfir_fit_matches_numpy(fitted_pair):
    ref, got, _ = fitted_pair
    assert got.info_["method"] == ref.info_["method"]
    assert abs(got.objective_ - ref.objective_) <= F_RTOL * abs(ref.objective_)
    # fitted attributes are host NumPy arrays and floats whatever the input namespace
    for name in ("impulse_response_", "impulse_response_std_"):
        assert isinstance(getattr(got, name), np.ndarray)
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=0, atol=G_ATOL)
    assert isinstance(got.hyperparameters_["c"], float)
    assert got.hyperparameters_["beta"] == pytest.approx(ref.hyperparameters_["beta"], rel=1e-8)


def test_kernelfir_predict_stays_in_namespace(fitted_pair, xp):
    ref, got, (u, y, _) = fitted_pair
    pred = got.predict(asarray(u, xp, dtype=xp.float64))
    _assert_in(pred, xp)
    np.testing.assert_allclose(to_numpy(pred), ref.predict(u), rtol=0, atol=1e-8)
    assert got.score(*_on(xp, u, y)) == pytest.approx(ref.score(u, y), abs=1e-8)


def test_kernelfir_posterior_and_lam_curve(fitted_pair):
    ref, got, _ = fitted_pair
    np.testing.assert_allclose(got.posterior_covariance_, ref.posterior_covariance_, rtol=0, atol=1e-10)
    a, b = got.lam_curve(num=7), ref.lam_curve(num=7)
    assert _rel(a.F_lower, b.F_lower) <= F_RTOL and _rel(a.F_upper, b.F_upper) <= F_RTOL
    np.testing.assert_allclose(a.lam, b.lam, rtol=1e-8)  # the optimum lam agrees to the tuning tolerance


@pytest.mark.parametrize(
    ("method", "options"),
    [("krylov", {}), ("krylov", {"formulation": "gram"}), ("krylov", {"formulation": "primal"}), ("qr", {})],
)
def test_kernelfir_other_methods(xp, method, options):
    u, y, _ = _record(N=300, n=20, seed=3)
    kw = dict(order=20, method=method, random_state=0, method_options=options or None)
    ref = KernelFIR(**kw).fit(u, y)
    got = KernelFIR(**kw).fit(*_on(xp, u, y))
    f_rtol, g_atol = _tolerances(xp, method)
    assert abs(got.objective_ - ref.objective_) <= f_rtol * abs(ref.objective_)
    np.testing.assert_allclose(got.impulse_response_, ref.impulse_response_, rtol=0, atol=g_atol)


@pytest.mark.parametrize("detrend", ["constant", "linear"])
def test_kernelfir_detrend_and_two_inputs(xp, detrend):
    u, y, _ = _record(N=400, n=15, seed=4, inputs=2)
    u = u + np.array([1.0, -2.0]) + 0.001 * np.arange(400)[:, None]
    kw = dict(order=15, detrend=detrend, prior="shared", random_state=0)
    ref = KernelFIR(**kw).fit(u, y + 3.0)
    got = KernelFIR(**kw).fit(*_on(xp, u, y + 3.0))
    assert abs(got.objective_ - ref.objective_) <= F_RTOL * abs(ref.objective_)
    np.testing.assert_allclose(got.impulse_response_, ref.impulse_response_, rtol=0, atol=G_ATOL)
    np.testing.assert_allclose(got.input_offset_, ref.input_offset_, rtol=1e-12)


def test_identify_many_matches_numpy(xp):
    recs = [_record(N=300, n=20, seed=s) for s in (5, 6)]
    kw = dict(order=20, kernel="TC", random_state=0, n_jobs=1)
    ref = identify_many([{"u": u, "y": y, "truth": g0} for u, y, g0 in recs], **kw)
    got = identify_many([dict(zip(("u", "y"), _on(xp, u, y), strict=True), truth=g0) for u, y, g0 in recs], **kw)
    assert got.ok == ref.ok == 2
    for a, b in zip(got.rows, ref.rows, strict=True):
        assert abs(a["objective"] - b["objective"]) <= F_RTOL * abs(b["objective"])
        assert a["hp_beta"] == pytest.approx(b["hp_beta"], rel=1e-8)
        assert a["fit"] == pytest.approx(b["fit"], abs=1e-6)


# ----------------------------------------------------------------------------- no host crossings while tuning
#: Functions allowed to bring their arrays to the host: the Krylov projection ``T = Q^T A Q`` (``d x d``) and the
#: block columns of its coefficients (``d x p``, in the block Lanczos step) are the small objects of DESIGN §3;
#: their size is the subspace dimension ``d``, which can reach ``n`` (dual forms) or even ``N`` (a saturated
#: primal space on a short record), so they are recognized by where they are made, not by their shape.
_ALLOWED = ("_spectrum", "_step")


class _Crossings:
    """Records the shape of every conversion of an ``array_api_strict`` array to NumPy while ``active``
    (with the names of the functions on the stack, to let the projected ``T`` through)."""

    def __init__(self):
        self.active, self.shapes, self.callers, self.tunings = False, [], [], 0

    @contextlib.contextmanager
    def installed(self, monkeypatch):
        cls = type(strict.ones(1))
        for name in ("__array__", "__buffer__", "__dlpack__"):
            orig = getattr(cls, name, None)
            if orig is None:
                continue

            def wrapper(arr, *args, _orig=orig, **kwargs):
                if self.active:
                    self.shapes.append(tuple(arr.shape))
                    self.callers.append({f.name for f in traceback.extract_stack(limit=12)})
                return _orig(arr, *args, **kwargs)

            monkeypatch.setattr(cls, name, wrapper)
        yield self

    def large(self, N, n):
        """The recorded shapes with a dimension ``N`` (length-N vectors, N x k blocks) or of shape ``(n, n)``,
        except the Krylov projections (:data:`_ALLOWED`)."""
        return [
            s
            for s, callers in zip(self.shapes, self.callers, strict=True)
            if (N in s or s == (n, n)) and not callers.intersection(_ALLOWED)
        ]


def _counted_tune(crossings, problem_hook=None):
    """``tune`` with the counter on: the per-problem precomputations (Gram matrix, R factor and the
    Gram prefix sums, cached on the problem) are made first, then every shape and shift is counted."""

    def wrapped(evaluator, problem, sigma2, **kw):
        _ = problem.gram, problem.r_factor, problem.gram_prefix
        if problem_hook is not None:
            problem_hook(evaluator)
        crossings.active = True
        crossings.tunings += 1
        try:
            return tune(evaluator, problem, sigma2, **kw)
        finally:
            crossings.active = False

    return wrapped


@pytest.mark.parametrize(
    ("method", "options"),
    [("auto", {}), ("krylov", {"formulation": "dual"}), ("krylov", {"formulation": "primal"}), ("qr", {})],
)
def test_no_large_host_transfer_while_tuning(monkeypatch, method, options):
    u, y, _ = _record(N=600, n=20, seed=7)
    crossings = _Crossings()
    with crossings.installed(monkeypatch):
        monkeypatch.setattr(model_module, "tune", _counted_tune(crossings))
        xp = array_namespace(strict.ones(1))
        KernelFIR(order=20, method=method, random_state=0, method_options=options or None).fit(*_on(xp, u, y))
    assert crossings.tunings == 1, "the tuning did not run under the counter"
    assert crossings.large(600, 20) == [], f"arrays crossed to the host while tuning: {crossings.large(600, 20)}"


def test_crossing_counter_catches_a_transfer(monkeypatch):
    """The counter is not vacuous: an evaluator that copies ``y`` (length N) to the host per shape is caught."""
    u, y, _ = _record(N=600, n=20, seed=7)
    crossings = _Crossings()

    class Leaky:
        def __init__(self, ev, problem):
            self.ev, self.problem, self.method = ev, problem, ev.method

        def prepare(self, params):
            np.asarray(self.problem.y)  # the deliberate crossing
            return self.ev.prepare(params)

    xp = array_namespace(strict.ones(1))
    problem = FIRProblem(*_on(xp, u, y), 20)
    with crossings.installed(monkeypatch):
        leaky = Leaky(make_evaluator("auto", problem), problem)
        _counted_tune(crossings)(leaky, problem, problem.ls_noise_variance)
    assert (600,) in crossings.large(600, 20)


# ----------------------------------------------------------------------------- precision
def test_float64_by_default_also_for_float32_input(xp):
    u, y, _ = _record(seed=8)
    u32, y32 = (asarray(a.astype(np.float32), xp, dtype=xp.float32) for a in (u, y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no PrecisionWarning without a request
        p = FIRProblem(u32, y32, 20)
    assert p.y.dtype == xp.float64 and p.gram.dtype == xp.float64 and p.r_factor.R1.dtype == xp.float64
    ref = FIRProblem(u.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64), 20)
    assert p.ls_residual2 == pytest.approx(ref.ls_residual2, rel=1e-12)


def test_float32_only_on_request_with_warning(xp):
    from krylovid.sysid.problem import PrecisionWarning

    u, y, _ = _record(N=2000, n=50, seed=9)
    hp = {"c": np.array([0.1, 1.0]), "beta": 0.85}
    ref = objective(u, y, order=50, kernel="TC", hyperparameters=hp)
    with pytest.warns(PrecisionWarning, match="float32"):
        p = FIRProblem(*_on(xp, u, y), 50, dtype="float32")
    assert p.y.dtype == xp.float32 and p.gram.dtype == xp.float32
    with pytest.warns(PrecisionWarning):
        got = objective(*_on(xp, u, y), order=50, kernel="TC", hyperparameters=hp, dtype="float32")
    err = _rel(got, ref)
    # single precision is really used (not a silent float64 run), and within the documented accuracy
    assert 0 < err <= 1e-6
    with pytest.raises(ValueError, match="dtype"):
        FIRProblem(u, y, 50, dtype="float16")
    with pytest.raises(ValueError, match="dtype"):
        KernelFIR(order=50, dtype="half").fit(u, y)
