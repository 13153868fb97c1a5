"""Many identifications at once: serial, process pools or a Dask cluster.

:func:`identify_many` fits one :class:`~krylovid.sysid.KernelFIR` per dataset
and returns a :class:`BatchResult` with one row per dataset, in input order.
:func:`bank_study` runs the standard Monte Carlo study (fast/slow systems at
SNR 10 and 1, every kernel x method) on top of it and
:func:`plot_bank_boxplot` draws the usual box plot of fits.

Every task is a pure function of ``(data, options, seed)``: the seeds are
spawned from ``numpy.random.SeedSequence(random_state)`` (one child per
dataset), so the rows are identical whether the batch runs serially, in a
process pool or on a Dask cluster, and a task that Dask re-runs after a
worker died gives the same row again.  A failing dataset gives a row whose
``error`` field reads ``"TypeName: message"``; it never loses the batch.
"""
from __future__ import annotations

import csv
import math
import os
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from multiprocessing import get_context
from time import perf_counter

import numpy as np

from ._validation import check_int

__all__ = ["BatchResult", "identify_many", "bank_study", "plot_bank_boxplot"]

#: Environment variables that cap the BLAS/OpenMP thread pools of a process.
BLAS_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: Datasets larger than this (bytes) are scattered to the Dask workers once.
SCATTER_BYTES = 1 << 20
#: The four standard collections of the bank study: (system kind, SNR).
STANDARD_COLLECTIONS = (("fast", 10), ("fast", 1), ("slow", 10), ("slow", 1))


# ----------------------------------------------------------------------------- result
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
        dataset's ``truth``; ``None`` without one), ``status`` (the model's
        ``info_["status"]``), ``time_s`` (wall time of the fit in the worker),
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
        if all(v is None or (isinstance(v, (int, float, np.number)) and not isinstance(v, bool))
               for v in values):
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


# ----------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class _Task:
    """Everything one fit needs besides its data (small and picklable)."""

    index: int
    payload: int
    name: str
    seed: int
    options: dict
    tags: dict
    estimator: object = None
    blas_threads: int | None = 1


@contextmanager
def _blas_limits(threads):
    """Cap the BLAS pools at ``threads`` around a fit when threadpoolctl is installed.

    Without threadpoolctl nothing is done here: the BLAS environment variables
    cannot change a BLAS library that is already loaded (they are set where
    worker processes are started instead, see :func:`_run_processes`).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threads is None or threadpool_limits is None:
        yield
    else:
        with threadpool_limits(limits=threads):
            yield


def _as_array(x):
    return x if hasattr(x, "__array_namespace__") else np.asarray(x, dtype=float)


def _flatten_hyperparameters(hp) -> dict:
    out = {}
    for key, value in dict(hp).items():
        arr = np.asarray(value, dtype=float).ravel()
        if arr.size == 1:
            out[f"hp_{key}"] = float(arr[0])
        else:
            out.update({f"hp_{key}_{i}": float(v) for i, v in enumerate(arr)})
    return out


def _fit_vs_truth(truth, g) -> float:
    """Fit of ``g`` against ``truth``, the shorter one zero-padded on the lag axis."""
    from .sysid.metrics import fit

    g0, g = np.atleast_1d(np.asarray(truth, dtype=float)), np.atleast_1d(np.asarray(g, dtype=float))
    if g0.ndim < g.ndim:  # one input given as (n,) against an (1, n) estimate
        g0 = g0.reshape(g.shape[:-1] + (-1,))
    n = max(g0.shape[-1], g.shape[-1])
    pad = lambda a: np.concatenate([a, np.zeros(a.shape[:-1] + (n - a.shape[-1],))], axis=-1)  # noqa: E731
    return float(fit(pad(g0).ravel(), pad(g).ravel()))


def _make_estimator(task: _Task):
    if task.estimator is None:
        from .sysid import KernelFIR as estimator
    else:
        estimator = task.estimator
    return estimator(**task.options, random_state=task.seed)


def _base_row(task: _Task) -> dict:
    return {"index": task.index, "name": task.name, "kernel": task.options.get("kernel", "TC"),
            "method": task.options.get("method", "krylov"), "seed": task.seed, **task.tags,
            "objective": None, "noise_variance": None}


def _summary(model, truth) -> dict:
    out = {"objective": float(model.objective_), "noise_variance": float(model.noise_variance_)}
    out.update(_flatten_hyperparameters(model.hyperparameters_))
    out["fit"] = None if truth is None else _fit_vs_truth(truth, model.impulse_response_)
    out["status"] = dict(getattr(model, "info_", None) or {}).get("status")
    return out


def _run_task(task: _Task, data: dict) -> dict:
    """Fit one dataset.  Never raises: an exception becomes the row's ``error``."""
    row, error = _base_row(task), None
    start = perf_counter()
    with _blas_limits(task.blas_threads):
        try:
            model = _make_estimator(task).fit(_as_array(data["u"]), _as_array(data["y"]))
            row.update(_summary(model, data.get("truth")))
        except Exception as exc:  # a bad dataset must give an error row, not a lost batch
            error = _error_text(exc)
    row.setdefault("fit", None)
    row.setdefault("status", None)
    row.update(time_s=perf_counter() - start, error=error)
    return row


