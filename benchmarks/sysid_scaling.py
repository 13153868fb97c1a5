"""Time and accuracy of the objective evaluators and of full fits vs N and n.

Two experiments (issue "System identification", item 8):

(a) sweep: ``F`` at 50 values of ``c`` at a fixed shape (TC, beta = 0.9);
(b) fit:   a full ``KernelFIR(kernel="TC").fit`` (tuning + posterior).

Every (experiment, N, n, method) runs in its own subprocess, so each gets its
own peak-memory figure (``ru_maxrss``) and a wall-clock limit; a method that
cannot fit in memory or time is skipped and the table says why.  Accuracy is
the relative difference of ``F`` to the exact reference of the same case
(Cholesky where it ran, else QR).  Timings are medians of ``--repeats`` runs
measured side by side in one invocation.

Usage::

    python benchmarks/sysid_scaling.py --quick          # ~1 minute
    python benchmarks/sysid_scaling.py                  # the issue's grid (long)
    python benchmarks/sysid_scaling.py --cases sweep:4000:400 fit:1000000:10000

Writes a markdown table to stdout (and ``--table FILE``) and a plot (``--plot``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

METHODS = ("cholesky", "qr", "lanczos", "krylov")

# What each method can afford on a 2-core, 24 GB machine (skips are reported).
LIMITS = {
    "cholesky": {"sweep": lambda N, n: N <= 4000, "fit": lambda N, n: N <= 2000},
    "qr": {"sweep": lambda N, n: n <= 1000, "fit": lambda N, n: n <= 500},
    "lanczos": {"sweep": lambda N, n: N * n <= 4e7, "fit": lambda N, n: N * n <= 2e5},
    "krylov": {"sweep": lambda N, n: True, "fit": lambda N, n: True},
}
SKIP_REASON = {
    "cholesky": "N x N Cholesky per evaluation: O(N^3) time, O(N^2) memory",
    "qr": "O(n^3) QR per evaluation: too slow for a full run at this n (see the qr-estimate row)",
    "lanczos": "SLQ on the N x N operator: too slow at this size",
}

QUICK = ["sweep:1000:100", "fit:1000:100"]
FULL = ["sweep:1000:100", "sweep:4000:400", "sweep:20000:2000", "sweep:100000:2000", "sweep:1000000:10000",
        "fit:1000:100", "fit:4000:400", "fit:20000:500", "fit:20000:2000", "fit:100000:2000",
        "fit:1000000:10000"]


def make_data(N, seed=0):
    import numpy as np

    from krylovid.sysid.simulate import random_system, simulate_data

    sysm = random_system(30, "fast", rng=seed)
    d = simulate_data(sysm, N, snr=10, rng=seed + 1)
    return np.asarray(d.u), np.asarray(d.y)


def worker(spec: dict) -> dict:
    """Run one case in this process and return its figures."""
    import numpy as np

    from krylovid import KernelFIR
    from krylovid.sysid import evaluate_objective

    u, y = make_data(spec["N"])
    t0 = time.perf_counter()
    if spec["exp"] == "qr-estimate":
        return qr_estimate(u, y, spec)
    if spec["exp"] == "sweep":
        c = np.logspace(-3, 3, 50)
        res = evaluate_objective(u, y, order=spec["n"], kernel="TC", hyperparameters={"c": c, "beta": 0.9},
                                 method=spec["method"], random_state=0)
        F = res.F.tolist()
        extra = {"dim": res.info.get("subspace_dim", 0), "matvecs": res.info.get("matvecs", 0)}
    else:
        m = KernelFIR(order=spec["n"], kernel="TC", method=spec["method"], random_state=0).fit(u, y)
        F = [m.objective_]
        extra = {"dim": m.info_["subspace_dim"], "matvecs": m.info_["matvecs"], "beta": m.hyperparameters_["beta"],
                 "c": m.hyperparameters_["c"], "evals": m.info_["n_evaluations"],
                 "shift_evals": m.info_["n_shift_evaluations"], "status": m.info_["status"]}
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"seconds": seconds, "F": F, "peak_mb": peak_mb, **extra}


def qr_estimate(u, y, spec) -> dict:
    """Chen–Ljung QR at the Krylov optimum: F there, and a full-fit time extrapolated from measured parts.

    Setup (one chunked QR of ``[Phi y]``) and per-shape preparation are timed
    once, a shift evaluation three times; the estimate is
    ``setup + shapes * (prepare + SHIFTS_PER_SHAPE * evaluation)`` with the
    number of shapes the Krylov fit used and ``SHIFTS_PER_SHAPE`` the average
    number of shift evaluations per shape of the exact methods on the smaller
    cases of this benchmark.
    """
    import numpy as np

    from krylovid.sysid import FIRProblem
    from krylovid.sysid.evaluators import QREvaluator
    from krylovid.sysid.objective import F_bounds

    t0 = time.perf_counter()
    p = FIRProblem(u, y, spec["n"], kernel="TC")
    ev = QREvaluator(p)
    t_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    state = ev.prepare({"beta": spec["beta"]})
    t_prep = time.perf_counter() - t0
    lam = p.ls_noise_variance / spec["c"]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        b = state.bounds(np.array([lam]))
        times.append(time.perf_counter() - t0)
    F = float(F_bounds(b, p.N, p.ls_noise_variance)[0][0])
    t_eval = median(times)
    est = t_setup + spec["shapes"] * (t_prep + SHIFTS_PER_SHAPE * t_eval)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"seconds": est, "F": [F], "peak_mb": peak_mb, "setup": t_setup, "per_eval": t_eval,
            "estimated": True}


SHIFTS_PER_SHAPE = 28


def run_case(exp, N, n, method, timeout, **extra):
    spec = json.dumps({"exp": exp, "N": N, "n": n, "method": method, **extra})
    try:
        out = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"skipped": f"over the {timeout:.0f} s limit"}
    if out.returncode != 0:
        return {"skipped": "failed: " + (out.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def median(xs):
    xs = sorted(xs)
    k = len(xs)
    return xs[k // 2] if k % 2 else 0.5 * (xs[k // 2 - 1] + xs[k // 2])


def rel_err(F, ref):
    return max(abs(a - b) / abs(b) for a, b in zip(F, ref))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small grid (about a minute)")
    ap.add_argument("--cases", nargs="*", help="cases as exp:N:n (exp = sweep or fit)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--repeats", type=int, default=3, help="runs per case for the median (krylov, qr)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per single run")
    ap.add_argument("--table", help="also write the markdown table to this file")
    ap.add_argument("--plot", help="write a PNG of time vs N")
    ap.add_argument("--replot", help="redraw --plot from a rows JSON written by an earlier run")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if args.replot:
        with open(args.replot) as fh:
            plot([tuple(r) for r in json.load(fh)], args.plot)
        return 0
    cases = args.cases or (QUICK if args.quick else FULL)
    methods = [m for m in args.methods.split(",") if m]
    rows = []
    for case in cases:
        exp, N, n = case.split(":")
        N, n = int(N), int(n)
        results = {}
        for method in methods:
            if not LIMITS[method][exp](N, n):
                results[method] = {"skipped": SKIP_REASON[method]}
                continue
            reps = args.repeats if method in ("krylov", "qr") and N * n <= 1e8 else 1
            runs = [run_case(exp, N, n, method, args.timeout) for _ in range(reps)]
            ok = [r for r in runs if "skipped" not in r]
            if not ok:
                results[method] = runs[0]
                continue
            best = dict(ok[0])
            best["seconds"] = median([r["seconds"] for r in ok])
            best["runs"] = len(ok)
            results[method] = best
            print(f"# {exp} N={N} n={n} {method}: {best['seconds']:.3f} s", file=sys.stderr, flush=True)
        kr = results.get("krylov", {})
        # the estimate needs one chunked QR of [Phi y], O(N n^2): hours beyond n ~ 5000 on 2 cores
        if exp == "fit" and "qr" in methods and "F" not in results.get("qr", {}) and "beta" in kr and n <= 5000:
            r = run_case("qr-estimate", N, n, "qr", args.timeout, beta=kr["beta"], c=kr["c"], shapes=kr["evals"])
            if "F" in r:
                results["qr"] = r
                print(f"# {exp} N={N} n={n} qr (estimate): {r['seconds']:.1f} s", file=sys.stderr, flush=True)
        ref = next((results[m]["F"] for m in ("cholesky", "qr") if "F" in results.get(m, {})), None)
        for method, r in results.items():
            rows.append((exp, N, n, method, r, None if ref is None or "F" not in r else rel_err(r["F"], ref)))
    table = render(rows)
    print(table)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures", "sysid_scaling_rows.json"), "w") as fh:
        json.dump([[e, N, n, m, r, err] for e, N, n, m, r, err in rows], fh)
    if args.table:
        with open(args.table, "w") as fh:
            fh.write(table)
    if args.plot:
        plot(rows, args.plot)
    return 0


def render(rows):
    lines = [f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}", "",
             "| exp | N | n | method | time (s) | rel. diff of F vs exact | subspace dim | matvecs | peak RSS (MB) | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    base = {}
    for exp, N, n, method, r, err in rows:
        if "seconds" in r:
            base.setdefault((exp, N, n), {})[method] = r["seconds"]
    for exp, N, n, method, r, err in rows:
        if "skipped" in r:
            lines.append(f"| {exp} | {N} | {n} | {method} | — | — | — | — | — | skipped: {r['skipped']} |")
            continue
        kr = base[(exp, N, n)].get("krylov")
        note = f"{r['seconds'] / kr:.1f}x the krylov time" if kr and method != "krylov" else ""
        if exp == "fit" and "beta" in r:
            note = (note + "; " if note else "") + f"beta={r['beta']:.4f}, {r['evals']} shapes, {r['status']}"
        if r.get("estimated"):
            note = (note + "; " if note else "") + (f"ESTIMATE: setup {r['setup']:.1f} s + shapes x (prepare + "
                                                    f"{SHIFTS_PER_SHAPE} x {r['per_eval']:.2f} s); F at krylov's optimum")
        e = "ref" if err == 0.0 else ("—" if err is None else f"{err:.1e}")
        lines.append(f"| {exp} | {N} | {n} | {method} | {r['seconds']:.3f} | {e} | {r.get('dim', 0)} | "
                     f"{r.get('matvecs', 0)} | {r['peak_mb']:.0f} | {note} |")
    return "\n".join(lines) + "\n"


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    for k, exp in enumerate(("sweep", "fit")):
        ax = fig.add_subplot(1, 2, k + 1)
        for method in METHODS:
            pts = sorted((N * 1.0, r["seconds"], n, bool(r.get("estimated"))) for e, N, n, m, r, _ in rows
                         if e == exp and m == method and "seconds" in r)
            if pts:
                line, = ax.loglog([p[0] for p in pts if not p[3]], [p[1] for p in pts if not p[3]], "o-",
                                  label=method)
                est = [p for p in pts if p[3]]
                if est:
                    ax.loglog([p[0] for p in est], [p[1] for p in est], "o", mfc="none", color=line.get_color(),
                              label=f"{method} (estimated)")
                for N, s, n, _ in pts:
                    ax.annotate(f"n={n}", (N, s), fontsize=7)
        ax.set_xlabel("N")
        ax.set_ylabel("seconds")
        ax.set_title("50-value sweep of c" if exp == "sweep" else "full KernelFIR fit (TC)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
