"""Reading input/output data files for identification (CSV, NPZ, whitespace tables).

The command-line interface (:mod:`krylovid.cli`) and user scripts load
measured data with :func:`load_data`, which picks the columns holding the
input(s) and the output and checks them before any estimation starts.

Supported formats (chosen by the file extension):

``.csv``
    A header line with column names, then one row per sample. The
    delimiter is detected among ``,``, ``;`` and tab.  Cells of columns
    that are not selected may hold anything (timestamps, labels).
``.npz``
    NumPy archive; each key is a column.  A key holding a 2-D array of
    shape ``(N, m)`` used as an input gives ``m`` inputs.
``.dat``, ``.txt`` (and any other extension)
    Whitespace-separated numbers.  Lines starting with ``%`` or ``#`` are
    comments (trailing comments after a value are stripped too); the first
    non-comment line is a header when any of its fields is not a number.

Columns are selected by name or by 0-based index (a string of digits is an
index unless a column has exactly that name).  Every selected value must be
a finite number; a missing, non-numeric, NaN or infinite value gives a
``ValueError`` that names the file, the line and the column.
"""
from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass

import numpy as np

__all__ = ["IOData", "Table", "read_table", "load_data"]

_COMMENT = re.compile(r"[%#]")


@dataclass(frozen=True)
class Table:
    """Columns of a data file, not yet converted (or checked) for the selection.

    Attributes
    ----------
    path : str
        The file the table was read from.
    names : tuple of str
        Column names (``"0"``, ``"1"``, ... when the file has no header).
    columns : tuple
        One entry per name: a sequence of raw cells (str) for text files,
        or a NumPy array for NPZ files.
    lines : tuple of int or None
        File line number (1-based) of each row, for error messages; None
        for NPZ files.
    """

    path: str
    names: tuple
    columns: tuple
    lines: tuple | None

    @property
    def num_rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def index_of(self, spec) -> int:
        """Index of the column given by name or 0-based index ``spec``."""
        spec = str(spec).strip()
        if spec in self.names:
            return self.names.index(spec)
        if re.fullmatch(r"\d+", spec):
            idx = int(spec)
            if idx < len(self.names):
                return idx
            raise ValueError(f"{self.path}: column index {idx} is out of range "
                             f"(the file has {len(self.names)} columns: 0..{len(self.names) - 1})")
        shown = ", ".join(repr(n) for n in self.names[:12])
        more = ", ..." if len(self.names) > 12 else ""
        raise ValueError(f"{self.path}: unknown column {spec!r} (available: {shown}{more})")


