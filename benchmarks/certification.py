"""Certification of the augmented Krylov objective away from the optimum (issue 9, item 1).

For each benchmark case (kernel, N, n, SNR, white or low-pass input) the
hyperparameters are fitted once, then ``F`` is evaluated with the pure Krylov
method (no exact fallback) at 30 scales ``c`` in ``c_ML * [1e-2, 1e2]`` and
compared with the exact QR value.  Reported per case:

* ``certified`` — fraction of the 30 values whose bounds meet ``rtol = 1e-8``;
* ``wrong`` — values whose bounds do not contain the exact ``F`` (must be 0);
* ``max_err`` — largest ``|F - F_qr| / |F_qr|`` of the reported values;
* ``exact spread`` — largest ``|F_qr - F_spectral| / |F_qr|``: where the two
  exact evaluators disagree beyond ``rtol``, ``F`` is not determined by the
  double-precision data and no certificate can be expected.

A second table times one 30-value sweep at N = 3000, n = 300 (TC, white
input) for the pure Krylov method, Cholesky and QR in the same run (median of
``--repeats``), with the Krylov status.

Run ``python benchmarks/certification.py`` (``--quick`` for a smaller grid,
``--large`` for the quick grid plus N = 1e4, n = 1000 at SNR 1e4);
``--no-write`` prints without touching ``RESULTS.md``.  The low-pass input is
white noise through a 4th-order Butterworth filter (cutoff 0.5 of Nyquist)
started at rest, so ``cond(Phi^T Phi)`` is about 1e11..1e12 at n = 100.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings

import numpy as np
from scipy.signal import butter, sosfilt

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from krylovid.sysid import KernelFIR, evaluate_objective  # noqa: E402
from krylovid.sysid.simulate import random_system, simulate_data  # noqa: E402

try:
    from _results import write_section
except ImportError:  # run from another directory
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from _results import write_section

RTOL = 1e-8
KERNELS = ("TC", "DC", "SS", "SE")
FULL = [(1000, 100), (3000, 300), (10000, 300), (10000, 1000)]
QUICK = [(1000, 100), (3000, 300)]
LARGE = [(10000, 1000)]


def make_data(N, snr, input_kind, seed):
    """4th-order random system, white or low-pass input (from rest), given SNR."""
    rng = np.random.default_rng(seed)
    system = random_system(4, "fast", rng=rng)
    e = rng.standard_normal(N)
    u = e if input_kind == "white" else sosfilt(butter(4, 0.5, output="sos"), e)
    d = simulate_data(system, N, snr=snr, rng=rng, input=u)
    return d.u, d.y


def sweep_case(kernel, N, n, snr, input_kind, seed, hp=None):
    """Fit (unless ``hp`` is given), then the 30-value pure-Krylov sweep against QR; returns one row (dict)."""
    u, y = make_data(N, snr, input_kind, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if hp is None:
            hp = dict(KernelFIR(order=n, kernel=kernel, random_state=0).fit(u, y).hyperparameters_)
        fitted = dict(hp)
        hp = dict(hp)
        hp["c"] = hp["c"] * np.logspace(-2, 2, 30)
        t0 = time.perf_counter()
        kr = evaluate_objective(
            u,
            y,
            order=n,
            kernel=kernel,
            hyperparameters=hp,
            method="krylov",
            fallback_max_n=0,
            random_state=0,
            rtol=RTOL,
        )
        t_kr = time.perf_counter() - t0
    ex = evaluate_objective(u, y, order=n, kernel=kernel, hyperparameters=hp, method="qr").F
    sp = evaluate_objective(u, y, order=n, kernel=kernel, hyperparameters=hp, method="spectral").F
    slack = 1e-10 * np.abs(ex)
    inside = (kr.F_lower <= ex + slack) & (ex <= kr.F_upper + slack)
    cert = np.asarray(getattr(kr, "certified", kr.F_upper - kr.F_lower <= RTOL * np.abs(kr.F)))
    return {
        "kernel": kernel,
        "N": N,
        "n": n,
        "snr": snr,
        "input": input_kind,
        "certified": float(np.mean(cert)),
        "wrong": int(np.sum(~inside)),
        "max_err": float(np.max(np.abs(kr.F - ex) / np.abs(ex))),
        "exact_spread": float(np.max(np.abs(sp - ex) / np.abs(ex))),
        "status": str(kr.info.get("status")),
        "dim": int(kr.info.get("subspace_dim", 0)),
        "time_s": t_kr,
        "hp": fitted,
    }


def sweep_times(repeats):
    """Median times of one 30-value sweep, N = 3000, n = 300, TC, white input, SNR 10."""
    u, y = make_data(3000, 10.0, "white", 7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hp = dict(KernelFIR(order=300, kernel="TC", random_state=0).fit(u, y).hyperparameters_)
    hp["c"] = hp["c"] * np.logspace(-2, 2, 30)
    out = {}
    for method, kw in (("krylov", {"fallback_max_n": 0, "random_state": 0}), ("cholesky", {}), ("qr", {})):
        ts, status = [], None
        for _ in range(repeats):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                t0 = time.perf_counter()
                res = evaluate_objective(u, y, order=300, kernel="TC", hyperparameters=hp, method=method, **kw)
                ts.append(time.perf_counter() - t0)
            status = res.info.get("status")
        out[method] = {"time_s": float(np.median(ts)), "status": str(status)}
    out["cholesky_over_krylov"] = out["cholesky"]["time_s"] / out["krylov"]["time_s"]
    out["qr_over_krylov"] = out["qr"]["time_s"] / out["krylov"]["time_s"]
    return out


def render(rows, times, command):
    lines = [
        "Pure Krylov (no exact fallback), 30 values of c in c_ML * [1e-2, 1e2], rtol 1e-8, "
        f"against the exact QR value (`{command}`).  'wrong bounds': values whose bounds miss the exact F "
        "(must be 0); values not certified are reported with their bounds and status 'budget'.",
        "",
        "| kernel | N | n | SNR | input | certified | wrong bounds | max rel. err | exact spread | status | dim "
        "| time [s] |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kernel']} | {r['N']} | {r['n']} | {r['snr']:g} | {r['input']} | "
            f"{100 * r['certified']:.0f} % | {r['wrong']} | {r['max_err']:.1e} | {r['exact_spread']:.1e} | "
            f"{r['status']} | "
            f"{r['dim']} | {r['time_s']:.2f} |"
        )
    lines += [
        "",
        "One 30-value sweep, N = 3000, n = 300, TC, white input, SNR 10 (median of repeats, same run):",
        "",
        "| method | time [s] | status |",
        "|---|---|---|",
    ]
    for m in ("krylov", "cholesky", "qr"):
        lines.append(f"| {m} | {times[m]['time_s']:.3f} | {times[m]['status']} |")
    lines += [
        "",
        f"Cholesky / Krylov = {times['cholesky_over_krylov']:.1f}x, QR / Krylov = {times['qr_over_krylov']:.1f}x.",
    ]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two problem sizes, two SNRs")
    ap.add_argument("--large", action="store_true", help="the quick grid plus N = 1e4, n = 1000 at SNR 1e4")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; do not write RESULTS.md")
    ap.add_argument("--json", type=pathlib.Path, help="also write the rows as JSON")
    ap.add_argument(
        "--hyperparameters",
        type=pathlib.Path,
        help="reuse the fitted hyperparameters of a previous --json file (rows matched by kernel, N, n, SNR, input)",
    )
    ap.add_argument(
        "--from-json",
        type=pathlib.Path,
        help="render (and write) the tables of a previous --json file (rows, times, optional note) instead of running",
    )
    args = ap.parse_args(argv)
    if args.from_json:
        data = json.loads(args.from_json.read_text())
        return finish(args, data["rows"], data["times"], data.get("note", ""))
    previous = json.loads(args.hyperparameters.read_text())["rows"] if args.hyperparameters else []
    known = {(r["kernel"], r["N"], r["n"], r["snr"], r["input"]): r["hp"] for r in previous}
    if args.quick or args.large:
        grid = [(size, (1.0, 1e4)) for size in QUICK] + ([(size, (1e4,)) for size in LARGE] if args.large else [])
    else:
        grid = [(size, (1.0, 1e2, 1e4)) for size in FULL]
    rows = []
    for (N, n), snrs in grid:
        for kernel in KERNELS:
            for snr in snrs:
                for input_kind in ("white", "lowpass"):
                    hp = known.get((kernel, N, n, snr, input_kind))
                    row = sweep_case(kernel, N, n, snr, input_kind, seed=len(rows), hp=hp)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    times = sweep_times(args.repeats)
    print(json.dumps(times), flush=True)
    return finish(args, rows, times)


def finish(args, rows, times, note=""):
    """Render the tables, write the JSON and the RESULTS.md section; exit status 1 if any bound was wrong."""
    command = (
        "python benchmarks/certification.py" + (" --quick" if args.quick else "") + (" --large" if args.large else "")
    )
    if args.hyperparameters:
        command += f" --hyperparameters {args.hyperparameters.name} (c_ML and shapes of an earlier run of this script)"
    text = render(rows, times, command) + (f"\n\n{note}" if note else "")
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "times": times}, indent=1))
    if not args.no_write:
        write_section(
            text,
            begin="<!-- certification:begin -->",
            end="<!-- certification:end -->",
            heading="## Certification of the Krylov objective (issue 9)",
        )
    ok = all(r["wrong"] == 0 for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
