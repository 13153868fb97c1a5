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
    Many identifications on a Dask cluster (the Monte Carlo bank study).

Modules: :mod:`~krylovid.cli.common` (errors, option types, output files,
tables), :mod:`~krylovid.cli.sysid`, :mod:`~krylovid.cli.attention`,
:mod:`~krylovid.cli.bank`, :mod:`~krylovid.cli.bench`, :mod:`~krylovid.cli.demo`.

Errors
------
Bad options exit with status 2, bad data (missing file, unknown column,
non-numeric cells, too little data) and refused overwrites with status 1;
either way one line ``krylovid: error: ...`` goes to stderr, never a
traceback (``-vv`` adds the traceback of unexpected errors for debugging).
An error line longer than 200 characters is cut (``-v`` prints it whole).
Output files are never overwritten unless ``--force`` is given; ``demo``
may overwrite the files it wrote itself (see :mod:`krylovid.cli.demo`).
Output piped into a reader that stops early (``krylovid ... | head -2``)
ends quietly, with exit status 1, as the Python documentation recommends
for a closed pipe (see the note on ``SIGPIPE`` in the :mod:`signal` docs).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

from .. import __version__
from . import attention, bank, bench, demo, sysid
from .common import CLIError, Parser, UsageError, add_common, configure_logging, fail, warning_printer

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommands registered)."""
    parser = Parser(
        prog="krylovid",
        description="Kernel-regularized system identification tuned "
        "by augmented Krylov methods, and attention approximations.",
    )
    parser.add_argument("--version", action="version", version=f"krylovid {__version__}")
    add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in (demo, sysid, attention, bench, bank):
        module.add_parsers(sub)
    return parser


def _run(args) -> int:
    """Run the parsed command; every expected error becomes one line and an exit status."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = warning_printer(args.quiet, args.verbose)
            return int(args.func(args) or 0)
    except BrokenPipeError:
        raise
    except UsageError as exc:
        return fail(exc, 2, args.verbose)
    except (
        CLIError,
        ValueError,
        TypeError,
        FileNotFoundError,
        IsADirectoryError,
        PermissionError,
        ModuleNotFoundError,
    ) as exc:
        if args.verbose >= 2:
            traceback.print_exc()
        return fail(exc, getattr(exc, "code", 1) if isinstance(exc, CLIError) else 1, args.verbose)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - the CLI must never end in a bare traceback
        if args.verbose >= 2:
            traceback.print_exc()
        return fail(f"unexpected {type(exc).__name__}: {exc} (run with -vv for the traceback)", 1, args.verbose)


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
        return fail(exc, 2)
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    try:
        with configure_logging(args.verbose, args.quiet):
            code = _run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    return code


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at devnull, so that the flush at exit raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor (e.g. captured in tests)
        pass
