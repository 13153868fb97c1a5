"""One-shot device check (issue 12): the CuPy test variants, then the GPU against the CPU side by side.

Usage::

    python benchmarks/gpu_check.py                     # GPU + CuPy, under 8 minutes; writes its RESULTS.md section
    python benchmarks/gpu_check.py --no-write          # the same, prints only
    python benchmarks/gpu_check.py --cpu-smoke         # CI size, CPU only (array-api-strict as the device), prints
    python benchmarks/gpu_check.py --float32-accuracy  # dtype="float32" against float64 on the CPU; prints only

What is measured
----------------
1. The CuPy variants of the tests (``pytest -m gpu`` on ``tests/test_sysid_xp.py``
   and ``tests/test_strict_backend.py``): their summary line.
2. A TC fit at ``N = 10^6``, ``n = 10^4`` (``KernelFIR(order=n, kernel="TC",
   random_state=0).fit(u, y)``, default method, data moved to the device first
   and the transfer timed with the fit): device time (goal: <= 3 s on one
   H200-class GPU) and CPU time, ``F`` and impulse responses compared.
3. A 50-value sweep at ``N = 10^5``, ``n = 2000``: ``evaluate_objective`` at 50
   values of ``c`` (``10^-3 .. 10^3``) at ``beta = 0.9``.
4. Attention, one head, ``d = 64``, float32, at ``n = 16384`` and ``65536``:
   exact blocked softmax attention against Performer (256 features) and
   Nyström (256 segment-mean landmarks), times and relative Frobenius errors.

Every measurement runs in its own subprocess with a wall-clock limit (a row
says "> limit" when it is reached, "skipped" when the whole run's budget of
450 s is spent), the device runs after one small warm-up fit in the same
subprocess (CuPy compiles kernels and cuFFT plans on first use; the warm-up
time is reported, not counted).  Times are single runs.  Data:
white Gaussian input, impulse response ``0.9^k cos(0.2 k)`` over ``n``
lags, output noise at 10 % of the output's standard deviation.

``--cpu-smoke`` runs steps 2-4 at CI size with ``array_api_strict`` standing in
for the device (a check that the script and the backend-neutral paths run,
no speed claim) and never writes RESULTS.md; it is exercised by
``tests/test_gpu_check.py``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the shared _results helper
import _results  # noqa: E402

from krylovid import KernelFIR  # noqa: E402
from krylovid.attention.exact import softmax_attention  # noqa: E402
from krylovid.attention.features import performer_attention  # noqa: E402
from krylovid.attention.nystrom import nystrom_attention  # noqa: E402
from krylovid.backend import array_namespace, asarray, to_numpy  # noqa: E402
from krylovid.sysid import evaluate_objective  # noqa: E402
from krylovid.sysid.regressors import fir_regressor  # noqa: E402

HERE = pathlib.Path(__file__).resolve()
BEGIN, END = "<!-- gpu_check:begin -->", "<!-- gpu_check:end -->"
SECTION = "## GPU check (issue 12)"
FIT_GOAL_S = 3.0

#: Sizes of the full check and of the CI smoke run; wall-clock limits (s) of each subprocess and of the whole run.
FULL = {"fit": (10**6, 10**4), "sweep": (10**5, 2000), "attention": (16384, 65536), "d": 64, "limit": 150}
SMOKE = {"fit": (2000, 60), "sweep": (1000, 50), "attention": (128, 256), "d": 16, "limit": 120}
BUDGET_S = 450.0


# ----------------------------------------------------------------------------- data and measurements
def system(N: int, n: int, seed: int = 0):
    """White input, impulse response ``0.9^k cos(0.2 k)``, output noise at 10 % of the output's std."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(N)
    k = np.arange(1, n + 1)
    g0 = 0.9**k * np.cos(0.2 * k)
    y = np.asarray(fir_regressor(u, n).matvec(g0))
    return u, y + 0.1 * np.std(y) * rng.standard_normal(N)


def _namespace(name: str):
    if name == "numpy":
        return array_namespace(np.empty(0))
    if name == "strict":
        import array_api_strict

        return array_namespace(array_api_strict.ones(1))
    import cupy

    return array_namespace(cupy.ones(1))