@dataclass(frozen=True)
class IOData:
    """Input/output data selected from a file.

    Attributes
    ----------
    u : ndarray of shape (N,) or (N, m)
        Input(s), float64; one column per input when ``m > 1``.
    y : ndarray of shape (N,)
        Output, float64.
    input_names : tuple of str
        Names of the input columns (``m`` entries).
    output_name : str
        Name of the output column.
    path : str
        Source file.
    """

    u: np.ndarray
    y: np.ndarray
    input_names: tuple
    output_name: str
    path: str

    @property
    def num_samples(self) -> int:
        return int(self.y.shape[0])

    @property
    def num_inputs(self) -> int:
        return 1 if self.u.ndim == 1 else int(self.u.shape[1])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: str) -> Table:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        text = fh.read()
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise ValueError(f"{path}: the file is empty")
    header_line = lines[first]
    delim = max([",", ";", "\t"], key=header_line.count)
    if header_line.count(delim) == 0:
        delim = ","
    reader = csv.reader(lines[first:], delimiter=delim)
    names = tuple(cell.strip() for cell in next(reader))
    if all(_is_number(n) for n in names if n):
        raise ValueError(f"{path}: a CSV file needs a header line with column names "
                         f"(the first line holds only numbers)")
    rows, where = [], []
    for offset, row in enumerate(reader, start=first + 2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(names):
            raise ValueError(f"{path}, line {offset}: expected {len(names)} fields, got {len(row)}")
        rows.append(row)
        where.append(offset)
    cols = tuple(tuple(r[j] for r in rows) for j in range(len(names)))
    return Table(path, names, cols, tuple(where))


def _read_whitespace(path: str) -> Table:
    names, rows, where = None, [], []
    with open(path, encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            m = _COMMENT.search(line)
            fields = (line[:m.start()] if m else line).split()
            if not fields:
                continue
            if names is None and not rows and not all(_is_number(f) for f in fields):
                names = tuple(fields)
                continue
            if rows and len(fields) != len(rows[0]) or names is not None and len(fields) != len(names):
                want = len(names) if names is not None else len(rows[0])
                raise ValueError(f"{path}, line {lineno}: expected {want} fields, got {len(fields)}")
            rows.append(fields)
            where.append(lineno)
    if not rows:
        raise ValueError(f"{path}: the file holds no data rows")
    if names is None:
        names = tuple(str(j) for j in range(len(rows[0])))
    cols = tuple(tuple(r[j] for r in rows) for j in range(len(names)))
    return Table(path, names, cols, tuple(where))


def _read_npz(path: str) -> Table:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable .npz archive ({exc})") from None
    with archive:
        names = tuple(archive.files)
        cols = tuple(np.asarray(archive[k]) for k in names)
    if not names:
        raise ValueError(f"{path}: the archive holds no arrays")
    return Table(path, names, cols, None)


def read_table(path) -> Table:
    """Read the columns of a data file (format chosen by the extension).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv``, ``.npz`` or whitespace-separated (``.dat``/``.txt``) file.

    Returns
    -------
    Table
        Raw columns; values are converted and checked by :func:`load_data`.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        On an empty or malformed file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a directory, expected a data file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npz":
            return _read_npz(path)
        if ext == ".csv":
            return _read_csv(path)
        return _read_whitespace(path)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (use .npz for binary data)") from None


def _column_values(table: Table, idx: int) -> np.ndarray:
    """Column ``idx`` as float64, shape (N,) or (N, m); every value finite."""
    name, col = table.names[idx], table.columns[idx]
    if table.lines is None:
        arr = np.asarray(col)
        if arr.dtype.kind not in "fiub":
            raise ValueError(f"{table.path}: array {name!r} is not numeric (dtype {arr.dtype})")
        if arr.ndim == 0 or arr.ndim > 2:
            raise ValueError(f"{table.path}: array {name!r} must be 1-D or 2-D, got shape {arr.shape}")
        arr = arr.astype(np.float64)
        bad = ~np.isfinite(arr)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(f"{table.path}: array {name!r} holds NaN or inf (first at row {row})")
        return arr
    out = np.empty(len(col))
    for i, cell in enumerate(col):
        try:
            v = float(cell)
        except ValueError:
            shown = cell.strip() or "<empty>"
            raise ValueError(f"{table.path}, line {table.lines[i]}: column {name!r} holds "
                             f"{shown!r}, which is not a number") from None
        if not math.isfinite(v):
            raise ValueError(f"{table.path}, line {table.lines[i]}: column {name!r} holds "
                             f"{cell.strip()!r} (NaN/inf rows are not allowed; remove or fill them)")
        out[i] = v
    return out


def load_data(path, inputs, output) -> IOData:
    """Load input and output columns from a data file.

    Parameters
    ----------
    path : str or os.PathLike
        Data file (see the module docstring for the formats).
    inputs : str, int or sequence of str/int
        Input column(s), by name or 0-based index.
    output : str or int
        Output column, by name or 0-based index.

    Returns
    -------
    IOData
        ``u`` of shape (N,) for one input column, (N, m) otherwise, and
        ``y`` of shape (N,).

    Raises
    ------
    FileNotFoundError
        Missing file.
    ValueError
        Unknown column, non-numeric or non-finite values, columns of
        different lengths, an output column that is not 1-D.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "data.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("time,u,y\\n0,1.0,0.0\\n1,0.5,0.9\\n2,-1.0,0.6\\n")
    >>> data = load_data(path, inputs="u", output="y")
    >>> data.u.shape, data.y.tolist()
    ((3,), [0.0, 0.9, 0.6])
    """
    table = read_table(path)
    specs = [inputs] if isinstance(inputs, (str, int)) else list(inputs)
    if not specs:
        raise ValueError("inputs: at least one input column is required")
    y_idx = table.index_of(output)
    y = _column_values(table, y_idx)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        raise ValueError(f"{table.path}: output {table.names[y_idx]!r} must be one column, got shape {y.shape}")
    us, names = [], []
    for spec in specs:
        idx = table.index_of(spec)
        if idx == y_idx:
            raise ValueError(f"column {table.names[idx]!r} is selected as both an input and the output")
        col = _column_values(table, idx)
        col = col[:, None] if col.ndim == 1 else col
        if col.shape[0] != y.shape[0]:
            raise ValueError(f"{table.path}: input {table.names[idx]!r} has {col.shape[0]} samples "
                             f"but output {table.names[y_idx]!r} has {y.shape[0]}")
        us.append(col)
        names += [table.names[idx]] if col.shape[1] == 1 else \
            [f"{table.names[idx]}[{j}]" for j in range(col.shape[1])]
    u = np.concatenate(us, axis=1)
    if y.shape[0] == 0:
        raise ValueError(f"{table.path}: the file holds no data rows")
    return IOData(u[:, 0] if u.shape[1] == 1 else u, y, tuple(names), table.names[y_idx], table.path)
