"""Batch / Dask benchmark: many identifications at once.

Three measurements, printed as a Markdown block for benchmarks/RESULTS.md:

1. speed-up: a bank of ``--systems`` simulated systems identified serially and
   on a LocalCluster of ``--workers`` processes (1 thread each), both after a
   small warm-up batch; cluster start-up is reported separately, not counted;
2. per-task overhead: median over ``--repeats`` batches of ``--tiny`` tasks
   whose fit does nothing, ``(wall - sum of task times / workers) / tasks``,
   for the serial loop, a process pool and Dask;
3. the bank study (fast/slow x SNR 10/1, ``--K`` systems each, TC/DC/SS,
   krylov) on the cluster: CSV table and box plot written to ``--out``.

Usage::

    python benchmarks/bank_bench.py                  # the recorded run (a few minutes)
    python benchmarks/bank_bench.py --quick          # smoke test (seconds)
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from krylovid.batch import bank_study, identify_many, plot_bank_boxplot
from krylovid.sysid.simulate import bank


class NullModel:
    """A model whose fit does nothing: isolates the scheduling overhead."""

    def __init__(self, order=1, random_state=None):
        self.order = order

    def fit(self, u, y):
        self.objective_ = self.noise_variance_ = 0.0
        self.hyperparameters_ = {}
        self.impulse_response_ = np.zeros(self.order)
        return self


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--systems", type=int, default=200)
    p.add_argument("--N", type=int, default=200, help="data length, speed-up bank")
    p.add_argument("--order", type=int, default=20, help="FIR order, speed-up bank")
    p.add_argument("--study-N", type=int, default=300, help="data length, bank study")
    p.add_argument("--study-order", type=int, default=30, help="FIR order, bank study")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tiny", type=int, default=200, help="tasks per overhead batch")
    p.add_argument("--repeats", type=int, default=5, help="overhead batches")
    p.add_argument("--speedup-repeats", type=int, default=3, help="alternated serial/Dask runs")
    p.add_argument("--K", type=int, default=25, help="systems per collection in the study")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "figures"))
    p.add_argument("--quick", action="store_true", help="tiny sizes, nothing written")
    args = p.parse_args(argv)
    if args.quick:
        args.systems, args.tiny, args.repeats, args.K, args.speedup_repeats = 8, 20, 2, 2, 1
    return args


def _speedup(args, client):
    """Serial and Dask batch times, alternated ``--speedup-repeats`` times (the median of each
    is reported): on a shared machine the load drifts, alternating spreads it over both."""
    data = bank("fast", 10, args.systems, N=args.N, rng=np.random.default_rng(0))
    opts = dict(order=args.order, kernel="TC", method="krylov", random_state=0, progress=False)
    warm = data[: 2 * args.workers]  # imports and first-call costs, in this process and the workers
    identify_many(warm, **opts)
    identify_many(warm, client=client, **opts)
    times = {"serial": [], "dask": []}
    for _ in range(args.speedup_repeats):
        serial = identify_many(data, **opts)
        dask = identify_many(data, client=client, **opts)
        times["serial"].append(serial.wall_time_s)
        times["dask"].append(dask.wall_time_s)
    diff = max(abs(a["objective"] - b["objective"]) for a, b in zip(serial.rows, dask.rows, strict=True))
    return {k: statistics.median(v) for k, v in times.items()}, times, serial, diff


def _overhead(args, client):
    """Median per-task overhead; the process pool is started (and warmed) once, outside."""
    data = [(np.zeros(4), np.zeros(4))] * args.tiny
    out = {}
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        for label, kw in (("serial", {}), ("process pool", {"executor": pool}), ("dask", {"client": client})):
            per_task = []
            for _ in range(args.repeats + 1):  # the first batch warms up, not counted
                res = identify_many(data, estimator=NullModel, progress=False, **kw)
                busy = float(np.sum(res.column("time_s")))
                width = 1 if label == "serial" else args.workers
                per_task.append((res.wall_time_s - busy / width) / args.tiny)
            out[label] = statistics.median(per_task[1:])
    return out


def _study(args, client):
    res = bank_study(
        args.K,
        kernels=("TC", "DC", "SS"),
        methods=("krylov",),
        N=args.study_N,
        order=args.study_order,
        random_state=0,
        client=client,
        progress=False,
    )
    if not args.quick:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        res.to_csv(out / f"bank_study_K{args.K}.csv")
        plot_bank_boxplot(res, out / f"bank_boxplot_K{args.K}.png")
    return res


def _report(args, start_s, speed, overhead, study):
    med, times, serial, diff = speed
    fits = {}
    for r in study.rows:
        fits.setdefault((r["collection"], r["kernel"]), []).append(r["fit"] if r["fit"] is not None else np.nan)
    lines = [
        f"- machine: {platform.node()} ({os.cpu_count()} cores, {platform.processor() or platform.machine()}),"
        f" Python {platform.python_version()}, numpy {np.__version__};"
        f" 1-min load average {args.load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
        " (shared machine);"
        f" date {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`".rstrip(),
        f"- LocalCluster({args.workers} worker processes x 1 thread) start-up: {start_s:.1f} s",
        f"- speed-up: {args.systems} systems (fast, SNR 10, N={args.N}, order {args.order}, TC, krylov),"
        f" median of {args.speedup_repeats} alternated runs: serial {med['serial']:.1f} s"
        f" ({', '.join(f'{t:.1f}' for t in times['serial'])}), Dask {med['dask']:.1f} s"
        f" ({', '.join(f'{t:.1f}' for t in times['dask'])}) -> **{med['serial'] / med['dask']:.2f}x**;"
        f" max |F_serial - F_dask| = {diff:.1e}; median fit time"
        f" {np.median(serial.column('time_s')) * 1e3:.0f} ms",
        f"- per-task overhead (median of {args.repeats} batches of {args.tiny} no-op tasks): "
        + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in overhead.items()),
        f"- bank study K={args.K} per collection (N={args.study_N}, order {args.study_order}),"
        f" TC/DC/SS, krylov: {len(study)} fits,"
        f" {study.ok} ok, {study.wall_time_s:.1f} s on the cluster; median fit:",
        "",
        "| collection | " + " | ".join(dict.fromkeys(k for _, k in fits)) + " |",
        "|---|" + "---|" * len(dict.fromkeys(k for _, k in fits)),
    ]
    for coll in dict.fromkeys(c for c, _ in fits):
        cells = [f"{np.nanmedian(v):.1f}" for (c, _), v in fits.items() if c == coll]
        lines.append(f"| {coll} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    args = _parse(argv)
    args.load_start = os.getloadavg()[0]
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        start_s = time.perf_counter() - t0
        speed = _speedup(args, client)
        overhead = _overhead(args, client)
        study = _study(args, client)
    print(_report(args, start_s, speed, overhead, study))
    return 0


if __name__ == "__main__":
    sys.exit(main())