def _sync(xp) -> None:
    if getattr(xp, "__name__", "").startswith("cupy") or "cupy" in getattr(xp, "__name__", ""):
        import cupy

        cupy.cuda.Device().synchronize()


def measure_fit(xp, N: int, n: int) -> dict:
    u, y = system(N, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        uu, yy = asarray(u, xp, dtype=xp.float64), asarray(y, xp, dtype=xp.float64)
        model = KernelFIR(order=n, kernel="TC", random_state=0).fit(uu, yy)
        t = time.perf_counter() - t0
    return {
        "time": t,
        "F": model.objective_,
        "g": model.impulse_response_.tolist(),
        "method": model.info_["method"],
        "certified": bool(model.info_["certified"]),
        "beta": model.hyperparameters_["beta"],
    }


def measure_sweep(xp, N: int, n: int) -> dict:
    u, y = system(N, n, seed=1)
    hp = {"c": np.logspace(-3, 3, 50), "beta": 0.9}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        uu, yy = asarray(u, xp, dtype=xp.float64), asarray(y, xp, dtype=xp.float64)
        res = evaluate_objective(uu, yy, order=n, kernel="TC", hyperparameters=hp, random_state=0)
        t = time.perf_counter() - t0
    return {"time": t, "F": res.F.tolist(), "method": res.info.get("status", "?"), "certified": res.all_certified}


def measure_attention(xp, n: int, d: int) -> dict:
    rng = np.random.default_rng(n)
    # queries and keys at half scale: logits with standard deviation 1/4 (a broad head, as the low-rank and
    # kernel approximations assume)
    Q, K, V = (asarray(rng.standard_normal((n, d)).astype(np.float32), xp, dtype=xp.float32) for _ in range(3))
    Q, K = 0.5 * Q, 0.5 * K
    m = min(256, n // 4)  # 256 at the sizes of the full check
    out = {}
    runs = {
        "exact": lambda: softmax_attention(Q, K, V),
        "performer": lambda: performer_attention(Q, K, V, m, rng=0),
        "nystrom": lambda: nystrom_attention(Q, K, V, m),
    }
    ref = None
    for name, fn in runs.items():
        _sync(xp)
        t0 = time.perf_counter()
        Y = fn()
        _sync(xp)
        out[f"{name}_time"] = time.perf_counter() - t0
        if name == "exact":
            ref = Y
        else:
            err = xp.sqrt(xp.sum((Y - ref) ** 2)) / xp.sqrt(xp.sum(ref**2))
            out[f"{name}_error"] = float(to_numpy(err))
    return out


MEASURES = {"fit": measure_fit, "sweep": measure_sweep, "attention": measure_attention}


def in_subprocess(where: str, kind: str, args: tuple, limit: float) -> dict:
    """``MEASURES[kind](namespace, *args)`` in a subprocess with a wall-clock limit (``{"timeout": limit}`` past it).

    ``where`` is ``"numpy"`` (the CPU side), ``"cupy"`` or ``"strict"``; a device run first makes a small warm-up
    fit (its time is returned as ``warm``)."""
    if limit < 5:
        return {"skipped": "time budget"}
    cmd = [sys.executable, str(HERE), "--child", json.dumps([where, kind, list(args)])]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {"timeout": limit}
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report
def _t(r: dict) -> str:
    if "skipped" in r:
        return f"skipped ({r['skipped']})"
    if "timeout" in r:
        return f"> {r['timeout']:.0f} s (limit)"
    if "error" in r:
        return f"error: {r['error']}"
    return f"{r['time']:.2f} s"


def _rel(a, b) -> str:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return f"{float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))):.1e}"


def fit_lines(dev: dict, cpu: dict, label: str, N: int, n: int, goal: bool) -> list:
    lines = [
        f"TC fit, N = {N:g}, n = {n:g} (`KernelFIR(order=n, kernel='TC', random_state=0).fit`, transfer included):",
        "",
        "| where | time | F | evaluator | certified |",
        "|---|---|---|---|---|",
    ]
    if "time" not in dev:
        return lines + [f"| {label} | {_t(dev)} | | | |", f"| CPU (NumPy) | {_t(cpu)} | | | |", ""]
    lines.append(f"| {label} | {_t(dev)} | {dev['F']:.10g} | {dev['method']} | {dev['certified']} |")
    if "time" in cpu:
        lines.append(f"| CPU (NumPy) | {_t(cpu)} | {cpu['F']:.10g} | {cpu['method']} | {cpu['certified']} |")
        g_err = np.max(np.abs(np.subtract(dev["g"], cpu["g"]))) / max(np.max(np.abs(cpu["g"])), 1e-300)
        lines += ["", f"F relative difference {_rel(dev['F'], cpu['F'])}; impulse responses differ by {g_err:.1e} of "]
        lines[-1] += f"the peak; speed-up {cpu['time'] / dev['time']:.1f}x."
    else:
        lines.append(f"| CPU (NumPy) | {_t(cpu)} | | | |")
    if goal:
        met = "met" if dev["time"] <= FIT_GOAL_S else "not met"
        lines += ["", f"Goal (<= {FIT_GOAL_S:g} s on the device): {met} ({dev['time']:.2f} s)."]
    return lines + [""]


def sweep_lines(dev: dict, cpu: dict, label: str, N: int, n: int) -> list:
    lines = [
        f"50-value sweep, N = {N:g}, n = {n:g} (`evaluate_objective`, c = 10^-3 .. 10^3, beta = 0.9):",
        "",
        "| where | time | status | all certified |",
        "|---|---|---|---|",
        f"| {label} | {_t(dev)} | {dev.get('method', '')} | {dev.get('certified', '')} |",
        f"| CPU (NumPy) | {_t(cpu)} | {cpu.get('method', '')} | {cpu.get('certified', '')} |",
    ]
    if "time" in cpu and "time" in dev:
        lines += ["", f"largest relative difference of F over the 50 values: {_rel(dev['F'], cpu['F'])}."]
    return lines + [""]


def attention_lines(rows: list, label: str, d: int) -> list:
    lines = [
        f"Attention, one head, d = {d}, float32, Q and K at half scale (exact blocked softmax attention; Performer "
        "with m = min(256, n/4) features; Nyström with m segment-mean landmarks; errors: relative Frobenius error "
        "against exact on the same side):",
        "",
        "| n | where | exact | Performer (error) | Nyström (error) |",
        "|---|---|---|---|---|",
    ]
    for n, where, r in rows:
        if "exact_time" not in r:
            lines.append(f"| {n} | {where} | {_t(r)} | | |")
            continue
        lines.append(
            f"| {n} | {where} | {r['exact_time']:.3f} s | {r['performer_time']:.3f} s ({r['performer_error']:.2e}) "
            f"| {r['nystrom_time']:.3f} s ({r['nystrom_error']:.2e}) |"
        )
    return lines + [""]


def run_pytest() -> str:
    """The CuPy test variants; returns pytest's summary line."""
    root = HERE.parents[1]
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests/test_sysid_xp.py", "tests/test_strict_backend.py"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=240, check=False)
    tail = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    return (tail[-1] if tail else "no output") + f" (exit status {proc.returncode})"


def float32_accuracy() -> str:
    """``dtype="float32"`` against float64 on the CPU: F over four shifts and the fitted impulse response."""
    from scipy.signal import lfilter

    from krylovid.sysid import objective

    lines = ["| N | n | input | F rel. diff (4 values of c) | fitted F rel. diff | impulse response diff / peak |"]
    lines.append("|---|---|---|---|---|---|")
    for N, n, kind, seed in [(2000, 50, "white", 0), (20000, 200, "white", 1), (100000, 500, "white", 2)] + [
        (5000, 100, "low-pass AR(1) 0.9", 3)
    ]:
        u, y = system(N, n, seed)
        if kind != "white":
            u = lfilter([1.0], [1.0, -0.9], u)
            y = np.asarray(fir_regressor(u, n).matvec(0.9 ** np.arange(1, n + 1) * np.cos(0.2 * np.arange(1, n + 1))))
            y = y + 0.1 * np.std(y) * np.random.default_rng(seed).standard_normal(N)
        hp = {"c": np.logspace(-2, 1, 4), "beta": 0.85}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = objective(u, y, order=n, kernel="TC", hyperparameters=hp)
            b = objective(u, y, order=n, kernel="TC", hyperparameters=hp, dtype="float32")
            m1 = KernelFIR(order=n).fit(u, y)
            m2 = KernelFIR(order=n, dtype="float32").fit(u, y)
        g = np.max(np.abs(m1.impulse_response_ - m2.impulse_response_)) / np.max(np.abs(m1.impulse_response_))
        lines.append(f"| {N} | {n} | {kind} | {_rel(b, a)} | {_rel(m2.objective_, m1.objective_)} | {g:.1e} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="CI size, array-api-strict as the device, prints only")
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    ap.add_argument("--float32-accuracy", action="store_true", help="float32 against float64 on the CPU, prints only")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        where, kind, params = json.loads(args.child)
        xp = _namespace(where)
        warm = 0.0
        if where != "numpy":
            t0 = time.perf_counter()
            measure_fit(xp, 2000, 50)  # CuPy compiles kernels and cuFFT plans on first use
            warm = time.perf_counter() - t0
        print(json.dumps({**MEASURES[kind](xp, *params), "warm": warm}))
        return 0
    if args.float32_accuracy:
        print(float32_accuracy())
        return 0
    smoke = args.cpu_smoke
    if smoke:
        where, label, sizes = "strict", "array-api-strict (CPU stand-in)", SMOKE
    else:
        try:
            where = "cupy"
            import cupy

            gpu = cupy.cuda.runtime.getDeviceProperties(0)["name"]
            gpu = gpu.decode() if isinstance(gpu, bytes) else str(gpu)
        except Exception as exc:  # noqa: BLE001 - no CuPy, no driver, no device
            print(f"no usable GPU/CuPy ({type(exc).__name__}: {exc}); use --cpu-smoke for the CPU check")
            return 1
        label, sizes = f"GPU ({gpu}, CuPy)", FULL
    t_start = time.perf_counter()
    tests = "skipped (--cpu-smoke: no device)" if smoke else run_pytest()

    def run(w, kind, params):
        left = BUDGET_S - (time.perf_counter() - t_start)
        return in_subprocess(w, kind, params, min(sizes["limit"], left - 5))

    N, n = sizes["fit"]
    fit_dev, fit_cpu = run(where, "fit", (N, n)), run("numpy", "fit", (N, n))
    Ns, ns = sizes["sweep"]
    sw_dev, sw_cpu = run(where, "sweep", (Ns, ns)), run("numpy", "sweep", (Ns, ns))
    att = []
    for na in sizes["attention"]:
        att.append((na, label, run(where, "attention", (na, sizes["d"]))))
        att.append((na, "CPU (NumPy)", run("numpy", "attention", (na, sizes["d"]))))
    total = time.perf_counter() - t_start
    warm = max(r.get("warm", 0.0) for r in (fit_dev, sw_dev, *[r for _, _, r in att]))
    limit = sizes["limit"]
    cmd = "python benchmarks/gpu_check.py" + (" --cpu-smoke" if smoke else "")
    lines = [
        f"Device: {label}.  Host: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}.  Date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC.  Command: `{cmd}` "
        f"({total:.0f} s; single runs, each in its own subprocess limited to {limit} s and to a {BUDGET_S:.0f} s "
        f"budget in all; device warm-up fit before each device run: up to {warm:.1f} s, not counted).",
        "",
        f"CuPy test variants: {tests}",
        "",
    ]
    lines += fit_lines(fit_dev, fit_cpu, label, N, n, goal=not smoke)
    lines += sweep_lines(sw_dev, sw_cpu, label, Ns, ns)
    lines += attention_lines(att, label, sizes["d"])
    body = "\n".join(lines)
    print(body)
    if not smoke and not args.no_write:
        _results.write_section(body, begin=BEGIN, end=END, heading=SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
