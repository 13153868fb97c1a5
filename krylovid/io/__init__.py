"""Reading input/output data files for identification (MAT, NPZ, CSV, whitespace tables).

The command-line interface (:mod:`krylovid.cli`) and user scripts load
measured data with :func:`load_data`, which picks the columns holding the
input(s), the output and the time, and checks them before any estimation.

Supported formats (chosen by the file's first bytes, then its extension):

``.mat``
    MATLAB MAT-file, v4 to v7 (:func:`scipy.io.loadmat`); each variable is a
    column (row and column vectors alike; an ``(N, m)`` matrix used as an
    input gives ``m`` inputs), the fields of a struct ``s`` are columns
    ``s.u``, ``s.y``, ..., and a scalar ``Ts`` (or ``s.Ts``) is the sample
    time.  Objects such as ``iddata`` cannot be read by scipy: the error says
    how to save their signals.  A v7.3 file is HDF5, which scipy cannot read
    either: the error says to use h5py or to save it with ``-v7``.
``.npz``
    NumPy archive; each key is a column, as for MAT-files.
``.csv``
    One row per sample, separated by ``,``, ``;`` or tab (detected).  The
    first line is a header when any of its fields is not a number; without
    one the columns are named ``"0"``, ``"1"``, ... and selected by index.
    Cells of columns that are not selected may hold anything.
``.dat``, ``.txt`` (and any other extension)
    Whitespace-separated numbers.  Lines starting with ``%`` or ``#`` are
    comments (trailing comments after a value are stripped too); the first
    non-comment line is a header when any of its fields is not a number.

Text files may be UTF-8 (with or without a byte-order mark), UTF-16 with a
BOM, cp1252 or latin-1 (tried in that order), and numbers may use a decimal
comma (``1,5``; the separator is then ``;`` or tab).

Columns are selected by name or by 0-based index (a string of digits is an
index unless a column has exactly that name).  Every selected value must be
a finite number; a missing, non-numeric, NaN or infinite value gives a
``ValueError`` that names the file, the line and the column.

The sample time comes from a MAT-file's ``Ts`` or from a time column: by
default an unselected column named ``t``, ``time``, ``Time``, ``time_s``,
``t [s]`` and the like, whose step is used when it is uniform (else a warning).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np

from .readers import read_table
from .table import Table, column_values

__all__ = ["IOData", "Table", "read_table", "load_data", "is_time_name"]

_TIME_NAME = re.compile(r"(t|time|zeit|temps|tiempo)(_?s|\s*[\[(]\s*s(ec)?\s*[\])])?", re.IGNORECASE)
#: Relative deviation of the time steps from their mean still called uniform.
UNIFORM_RTOL = 1e-3


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
    sample_time : float or None
        From the file (a MAT-file's ``Ts`` or a uniform time column); None
        when the file has none.
    time_name : str or None
        The time column the sample time was read from.
    """

    u: np.ndarray
    y: np.ndarray
    input_names: tuple
    output_name: str
    path: str
    sample_time: float | None = None
    time_name: str | None = None

    @property
    def num_samples(self) -> int:
        return int(self.y.shape[0])

    @property
    def num_inputs(self) -> int:
        return 1 if self.u.ndim == 1 else int(self.u.shape[1])


def is_time_name(name: str) -> bool:
    """True for a column name that reads as time: ``t``, ``time``, ``Time``, ``time_s``, ``t [s]``, ...

    Examples
    --------
    >>> [is_time_name(n) for n in ("Time", "t [s]", "time_s", "u", "temp")]
    [True, True, True, False, False]
    """
    return bool(_TIME_NAME.fullmatch(str(name).strip()))


def _time_step(table: Table, idx: int, n: int) -> float:
    """The uniform step of time column ``idx``; ValueError saying what is wrong otherwise."""
    t = column_values(table, idx)
    name = table.names[idx]
    if t.ndim != 1 or t.shape[0] != n or n < 2:
        raise ValueError(
            f"{table.path}: time column {name!r} must be one column of the {n} samples (got shape {t.shape})"
        )
    steps = np.diff(t)
    dt = float(np.mean(steps))
    if not (dt > 0 and float(np.max(np.abs(steps - dt))) <= UNIFORM_RTOL * dt):
        raise ValueError(
            f"{table.path}: time column {name!r} is not uniformly increasing (steps from "
            f"{steps.min():.6g} to {steps.max():.6g})"
        )
    return dt