def _error_text(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}".rstrip(": ").rstrip()


def _error_row(task: _Task, exc: BaseException) -> dict:
    return {**_base_row(task), "fit": None, "status": None, "time_s": float("nan"),
            "error": _error_text(exc)}


# ----------------------------------------------------------------------------- schedulers
def _progress(total, enabled):
    try:
        from ._progress import progress_bar
    except ImportError:  # pragma: no cover - the helper ships with krylovid
        return nullcontext(type("Bar", (), {"update": lambda self, n=1: None})())
    return progress_bar(total, desc="fits", enabled=None if enabled else False, quiet=not enabled)


def _run_serial(tasks, payloads, bar):
    rows = []
    for task in tasks:
        rows.append(_run_task(task, payloads[task.payload]))
        bar.update(1)
    return rows


def _run_executor(executor, tasks, payloads, bar):
    futures = {executor.submit(_run_task, t, payloads[t.payload]): i for i, t in enumerate(tasks)}
    rows = [None] * len(tasks)
    for fut in as_completed(futures):
        i = futures[fut]
        try:
            rows[i] = fut.result()
        except Exception as exc:  # e.g. BrokenProcessPool: record it, keep the others
            rows[i] = _error_row(tasks[i], exc)
        bar.update(1)
    return rows


@contextmanager
def _blas_environment(threads):
    """Set the BLAS env vars while worker processes are spawned, then restore them."""
    saved = {var: os.environ.get(var) for var in BLAS_ENV_VARS}
    if threads is not None:
        os.environ.update({var: str(threads) for var in BLAS_ENV_VARS})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _run_processes(n_jobs, tasks, payloads, bar, threads):
    with _blas_environment(threads), ProcessPoolExecutor(
            max_workers=n_jobs, mp_context=get_context("spawn")) as pool:
        return _run_executor(pool, tasks, payloads, bar)


def _payload_nbytes(payload) -> int:
    return sum(getattr(v, "nbytes", 0) for v in payload.values())


class _DaskPayloads:
    """Datasets for Dask tasks: large ones scattered once (again only if lost), small ones inline."""

    def __init__(self, client, payloads):
        self.client, self.payloads, self.futures = client, payloads, {}
        big = [i for i, p in enumerate(payloads) if _payload_nbytes(p) > SCATTER_BYTES]
        if big:
            scattered = client.scatter([payloads[i] for i in big], hash=False)
            self.futures = dict(zip(big, scattered))

    def get(self, i: int, *, rescatter: bool = False):
        """Dataset ``i`` or its future; ``rescatter`` ships it again (for a task re-run after a
        failure: the client may not have heard yet that the worker holding it died)."""
        if i not in self.futures:
            return self.payloads[i]
        if rescatter or self.futures[i].status != "finished":
            self.futures[i] = self.client.scatter([self.payloads[i]], hash=False)[0]
        return self.futures[i]


