"""The ``krylovid`` command line (also ``python -m krylovid``).

Commands
--------
``demo``
    Simulate a seeded 30th-order system, identify it with the krylov, qr and
    cholesky evaluators, print a comparison table and write a figure.
``identify DATA``
    Kernel-regularized FIR identification from a data file.
``compare DATA``
    Every evaluator side by side, with the fit on a validation split.
``bench sysid|attention``
    Run a benchmark script of the repository (quick mode unless ``--full``).
``attention spectrum|compare``
    Spectrum of an attention head / approximation errors, on the real
    MiniLM weights by default.
``bank run``
    Many identifications on a Dask cluster (when :mod:`krylovid.cli_bank`
    is available).

Errors
------
Bad options exit with status 2, bad data (missing file, unknown column,
non-numeric cells, too little data) and refused overwrites with status 1;
either way one line ``krylovid: error: ...`` goes to stderr, never a
traceback (``-vv`` adds the traceback of unexpected errors for debugging).
Output files are never overwritten unless ``--force`` is given; ``demo``
may overwrite the files it wrote itself (see :mod:`krylovid._cli_sysid`).
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import traceback
import warnings

from . import __version__
from ._cli_common import CLIError, UsageError, add_common

__all__ = ["main", "build_parser"]

logger = logging.getLogger("krylovid")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors raise instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommands registered)."""
    from . import _cli_attention, _cli_sysid

    parser = _Parser(prog="krylovid", description="Kernel-regularized system identification tuned "
                     "by augmented Krylov methods, and attention approximations.")
    parser.add_argument("--version", action="version", version=f"krylovid {__version__}")
    add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _cli_sysid.add_parsers(sub)
    _cli_attention.add_parsers(sub)
    _add_bench(sub)
    try:
        from . import cli_bank
    except ImportError:
        cli_bank = None
    if cli_bank is not None:
        cli_bank.add_parser(sub)
        if "bank" in sub.choices:
            sub.choices["bank"].set_defaults(_runner=cli_bank.run)
    return parser


BENCHMARKS = {"sysid": "sysid_scaling.py", "attention": "attention_bench.py"}


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark script of the repository",
                       description="Run benchmarks/sysid_scaling.py or benchmarks/attention_bench.py "
                       "from a source checkout (with --quick unless --full is given).")
    p.add_argument("which", choices=tuple(BENCHMARKS), help="which benchmark")
    p.add_argument("--full", action="store_true", help="the full run (minutes) instead of --quick")
    add_common(p)
    p.set_defaults(func=run_bench)


def benchmarks_dir() -> str:
    """The ``benchmarks`` folder next to the package (a source checkout)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "benchmarks")
    if not os.path.isdir(path):
        raise CLIError(f"benchmarks folder not found at {path}: the benchmarks ship with the source "
                       "repository only; install it editable (pip install -e .) from a checkout")
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


class _Handler(logging.StreamHandler):
    """Stream handler writing ``krylovid: message`` to the current stderr."""

    def __init__(self):
        super().__init__(sys.stderr)
        self.setFormatter(logging.Formatter("krylovid: %(message)s"))


def _configure_logging(verbose: int, quiet: bool):
    handler = _Handler()
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logger.addHandler(handler)
    old_level, logger.level = logger.level, level
    return handler, old_level


def _warning_printer(quiet: bool):
    """``warnings.showwarning`` replacement: one line ``krylovid: warning: ...``."""
    def show(message, category, filename, lineno, file=None, line=None):
        if not quiet:
            text = " ".join(str(message).split())
            print(f"krylovid: warning: {text}", file=sys.stderr)
    return show


def _fail(message: str, code: int) -> int:
    text = " ".join(str(message).split()) or "unknown error"
    print(f"krylovid: error: {text}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    """Run the command line; return the exit status (0 ok, 1 data error, 2 usage).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.

    Examples
    --------
    >>> main(["identify", "no-such-file.csv", "--input", "u", "--output", "y", "--order", "10"])
    1
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail(str(exc), 2)
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    handler, old_level = _configure_logging(args.verbose, args.quiet)
    try:
        runner = getattr(args, "_runner", None) or getattr(args, "func")
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(args.quiet)
            return int(runner(args) or 0)
    except UsageError as exc:
        return _fail(str(exc), 2)
    except (CLIError, ValueError, TypeError, FileNotFoundError, IsADirectoryError,
            PermissionError, ModuleNotFoundError) as exc:
        if args.verbose >= 2:
            traceback.print_exc()
        return _fail(str(exc), getattr(exc, "code", 1) if isinstance(exc, CLIError) else 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - the CLI must never end in a bare traceback
        if args.verbose >= 2:
            traceback.print_exc()
        return _fail(f"unexpected {type(exc).__name__}: {exc} (run with -vv for the traceback)", 1)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
