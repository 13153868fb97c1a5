"""``krylovid bench sysid|attention``: run a benchmark script of the source checkout."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from .common import CLIError, add_common

__all__ = ["add_parsers", "run_bench", "benchmarks_dir", "BENCHMARKS"]

logger = logging.getLogger("krylovid")

BENCHMARKS = {"sysid": "sysid_scaling.py", "attention": "attention_bench.py"}


def add_parsers(sub) -> None:
    """Register ``bench`` on the subparsers ``sub``."""
    p = sub.add_parser(
        "bench",
        help="run a benchmark script of the repository",
        description="Run benchmarks/sysid_scaling.py or benchmarks/attention_bench.py "
        "from a source checkout (with --quick unless --full is given).",
    )
    p.add_argument("which", choices=tuple(BENCHMARKS), help="which benchmark")
    p.add_argument("--full", action="store_true", help="the full run (minutes) instead of --quick")
    add_common(p)
    p.set_defaults(func=run_bench)


def benchmarks_dir() -> str:
    """The ``benchmarks`` folder next to the package (a source checkout)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "benchmarks")
    if not os.path.isdir(path):
        raise CLIError(
            f"benchmarks folder not found at {path}: the benchmarks ship with the source "
            "repository only; install it editable (pip install -e .) from a checkout"
        )
    return path


def run_bench(args) -> int:
    """``krylovid bench sysid|attention``: run the script, pass its exit status through."""
    script = os.path.join(benchmarks_dir(), BENCHMARKS[args.which])
    if not os.path.isfile(script):
        raise CLIError(f"benchmark script not found: {script}")
    cmd = [sys.executable, script] + ([] if args.full else ["--quick"])
    logger.info("running %s", " ".join(cmd))
    sys.stdout.flush()
    return subprocess.call(cmd, cwd=os.path.dirname(os.path.dirname(script)))
