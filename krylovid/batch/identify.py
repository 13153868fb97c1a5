"""Many identifications at once: :func:`identify_many` and its input checks.

Every fit ``i`` gets its own seed, spawned from
``numpy.random.SeedSequence(random_state)``, so that the rows do not depend on
the scheduler (serial, process pool, executor or Dask; see
:mod:`krylovid.batch.runners`).  A failing dataset gives a row whose ``error``
field reads ``"TypeName: message"``; it never loses the batch.
"""

from __future__ import annotations

import os
from time import perf_counter

import numpy as np

from .._validation import check_int
from .result import BatchResult
from .runners import _Task, execute

__all__ = ["identify_many"]


def _seed_sequence(random_state) -> np.random.SeedSequence:
    """``random_state`` (None, int, SeedSequence or Generator) as a SeedSequence."""
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63 - 1)))
    if random_state is None or (isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool)):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state: a seed must be non-negative, got {random_state}")
        return np.random.SeedSequence(random_state)
    raise TypeError(
        f"random_state: expected None, an int, a SeedSequence or a Generator, got {type(random_state).__name__}"
    )


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
    raise TypeError(
        f"{where}: expected a (u, y) pair, a dict with keys 'u' and 'y' or an object "
        f"with attributes u and y, got {type(item).__name__}"
    )


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


def identify_many(
    datasets,
    *,
    client=None,
    executor=None,
    n_jobs=1,
    progress=True,
    random_state=None,
    blas_threads=1,
    retries=2,
    estimator=None,
    **fit_options,
):
    """Fit one kernel-regularized FIR model per dataset, serially or in parallel.

    Parameters
    ----------
    datasets : sequence
        Each item is a ``(u, y)`` pair, a dict ``{"u", "y", "name"?, "truth"?, ...}``
        (further scalar entries are copied into the row as tags) or an object
        with attributes ``u``, ``y`` and optionally ``g0`` (the truth), such as
        :class:`krylovid.sysid.simulate.SimulatedData`.  ``u`` is of shape
        ``(N,)`` or ``(N, m)``, ``y`` of shape ``(N,)``, or both are lists of NumPy
        arrays: several experiments fitted as one model (as ``KernelFIR.fit``
        takes them); ``truth`` is the true
        impulse response, shape ``(n0,)`` or ``(m, n0)``.  The arrays are checked
        by the fit itself, inside the task, so a bad dataset gives an error row.
        Single-record ``u``/``y`` may be CuPy (or other array-API) arrays: each
        fit then runs in their namespace (on the GPU) and its row holds host
        values; run device data serially (``n_jobs=1``, the default) or on
        workers that own a device.
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
    BLAS threads: each fit runs inside ``threadpoolctl.threadpool_limits(blas_threads)``
    in the process that runs it (serial, a pool worker, a user executor or a Dask
    worker), which caps the BLAS and OpenMP pools already loaded there; unlike the
    ``OMP_NUM_THREADS``-style environment variables it acts on running processes too.
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
    tasks = [
        _Task(i, i, name, seed, options, tags, estimator, blas_threads)
        for i, ((_, name, tags), seed) in enumerate(zip(parsed, seeds, strict=True))
    ]
    start = perf_counter()
    rows, scheduler = execute(
        tasks,
        [p for p, _, _ in parsed],
        client=client,
        executor=executor,
        n_jobs=n_jobs,
        progress=progress,
        retries=retries,
    )
    return BatchResult(tuple(rows), scheduler, perf_counter() - start)
