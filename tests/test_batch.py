"""Tests of krylovid.batch.identify_many: schedulers agree exactly, no lost or
duplicated datasets when a Dask worker dies, bad datasets give error rows.

One LocalCluster (2 worker processes, 1 thread each) is shared by the module.
"""

from __future__ import annotations

import csv
import logging
import os
import signal
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context

import numpy as np
import pytest

from krylovid.batch import BatchResult, identify_many

distributed = pytest.importorskip("distributed")

N, ORDER, SEED = 200, 20, 7
OPTIONS = {"order": ORDER, "kernel": "TC", "method": "krylov"}


def _truth(k: int) -> np.ndarray:
    t = np.arange(1, 41)
    return (0.6 + 0.04 * k) ** t * np.cos(0.3 * (k + 1) * t)


def _datasets(num=6, seed=0):
    """FIR data y = g0 * u (delay 1, zero initial conditions) + noise, built with np.convolve."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(num):
        g0, u = _truth(k), rng.standard_normal(N)
        y0 = np.convolve(u, np.r_[0.0, g0])[:N]
        y = y0 + np.sqrt(np.var(y0) / 10) * rng.standard_normal(N)
        out.append({"u": u, "y": y, "truth": g0, "name": f"sys{k}"})
    return out


def _same(rows_a, rows_b):
    """Rows equal exactly, except for the worker wall time."""
    strip = [{k: v for k, v in r.items() if k != "time_s"} for r in rows_a]
    return strip == [{k: v for k, v in r.items() if k != "time_s"} for r in rows_b]


def _fit_percent(g0, g):
    g = np.r_[g, np.zeros(len(g0) - len(g))]
    return 100 * (1 - np.linalg.norm(g0 - g) / np.linalg.norm(g0 - g0.mean()))


class KillOnce:
    """Array stand-in whose conversion SIGKILLs the converting process, once (marker file)."""

    def __init__(self, array, marker):
        self.array, self.marker = array, str(marker)

    def __array__(self, dtype=None, copy=None):
        if not os.path.exists(self.marker):
            with open(self.marker, "w") as fh:
                fh.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return np.asarray(self.array, dtype=dtype)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def data():
    return _datasets()


@pytest.fixture(scope="module")
def serial(data):
    return identify_many(data, random_state=SEED, progress=False, **OPTIONS)


def test_serial_rows_are_the_single_fits(data, serial):
    from krylovid.sysid import KernelFIR

    assert isinstance(serial, BatchResult) and serial.scheduler == "serial"
    assert serial.ok == len(data) and serial.failed == []
    assert [r["name"] for r in serial.rows] == [d["name"] for d in data]
    seeds = serial.column("seed")
    assert len(set(seeds.tolist())) == len(data)
    for d, row in zip(data, serial.rows, strict=True):
        model = KernelFIR(random_state=row["seed"], **OPTIONS).fit(d["u"], d["y"])
        assert row["objective"] == model.objective_
        assert row["noise_variance"] == model.noise_variance_
        assert row["hp_c"] == model.hyperparameters_["c"]
        assert row["hp_beta"] == model.hyperparameters_["beta"]
        assert row["fit"] == pytest.approx(_fit_percent(d["truth"], model.impulse_response_), abs=1e-10)
        assert row["fit"] > 60 and row["kernel"] == "TC" and row["method"] == "krylov"
        assert row["error"] is None and row["time_s"] > 0


def test_seeds_follow_random_state(data, serial):
    again = identify_many(data[:3], random_state=SEED, progress=False, **OPTIONS)
    other = identify_many(data[:3], random_state=SEED + 1, progress=False, **OPTIONS)
    assert again.column("seed").tolist() == serial.column("seed")[:3].tolist()
    assert not set(other.column("seed").tolist()) & set(serial.column("seed").tolist())
    expected = [
        int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in np.random.SeedSequence(SEED).spawn(len(data))
    ]
    assert serial.column("seed").tolist() == expected


def test_dask_equals_serial(client, data, serial):
    res = identify_many(data, client=client, random_state=SEED, progress=False, **OPTIONS)
    assert res.scheduler == "dask"
    assert _same(res.rows, serial.rows)


def test_executor_and_process_pool_equal_serial(data, serial):
    with ThreadPoolExecutor(2) as pool:
        res = identify_many(data, executor=pool, random_state=SEED, progress=False, **OPTIONS)
    assert res.scheduler == "executor" and _same(res.rows, serial.rows)
    res = identify_many(data[:2], n_jobs=2, random_state=SEED, progress=False, **OPTIONS)
    assert res.scheduler == "processes" and _same(res.rows, serial.rows[:2])


@pytest.mark.parametrize("scatter", [False, True], ids=["inline", "scattered"])
def test_killed_worker_loses_and_duplicates_nothing(client, data, serial, tmp_path, monkeypatch, scatter):
    if scatter:  # ship every dataset with client.scatter: lost data must be scattered again
        monkeypatch.setattr("krylovid.batch.runners.SCATTER_BYTES", 0)
    marker = tmp_path / "killed"
    batch = list(data)
    batch[2] = {**data[2], "u": KillOnce(data[2]["u"], marker)}
    res = identify_many(batch, client=client, random_state=SEED, progress=False, **OPTIONS)
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # a worker died
    assert [r["index"] for r in res.rows] == list(range(len(data)))
    assert _same(res.rows, serial.rows)
    client.wait_for_workers(2, timeout=60)


def test_killed_process_pool_worker_gives_error_rows(data, serial, tmp_path):
    """A process pool cannot recover from a dead worker: the unfinished rows say so, none is lost."""
    batch = list(data)
    batch[1] = {**data[1], "u": KillOnce(data[1]["u"], tmp_path / "killed")}
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        res = identify_many(batch, executor=pool, random_state=SEED, progress=False, **OPTIONS)
    assert [r["index"] for r in res.rows] == list(range(len(data)))
    assert res.rows[1]["error"].startswith("BrokenProcessPool")
    for row, ref in zip(res.rows, serial.rows, strict=True):
        assert row["error"] is not None or _same([row], [ref])
        assert row["error"] is None or row["error"].startswith("BrokenProcessPool")


def test_to_pandas(serial):
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pandas"):
            serial.to_pandas()
        return
    frame = serial.to_pandas()
    assert frame["name"].tolist() == serial.column("name").tolist()


def test_bad_datasets_give_error_rows(client, data, serial):
    nan_u = data[0]["u"].copy()
    nan_u[5] = np.nan
    batch = [
        data[0],
        {"u": nan_u, "y": data[0]["y"], "name": "nan"},
        (data[1]["u"][:15], data[1]["y"][:15]),  # N <= order
        (data[1]["u"], data[1]["y"][:-3]),
        data[1],
    ]  # length mismatch
    for kwargs in ({}, {"client": client}):
        res = identify_many(batch, random_state=SEED, progress=False, **OPTIONS, **kwargs)
        assert len(res) == 5 and res.ok == 2
        assert [r["index"] for r in res.failed] == [1, 2, 3]
        for row in res.failed:
            assert row["error"].startswith("ValueError: ") and row["objective"] is None
        assert res.rows[0]["objective"] == serial.rows[0]["objective"]
        assert np.isnan(res.column("fit")[1:4]).all()


def test_result_table(serial, tmp_path):
    path = tmp_path / "rows.csv"
    serial.to_csv(path)
    with open(path, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["name"] for r in table] == [r["name"] for r in serial.rows]
    assert np.allclose([float(r["objective"]) for r in table], serial.column("objective"), rtol=1e-15)
    assert all(r["error"] == "" for r in table)
    assert serial.column("name").tolist() == [f"sys{k}" for k in range(6)]
    with pytest.raises(KeyError, match="nope"):
        serial.column("nope")


def test_tags_and_dataset_forms(data):
    u, y = data[0]["u"], data[0]["y"]
    res = identify_many([(u, y), {"u": u, "y": y, "group": "a"}], random_state=1, progress=False, **OPTIONS)
    assert [r["name"] for r in res.rows] == ["dataset-0", "dataset-1"]
    assert res.rows[1]["group"] == "a" and res.rows[0]["fit"] is None


@pytest.mark.parametrize(
    "datasets, kwargs, exc, match",
    [
        ([], {}, ValueError, "datasets"),
        ("abc", {}, TypeError, "datasets"),
        ([np.ones(3)], {}, TypeError, r"datasets\[0\]"),
        ([{"u": np.ones(3)}], {}, ValueError, r"datasets\[0\].*'y'"),
        ([{"u": np.ones(3), "y": np.ones(3), "extra": np.ones(2)}], {}, ValueError, "extra"),
        ([(np.ones(3), np.ones(3))], {"n_jobs": 0}, ValueError, "n_jobs"),
        ([(np.ones(3), np.ones(3))], {"blas_threads": 0}, ValueError, "blas_threads"),
        ([(np.ones(3), np.ones(3))], {"random_state": -1}, ValueError, "random_state"),
        ([(np.ones(3), np.ones(3))], {"random_state": "x"}, TypeError, "random_state"),
        ([(np.ones(3), np.ones(3))], {"client": object()}, TypeError, "client"),
        ([(np.ones(3), np.ones(3))], {"executor": 1, "client": 1}, ValueError, "client and executor"),
    ],
)
def test_bad_arguments(datasets, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        identify_many(datasets, progress=False, order=2, **kwargs)


class BlasThreadsSeen:
    """Estimator stand-in whose "objective" is the largest BLAS pool size seen inside fit."""

    def __init__(self, order, random_state=None):
        self.order = order

    def fit(self, u, y):
        from threadpoolctl import threadpool_info

        pools = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        self.objective_ = float(max(pools)) if pools else float("nan")
        self.noise_variance_, self.hyperparameters_, self.impulse_response_ = 1.0, {}, np.zeros(self.order)
        return self


def test_blas_threads_capped_inside_each_fit(data):
    """threadpoolctl caps the already loaded BLAS in the running process, serial and in spawned workers."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not any(p["user_api"] == "blas" for p in threadpoolctl.threadpool_info()):
        pytest.skip("no BLAS pool visible to threadpoolctl")
    batch = [(d["u"], d["y"]) for d in data[:2]]
    for n_jobs in (1, 2):
        for cap in (1, 2):
            res = identify_many(
                batch, estimator=BlasThreadsSeen, order=3, blas_threads=cap, n_jobs=n_jobs, progress=False
            )
            assert res.ok == 2 and res.column("objective").tolist() == [cap, cap], (n_jobs, res.rows)


