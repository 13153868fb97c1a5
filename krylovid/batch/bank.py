"""The Monte Carlo bank study: every (kernel, method) on simulated system collections."""

from __future__ import annotations

from time import perf_counter

import numpy as np

from .._validation import check_int
from ..sysid.simulate import bank as simulate_bank
from .identify import _scheduler_options, _seed_sequence, _spawn_seeds
from .result import BatchResult
from .runners import _Task, execute

__all__ = ["bank_study", "STANDARD_COLLECTIONS"]

#: The four standard collections of the bank study: (system kind, SNR).
STANDARD_COLLECTIONS = (("fast", 10), ("fast", 1), ("slow", 10), ("slow", 1))


def _bank_datasets(num_systems, collections, N, n_truth, seq):
    """Simulate the collections; returns (payloads, names, tags) in collection order."""
    payloads, names, tags = [], [], []
    for (kind, snr), child in zip(collections, seq.spawn(len(collections)), strict=True):
        extra = {} if n_truth is None else {"n_truth": n_truth}
        data = simulate_bank(kind, snr, num_systems, N=N, rng=np.random.default_rng(child), **extra)
        for k, d in enumerate(data):
            payloads.append({"u": d.u, "y": d.y, "truth": d.g0})
            names.append(f"{kind}-snr{snr:g}-{k:03d}")
            tags.append({"collection": f"{kind}/SNR{snr:g}", "kind": kind, "snr": float(snr), "system": k})
    return payloads, names, tags


def bank_study(
    num_systems,
    *,
    kernels=("TC", "DC", "SS"),
    methods=("krylov", "qr"),
    collections=STANDARD_COLLECTIONS,
    N=500,
    order=50,
    n_truth=None,
    random_state=0,
    client=None,
    executor=None,
    n_jobs=1,
    progress=True,
    blas_threads=1,
    retries=2,
    **fit_options,
):
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
            tasks += [
                _Task(i, i, names[i], seeds[i], options, tags[i], None, blas_threads) for i in range(len(payloads))
            ]
    start = perf_counter()
    rows, scheduler = execute(
        tasks, payloads, client=client, executor=executor, n_jobs=n_jobs, progress=progress, retries=retries
    )
    return BatchResult(tuple(rows), scheduler, perf_counter() - start)