def _run_dask(client, tasks, payloads, bar, retries):
    """One task per row with unique keys; a task that gives no row is re-submitted ``retries`` times.

    A task still cancelled after that is computed in the client process (same row: a pure
    function of its data and seed); one that errored (e.g. ``KilledWorker``) gives an error row.
    """
    from distributed import as_completed as dask_as_completed

    data, batch = _DaskPayloads(client, payloads), uuid.uuid4().hex[:12]
    attempts, position, rows = [0] * len(tasks), {}, [None] * len(tasks)

    def keys(js):
        for j in js:
            attempts[j] += 1
        return [f"krylovid-fit-{batch}-{j}-{attempts[j]}" for j in js]

    js = list(range(len(tasks)))
    futures = client.map(_run_task, tasks, [data.get(t.payload) for t in tasks], key=keys(js),
                         pure=False)
    position.update((fut.key, j) for fut, j in zip(futures, js))
    pending = dask_as_completed(futures, with_results=True, raise_errors=False)
    for fut, result in pending:  # results are gathered concurrently, not one round trip each
        j = position.pop(fut.key)
        fut.release()
        if fut.status == "finished" and isinstance(result, dict):
            rows[j] = result
        elif attempts[j] <= retries:  # error, cancelled or lost: submit it again
            new = client.submit(_run_task, tasks[j], data.get(tasks[j].payload, rescatter=True),
                                key=keys([j])[0], pure=False)
            position[new.key] = j
            pending.add(new)
            continue
        elif fut.status == "cancelled":
            # Dask gave up on the task without it failing (it never raised: _run_task turns every
            # error into a row); the row is a pure function of (data, seed), so compute it here.
            rows[j] = _run_task(tasks[j], payloads[tasks[j].payload])
        else:
            exc = result if isinstance(result, BaseException) else RuntimeError(f"task {fut.status}")
            rows[j] = _error_row(tasks[j], exc)
        bar.update(1)
    return rows


def _execute(tasks, payloads, *, client, executor, n_jobs, progress, retries, blas_threads):
    """Run ``tasks`` on the chosen scheduler; rows come back in task order."""
    with _progress(len(tasks), progress) as bar:
        if client is not None:
            return _run_dask(client, tasks, payloads, bar, retries), "dask"
        if executor is not None:
            return _run_executor(executor, tasks, payloads, bar), "executor"
        if n_jobs > 1:
            return _run_processes(n_jobs, tasks, payloads, bar, blas_threads), "processes"
        return _run_serial(tasks, payloads, bar), "serial"


# ----------------------------------------------------------------------------- inputs
def _seed_sequence(random_state) -> np.random.SeedSequence:
    """``random_state`` (None, int, SeedSequence or Generator) as a SeedSequence."""
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63 - 1)))
    if random_state is None or (isinstance(random_state, (int, np.integer))
                                and not isinstance(random_state, bool)):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state: a seed must be non-negative, got {random_state}")
        return np.random.SeedSequence(random_state)
    raise TypeError("random_state: expected None, an int, a SeedSequence or a Generator, "
                    f"got {type(random_state).__name__}")


def _spawn_seeds(random_state, n: int) -> list:
    """One non-negative 63-bit integer seed per task, from ``SeedSequence(random_state).spawn(n)``."""
    children = _seed_sequence(random_state).spawn(n)
    return [int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)) for child in children]


def _scalar(value) -> bool:
    return value is None or isinstance(value, (str, bool, int, float, np.number))


def _dataset(item, i: int):
    """``(payload, name, tags)`` from a (u, y) pair, a dict or an object with ``u``/``y``."""
    where = f"datasets[{i}]"
    if isinstance(item, dict):
        missing = [k for k in ("u", "y") if k not in item]
        if missing:
            raise ValueError(f"{where}: missing key(s) {missing}; a dataset dict needs 'u' and 'y'")
        tags = {k: v for k, v in item.items() if k not in ("u", "y", "name", "truth")}
        bad = [k for k, v in tags.items() if not _scalar(v)]
        if bad:
            raise ValueError(f"{where}: extra keys become row tags and must be scalars, got {bad}")
        payload = {"u": item["u"], "y": item["y"], "truth": item.get("truth")}
        return payload, str(item.get("name", f"dataset-{i}")), tags
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return {"u": item[0], "y": item[1], "truth": None}, f"dataset-{i}", {}
    if hasattr(item, "u") and hasattr(item, "y"):  # e.g. SimulatedData: its g0 is the truth
        return {"u": item.u, "y": item.y, "truth": getattr(item, "g0", None)}, f"dataset-{i}", {}
    raise TypeError(f"{where}: expected a (u, y) pair, a dict with keys 'u' and 'y' or an object "
                    f"with attributes u and y, got {type(item).__name__}")