def test_structure_columns_and_fit_on_the_lags_of_the_truth():
    """With delay='auto' the row reports the structure used, and the fit compares coefficients lag by
    lag (a delay-2 model against a truth given from lag 1)."""
    rng = np.random.default_rng(3)
    g = 0.7 ** np.arange(12)  # the system: lags 2..13
    u = rng.standard_normal(300)
    y = np.convolve(u, np.r_[0.0, 0.0, g])[:300] + 0.01 * rng.standard_normal(300)
    truth = np.r_[0.0, g]  # lags 1..13
    res = identify_many(
        [{"u": u, "y": y, "truth": truth}], order=15, delay="auto", method="qr", random_state=0, progress=False
    )
    row = res.rows[0]
    assert row["error"] is None and row["delay"] == 2 and row["order"] == 15 and row["evaluator"] == "qr"
    from krylovid.sysid import KernelFIR

    est = np.ravel(KernelFIR(15, delay=2, method="qr", random_state=row["seed"]).fit(u, y).impulse_response_)
    ref, got = np.r_[truth, np.zeros(3)], np.r_[0.0, est]  # both on lags 1..16
    expected = 100 * (1 - np.linalg.norm(ref - got) / np.linalg.norm(ref - ref.mean()))
    assert row["fit"] == pytest.approx(expected, rel=1e-9) and row["fit"] > 95


