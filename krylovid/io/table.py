"""The columns of a data file before selection (:class:`Table`) and their conversion to numbers.

Private to :mod:`krylovid.io` (the class is public through it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ._text import to_float

__all__ = ["Table", "column_values"]


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
        or a NumPy array for NPZ and MAT files.
    lines : tuple of int or None
        File line number (1-based) of each row, for error messages; None
        for NPZ and MAT files.
    header : bool
        Whether the names come from the file (False: a headerless text file,
        columns are selected by index).
    encoding : str or None
        The encoding a text file was decoded with (None for binary formats).
    sample_time : float or None
        The sample time stored in the file (the variable ``Ts`` of a MAT-file).
    """

    path: str
    names: tuple
    columns: tuple
    lines: tuple | None
    header: bool = True
    encoding: str | None = None
    sample_time: float | None = None

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
            raise ValueError(
                f"{self.path}: column index {idx} is out of range "
                f"(the file has {len(self.names)} columns: 0..{len(self.names) - 1})"
            )
        shown = ", ".join(repr(n) for n in self.names[:12])
        more = ", ..." if len(self.names) > 12 else ""
        hint = "" if self.header else "; the file has no header line: select columns by 0-based index"
        raise ValueError(f"{self.path}: unknown column {spec!r} (available: {shown}{more}){hint}")


def _array_values(table: Table, name: str, col) -> np.ndarray:
    arr = np.asarray(col)
    if arr.dtype.kind in "OV":
        raise ValueError(
            f"{table.path}: {name!r} is not a numeric array but a MATLAB object, struct array or "
            f"cell (an iddata object, say); save its signals as arrays, e.g. u = data.InputData; "
            f"y = data.OutputData; Ts = data.Ts; save(FILE, 'u', 'y', 'Ts')"
        )
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{table.path}: array {name!r} is not numeric (dtype {arr.dtype})")
    if arr.ndim == 2 and arr.shape[0] == 1 and arr.shape[1] > 1:  # a MATLAB row vector
        arr = arr[0]
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"{table.path}: array {name!r} must be 1-D or 2-D, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{table.path}: array {name!r} holds NaN or inf (first at row {row})")
    return arr


def column_values(table: Table, idx: int) -> np.ndarray:
    """Column ``idx`` as float64, shape (N,) or (N, m); every value finite (decimal commas accepted)."""
    name, col = table.names[idx], table.columns[idx]
    if table.lines is None:
        return _array_values(table, name, col)
    out = np.empty(len(col))
    for i, cell in enumerate(col):
        try:
            v = to_float(cell)
        except ValueError:
            shown = cell.strip() or "<empty>"
            raise ValueError(
                f"{table.path}, line {table.lines[i]}: column {name!r} holds {shown[:40]!r}, which is not a number"
            ) from None
        if not math.isfinite(v):
            raise ValueError(
                f"{table.path}, line {table.lines[i]}: column {name!r} holds "
                f"{cell.strip()!r} (NaN/inf rows are not allowed; remove or fill them)"
            )
        out[i] = v
    return out
