"""``krylovid bank run``: the Monte Carlo bank study from the command line.

Registered by :mod:`krylovid.cli` (``add_parser(subparsers)``; the command then
calls ``run(args)``), and runnable on its own as ``python -m krylovid.cli_bank
bank run ...``.  It simulates the standard collections (fast/slow systems at SNR 10
and 1), identifies every system with every kernel x method on a Dask cluster
(a local one it starts and stops, or a running scheduler), and writes into
``--out`` the table ``bank_results.csv`` and the box plot ``bank_boxplot.png``.
Existing outputs are never overwritten without ``--force``.

Examples
--------
::

    krylovid bank run --systems 25 --kernels TC,DC,SS --methods krylov,qr \\
        --scheduler local --workers 2 --out bank-results
    krylovid bank run --systems 100 --scheduler tcp://10.0.0.5:8786 --out results
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

__all__ = ["add_parser", "run", "main", "KERNELS", "METHODS", "OUTPUT_FILES"]

#: Kernel names accepted by ``--kernels``.
KERNELS = ("TC", "DC", "SS", "SE", "HF", "DI", "CS")
#: Methods accepted by ``--methods``.
METHODS = ("krylov", "qr", "cholesky", "lanczos")
#: Files written into ``--out``.
OUTPUT_FILES = ("bank_results.csv", "bank_boxplot.png")


class CommandError(Exception):
    """A user error: one line on stderr and exit code ``code`` (2 bad usage, 1 cannot run)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def add_parser(subparsers):
    """Register ``bank run`` on an argparse ``subparsers`` object; returns the ``bank`` parser."""
    bank = subparsers.add_parser("bank", help="many identifications at once (Monte Carlo bank study)",
                                 description="Many identifications at once, on a Dask cluster.")
    sub = bank.add_subparsers(dest="bank_command", metavar="{run}")
    sub.required = True
    p = sub.add_parser("run", help="simulate the standard system banks and identify every system",
                       description="Simulate the fast/slow x SNR 10/1 collections, identify every "
                       "system with every kernel x method on a Dask cluster, and write "
                       f"{OUTPUT_FILES[0]} and {OUTPUT_FILES[1]} into --out.")
    p.add_argument("--systems", type=int, default=10, metavar="K", help="systems per collection (10)")
    p.add_argument("--kernels", default="TC,DC,SS", help="comma-separated kernels (TC,DC,SS)")
    p.add_argument("--methods", default="krylov,qr", help="comma-separated methods (krylov,qr)")
    p.add_argument("--scheduler", default="local", metavar="ADDRESS|local",
                   help="'local' starts a LocalCluster of --workers processes; else a scheduler address")
    p.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (2)")
    p.add_argument("--N", type=int, default=500, help="data length per system (500)")
    p.add_argument("--order", type=int, default=50, help="FIR order of the fitted models (50)")
    p.add_argument("--seed", type=int, default=0, help="random seed of data and fits (0)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the scheduler (10)")
    p.add_argument("--out", default="bank-results", metavar="DIR", help="output directory (bank-results)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs in --out")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)
    return bank


def _names(text: str, allowed, what: str, *, upper: bool) -> tuple:
    names = [n.strip() for n in text.split(",") if n.strip()]
    names = [n.upper() if upper else n.lower() for n in names]
    bad = [n for n in names if n not in allowed]
    if not names or bad:
        raise CommandError(f"--{what}: unknown {what[:-1]} {', '.join(map(repr, bad)) or '(none given)'}"
                           f" (choose from {', '.join(allowed)})")
    return tuple(dict.fromkeys(names))


def _check_args(args):
    kernels = _names(args.kernels, KERNELS, "kernels", upper=True)
    methods = _names(args.methods, METHODS, "methods", upper=False)
    for name in ("systems", "workers", "order"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.N <= args.order:
        raise CommandError(f"--N must exceed --order (too little data), got N={args.N}, order={args.order}")
    if args.seed < 0 or args.timeout <= 0:
        raise CommandError("--seed must be >= 0 and --timeout > 0")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out: {out} exists and is not a directory", 1)
    existing = [str(out / f) for f in OUTPUT_FILES if (out / f).exists()]
    if existing and not args.force:
        raise CommandError(f"--out: {existing[0]} exists; use --force to overwrite it", 1)
    return kernels, methods, out


def _client(args):
    """``(client, cluster)`` for ``--scheduler`` (cluster is None for a remote scheduler)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise CommandError("the bank command needs dask.distributed: pip install 'dask[distributed]'", 1)
    if args.scheduler == "local":
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        return Client(cluster), cluster
    try:
        return Client(args.scheduler, timeout=f"{args.timeout}s"), None
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise CommandError(f"--scheduler: cannot reach the Dask scheduler at {args.scheduler!r} within "
                           f"{args.timeout:g} s ({type(exc).__name__}: {first})", 1) from None


def _summary(result) -> str:
    """Median fit per (kernel, method, collection), one line each."""
    import numpy as np

    groups = {}
    for row in result.rows:
        key = (row["kernel"], row["method"], row["collection"])
        groups.setdefault(key, []).append(np.nan if row.get("fit") is None else row["fit"])
    lines = [f"{'kernel':6} {'method':8} {'collection':12} {'median fit':>10} {'failed':>6}"]
    for (kernel, method, coll), fits in groups.items():
        fits = np.asarray(fits, dtype=float)
        med = np.median(fits[np.isfinite(fits)]) if np.isfinite(fits).any() else np.nan
        lines.append(f"{kernel:6} {method:8} {coll:12} {med:10.2f} {int(np.isnan(fits).sum()):6d}")
    return "\n".join(lines)


def run(args) -> int:
    """Run ``bank run`` for parsed ``args``; returns the exit code (0 ok, 1 failed, 2 bad usage)."""
    from .batch import bank_study, plot_bank_boxplot

    try:
        kernels, methods, out = _check_args(args)
        client, cluster = _client(args)
    except CommandError as exc:
        print(f"krylovid bank run: error: {exc}", file=sys.stderr)
        return exc.code
    try:
        result = bank_study(args.systems, kernels=kernels, methods=methods, N=args.N,
                            order=args.order, random_state=args.seed, client=client,
                            progress=not args.quiet)
    except (OSError, RuntimeError, TimeoutError, ValueError) as exc:  # e.g. the scheduler went away
        first = (str(exc).splitlines() or [""])[0]
        print(f"krylovid bank run: error: the bank study failed ({type(exc).__name__}: {first})",
              file=sys.stderr)
        return 1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    out.mkdir(parents=True, exist_ok=True)
    result.to_csv(out / OUTPUT_FILES[0])
    if result.ok:
        plot_bank_boxplot(result, out / OUTPUT_FILES[1])
    if not args.quiet:
        print(_summary(result))
        print(f"{len(result)} fits in {result.wall_time_s:.1f} s; wrote {out / OUTPUT_FILES[0]}"
              + (f" and {out / OUTPUT_FILES[1]}" if result.ok else ""))
    if result.failed:
        print(f"krylovid bank run: warning: {len(result.failed)} of {len(result)} fits failed "
              f"(first: {result.failed[0]['error']}); see the error column", file=sys.stderr)
    return 0 if result.ok else 1


def main(argv=None) -> int:
    """Entry point of ``python -m krylovid.cli_bank``."""
    parser = argparse.ArgumentParser(prog="krylovid")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