def test_dataset_of_several_experiments(data):
    """A dataset whose u and y are lists of arrays is several experiments of one model (one row)."""
    from krylovid.sysid import KernelFIR

    us, ys = [data[0]["u"], data[0]["u"][::-1].copy()], [data[0]["y"], data[0]["y"][::-1].copy()]
    res = identify_many([{"u": us, "y": ys, "truth": data[0]["truth"]}], random_state=SEED, progress=False, **OPTIONS)
    row = res.rows[0]
    assert row["error"] is None, row
    joint = KernelFIR(random_state=row["seed"], **OPTIONS).fit(us, ys)
    assert joint.info_["n_experiments"] == 2
    assert row["objective"] == joint.objective_ and row["hp_c"] == joint.hyperparameters_["c"]


class WarnsOnce:
    """Estimator stand-in that warns (twice the same text, once another) and then fits nothing."""

    def __init__(self, order, random_state=None):
        self.order = order

    def fit(self, u, y):
        import warnings as _w

        for text in ("first\nsecond line", "first\nagain", "other"):
            _w.warn(text, RuntimeWarning, stacklevel=1)
        self.objective_, self.noise_variance_, self.hyperparameters_ = 0.0, 1.0, {}
        self.impulse_response_ = np.zeros(self.order)
        return self


