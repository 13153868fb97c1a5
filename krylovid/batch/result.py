"""The table of a batch of identifications: :class:`BatchResult`, one row per fit."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BatchResult"]


@dataclass(frozen=True)
class BatchResult:
    """Rows of a batch of identifications, one per (dataset, configuration).

    Attributes
    ----------
    rows : tuple of dict
        In input order.  Keys: ``index``, ``name``, ``kernel``, ``method``,
        ``seed``, ``objective``, ``noise_variance``, one ``hp_<name>`` per
        hyperparameter (``hp_c``, ``hp_beta``, ...; array-valued ones are
        flattened as ``hp_c_0``, ``hp_c_1``), ``fit`` (percent, against the
        dataset's ``truth`` at lags ``1, 2, ...``; ``None`` without one), ``status``
        and ``evaluator`` (the model's ``info_["status"]`` and ``info_["method"]``),
        ``order`` and ``delay`` (the structure used, also when chosen with
        ``"auto"``), ``warnings`` (``None``, or the distinct warnings of the fit as
        ``"TypeName: message | ..."``, recorded whatever the warning filters of the
        process say), ``time_s`` (wall time of the fit in the worker),
        ``error`` (``None`` on success, else ``"TypeName: message"``), plus
        any tags (e.g. ``collection``, ``kind``, ``snr`` in a bank study).
    scheduler : str
        ``"serial"``, ``"executor"``, ``"processes"`` or ``"dask"``.
    wall_time_s : float
        Wall time of the whole batch.
    """

    rows: tuple = field(repr=False)
    scheduler: str = "serial"
    wall_time_s: float = float("nan")

    def __len__(self):
        return len(self.rows)

    @property
    def ok(self) -> int:
        """Number of rows without error."""
        return sum(row["error"] is None for row in self.rows)

    @property
    def failed(self) -> list:
        """The rows whose fit raised (their ``error`` field says why)."""
        return [row for row in self.rows if row["error"] is not None]

    @property
    def warned(self) -> list:
        """The rows whose fit warned (their ``warnings`` field says what)."""
        return [row for row in self.rows if row.get("warnings")]

    @property
    def columns(self) -> list:
        """All keys, in order of first appearance."""
        keys = {}
        for row in self.rows:
            keys.update(dict.fromkeys(row))
        return list(keys)

    def column(self, name: str) -> np.ndarray:
        """Column ``name`` as an array: int64 for integers, float (missing/None -> nan) for
        other numbers, else object.

        Raises ``KeyError`` when no row has the key.
        """
        if name not in self.columns:
            raise KeyError(f"name: no column {name!r}; columns are {self.columns}")
        values = [row.get(name) for row in self.rows]
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            return np.array(values, dtype=np.int64 if max(map(abs, values)) < 2**63 else object)
        if all(v is None or (isinstance(v, (int, float, np.number)) and not isinstance(v, bool)) for v in values):
            return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
        return np.array(values, dtype=object)

    def to_csv(self, path) -> None:
        """Write the rows to ``path`` as CSV (``None`` written as an empty field)."""
        columns = self.columns
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})

    def to_pandas(self):
        """The rows as a ``pandas.DataFrame`` (needs the optional pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas needs pandas, which is not installed") from None
        return pd.DataFrame(list(self.rows), columns=self.columns)
