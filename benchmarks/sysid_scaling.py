"""Fit and sweep times of every sysid evaluator against N and n, written whole into RESULTS.md.

One command produces the sysid section of ``benchmarks/RESULTS.md`` (between
its markers), the table ``benchmarks/figures/sysid_scaling_table.md``, the
rows ``benchmarks/figures/sysid_scaling.json`` and the figure
``benchmarks/figures/sysid_scaling.png``.  Nothing in that section is typed
by hand: medians, ratios, certified fractions and fallback counts are
computed here.

Experiments (TC kernel, white input, random 30th-order "fast" systems, SNR 10):

* **fit** — a full ``KernelFIR(kernel="TC", method=M).fit``; ``M = "auto"``
  is the default (the row says which evaluator it chose).  Each run also times
  a dense ``500 x 500`` symmetric eigendecomposition (``np.linalg.eigh``) in the
  same process, before and after the fit, and reports the fit time in units of
  it (the targets of issue 10).  At ``N = 500, n = 125`` several systems (a
  small bank) are fitted and the median ratio is reported.
* **sweep** — ``F`` at 50 values of ``c`` at ``beta = 0.9``.  The Krylov
  method runs twice: pure (``fallback_max_n=0``: certified fraction and time
  with no exact help) and with its default exact fallback (fallback count
  and time).
* **impulseest** (``--impulseest``) — the PyPI package ``impulseest``
  (Chen–Ljung, needs ``numpy < 2``) in its own virtual environment under
  ``/tmp``, on the same N = 500 bank: time and fit to the true impulse
  response side by side.  Skipped, and said so, when it cannot be installed.

Every (experiment, N, n, method, repeat) runs in its own subprocess, so each
gets its own peak-memory figure (``ru_maxrss``) and a wall-clock limit.
Timings are medians of ``--repeats`` runs measured side by side in one
invocation.

Usage::

    python benchmarks/sysid_scaling.py --quick         # a few minutes; writes nothing unless --write
    python benchmarks/sysid_scaling.py --impulseest    # the full grid, writes RESULTS.md, table, JSON, figure
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
FIGURES = HERE / "figures"
BEGIN, END = "<!-- sysid_scaling:begin -->", "<!-- sysid_scaling:end -->"
SECTION = "## System identification (sysid_scaling)"

METHODS = ("auto", "spectral", "krylov", "qr", "cholesky")
#: What each method can afford on a 2-core machine (skips are reported with the reason).
LIMITS = {
    "auto": {"sweep": lambda N, n: N * n <= 1e9, "fit": lambda N, n: True},
    "spectral": {
        "sweep": lambda N, n: n <= 2000 and N * n * n <= 1e11,
        "fit": lambda N, n: n <= 1000 and N * n * n <= 1e11,
    },
    "krylov": {"sweep": lambda N, n: True, "fit": lambda N, n: N * n <= 4e7},
    "qr": {"sweep": lambda N, n: n <= 1000, "fit": lambda N, n: n <= 500},
    "cholesky": {"sweep": lambda N, n: N <= 1000, "fit": lambda N, n: N <= 1000},
}
SKIP_REASON = {
    "spectral": "SVD of n x n per shape and a QR of Phi: beyond its crossover with krylov",
    "qr": "O(n^3) QR per shift evaluation: too slow at this n",
    "cholesky": "N x N Cholesky per shift evaluation: O(N^3)",
    "krylov": "auto resolves to krylov here: see the auto row (not run twice)",
    "auto": "the same evaluator as the krylov rows (auto resolves to krylov here): not run twice",
}
QUICK = ["fit:500:125", "fit:2000:200", "sweep:1000:100"]
FULL = [
    "fit:500:125",
    "fit:1000:100",
    "fit:4000:400",
    "fit:20000:500",
    "fit:20000:1000",
    "fit:20000:2000",
    "fit:1000000:10000",
    "sweep:1000:100",
    "sweep:4000:400",
]
BANK_CASE = (500, 125)  # fitted on several systems: the "hidden problems" size
BANK_SYSTEMS = 5


# ----------------------------------------------------------------------------- data
def make_data(N, seed=0):
    import numpy as np

    from krylovid.sysid.simulate import random_system, simulate_data

    sysm = random_system(30, "fast", rng=seed)
    d = simulate_data(sysm, N, snr=10, rng=seed + 1)
    return np.asarray(d.u), np.asarray(d.y), sysm


def eigh_seconds(repeats=5):
    """Median wall-clock and CPU time of one dense 500 x 500 symmetric eigendecomposition (the unit of issue 10's
    targets), as ``(wall, cpu)``."""
    import numpy as np

    X = np.random.default_rng(0).standard_normal((500, 500))
    S = X + X.T
    ts, cs = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        np.linalg.eigh(S)
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return median(ts), median(cs)


# ----------------------------------------------------------------------------- workers
def worker(spec: dict) -> dict:
    """Run one case in this process and return its figures."""
    import warnings

    import numpy as np

    from krylovid import KernelFIR
    from krylovid.sysid import evaluate_objective

    u, y, sysm = make_data(spec["N"], spec.get("seed", 0))
    n = spec["n"]
    if spec["exp"] == "fit":
        e0, ec0 = eigh_seconds()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0, c0 = time.perf_counter(), time.process_time()
            m = KernelFIR(order=n, kernel="TC", method=spec["method"], random_state=0).fit(u, y)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        e1, ec1 = eigh_seconds()
        g0 = np.asarray(sysm.impulse_response(n))
        fit = 100.0 * (1.0 - np.linalg.norm(g0 - m.impulse_response_) / np.linalg.norm(g0 - g0.mean()))
        return {
            "seconds": seconds,
            "cpu": cpu,
            "eigh": 0.5 * (e0 + e1),
            "eigh_cpu": 0.5 * (ec0 + ec1),
            "F": [m.objective_],
            "peak_mb": _peak_mb(),
            "evaluator": m.info_["method"],
            "status": m.info_["status"],
            "beta": m.hyperparameters_["beta"],
            "c": m.hyperparameters_["c"],
            "shapes": m.info_["n_evaluations"],
            "dim": m.info_["subspace_dim"],
            "fit": fit,
            "warnings": sorted({w.category.__name__ for w in caught}),
        }
    c = np.logspace(-3, 3, 50)
    hp = {"c": c, "beta": 0.9}
    opts = {"fallback_max_n": 0} if spec.get("pure") else {}
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        res = evaluate_objective(
            u, y, order=n, kernel="TC", hyperparameters=hp, method=spec["method"], random_state=0, **opts
        )
        seconds = time.perf_counter() - t0
    F, lo, hi = np.asarray(res.F), np.asarray(res.F_lower), np.asarray(res.F_upper)
    certified = hi - lo <= 1e-8 * np.maximum(np.abs(F), 1.0)
    replaced = res.info.get("fallback_values", res.info.get("replaced"))
    if replaced is None:
        replaced = int(np.sum(certified & (lo == hi))) if res.info.get("status") == "fallback" else 0
    return {
        "seconds": seconds,
        "F": F.tolist(),
        "peak_mb": _peak_mb(),
        "status": res.info.get("status"),
        "certified": float(np.mean(certified)),
        "fallback": int(np.size(replaced) if np.ndim(replaced) else replaced),
        "dim": res.info.get("subspace_dim", 0),
        "evaluator": res.method,
    }


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _thread_env(threads: int) -> dict:
    """The environment with every BLAS thread count set to ``threads``."""
    return {**os.environ, **{v: str(threads) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}}


def run_case(spec: dict, timeout: float, threads: int) -> dict:
    env = _thread_env(threads)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"skipped": f"over the {timeout:.0f} s limit"}
    if out.returncode != 0:
        return {"skipped": "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:160]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def median(xs):
    xs = sorted(xs)
    k = len(xs)
    return xs[k // 2] if k % 2 else 0.5 * (xs[k // 2 - 1] + xs[k // 2])


# ----------------------------------------------------------------------------- impulseest
IMPULSEEST_VENV = pathlib.Path("/tmp/krylovid-impulseest-venv")
IMPULSEEST_SCRIPT = """
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from impulseest import impulseest
d = np.load(sys.argv[1])
out = []
for k in range(int(d["count"])):
    u, y = d[f"u{k}"], d[f"y{k}"]
    t0, c0 = time.perf_counter(), time.process_time()
    # impulseest's coefficient i multiplies u(t - i), i = 0..n-1 (feedthrough first): ask for n + 1, drop g_0
    g = np.asarray(impulseest(u, y, n=int(d["n"]) + 1, RegularizationKernel="TC")).reshape(-1)[1:]
    out.append({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0, "g": g.tolist()})
