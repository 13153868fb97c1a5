"""``krylovid bank run``: the Monte Carlo bank study from the command line.

It simulates the standard collections (fast/slow systems at SNR 10 and 1),
identifies every system with every kernel x method on a Dask cluster (a local
one it starts and stops, or a running scheduler), and writes into ``--out``
the table ``bank_results.csv`` and the box plot ``bank_boxplot.png``.
Existing outputs are never overwritten without ``--force``.  Errors follow the
one style of :mod:`krylovid.cli.common`.

Examples
--------
::

    krylovid bank run --systems 25 --kernels TC,DC,SS --methods krylov,qr \\
        --scheduler local --workers 2 --out bank-results
    krylovid bank run --systems 100 --scheduler tcp://10.0.0.5:8786 --out results
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..batch import bank_study
from ..plotting import plot_bank_boxplot
from ..sysid.evaluators import METHODS
from .common import CLIError, UsageError, add_common, echo, names_list, positive_float, positive_int, save_figure

__all__ = ["add_parsers", "run", "KERNELS", "METHODS", "OUTPUT_FILES"]

logger = logging.getLogger("krylovid")

#: Kernel names accepted by ``--kernels``.
KERNELS = ("TC", "DC", "SS", "SE", "HF", "DI", "CS")
#: Methods accepted by ``--methods``.
#: Files written into ``--out``.
OUTPUT_FILES = ("bank_results.csv", "bank_boxplot.png")


def add_parsers(sub) -> None:
    """Register ``bank run`` on the subparsers ``sub``."""
    bank = sub.add_parser(
        "bank",
        help="many identifications at once (Monte Carlo bank study)",
        description="Many identifications at once, on a Dask cluster.",
    )
    bsub = bank.add_subparsers(dest="bank_command", metavar="{run}", parser_class=type(bank))
    bsub.required = True
    p = bsub.add_parser(
        "run",
        help="simulate the standard system banks and identify every system",
        description="Simulate the fast/slow x SNR 10/1 collections, identify every "
        "system with every kernel x method on a Dask cluster, and write "
        f"{OUTPUT_FILES[0]} and {OUTPUT_FILES[1]} into --out.",
    )
    p.add_argument("--systems", type=positive_int, default=10, metavar="K", help="systems per collection (10)")
    p.add_argument("--kernels", default="TC,DC,SS", help="comma-separated kernels (TC,DC,SS)")
    p.add_argument("--methods", default="krylov,qr", help="comma-separated methods (krylov,qr)")
    p.add_argument(
        "--scheduler",
        default="local",
        metavar="ADDRESS|local",
        help="'local' starts a LocalCluster of --workers processes; else a scheduler address",
    )
    p.add_argument("--workers", type=positive_int, default=2, help="worker processes of the local cluster (2)")
    p.add_argument("--N", type=positive_int, default=500, help="data length per system (500)")
    p.add_argument("--order", type=positive_int, default=50, help="FIR order of the fitted models (50)")
    p.add_argument("--seed", type=int, default=0, help="random seed of data and fits (0)")
    p.add_argument("--timeout", type=positive_float, default=10.0, help="seconds to wait for the scheduler (10)")
    p.add_argument("--out", default="bank-results", metavar="DIR", help="output directory (bank-results)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs in --out")
    add_common(p)
    p.set_defaults(func=run)


def _check_args(args):
    kernels = names_list(args.kernels, KERNELS, "--kernels", kind="kernel", upper=True)
    methods = names_list(args.methods, METHODS, "--methods", kind="method")
    if args.N <= args.order:
        raise UsageError(f"--N must exceed --order (too little data), got N={args.N}, order={args.order}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out: {out} exists and is not a directory")
    existing = [str(out / f) for f in OUTPUT_FILES if (out / f).exists()]
    if existing and not args.force:
        raise CLIError(f"--out: {existing[0]} exists; use --force to overwrite it")
    return kernels, methods, out


def _client(args):
    """``(client, cluster)`` for ``--scheduler`` (cluster is None for a remote scheduler)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise CLIError("the bank command needs dask.distributed: pip install 'dask[distributed]'") from None
    if args.scheduler == "local":
        cluster = LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        return Client(cluster), cluster
    try:
        return Client(args.scheduler, timeout=f"{args.timeout}s"), None
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise CLIError(
            f"--scheduler: cannot reach the Dask scheduler at {args.scheduler!r} within "
            f"{args.timeout:g} s ({type(exc).__name__}: {first})"
        ) from None


def _summary(result) -> str:
    """Median fit per (kernel, method, collection), one line each."""
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
    """``krylovid bank run``: returns 0 when every fit succeeded, 1 when some failed.

    Bad options raise :class:`UsageError`, files and scheduler problems :class:`CLIError`.
    """
    kernels, methods, out = _check_args(args)
    client, cluster = _client(args)
    try:
        result = bank_study(
            args.systems,
            kernels=kernels,
            methods=methods,
            N=args.N,
            order=args.order,
            random_state=args.seed,
            client=client,
            progress=not args.quiet,
        )
    except (OSError, RuntimeError, TimeoutError) as exc:  # e.g. the scheduler went away
        first = (str(exc).splitlines() or [""])[0]
        raise CLIError(f"the bank study failed ({type(exc).__name__}: {first})") from None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    out.mkdir(parents=True, exist_ok=True)
    result.to_csv(out / OUTPUT_FILES[0])
    if result.ok:
        save_figure(plot_bank_boxplot(result), out / OUTPUT_FILES[1], dpi=120)
    echo(_summary(result), quiet=args.quiet, essential=False)
    echo(
        f"{len(result)} fits in {result.wall_time_s:.1f} s; wrote {out / OUTPUT_FILES[0]}"
        + (f" and {out / OUTPUT_FILES[1]}" if result.ok else ""),
        quiet=args.quiet,
        essential=False,
    )
    if result.warned:
        echo(
            f"note: {len(result.warned)} of {len(result)} fits warned (first: {result.warned[0]['warnings']}); "
            "see the warnings column",
            quiet=args.quiet,
            essential=False,
        )
    if result.failed:
        logger.warning(
            "warning: %d of %d fits failed (first: %s); see the error column",
            len(result.failed),
            len(result),
            result.failed[0]["error"],
        )
    return 0 if result.ok else 1