def _datasets(datasets):
    if isinstance(datasets, (str, bytes, dict)) or not hasattr(datasets, "__iter__"):
        raise TypeError(f"datasets: expected a sequence of datasets, got {type(datasets).__name__}")
    parsed = [_dataset(item, i) for i, item in enumerate(datasets)]
    if not parsed:
        raise ValueError("datasets: empty; give at least one (u, y) pair")
    return parsed


def _scheduler_options(client, executor, n_jobs, blas_threads, retries):
    if client is not None and executor is not None:
        raise ValueError("client and executor: give at most one of them")
    if client is not None and not hasattr(client, "map"):
        raise TypeError(f"client: expected a dask.distributed.Client, got {type(client).__name__}")
    if executor is not None and not hasattr(executor, "submit"):
        raise TypeError(f"executor: expected a concurrent.futures.Executor, got {type(executor).__name__}")
    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else check_int(n_jobs, "n_jobs", minimum=1)
    if blas_threads is not None:
        blas_threads = check_int(blas_threads, "blas_threads", minimum=1)
    return n_jobs, blas_threads, check_int(retries, "retries", minimum=0)


# ----------------------------------------------------------------------------- public API
def identify_many(datasets, *, client=None, executor=None, n_jobs=1, progress=True,
                  random_state=None, blas_threads=1, retries=2, estimator=None, **fit_options):
    """Fit one kernel-regularized FIR model per dataset, serially or in parallel.

    Parameters
    ----------
    datasets : sequence
        Each item is a ``(u, y)`` pair, a dict ``{"u", "y", "name"?, "truth"?, ...}``
        (further scalar entries are copied into the row as tags) or an object
        with attributes ``u``, ``y`` and optionally ``g0`` (the truth), such as
        :class:`krylovid.sysid.simulate.SimulatedData`.  ``u`` is of shape
        ``(N,)`` or ``(N, m)``, ``y`` of shape ``(N,)``; ``truth`` is the true
        impulse response, shape ``(n0,)`` or ``(m, n0)``.  The arrays are checked
        by the fit itself, inside the task, so a bad dataset gives an error row.
    client : dask.distributed.Client, optional
        Run on this Dask cluster: datasets over 1 MiB are scattered once (and
        replicated on two workers), one task per dataset with a unique key;
        a task whose worker dies is re-run elsewhere by the scheduler.
    executor : concurrent.futures.Executor, optional
        Run on this executor instead (e.g. a ``ProcessPoolExecutor``).  A process
        pool cannot recover from a dead worker: the rows it had not finished get
        the error ``"BrokenProcessPool: ..."``.
    n_jobs : int
        Without client/executor: 1 runs serially, ``n_jobs > 1`` starts a
        ``ProcessPoolExecutor`` (spawned processes) of that size; -1 uses all cores.
    progress : bool
        Show a tqdm progress bar (only when tqdm is installed and stdout is a terminal).
    random_state : None, int, SeedSequence or Generator
        Fit ``i`` gets ``random_state=`` the ``i``-th child of
        ``numpy.random.SeedSequence(random_state).spawn(len(datasets))`` (as an
        integer, reported in the ``seed`` column): the rows do not depend on the scheduler.
    blas_threads : int or None
        Cap on BLAS threads per worker (None: leave as is); see Notes.
    retries : int
        Dask only: how many times a task that gave no row (its data or result
        was lost with a worker, it was cancelled, or it killed its workers:
        ``KilledWorker``) is submitted again before its row records the error.
        Fit errors are rows, not retried.
    estimator : callable, optional
        Model class to use instead of :class:`krylovid.sysid.KernelFIR` (called as
        ``estimator(**fit_options, random_state=seed)``; must be picklable for
        the parallel schedulers and expose ``objective_``, ``noise_variance_``,
        ``hyperparameters_``, ``impulse_response_``).
    **fit_options
        Passed to ``KernelFIR``: ``order`` (required), ``kernel``, ``method``, ...

    Returns
    -------
    BatchResult
        One row per dataset, in input order (see :class:`BatchResult` for the keys).

    Notes
    -----
    BLAS threads: with ``threadpoolctl`` installed the cap is applied around
    each fit in any worker.  Without it the environment variables
    ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` are
    used, which only act on processes started after they are set: they are
    set while ``n_jobs > 1`` spawns its workers, and Dask's nanny already sets
    them to 1 for its worker processes (``distributed.nanny.pre-spawn-environ``),
    but they cannot cap a running process (the serial path, a user executor).
    Fits of different processes are bitwise reproducible with the same
    ``random_state`` as long as the BLAS gives the same results.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid.batch import identify_many
    >>> rng = np.random.default_rng(0)
    >>> g0 = 0.8 ** np.arange(1, 21)
    >>> data = []
    >>> for k in range(3):
    ...     u = rng.standard_normal(200)
    ...     y = np.convolve(u, np.r_[0.0, g0])[:200] + 0.1 * rng.standard_normal(200)
    ...     data.append({"u": u, "y": y, "truth": g0, "name": f"sys{k}"})
    >>> res = identify_many(data, order=20, kernel="TC", random_state=0, progress=False)
    >>> res.ok, res.column("name").tolist()
    (3, ['sys0', 'sys1', 'sys2'])
    >>> bool(np.all(res.column("fit") > 80))
    True
    """
    n_jobs, blas_threads, retries = _scheduler_options(client, executor, n_jobs, blas_threads, retries)
    parsed = _datasets(datasets)
    seeds = _spawn_seeds(random_state, len(parsed))
    options = dict(fit_options)
    tasks = [_Task(i, i, name, seed, options, tags, estimator, blas_threads)
             for i, ((_, name, tags), seed) in enumerate(zip(parsed, seeds))]
    start = perf_counter()
    rows, scheduler = _execute(tasks, [p for p, _, _ in parsed], client=client, executor=executor,
                               n_jobs=n_jobs, progress=progress, retries=retries,
                               blas_threads=blas_threads)
    return BatchResult(tuple(rows), scheduler, perf_counter() - start)