print(json.dumps(out))
"""


def impulseest_python() -> tuple[str | None, str]:
    """Python of a virtual environment with ``numpy<2`` and ``impulseest`` (created once), or ``(None, why)``."""
    py = IMPULSEEST_VENV / "bin" / "python"
    if not py.exists():
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", str(IMPULSEEST_VENV)], check=True, capture_output=True, timeout=300
            )
            subprocess.run(
                [str(py), "-m", "pip", "install", "-q", "numpy<2", "scipy<1.14", "impulseest"],
                check=True,
                capture_output=True,
                timeout=900,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            why = getattr(exc, "stderr", b"") or b""
            why = why.decode(errors="replace").strip().splitlines()[-1:] if isinstance(why, bytes) else [str(why)]
            return None, f"could not install impulseest with numpy<2 ({(why or [type(exc).__name__])[0][:120]})"
    return str(py), ""


def impulseest_bank(n, N, systems, timeout, threads=1) -> dict:
    """impulseest side by side with krylovid's default fit on the same records (fit to the true response)."""
    import numpy as np

    py, why = impulseest_python()
    if py is None:
        return {"skipped": why}
    data, truth = {"count": systems, "n": n}, []
    for k in range(systems):
        u, y, sysm = make_data(N, k)
        data[f"u{k}"], data[f"y{k}"] = u, y
        truth.append(np.asarray(sysm.impulse_response(n)))
    path = pathlib.Path("/tmp/krylovid-impulseest-bank.npz")
    np.savez(path, **data)
    script = pathlib.Path("/tmp/krylovid-impulseest-run.py")
    script.write_text(IMPULSEEST_SCRIPT)
    try:
        out = subprocess.run(
            [py, str(script), str(path)], capture_output=True, text=True, timeout=timeout, env=_thread_env(threads)
        )
    except subprocess.TimeoutExpired:
        return {"skipped": f"impulseest over the {timeout:.0f} s limit"}
    if out.returncode != 0:
        return {"skipped": "impulseest failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:160]}
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    fits = []
    for g0, r in zip(truth, rows, strict=True):
        g = np.asarray(r["g"])[: g0.size]
        fits.append(float(100.0 * (1.0 - np.linalg.norm(g0 - g) / np.linalg.norm(g0 - g0.mean()))))
    return {"seconds": [r["seconds"] for r in rows], "cpu": [r["cpu"] for r in rows], "fit": fits}


# ----------------------------------------------------------------------------- driver
def collect(cases, methods, repeats, timeout, threads, log):
    rows = []
    for case in cases:
        exp, N, n = case.split(":")
        N, n = int(N), int(n)
        variants = []
        for method in methods:
            if not LIMITS[method][exp](N, n):
                rows.append({"exp": exp, "N": N, "n": n, "method": method, "skipped": SKIP_REASON[method]})
                continue
            variants.append((method, False))
            if exp == "sweep" and method == "krylov":
                variants.append((method, True))
        seeds = range(BANK_SYSTEMS) if exp == "fit" and (N, n) == BANK_CASE else (0,)
        for method, pure in variants:
            runs = []
            for seed in seeds:
                reps = [
                    run_case(
                        {"exp": exp, "N": N, "n": n, "method": method, "seed": seed, "pure": pure}, timeout, threads
                    )
                    for _ in range(repeats if N * n <= 2e7 else 1)
                ]
                ok = [r for r in reps if "skipped" not in r]
                if not ok:
                    runs.append(reps[0])
                    continue
                r = dict(ok[0])
                r["seconds_runs"] = [x["seconds"] for x in ok]
                r["seconds"] = median(r["seconds_runs"])
                if "eigh" in r:
                    r["eigh"] = median([x["eigh"] for x in ok])
                    r["ratio_wall"] = median([x["seconds"] / x["eigh"] for x in ok])
                    r["cpu"] = median([x["cpu"] for x in ok])
                    r["eigh_cpu"] = median([x["eigh_cpu"] for x in ok])
                    r["ratio"] = median([x["cpu"] / x["eigh_cpu"] for x in ok])
                runs.append(r)
            row = {"exp": exp, "N": N, "n": n, "method": method + (" (pure)" if pure else ""), "systems": len(runs)}
            good = [r for r in runs if "skipped" not in r]
            if not good:
                row["skipped"] = runs[0]["skipped"]
            else:
                row.update(good[0])
                row["seconds"] = median([r["seconds"] for r in good])
                if "ratio" in good[0]:
                    row["ratio"] = median([r["ratio"] for r in good])
                    row["ratio_wall"] = median([r["ratio_wall"] for r in good])
                    row["cpu"] = median([r["cpu"] for r in good])
                    row["ratios"] = [r["ratio"] for r in good]
                    row["fits"] = [r["fit"] for r in good]
                    row["Fs"] = [r["F"][0] for r in good]
            rows.append(row)
            log(f"# {exp} N={N} n={n} {row['method']}: " + (row.get("skipped") or f"{row['seconds']:.3f} s"))
        _relative_errors(rows, exp, N, n)
    return rows


def _relative_errors(rows, exp, N, n):
    """Max relative difference of F to the exact reference of the same case (cholesky, qr, else spectral)."""
    same = [r for r in rows if (r["exp"], r["N"], r["n"]) == (exp, N, n) and "F" in r]
    ref = next((r for m in ("cholesky", "qr", "spectral") for r in same if r["method"] == m), None)
    for r in same:
        if ref is None:
            r["rel_err"] = None
        elif "Fs" in r and "Fs" in ref:
            r["rel_err"] = max(abs(a - b) / abs(b) for a, b in zip(r["Fs"], ref["Fs"], strict=False))
        else:
            r["rel_err"] = max(abs(a - b) / abs(b) for a, b in zip(r["F"], ref["F"], strict=True))
        r["reference"] = ref["method"] if ref is not None else None


def render_tables(rows) -> str:
    fit = [
        "| N | n | method | evaluator | time (s) | / eigh(500): CPU (wall) | rel. diff of F | status | shapes | "
        "peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    sweep = [
        "| N | n | method | time (s) | rel. diff of F | certified fraction | fallback values | status | "
        "peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        table = fit if r["exp"] == "fit" else sweep
        if "skipped" in r:
            cells = (
                [r["N"], r["n"], r["method"]] + ["—"] * (len(table[1].split("|")) - 6) + [f"skipped: {r['skipped']}"]
            )
            table.append("| " + " | ".join(str(x) for x in cells) + " |")
            continue
        err = (
            "ref" if r.get("reference") == r["method"] else ("—" if r.get("rel_err") is None else f"{r['rel_err']:.1e}")
        )
        secs = f"{r['seconds']:.3f}" + (
            f" (median of {len(r['seconds_runs'])})"
            if len(r.get("seconds_runs", [])) > 1 and r.get("systems", 1) == 1
            else ""
        )
        if r["exp"] == "fit":
            if r.get("systems", 1) > 1:
                secs = f"{r['seconds']:.3f} (median over {r['systems']} systems)"
            fit.append(
                f"| {r['N']} | {r['n']} | {r['method']} | {r['evaluator']} | {secs} | {r['ratio']:.2f} "
                f"({r.get('ratio_wall', float('nan')):.2f}) | {err} | "
                f"{r['status']} | {r['shapes']} | {r['peak_mb']:.0f} |"
            )
        else:
            sweep.append(
                f"| {r['N']} | {r['n']} | {r['method']} | {secs} | {err} | {r['certified']:.2f} | "
                f"{r['fallback']} | {r['status']} | {r['peak_mb']:.0f} |"
            )
    return (
        'Full fits (`KernelFIR(kernel="TC", method=...)`):\n\n'
        + "\n".join(fit)
        + "\n\n50-value sweeps of `c` at beta = 0.9 (`evaluate_objective`):\n\n"
        + "\n".join(sweep)
        + "\n"
    )


def targets(rows, imp) -> list:
    """The issue-10 targets, each with what was measured (from the rows) and whether it is met."""

    def row(exp, N, n, method):
        return next(
            (r for r in rows if (r["exp"], r["N"], r["n"], r["method"]) == (exp, N, n, method) and "skipped" not in r),
            None,
        )

    out = []
    for (N, n), limit in (((500, 125), 1.0), ((4000, 400), 4.0)):
        r = row("fit", N, n, "auto")
        if r is not None:
            out.append(
                (
                    f"N = {N}, n = {n} TC full fit <= {limit:g} x eigh(500)",
                    f"{r['ratio']:.2f} x in CPU time ({r['cpu']:.3f} s, eigh {r['eigh_cpu'] * 1e3:.1f} ms); wall "
                    f"{r['ratio_wall']:.2f} x ({r['seconds']:.3f} s, eigh {r['eigh'] * 1e3:.1f} ms); {r['evaluator']}",
                    "yes" if r["ratio"] <= limit else "no",
                )
            )
    r = row("fit", 1000000, 10000, "auto")
    if r is not None:
        out.append(
            (
                "N = 1e6, n = 1e4 TC full fit <= 15 s and <= 2 GB",
                f"{r['seconds']:.1f} s, {r['peak_mb'] / 1024:.2f} GB ({r['evaluator']})",
                "yes" if r["seconds"] <= 15 and r["peak_mb"] <= 2048 else "no",
            )
        )
    if imp is not None:
        if "skipped" in imp:
            out.append(("impulseest bank: >= 50x faster at an equal or better fit", imp["skipped"], "not measured"))
        else:
            ours = row("fit", *BANK_CASE, "auto")
            speed = median(imp["cpu"]) / ours["cpu"]
            speed_wall = median(imp["seconds"]) / ours["seconds"]
            better = sum(a >= b - 1e-9 for a, b in zip(ours["fits"], imp["fit"], strict=True))
            out.append(
                (
                    f"impulseest on {len(imp['fit'])} systems (N = {BANK_CASE[0]}, n = {BANK_CASE[1]}): >= 50x "
                    "faster at an equal or better fit",
                    f"{speed:.0f}x in CPU time (median {median(imp['cpu']):.2f} s vs {ours['cpu']:.3f} s), "
                    f"{speed_wall:.0f}x wall ({median(imp['seconds']):.2f} s vs {ours['seconds']:.3f} s); fit "
                    f"{median(ours['fits']):.1f} % vs {median(imp['fit']):.1f} % (median), better or equal on "
                    f"{better} of {len(imp['fit'])}",
                    "yes" if speed >= 50 and better == len(imp["fit"]) else "no",
                )
            )
    return out


def render_section(rows, imp, args, started, load) -> str:
    import numpy as np

    cmd = "python benchmarks/sysid_scaling.py " + " ".join(args.argv)
    lines = [
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}; BLAS threads per run: {args.threads}; 1-min load average {load[0]:.1f} at the "
        f"start, {load[1]:.1f} at the end (shared machine).  Date: {started}.",
        f"Command: `{cmd.strip()}` (written by the script: this section, "
        "`benchmarks/figures/sysid_scaling_table.md`, `sysid_scaling.json`, `sysid_scaling.png`).",
        "",
        f"Each case runs in its own subprocess (peak RSS is its own); times are medians of {args.repeats} runs "
        f"where N*n <= 2e7 (single runs above); at N = {BANK_CASE[0]}, n = {BANK_CASE[1]} the median over "
        f"{BANK_SYSTEMS} systems.  `/ eigh(500)` = fit time over the median time of a dense 500 x 500 "
        "`np.linalg.eigh` measured in the same process, in process CPU time (with one BLAS thread the work itself; "
        "wall-clock ratios, which also count waiting for a core on the shared machine, in parentheses); the "
        "targets and the impulseest speed-up use CPU time.  "
        'Data: random 30th-order "fast" systems, white input, '
        "SNR 10, TC kernel.  *rel. diff of F* = relative difference to the exact reference of the same case "
        "(cholesky, else qr, else spectral).  Sweep rows: *certified fraction* = share of the 50 values whose "
        "bounds on F meet rtol 1e-8; *(pure)* = Krylov without the exact fallback "
        "(`fallback_max_n=0`); *fallback values* = values replaced by exact QR.",
        "",
    ]
    tg = targets(rows, imp)
    if tg:
        lines += ["| target (issue 10) | measured | met |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in tg]
        lines.append("")
    lines.append(render_tables(rows))
    lines.append("Plot: `benchmarks/figures/sysid_scaling.png` (fit time against N and against n per method).")
    return "\n".join(lines)


def write_results(section: str) -> None:
    """Replace the sysid section of RESULTS.md (migrating an unmarked one written before the markers existed)."""
    sys.path.insert(0, str(HERE))
    from _results import RESULTS, write_section

    text = RESULTS.read_text() if RESULTS.exists() else ""
    if BEGIN not in text and SECTION in text:
        head, rest = text.split(SECTION, 1)
        nxt = rest.find("\n## ")
        tail = rest[nxt:] if nxt >= 0 else "\n"
        RESULTS.write_text(f"{head}{SECTION}\n\n{BEGIN}\n{END}\n{tail}")
    write_section(section, begin=BEGIN, end=END, heading=SECTION)


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    fits = [r for r in rows if r["exp"] == "fit" and "seconds" in r]
    for k, (key, label) in enumerate((("N", "N"), ("n", "n (FIR order)"))):
        ax = fig.add_subplot(1, 2, k + 1)
        for method in METHODS:
            pts = sorted(
                (r[key], r["seconds"], r["n"] if key == "N" else r["N"]) for r in fits if r["method"] == method
            )
            if pts:
                ax.loglog([p[0] for p in pts], [p[1] for p in pts], "o-", label=method)
                for x, s, other in pts:
                    ax.annotate(f"{'n' if key == 'N' else 'N'}={other}", (x, s), fontsize=6)
        ax.set_xlabel(label)
        ax.set_ylabel("seconds (full TC fit)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small grid (a few minutes); nothing written unless --write")
    ap.add_argument(
        "--write", action="store_true", help="with --quick: write RESULTS.md, table, JSON and figure anyway"
    )
    ap.add_argument("--cases", nargs="*", help="cases as exp:N:n (exp = fit or sweep)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--repeats", type=int, default=3, help="runs per case for the median")
    ap.add_argument(
        "--threads", type=int, default=1, help="BLAS threads per run (default 1: stable on a shared machine)"
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per single run")
    ap.add_argument("--impulseest", action="store_true", help="also time the PyPI impulseest in a numpy<2 venv")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    args.argv = list(sys.argv[1:] if argv is None else argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = os.getloadavg()[0]
    cases = args.cases or (QUICK if args.quick else FULL)
    methods = [m for m in args.methods.split(",") if m]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        ap.error(f"--methods: unknown {bad}; choose from {list(METHODS)}")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    rows = collect(cases, methods, args.repeats, args.timeout, args.threads, log)
    imp = None
    if args.impulseest:
        imp = impulseest_bank(BANK_CASE[1], BANK_CASE[0], BANK_SYSTEMS, args.timeout, args.threads)
        log("# impulseest: " + (imp.get("skipped") or f"median {median(imp['seconds']):.2f} s"))
    section = render_section(rows, imp, args, started, (load0, os.getloadavg()[0]))
    print(section)
    if not args.quick or args.write:
        FIGURES.mkdir(exist_ok=True)
        (FIGURES / "sysid_scaling_table.md").write_text(render_tables(rows))
        (FIGURES / "sysid_scaling.json").write_text(
            json.dumps({"rows": rows, "impulseest": imp, "date": started, "command": args.argv}, indent=1, default=str)
        )
        plot(rows, FIGURES / "sysid_scaling.png")
        write_results(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