def test_warnings_are_recorded_in_the_row_whatever_the_filters(data):
    import warnings as _w

    batch = [(data[0]["u"], data[0]["y"])]
    with _w.catch_warnings():
        _w.simplefilter("error")  # the caller's filters do not turn them into errors
        res = identify_many(batch, estimator=WarnsOnce, order=3, progress=False)
    assert res.ok == 1 and res.rows[0]["warnings"] == "RuntimeWarning: first | RuntimeWarning: other"
    assert res.warned == [res.rows[0]]
    assert serial_warnings_none(data)


def serial_warnings_none(data):
    res = identify_many([(data[1]["u"], data[1]["y"])], estimator=BlasThreadsSeen, order=3, progress=False)
    return res.rows[0]["warnings"] is None and res.warned == []


class WarnsOwnName:
    """Estimator stand-in: warns with its order as text, while other threads are inside their own fits."""

    barrier = None

    def __init__(self, order, random_state=None):
        self.order = order

    def fit(self, u, y):
        import warnings as _w

        for _ in range(3):  # interleave with the other threads' fits
            type(self).barrier.wait(timeout=10)
            _w.warn(f"fit {self.order}", UserWarning, stacklevel=1)
        self.objective_, self.noise_variance_, self.hyperparameters_ = 0.0, 1.0, {}
        self.impulse_response_ = np.zeros(self.order)
        return self


def test_warnings_of_concurrent_threads_stay_in_their_rows(data):
    """Fits in a thread pool enter and leave the recording in interleaved order: each row holds exactly
    its own warning, and afterwards the process's warning machinery is what it was (catch_warnings,
    which swaps process-wide state, fails both)."""
    import threading
    import warnings as _w
    from concurrent.futures import ThreadPoolExecutor

    WarnsOwnName.barrier = threading.Barrier(3)
    before_show, before_filters = _w.showwarning, list(_w.filters)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [
            pool.submit(identify_many, [(data[0]["u"], data[0]["y"])], estimator=WarnsOwnName, order=k, progress=False)
            for k in (2, 3, 4)
        ]
        rows = [f.result().rows[0] for f in futures]
    assert [r["warnings"] for r in rows] == [f"UserWarning: fit {k}" for k in (2, 3, 4)]
    assert _w.showwarning is before_show and list(_w.filters) == before_filters


def test_a_dispatcher_left_behind_by_another_threads_catch_warnings_only_forwards():
    """A catch_warnings block entered while a fit records and left after it ended puts the recording's
    dispatcher back: warnings raised then must reach the original showwarning, not fail."""
    import warnings as _w

    from krylovid.batch._recording import record_warnings

    seen = []
    before = _w.showwarning
    try:
        _w.showwarning = lambda message, *args, **kw: seen.append(str(message))
        foreign = _w.catch_warnings()
        with record_warnings() as caught:
            foreign.__enter__()  # another thread enters here: it saves the dispatcher
            _w.warn("inside", UserWarning, stacklevel=1)
        foreign.__exit__(None, None, None)  # ... and restores it after the recording ended
        with _w.catch_warnings():
            _w.simplefilter("always")
            _w.warn("after", UserWarning, stacklevel=1)
        with record_warnings() as again:  # a later recording still records, and still forwards afterwards
            _w.warn("second", UserWarning, stacklevel=1)
        with _w.catch_warnings():
            _w.simplefilter("always")
            _w.warn("last", UserWarning, stacklevel=1)
    finally:
        _w.showwarning = before
    assert [str(w.message) for w in caught] == ["inside"] and [str(w.message) for w in again] == ["second"]
    assert seen == ["after", "last"]
