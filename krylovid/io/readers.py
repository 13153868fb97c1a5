"""Readers of the data-file formats: CSV, whitespace tables, NPZ and MATLAB MAT-files.

:func:`read_table` picks the reader by the file's first bytes (MAT, HDF5, zip)
and then by its extension, and returns a :class:`~krylovid.io.table.Table` of
raw columns.  Text files are decoded as UTF-16 (with a BOM), else UTF-8 (with
or without a BOM), else cp1252, else latin-1; numbers may use a decimal comma.
"""

from __future__ import annotations

import csv
import math
import os
import re

import numpy as np
import scipy.io

from ._text import V73_HINT, decode_text, is_number, sniff
from .table import Table

__all__ = ["read_table"]

_COMMENT = re.compile(r"[%#]")
#: Variable names of a MAT-file taken as the sample time.
SAMPLE_TIME_NAMES = ("Ts", "ts", "TS")


def _delimiter(lines) -> str:
    """``;``, tab or ``,``: the first (in that order) present in the first line that splits the
    first five lines into the same number (> 1) of fields; ``,`` when none does."""
    sample = [ln for ln in lines if ln.strip()][:5]
    for delim in (";", "\t", ","):
        if delim not in sample[0]:
            continue
        counts = {len(row) for row in csv.reader(sample, delimiter=delim)}
        if len(counts) == 1 and counts.pop() > 1:
            return delim
    return ","


def _read_csv(path: str, text: str, encoding: str) -> Table:
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise ValueError(f"{path}: the file is empty")
    delim = _delimiter(lines[first:])
    reader = csv.reader(lines[first:], delimiter=delim)
    head = [cell.strip() for cell in next(reader)]
    header = not all(is_number(c) for c in head if c)
    names = tuple(head) if header else tuple(str(j) for j in range(len(head)))
    rows, where = ([], []) if header else ([head], [first + 1])
    for offset, row in enumerate(reader, start=first + 2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(names):
            hint = (
                " (numbers with decimal commas need ';' or tab as the separator)"
                if delim == "," and re.search(r"\d,\d", lines[offset - 1])
                else ""
            )
            raise ValueError(f"{path}, line {offset}: expected {len(names)} fields, got {len(row)}{hint}")
        rows.append(row)
        where.append(offset)
    cols = tuple(tuple(r[j] for r in rows) for j in range(len(names)))
    return Table(path, names, cols, tuple(where), header=header, encoding=encoding)


def _read_whitespace(path: str, text: str, encoding: str) -> Table:
    names, rows, where = None, [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _COMMENT.search(line)
        fields = (line[: m.start()] if m else line).split()
        if not fields:
            continue
        if names is None and not rows and not all(is_number(f) for f in fields):
            names = tuple(fields)
            continue
        want = len(names) if names is not None else (len(rows[0]) if rows else len(fields))
        if len(fields) != want:
            raise ValueError(f"{path}, line {lineno}: expected {want} fields, got {len(fields)}")
        rows.append(fields)
        where.append(lineno)
    if not rows:
        raise ValueError(f"{path}: the file holds no data rows")
    header = names is not None
    names = names if header else tuple(str(j) for j in range(len(rows[0])))
    cols = tuple(tuple(r[j] for r in rows) for j in range(len(names)))
    return Table(path, names, cols, tuple(where), header=header, encoding=encoding)


def _read_npz(path: str) -> Table:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable .npz archive ({_first_line(exc)})") from None
    with archive:
        names = tuple(archive.files)
        cols = tuple(np.asarray(archive[k]) for k in names)
    if not names:
        raise ValueError(f"{path}: the archive holds no arrays")
    return Table(path, names, cols, None)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]


def _is_sample_time(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in SAMPLE_TIME_NAMES


def _mat_sample_time(path: str, variables: dict) -> float | None:
    """The first variable named ``Ts`` (or a struct field ``s.Ts``) as a positive float; None without one."""
    key = next(filter(_is_sample_time, variables), None)
    if key is None:
        return None
    value = np.asarray(variables[key])
    ts = float(value.ravel()[0]) if value.size == 1 and value.dtype.kind in "fiu" else math.nan
    if not (math.isfinite(ts) and ts > 0):
        raise ValueError(
            f"{path}: the sample time {key} must be one positive number, got {np.array2string(value.ravel()[:4])}"
        )
    return ts


def _mat_columns(variables: dict) -> dict:
    """Variables as columns; the fields of a scalar struct ``s`` become columns ``s.u``, ``s.y``, ..."""
    out = {}
    for key, value in variables.items():
        names = getattr(getattr(value, "dtype", None), "names", None)
        if names and value.size == 1 and not isinstance(value, scipy.io.matlab.MatlabOpaque):
            out.update({f"{key}.{field}": value.ravel()[0][field] for field in names})
        else:
            out[key] = value
    return out


def _read_mat(path: str) -> Table:
    try:
        variables = scipy.io.loadmat(path, squeeze_me=False)
    except NotImplementedError:  # scipy's answer to a v7.3 file
        raise ValueError(f"{path}: {V73_HINT}") from None
    except (ValueError, OSError, TypeError, KeyError) as exc:
        raise ValueError(f"{path}: not a readable .mat file ({_first_line(exc)})") from None
    variables = _mat_columns({k: v for k, v in variables.items() if not k.startswith("__")})
    ts = _mat_sample_time(path, variables)
    names = tuple(k for k in variables if not _is_sample_time(k))
    if not names:
        raise ValueError(f"{path}: the MAT-file holds no variables")
    return Table(path, names, tuple(variables[k] for k in names), None, sample_time=ts)


def read_table(path) -> Table:
    """Read the columns of a data file.

    Parameters
    ----------
    path : str or os.PathLike
        A MATLAB ``.mat`` file (v4 to v7; the variable ``Ts`` is the sample
        time), an ``.npz`` archive, a ``.csv`` file (``,``, ``;`` or tab
        separated, with or without a header line) or a whitespace-separated
        table (``.dat``, ``.txt`` and any other extension).

    Returns
    -------
    Table
        Raw columns; values are converted and checked by :func:`krylovid.io.load_data`.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        On an empty or malformed file, a binary file that is not NPZ/MAT, and
        a MATLAB v7.3 (HDF5) file, with what reads it.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> with open(path, "w", encoding="cp1252") as fh:
    ...     _ = fh.write("Zeit;Temperatur °C\\n0;1,5\\n1;2,25\\n")
    >>> t = read_table(path)
    >>> t.names, t.encoding
    (('Zeit', 'Temperatur °C'), 'cp1252')
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a directory, expected a data file")
    with open(path, "rb") as fh:
        data = fh.read()
    kind, ext = sniff(data[:520]), os.path.splitext(path)[1].lower()
    if kind == "hdf5":
        raise ValueError(f"{path}: {V73_HINT}")
    if kind == "mat5" or (ext == ".mat" and kind is None):
        return _read_mat(path)
    if ext == ".npz" or kind == "zip":
        return _read_npz(path)
    text, encoding = decode_text(data, path)
    if ext == ".csv":
        return _read_csv(path, text, encoding)
    return _read_whitespace(path, text, encoding)
