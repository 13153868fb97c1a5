"""Shared pieces of the command line: errors, option types, output files, tables.

One error style for every command: a :class:`CLIError` (data, files, exit 1)
or :class:`UsageError` (options, exit 2) raised anywhere in a command becomes
the single stderr line ``krylovid: error: ...`` written by :func:`fail`;
warnings become ``krylovid: warning: ...`` lines (:func:`warning_printer`) and
log records ``krylovid: ...`` lines (:func:`configure_logging`).  The rules are
documented in :mod:`krylovid.cli` and in the README's CLI section.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np

from ..backend import to_numpy

__all__ = [
    "CLIError",
    "UsageError",
    "Parser",
    "fail",
    "one_line",
    "warning_printer",
    "configure_logging",
    "add_common",
    "positive_int",
    "positive_float",
    "nonneg_int",
    "order_spec",
    "delay_spec",
    "fraction",
    "noise_variance",
    "names_list",
    "check_output",
    "figure_path",
    "save_figure",
    "write_json",
    "format_table",
    "echo",
    "jsonable",
]

logger = logging.getLogger("krylovid")


class CLIError(Exception):
    """A data or file error reported as one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class UsageError(CLIError):
    """A bad option or option combination (exit status 2)."""

    def __init__(self, message: str):
        super().__init__(message, code=2)


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors raise :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


#: Longest error or warning line written without ``-v`` (the full text needs ``-v``).
MAX_LINE = 200


def one_line(prefix: str, message, verbose: int = 0) -> str:
    """``prefix + message`` on one line (whitespace runs collapsed), cut to :data:`MAX_LINE`
    characters unless ``verbose``; a cut line ends with ``... (-v: full message)``.

    Examples
    --------
    >>> len(one_line("krylovid: error: ", "x" * 5000))
    200
    >>> one_line("krylovid: error: ", "a   b")
    'krylovid: error: a b'
    """
    text = prefix + (" ".join(str(message).split()) or "unknown error")
    if verbose or len(text) <= MAX_LINE:
        return text
    tail = " ... (-v: full message)"
    return text[: MAX_LINE - len(tail)].rstrip() + tail


def fail(error, code: int, verbose: int = 0) -> int:
    """Write ``error`` as the one line ``krylovid: error: ...`` to stderr; return ``code``."""
    print(one_line("krylovid: error: ", error, verbose), file=sys.stderr)
    return code


def warning_printer(quiet: bool, verbose: int = 0):
    """``warnings.showwarning`` replacement: one line ``krylovid: warning: ...`` (nothing if quiet)."""

    def show(message, category, filename, lineno, file=None, line=None):
        if not quiet:
            print(one_line("krylovid: warning: ", message, verbose), file=sys.stderr)

    return show


class _Handler(logging.StreamHandler):
    """Stream handler writing ``krylovid: message`` to the stderr current at creation."""

    def __init__(self):
        super().__init__(sys.stderr)
        self.setFormatter(logging.Formatter("krylovid: %(message)s"))


@contextmanager
def configure_logging(verbose: int, quiet: bool):
    """Log ``krylovid`` records to stderr at the level of ``-q``/``-v``/``-vv`` while the block runs."""
    handler = _Handler()
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logger.addHandler(handler)
    old_level, logger.level = logger.level, level
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()


def add_common(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """``--quiet`` / ``--verbose``, accepted before and after the command name.

    On subcommands the defaults are suppressed so that an option given
    before the command is not reset by the subparser.
    """
    default_q = False if top else argparse.SUPPRESS
    default_v = 0 if top else argparse.SUPPRESS
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default_q,
        help="print only results and errors (no progress bars, no notes)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default_v,
        help="log Krylov depth and bounds (-vv: debug details and tracebacks)",
    )


def names_list(text: str, allowed, option: str, *, kind: str = "name", upper: bool = False) -> tuple:
    """A comma-separated list of names from ``allowed`` (duplicates dropped, order kept).

    Raises :class:`UsageError` naming ``option`` on an unknown or empty list
    (``--methods: unknown method(s) 'svd'; choose from ...`` for ``kind="method"``).
    """
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    names = [n.upper() if upper else n.lower() for n in names]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise UsageError(
            f"{option}: unknown {kind}(s) {', '.join(map(repr, bad)) or '(none given)'}; "
            f"choose from {', '.join(allowed)}"
        )
    return tuple(dict.fromkeys(names))


