"""Data files named on the command line, as the records of one identification.

``krylovid identify a.csv b.csv ...`` fits one model to several experiments:
:func:`load_records` reads every file with the same column selection, checks
that they agree (number of inputs, sample time) and returns them with the
sample time that applies and where it came from.

Used by :mod:`krylovid.cli.sysid`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..io import IOData, load_data
from .common import CLIError

__all__ = ["Records", "load_records", "add_data_options"]

#: Relative difference of the files' sample times still taken as equal.
SAMPLE_TIME_RTOL = 1e-6


@dataclass(frozen=True)
class Records:
    """The data of one identification: one or several experiments.

    Attributes
    ----------
    datas : tuple of IOData
        One per file, in the order given.
    sample_time : float or None
        ``--sample-time``, else the files' common sample time, else None.
    sample_time_source : str
        Where it came from, for the report (``"--sample-time"``, ``"the 'Time' column of a.csv"``,
        ``"Ts in a.mat"``; ``"none"`` without one).
    """

    datas: tuple
    sample_time: float | None
    sample_time_source: str

    @property
    def u(self):
        """The input of the only record, or the list of inputs (several experiments)."""
        return self.datas[0].u if len(self.datas) == 1 else [d.u for d in self.datas]

    @property
    def y(self):
        """The output of the only record, or the list of outputs."""
        return self.datas[0].y if len(self.datas) == 1 else [d.y for d in self.datas]

    @property
    def first(self) -> IOData:
        return self.datas[0]

    @property
    def num_samples(self) -> tuple:
        return tuple(d.num_samples for d in self.datas)

    def describe(self) -> str:
        """``a.csv (N = 300), b.csv (N = 250); inputs: u; output: y``."""
        files = ", ".join(f"{d.path} (N = {d.num_samples})" for d in self.datas)
        return f"{files}; inputs: {', '.join(self.first.input_names)}; output: {self.first.output_name}"


def add_data_options(p, *, several: bool) -> None:
    """Positional data file(s), ``--input``/``--output``/``--time`` and ``--sample-time``."""
    if several:
        p.add_argument(
            "data",
            metavar="DATA",
            nargs="+",
            help="data file(s): .mat, .npz, .csv (header optional) or .dat/.txt; several files "
            "are several experiments of one system, fitted as one model",
        )
    else:
        p.add_argument("data", metavar="DATA", help="data file: .mat, .npz, .csv (header optional) or .dat/.txt")
    p.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="COL",
        help="input column by name or 0-based index (repeat for several inputs)",
    )
    p.add_argument("--output", required=True, metavar="COL", help="output column by name or index")
    p.add_argument(
        "--time",
        default="auto",
        metavar="COL|auto|none",
        help="time column giving the sample time (default auto: a column named t, time, Time, ...)",
    )


def _sample_time(datas, given):
    if given is not None:
        return given, "--sample-time"
    found = [(d.sample_time, d) for d in datas if d.sample_time is not None]
    if not found:
        return None, "none"
    ts, first = found[0]
    other = next(((t, d) for t, d in found[1:] if not math.isclose(t, ts, rel_tol=SAMPLE_TIME_RTOL)), None)
    if other is not None:
        raise CLIError(
            f"the data files have different sample times: {first.path} {ts:g} s, {other[1].path} "
            f"{other[0]:g} s; resample them or give --sample-time"
        )
    source = f"the {first.time_name!r} column of {first.path}" if first.time_name else f"Ts in {first.path}"
    return ts, source


def load_records(paths, inputs, output, *, time="auto", sample_time=None) -> Records:
    """Read every file of ``paths`` with the same selection; check that they fit one model.

    Parameters
    ----------
    paths : str or sequence of str
    inputs, output, time
        As in :func:`krylovid.io.load_data` (``time="none"`` ignores time columns).
    sample_time : float, optional
        Overrides the files' sample time.

    Returns
    -------
    Records

    Raises
    ------
    CLIError
        Files with different numbers of inputs or different sample times.
    ValueError, FileNotFoundError
        From :func:`krylovid.io.load_data`.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, name) for name in ("a.csv", "b.csv")]
    >>> for path in paths:
    ...     with open(path, "w") as fh:
    ...         _ = fh.write("time,u,y\\n0,1,0\\n0.5,0,1\\n1.0,1,0\\n")
    >>> recs = load_records(paths, "u", "y")
    >>> len(recs.u), recs.sample_time, recs.sample_time_source.startswith("the 'time' column")
    (2, 0.5, True)
    """
    paths = [paths] if isinstance(paths, str) else list(paths)
    datas = tuple(load_data(p, inputs, output, time=time) for p in paths)
    m = datas[0].num_inputs
    bad = next((d for d in datas[1:] if d.num_inputs != m), None)
    if bad is not None:
        raise CLIError(
            f"{bad.path} gives {bad.num_inputs} input column(s) but {datas[0].path} gives {m}; "
            f"every data file must hold the same inputs"
        )
    ts, source = _sample_time(datas, sample_time)
    return Records(datas, ts, source)
