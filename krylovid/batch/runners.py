"""One fit as a task, and the schedulers that run many: serial, executor, process pool, Dask.

A task (:class:`_Task` plus its dataset) is a pure function of ``(data, options,
seed)``: it never raises (an exception becomes the row's ``error``), so the rows
are identical whichever scheduler runs them, and a task that Dask re-runs after
a worker died gives the same row again.  BLAS threads are capped around each fit
with :func:`threadpoolctl.threadpool_limits`, in whatever process runs it.

Private to :mod:`krylovid.batch`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass
from multiprocessing import get_context
from time import perf_counter
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .._progress import progress_bar
from ..sysid import KernelFIR
from ..sysid.metrics import fit
from ._recording import record_warnings

__all__ = ["execute"]

#: Datasets larger than this (bytes) are scattered to the Dask workers once.
SCATTER_BYTES = 1 << 20


@dataclass(frozen=True)
class _Task:
    """Everything one fit needs besides its data (small and picklable)."""

    index: int
    payload: int
    name: str
    seed: int
    options: dict
    tags: dict
    estimator: Callable[..., Any] | None = None
    blas_threads: int | None = 1


def _blas_limits(threads):
    """``threadpool_limits(threads)`` around a fit (all BLAS/OpenMP pools of this process);
    nothing when ``threads`` is None."""
    return nullcontext() if threads is None else threadpool_limits(limits=threads)


def _as_array(x):
    """``x`` as an array; a list of NumPy arrays (several experiments) as a list of arrays."""
    if isinstance(x, list) and x and all(isinstance(e, np.ndarray) for e in x):
        return [np.asarray(e, dtype=float) for e in x]
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


def _on_lags(a, first: int, lo: int, hi: int) -> np.ndarray:
    """Coefficients ``a`` (last axis at lags ``first, first + 1, ...``) on the lags ``lo..hi``, zero elsewhere."""
    out = np.zeros(a.shape[:-1] + (hi - lo + 1,))
    out[..., first - lo : first - lo + a.shape[-1]] = a
    return out


def _fit_vs_truth(truth, g, delay: int = 1) -> float:
    """Fit of ``g`` (lags ``delay, delay + 1, ...``) against ``truth`` (lags ``1, 2, ...``), both
    zero-padded to the union of their lags."""
    g0, g = np.atleast_1d(np.asarray(truth, dtype=float)), np.atleast_1d(np.asarray(g, dtype=float))
    if g0.ndim < g.ndim:  # one input given as (n,) against an (1, n) estimate
        g0 = g0.reshape(g.shape[:-1] + (-1,))
    lo, hi = min(1, delay), max(g0.shape[-1], delay + g.shape[-1] - 1)
    return float(fit(_on_lags(g0, 1, lo, hi).ravel(), _on_lags(g, delay, lo, hi).ravel()))


def _make_estimator(task: _Task):
    estimator = KernelFIR if task.estimator is None else task.estimator
    return estimator(**task.options, random_state=task.seed)


def _base_row(task: _Task) -> dict:
    return {
        "index": task.index,
        "name": task.name,
        "kernel": task.options.get("kernel", "TC"),
        "method": task.options.get("method", "auto"),
        "seed": task.seed,
        **task.tags,
        "objective": None,
        "noise_variance": None,
    }


def _summary(model, truth) -> dict:
    out: dict[str, Any] = {"objective": float(model.objective_), "noise_variance": float(model.noise_variance_)}
    out.update(_flatten_hyperparameters(model.hyperparameters_))
    delay = int(getattr(model, "delay_", 1))
    out["fit"] = None if truth is None else _fit_vs_truth(truth, model.impulse_response_, delay)
    info = dict(getattr(model, "info_", None) or {})
    out["status"], out["evaluator"] = info.get("status"), info.get("method")
    if hasattr(model, "order_"):  # the structure used (chosen from the data with "auto")
        out.update(order=int(model.order_), delay=delay)
    return out


def _warning_text(caught) -> str | None:
    """The distinct warnings of a fit, ``"TypeName: first line"``, joined by ``" | "``; None without any."""
    texts = (f"{w.category.__name__}: {(str(w.message).strip().splitlines() or [''])[0]}" for w in caught)
    return " | ".join(dict.fromkeys(texts)) or None


def _run_task(task: _Task, data: dict) -> dict:
    """Fit one dataset.  Never raises: an exception becomes the row's ``error``, the warnings of
    the fit its ``warnings`` (recorded whatever the caller's warning filters say, so that a row
    does not depend on where it ran; thread-safe: see :mod:`._recording`)."""
    row, error = _base_row(task), None
    start = perf_counter()
    with _blas_limits(task.blas_threads), record_warnings() as caught:
        try:
            model = _make_estimator(task).fit(_as_array(data["u"]), _as_array(data["y"]))
            row.update(_summary(model, data.get("truth")))
        except Exception as exc:  # a bad dataset must give an error row, not a lost batch
            error = _error_text(exc)
    row.setdefault("fit", None)
    row.setdefault("status", None)
    row.update(time_s=perf_counter() - start, warnings=_warning_text(caught), error=error)
    return row


def _error_text(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}".rstrip(": ").rstrip()


def _error_row(task: _Task, exc: BaseException) -> dict:
    return {
        **_base_row(task),
        "fit": None,
        "status": None,
        "time_s": float("nan"),
        "warnings": None,
        "error": _error_text(exc),
    }


def _progress(total, enabled):
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


def _run_processes(n_jobs, tasks, payloads, bar):
    """A pool of ``n_jobs`` spawned processes (each task caps its own BLAS threads)."""
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=get_context("spawn")) as pool:
        return _run_executor(pool, tasks, payloads, bar)


def _payload_nbytes(payload) -> int:
    return sum(
        sum(getattr(e, "nbytes", 0) for e in v) if isinstance(v, list) else getattr(v, "nbytes", 0)
        for v in payload.values()
    )


class _DaskPayloads:
    """Datasets for Dask tasks: large ones scattered once (again only if lost), small ones inline."""

    def __init__(self, client, payloads):
        self.client, self.payloads, self.futures = client, payloads, {}
        big = [i for i, p in enumerate(payloads) if _payload_nbytes(p) > SCATTER_BYTES]
        if big:
            scattered = client.scatter([payloads[i] for i in big], hash=False)
            self.futures = dict(zip(big, scattered, strict=True))

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
    futures = client.map(_run_task, tasks, [data.get(t.payload) for t in tasks], key=keys(js), pure=False)
    position.update((fut.key, j) for fut, j in zip(futures, js, strict=True))
    # the loop of *this* client: as_completed defaults to the default client's loop, and with two clients in
    # one process (a notebook's default client, or a test's) it waited on events of the other loop: a hang
    pending = dask_as_completed(futures, loop=client.loop, with_results=True, raise_errors=False)
    for fut, result in pending:  # results are gathered concurrently, not one round trip each
        j = position.pop(fut.key)
        fut.release()
        if fut.status == "finished" and isinstance(result, dict):
            rows[j] = result
        elif attempts[j] <= retries:  # error, cancelled or lost: submit it again
            new = client.submit(
                _run_task, tasks[j], data.get(tasks[j].payload, rescatter=True), key=keys([j])[0], pure=False
            )
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


def execute(tasks, payloads, *, client, executor, n_jobs, progress, retries):
    """Run ``tasks`` on the chosen scheduler; ``(rows in task order, scheduler name)``.

    Parameters
    ----------
    tasks : sequence of _Task
        One per row; ``task.payload`` indexes ``payloads``.
    payloads : sequence of dict
        Datasets ``{"u", "y", "truth"}`` (shared by the tasks that name them).
    client, executor, n_jobs, progress, retries
        As in :func:`krylovid.batch.identify_many`.

    Returns
    -------
    rows : list of dict
    scheduler : str
        ``"dask"``, ``"executor"``, ``"processes"`` or ``"serial"``.
    """
    with _progress(len(tasks), progress) as bar:
        if client is not None:
            return _run_dask(client, tasks, payloads, bar, retries), "dask"
        if executor is not None:
            return _run_executor(executor, tasks, payloads, bar), "executor"
        if n_jobs > 1:
            return _run_processes(n_jobs, tasks, payloads, bar), "processes"
        return _run_serial(tasks, payloads, bar), "serial"