def _bank_datasets(num_systems, collections, N, n_truth, seq):
    """Simulate the collections; returns (payloads, names, tags) in collection order."""
    from .sysid.simulate import bank

    payloads, names, tags = [], [], []
    for (kind, snr), child in zip(collections, seq.spawn(len(collections))):
        extra = {} if n_truth is None else {"n_truth": n_truth}
        data = bank(kind, snr, num_systems, N=N, rng=np.random.default_rng(child), **extra)
        for k, d in enumerate(data):
            payloads.append({"u": d.u, "y": d.y, "truth": d.g0})
            names.append(f"{kind}-snr{snr:g}-{k:03d}")
            tags.append({"collection": f"{kind}/SNR{snr:g}", "kind": kind, "snr": float(snr),
                         "system": k})
    return payloads, names, tags


def bank_study(num_systems, *, kernels=("TC", "DC", "SS"), methods=("krylov", "qr"),
               collections=STANDARD_COLLECTIONS, N=500, order=50, n_truth=None, random_state=0,
               client=None, executor=None, n_jobs=1, progress=True, blas_threads=1, retries=2,
               **fit_options):
    """Monte Carlo bank study: every (kernel, method) on simulated system collections.

    Parameters
    ----------
    num_systems : int
        Systems per collection.
    kernels, methods : sequence of str
        Every combination is fitted on every dataset (``KernelFIR(kernel=, method=)``).
    collections : sequence of (kind, snr)
        ``kind`` in {"fast", "slow"}; default: the four standard collections
        fast/slow x SNR 10/1, simulated by :func:`krylovid.sysid.simulate.bank`.
    N, order : int
        Data length and FIR order of the fitted models.
    n_truth : int, optional
        Length of the true impulse response (default: the simulator's).
    random_state : None, int, SeedSequence or Generator
        ``data_seq, fit_seq = SeedSequence(random_state).spawn(2)``: collection
        ``j`` is ``bank(kind, snr, num_systems, N=N, rng=default_rng(data_seq.spawn(
        len(collections))[j]))`` and the fits get the seeds of
        ``identify_many(datasets, random_state=fit_seq)`` (one per dataset, shared
        by all kernel/method combinations).
    client, executor, n_jobs, progress, blas_threads, retries
        As in :func:`identify_many`; all fits run as one batch.
    **fit_options
        Further ``KernelFIR`` options (e.g. ``noise_variance``).

    Returns
    -------
    BatchResult
        Rows ordered by (kernel, method, collection, system), tagged with
        ``collection`` (e.g. ``"fast/SNR10"``), ``kind``, ``snr`` and ``system``.

    Examples
    --------
    >>> from krylovid.batch import bank_study
    >>> res = bank_study(2, kernels=("TC",), methods=("qr",), N=200, order=20, progress=False)
    >>> len(res), res.ok
    (8, 8)
    """
    num_systems = check_int(num_systems, "num_systems", minimum=1)
    n_jobs, blas_threads, retries = _scheduler_options(client, executor, n_jobs, blas_threads, retries)
    if not kernels or not methods or not collections:
        raise ValueError("kernels, methods and collections must each be non-empty")
    data_seq, fit_seq = _seed_sequence(random_state).spawn(2)
    payloads, names, tags = _bank_datasets(num_systems, tuple(collections), N, n_truth, data_seq)
    seeds = _spawn_seeds(fit_seq, len(payloads))
    tasks = []
    for kernel in kernels:
        for method in methods:
            options = {**fit_options, "order": order, "kernel": kernel, "method": method}
            tasks += [_Task(i, i, names[i], seeds[i], options, tags[i], None, blas_threads)
                      for i in range(len(payloads))]
    start = perf_counter()
    rows, scheduler = _execute(tasks, payloads, client=client, executor=executor, n_jobs=n_jobs,
                               progress=progress, retries=retries, blas_threads=blas_threads)
    return BatchResult(tuple(rows), scheduler, perf_counter() - start)


