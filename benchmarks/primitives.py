"""Benchmark of the numerical primitives: Toeplitz block matvecs and block Lanczos.

Usage::

    python benchmarks/primitives.py            # full run (a few minutes on 2 cores)
    python benchmarks/primitives.py --quick    # small sizes, prints only

What is measured (median wall time of ``--repeats`` runs; the FFT operator and
its dense equivalent are timed alternately in the same loop, so their ratio is
a side-by-side measurement on the same machine state):

1. ``Toeplitz(c, r)`` of shape ``(N, n)`` (the FIR regression matrix ``Phi``
   shape, ``n = 1000``) applied to a block of ``k`` columns, against the stored
   dense ``N x n`` matrix where it fits (``N <= 1e5``).
2. Square ``N x N`` symmetric Toeplitz applied to ``k`` columns, against the
   dense ``N x N`` matrix for ``N = 1e4`` only.
3. Block Lanczos (``krylovid.krylov.block_lanczos``) on ``A = T T^T`` with
   ``T`` the ``(N, n)`` Toeplitz operator above (rank ``n``, PSD: the sysid
   ``A`` with ``Kbar = I``), block size ``s`` and a fixed number of block
   steps; the share of the time spent inside operator applications is
   reported too.

The markdown tables are printed and, unless ``--no-write`` (implied by
``--quick``), written between the Primitives markers of ``benchmarks/RESULTS.md``
together with the machine, date and command.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import os
import pathlib
import platform
import statistics
import sys
import time

import numpy as np
import scipy.linalg as sla

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the shared _results helper
import _results  # noqa: E402

from krylovid.krylov import block_lanczos  # noqa: E402
from krylovid.operators import LinearOperator, Product, Toeplitz  # noqa: E402

RESULTS = pathlib.Path(__file__).with_name("RESULTS.md")
BEGIN, END = "<!-- primitives:begin -->", "<!-- primitives:end -->"
SECTION = "## Primitives"


# ----------------------------------------------------------------------------- helpers
class Timed(LinearOperator):
    """Wrap an operator and accumulate the wall time spent in its applications."""

    def __init__(self, op: LinearOperator):
        self.op, self.seconds = op, 0.0
        super().__init__(op.shape, op.dtype, op.xp, symmetric=op.symmetric)

    def _matmat(self, X):
        t0 = time.perf_counter()
        out = self.op.matmat(X)
        self.seconds += time.perf_counter() - t0
        return out

    def _rmatmat(self, X):
        t0 = time.perf_counter()
        out = self.op.rmatmat(X)
        self.seconds += time.perf_counter() - t0
        return out


def _timeit(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def side_by_side(fns: dict, repeats: int) -> dict:
    """Median time of each callable, the callables run alternately ``repeats`` times."""
    for fn in fns.values():  # warm-up (FFT plans, BLAS threads, page faults)
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_timeit(fn))
    return {name: statistics.median(t) for name, t in times.items()}


def _check(got, want) -> None:
    """Refuse to time a wrong answer: the FFT product must match the dense one."""
    err = float(np.max(np.abs(got - want))) / max(float(np.max(np.abs(want))), 1e-300)
    if not err < 1e-10:
        raise AssertionError(f"FFT and dense products differ (relative error {err:.2e})")


def _fmt_t(t) -> str:
    if t is None:
        return "—"
    return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s"


def _fmt_n(N: int) -> str:
    e = int(round(np.log10(N)))
    return f"1e{e}" if 10**e == N else f"{N / 10**e:g}e{e}"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = (
        ", ".join(
            f"{v}={os.environ[v]}"
            for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
            if v in os.environ
        )
        or "BLAS threads: library default"
    )
    load = "n/a"
    if hasattr(os, "getloadavg"):
        load = f"{os.getloadavg()[0]:.1f}"
    return (
        f"{os.cpu_count()} cores (`nproc`), {cpu}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}; {threads}; 1-min load average at start {load}"
    )


# ----------------------------------------------------------------------------- benchmarks
def bench_tall(Ns, ks, n, dense_max, repeats, rng):
    """Toeplitz (N, n) block matvec vs the dense N x n matrix."""
    rows = ["| N | n | k | Toeplitz (FFT) | dense N x n | dense / FFT |", "|---|---|---|---|---|---|"]
    for N in Ns:
        c, r = rng.standard_normal(N), rng.standard_normal(n)
        T = Toeplitz(c, r)
        M = sla.toeplitz(c, r) if N <= dense_max else None
        for k in ks:
            X = rng.standard_normal((n, k))
            fns = {"fft": functools.partial(T.matmat, X)}
            if M is not None:
                fns["dense"] = functools.partial(np.matmul, M, X)
                _check(T.matmat(X), M @ X)
            t = side_by_side(fns, repeats)
            td = t.get("dense")
            ratio = f"{td / t['fft']:.2f}" if td else "—"
            rows.append(f"| {_fmt_n(N)} | {n} | {k} | {_fmt_t(t['fft'])} | {_fmt_t(td)} | {ratio} |")
            print(rows[-1], flush=True)
        del M, fns  # free the dense matrix before the next N
    return rows


def bench_square(Ns, ks, dense_max, repeats, rng):
    """Symmetric Toeplitz N x N block matvec vs the dense N x N matrix."""
    rows = ["| N | k | Toeplitz (FFT) | dense N x N | dense / FFT |", "|---|---|---|---|---|"]
    for N in Ns:
        c = rng.standard_normal(N)
        T = Toeplitz(c)
        M = sla.toeplitz(c) if N <= dense_max else None
        for k in ks:
            X = rng.standard_normal((N, k))
            fns = {"fft": functools.partial(T.matmat, X)}
            if M is not None:
                fns["dense"] = functools.partial(np.matmul, M, X)
                _check(T.matmat(X), M @ X)
            t = side_by_side(fns, repeats)
            td = t.get("dense")
            ratio = f"{td / t['fft']:.2f}" if td else "—"
            rows.append(f"| {_fmt_n(N)} | {k} | {_fmt_t(t['fft'])} | {_fmt_t(td)} | {ratio} |")
            print(rows[-1], flush=True)
        del M, fns  # free the dense matrix before the next N
    return rows


def bench_block_lanczos(Ns, ss, n, steps, repeats, rng, big=8 * 10**6):
    """Block Lanczos on A = T T^T (T Toeplitz (N, n)): time vs N and block size."""
    rows = [
        "| N | n | block size s | steps | dim d | runs | time | in matvecs | per column matvec |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for N in Ns:
        T = Toeplitz(rng.standard_normal(N), rng.standard_normal(n))
        for s in ss:
            B = rng.standard_normal((N, s))
            timed = Timed(Product(T, T.T))
            res = {}

            def run(timed=timed, B=B, res=res):
                res["r"] = block_lanczos(timed, B, steps)

            runs = 1 if N * s >= big else repeats  # the largest cases: one cold run only
            if runs > 1:
                run()  # warm-up
            timed.seconds, times = 0.0, []
            for _ in range(runs):
                times.append(_timeit(run))
            t = statistics.median(times)
            r = res["r"]
            cols = r.info.matvecs
            share = timed.seconds / sum(times)
            rows.append(
                f"| {_fmt_n(N)} | {n} | {s} | {steps} | {r.Q.shape[1]} | {runs} | {_fmt_t(t)} | "
                f"{100 * share:.0f}% | {_fmt_t(share * t / max(cols, 1))} |"
            )
            print(rows[-1], flush=True)
    return rows


# ----------------------------------------------------------------------------- output
def write_section(body: str, path: pathlib.Path = RESULTS) -> None:
    """Replace the text between the Primitives markers (create the file if needed)."""
    _results.write_section(body, begin=BEGIN, end=END, heading=SECTION, path=path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, 3 repeats, no file written")
    p.add_argument("--repeats", type=int, default=None, help="repeats per timing (default 5; 3 with --quick)")
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be >= 1")
    rng = np.random.default_rng(args.seed)
    quick = args.quick
    repeats = args.repeats or (3 if quick else 5)
    Ns = [10**4, 10**5] if quick else [10**4, 3 * 10**4, 10**5, 3 * 10**5, 10**6]
    ks = [1, 8, 32]
    n = 200 if quick else 1000
    t0 = time.perf_counter()
    print(f"Toeplitz (N, {n}) block matvec, median of {repeats}")
    tall = bench_tall(Ns, ks, n, dense_max=10**5, repeats=repeats, rng=rng)
    print(f"\nSymmetric Toeplitz (N, N) block matvec, median of {repeats}")
    square = bench_square([10**4, 10**5] if quick else [10**4, 10**5, 10**6], ks, 10**4, repeats, rng)
    lz_repeats = min(repeats, 3)
    steps = 5
    print(f"\nBlock Lanczos on A = T T^T, {steps} block steps, median of {lz_repeats}")
    lz = bench_block_lanczos(Ns[::2] if not quick else Ns, ks, n, steps, lz_repeats, rng)
    elapsed = time.perf_counter() - t0
    env = "".join(
        f"{v}={os.environ[v]} "
        for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        if v in os.environ
    )
    command = (
        env
        + "python benchmarks/primitives.py"
        + (" " + " ".join(sys.argv[1:]) if argv is None and sys.argv[1:] else "")
    )
    body = "\n".join(
        [
            f"Machine: {machine()}.  ",
            f"Date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC.  ",
            f"Command: `{command}` (total {elapsed:.0f} s; medians of {repeats} runs, block Lanczos of {lz_repeats}; "
            "FFT and dense timed alternately in the same loop).",
            "",
            "### Toeplitz `(N, n)` block matvec vs the stored dense `N x n` matrix (dense only where N <= 1e5)",
            "",
            *tall,
            "",
            "### Symmetric Toeplitz `N x N` block matvec vs dense `N x N` (dense for N = 1e4 only)",
            "",
            *square,
            "",
            "### Block Lanczos (full reorthogonalization) on `A = T T^T`, "
            f"`T` Toeplitz `(N, {n})`, {steps} block steps",
            "",
            *lz,
            "",
            "`in matvecs`: share of the block Lanczos time spent applying `A` (each column of `A` is one",
            "`T^T` and one `T` FFT product); the rest is orthogonalization and deflation.",
        ]
    )
    print(f"\n(total {elapsed:.1f} s)")
    if not (quick or args.no_write):
        write_section(body)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