def _sample_time(table: Table, idx: int, n: int, strict: bool) -> float | None:
    """:func:`_time_step`; when not ``strict`` a problem is a warning and the result None."""
    try:
        return _time_step(table, idx, n)
    except ValueError as exc:
        if strict:
            raise
        warnings.warn(f"{exc}; no sample time read from it (give one with sample_time)", UserWarning, stacklevel=3)
        return None


def _time_index(table: Table, time, taken) -> int | None:
    if time is None or (isinstance(time, str) and time.lower() == "none"):
        return None
    if isinstance(time, str) and time == "auto":
        found = [i for i, n in enumerate(table.names) if i not in taken and is_time_name(n)]
        return found[0] if found else None
    idx = table.index_of(time)
    if idx in taken:
        raise ValueError(f"column {table.names[idx]!r} is selected as the time and as an input or output")
    return idx


def _select_inputs(table: Table, specs, y_idx: int, n: int):
    us, names, idxs = [], [], []
    for spec in specs:
        idx = table.index_of(spec)
        if idx == y_idx:
            raise ValueError(f"column {table.names[idx]!r} is selected as both an input and the output")
        col = column_values(table, idx)
        col = col[:, None] if col.ndim == 1 else col
        if col.shape[0] != n:
            raise ValueError(
                f"{table.path}: input {table.names[idx]!r} has {col.shape[0]} samples "
                f"but output {table.names[y_idx]!r} has {n}"
            )
        us.append(col)
        idxs.append(idx)
        names += [table.names[idx]] if col.shape[1] == 1 else [f"{table.names[idx]}[{j}]" for j in range(col.shape[1])]
    u = np.concatenate(us, axis=1)
    return (u[:, 0] if u.shape[1] == 1 else u), tuple(names), idxs


def load_data(path, inputs, output, *, time="auto") -> IOData:
    """Load input and output columns, and the sample time, from a data file.

    Parameters
    ----------
    path : str or os.PathLike
        Data file (see the module docstring for the formats).
    inputs : str, int or sequence of str/int
        Input column(s), by name or 0-based index.
    output : str or int
        Output column, by name or 0-based index.
    time : "auto", None, str or int
        The time column giving the sample time: ``"auto"`` (default) takes the
        first unselected column with a time-like name when its step is uniform
        (a warning otherwise); a name or index requires that column and a
        uniform step (``ValueError`` otherwise); None ignores time columns.
        A MAT-file's ``Ts`` takes precedence.

    Returns
    -------
    IOData
        ``u`` of shape (N,) for one input column, (N, m) otherwise, ``y`` of
        shape (N,), and ``sample_time`` (None when the file has none).

    Raises
    ------
    FileNotFoundError
        Missing file.
    ValueError
        Unknown column, non-numeric or non-finite values, columns of
        different lengths, an output column that is not 1-D, an unreadable
        file (the message says why: binary, MATLAB v7.3, ...).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "data.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("Time,u,y\\n0.0,1.0,0.0\\n0.1,0.5,0.9\\n0.2,-1.0,0.6\\n")
    >>> data = load_data(path, inputs="u", output="y")
    >>> data.u.shape, data.y.tolist(), round(data.sample_time, 12)
    ((3,), [0.0, 0.9, 0.6], 0.1)
    """
    table = read_table(path)
    specs = [inputs] if isinstance(inputs, (str, int)) else list(inputs)
    if not specs:
        raise ValueError("inputs: at least one input column is required")
    y_idx = table.index_of(output)
    y = column_values(table, y_idx)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        raise ValueError(f"{table.path}: output {table.names[y_idx]!r} must be one column, got shape {y.shape}")
    if y.shape[0] == 0:
        raise ValueError(f"{table.path}: the file holds no data rows")
    u, names, u_idx = _select_inputs(table, specs, y_idx, y.shape[0])
    t_idx = _time_index(table, time, {y_idx, *u_idx})
    sample_time, time_name = table.sample_time, None
    if sample_time is None and t_idx is not None:
        sample_time = _sample_time(table, t_idx, y.shape[0], strict=not (isinstance(time, str) and time == "auto"))
        time_name = table.names[t_idx] if sample_time is not None else None
    return IOData(u, y, names, table.names[y_idx], table.path, sample_time, time_name)