def plot_bank_boxplot(result, path=None, *, metric="fit", method=None):
    """Box plot of ``metric`` per collection, one box per kernel (matplotlib Agg).

    Parameters
    ----------
    result : BatchResult
        From :func:`bank_study` (rows with ``collection``, ``kernel``, ``method``).
    path : str or path-like, optional
        Where to save the figure (PNG by extension); not saved when None.
    metric : str
        Column to plot (default ``"fit"``); failed rows and NaNs are left out.
    method : str, optional
        Only rows of this method (default: one panel per method).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from krylovid.batch import bank_study, plot_bank_boxplot
    >>> res = bank_study(2, kernels=("TC",), methods=("qr",), N=200, order=20, progress=False)
    >>> fig = plot_bank_boxplot(res)
    >>> len(fig.axes)
    1
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in result.rows if r.get("error") is None and "collection" in r]
    if method is not None:
        rows = [r for r in rows if r["method"] == method]
    if not rows:
        raise ValueError("result: no successful bank-study rows to plot")
    methods = list(dict.fromkeys(r["method"] for r in rows))
    kernels = list(dict.fromkeys(r["kernel"] for r in rows))
    colls = list(dict.fromkeys(r["collection"] for r in rows))
    fig = Figure(figsize=(1.2 + 0.6 * len(kernels) * len(colls), 3.6 * len(methods)))
    FigureCanvasAgg(fig)
    width = 0.8 / len(kernels)
    colors = [f"C{k}" for k in range(len(kernels))]
    for a, meth in enumerate(methods):
        ax = fig.add_subplot(len(methods), 1, a + 1)
        for k, kern in enumerate(kernels):
            values = [[r[metric] for r in rows if r["method"] == meth and r["kernel"] == kern
                       and r["collection"] == c and r.get(metric) is not None
                       and math.isfinite(r[metric])] for c in colls]
            pos = [j + (k - (len(kernels) - 1) / 2) * width for j in range(len(colls))]
            box = ax.boxplot(values, positions=pos, widths=0.9 * width, patch_artist=True,
                             showfliers=True, flierprops={"markersize": 3})
            for patch in box["boxes"]:
                patch.set_facecolor(colors[k])
                patch.set_alpha(0.6)
            ax.plot([], [], "s", color=colors[k], label=kern)
        ax.set_xticks(range(len(colls)), colls)
        ax.set_ylabel("fit (%)" if metric == "fit" else metric)
        ax.set_title(f"{metric} per collection, method={meth}")
        ax.legend(loc="lower left", fontsize="small")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