def _checked(text: str, convert, ok, expected: str):
    """Convert ``text`` with ``convert`` and check it with ``ok``; one argparse message for both failures."""
    try:
        v = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(v):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {v}")
    return v


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _checked(text, int, lambda v: v >= 1, "a positive integer")


def nonneg_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _checked(text, int, lambda v: v >= 0, "a non-negative integer")


def order_spec(text: str):
    """argparse type: ``auto`` or an integer >= 1."""
    return "auto" if text.strip().lower() == "auto" else positive_int(text)


def delay_spec(text: str):
    """argparse type: ``auto`` or an integer >= 0."""
    return "auto" if text.strip().lower() == "auto" else nonneg_int(text)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _checked(text, float, lambda v: math.isfinite(v) and v > 0, "a positive number")


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    return _checked(text, float, lambda v: 0.0 < v < 1.0, "a number in (0, 1)")


def noise_variance(text: str):
    """argparse type: ``ls``, ``ml`` or a positive number."""
    low = text.strip().lower()
    if low in ("ls", "ml"):
        return low
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'ls', 'ml' or a positive number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"the noise variance must be positive and finite, got {v}")
    return v


_FIGURE_EXTS = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


def check_output(path, force: bool, what: str, exts=None, *, stdout_ok: bool = False) -> str | None:
    """Refuse an output path that exists (unless ``force``) or cannot be written.

    Called before any computation so that a long run never ends in a refusal.
    With ``stdout_ok``, ``-`` means standard output and is returned as is.
    """
    if path is None:
        return None
    path = os.fspath(path)
    if stdout_ok and path == "-":
        return path
    ext = os.path.splitext(path)[1].lower()
    if exts is not None and ext not in exts:
        raise UsageError(f"{what} {path!r} must end in one of {', '.join(exts)}")
    if os.path.isdir(path):
        raise CLIError(f"{what} {path!r} is a directory")
    if os.path.exists(path) and not force:
        raise CLIError(f"{what} {path!r} already exists; use --force to overwrite it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"cannot write {what} {path!r}: its directory does not exist")
    if not os.access(parent, os.W_OK):
        raise CLIError(f"cannot write {what} {path!r}: its directory is not writable")
    return path


def figure_path(path, force: bool, what: str = "plot file") -> str | None:
    """:func:`check_output` for figure files (known image extensions)."""
    return check_output(path, force, what, exts=_FIGURE_EXTS)


def save_figure(fig, path, dpi: int = 110) -> None:
    """Save ``fig`` to ``path`` and close it (the command line only writes figures, never shows them)."""
    try:
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)


def jsonable(obj):
    """Convert NumPy scalars/arrays, tuples and dataclass-like objects for ``json``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "__dataclass_fields__"):
        return {k: jsonable(getattr(obj, k)) for k in obj.__dataclass_fields__}
    try:
        return jsonable(to_numpy(obj))
    except Exception:  # noqa: BLE001 - anything else is written as text
        return str(obj)


def write_json(path: str, payload: dict) -> None:
    """Write ``payload`` as indented JSON: to stdout for ``-``, else through a temporary file, then rename."""
    if path == "-":
        json.dump(jsonable(payload), sys.stdout, indent=2)
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(jsonable(payload), fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e5 else f"{v:.8g}"
    return str(v)


def _is_number(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def format_table(header, rows) -> str:
    """Plain-text table with right-aligned numbers and left-aligned text."""
    cells = [[str(h) for h in header]] + [[_cell(v) for v in r] for r in rows]
    widths = [max(len(r[j]) for r in cells) for j in range(len(header))]
    numeric = [
        all(r[j] is None or isinstance(r[j], (int, float)) or _is_number(r[j]) for r in rows)
        for j in range(len(header))
    ]
    lines = []
    for i, r in enumerate(cells):
        parts = [c.rjust(w) if numeric[j] else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def echo(text: str = "", *, quiet: bool = False, essential: bool = True, stream=None) -> None:
    """Print to ``stream`` (default stdout); notes (``essential=False``) are dropped under ``--quiet``."""
    if essential or not quiet:
        print(text, file=sys.stdout if stream is None else stream, flush=True)
