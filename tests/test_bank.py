"""Tests of krylovid.batch.bank_study, plot_bank_boxplot and the ``bank run`` CLI.

One LocalCluster (2 worker processes, 1 thread each) is shared by the module;
the ``--scheduler local`` test starts (and stops) its own, as the command does.
"""

from __future__ import annotations

import csv
import logging
import socket

import numpy as np
import pytest

from krylovid.batch import bank_study, identify_many, plot_bank_boxplot
from krylovid.cli import main

distributed = pytest.importorskip("distributed")

# DC on these short records may put alpha at its hard limit: a documented SearchLimitWarning of the fit,
# not a failure of the batch machinery tested here (krylovid's RuntimeWarnings are errors elsewhere).
pytestmark = pytest.mark.filterwarnings("ignore::krylovid.sysid.tuning.SearchLimitWarning")

K, N, ORDER = 2, 200, 20
COLLECTIONS = (("fast", 10), ("fast", 1), ("slow", 10), ("slow", 1))


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def study():
    return bank_study(K, kernels=("TC", "DC"), methods=("krylov",), N=N, order=ORDER, random_state=3, progress=False)


def _expected_data(random_state):
    """The documented seeding: child 0 of SeedSequence(random_state) seeds the data, one
    grandchild per collection, passed to simulate.bank as a Generator."""
    from krylovid.sysid.simulate import bank

    data_seq, fit_seq = np.random.SeedSequence(random_state).spawn(2)
    data = []
    for (kind, snr), child in zip(COLLECTIONS, data_seq.spawn(len(COLLECTIONS)), strict=True):
        data += bank(kind, snr, K, N=N, rng=np.random.default_rng(child))
    return data, fit_seq


def test_bank_study_rows(study):
    assert len(study) == 2 * 4 * K and study.ok == len(study)
    assert [r["kernel"] for r in study.rows] == ["TC"] * 4 * K + ["DC"] * 4 * K
    assert set(study.column("method").tolist()) == {"krylov"}
    colls = [r["collection"] for r in study.rows[: 4 * K]]
    assert colls == [f"{kind}/SNR{snr}" for kind, snr in COLLECTIONS for _ in range(K)]
    assert study.column("system").tolist() == list(range(K)) * 8
    assert study.column("snr").tolist() == [float(s) for _, s in COLLECTIONS for _ in range(K)] * 2
    dc = [r for r in study.rows if r["kernel"] == "DC"]
    assert all({"hp_c", "hp_alpha", "hp_rho"} <= set(r) for r in dc)
    assert "hp_alpha" not in study.rows[0]  # TC rows: own keys; the CSV has the union
    # the same dataset and seed for every kernel
    for a, b in zip(study.rows[: 4 * K], dc, strict=True):
        assert (a["name"], a["seed"], a["index"]) == (b["name"], b["seed"], b["index"])
    assert np.median(study.column("fit")) > 50


def test_every_method_runs_on_the_same_data():
    from krylovid.sysid import KernelFIR

    res = bank_study(
        1,
        kernels=("TC",),
        methods=("krylov", "qr"),
        collections=COLLECTIONS[:2],
        N=N,
        order=ORDER,
        random_state=5,
        progress=False,
    )
    data, _ = _expected_data(5)
    assert [r["method"] for r in res.rows] == ["krylov"] * 2 + ["qr"] * 2
    for row in res.rows:
        d = data[row["index"] * K]  # K systems per collection in _expected_data, 1 here
        model = KernelFIR(ORDER, kernel="TC", method=row["method"], random_state=row["seed"])
        model.fit(d.u, d.y)
        assert row["objective"] == model.objective_ and row["hp_beta"] == model.hyperparameters_["beta"]
    assert [r["seed"] for r in res.rows[:2]] == [r["seed"] for r in res.rows[2:]]


def test_bank_study_is_identify_many_on_simulated_banks(study):
    data, fit_seq = _expected_data(3)
    ref = identify_many(data, random_state=fit_seq, progress=False, order=ORDER, kernel="DC", method="krylov")
    rows = [r for r in study.rows if r["kernel"] == "DC"]
    assert [r["seed"] for r in rows] == [r["seed"] for r in ref.rows]
    for a, b in zip(rows, ref.rows, strict=True):
        assert a["objective"] == b["objective"] and a["fit"] == b["fit"]
        g0 = data[a["index"]].g0
        assert np.isfinite(a["fit"]) and a["fit"] < 100 and len(g0) >= ORDER


def test_bank_study_on_dask_equals_serial(client, study):
    res = bank_study(
        K, kernels=("TC", "DC"), methods=("krylov",), N=N, order=ORDER, random_state=3, progress=False, client=client
    )
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]  # noqa: E731
    assert res.scheduler == "dask" and strip(res.rows) == strip(study.rows)


def test_boxplot(study, tmp_path):
    path = tmp_path / "box.png"
    fig = plot_bank_boxplot(study, path)
    assert len(fig.axes) == 1 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{k}/SNR{s}" for k, s in COLLECTIONS]
    two = {"rows": study.rows + tuple({**r, "method": "qr"} for r in study.rows)}
    assert len(plot_bank_boxplot(type(study)(**two)).axes) == 2
    assert len(plot_bank_boxplot(type(study)(**two), method="qr").axes) == 1
    with pytest.raises(ValueError, match="no successful"):
        plot_bank_boxplot(study, method="nope")


def _own_lines(err):
    """The command's own stderr lines (Dask's logger may add its warnings under load)."""
    return [line for line in err.splitlines() if not line.startswith(("distributed.", "20"))]


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_cli_on_a_running_scheduler(client, study, tmp_path, capsys):
    out = tmp_path / "res"
    argv = [
        "bank",
        "run",
        "--systems",
        str(K),
        "--kernels",
        "tc,DC",
        "--methods",
        "krylov",
        "--N",
        str(N),
        "--order",
        str(ORDER),
        "--seed",
        "3",
        "--out",
        str(out),
        "--scheduler",
        client.scheduler.address,
    ]
    assert main(argv) == 0
    table = _read(out / "bank_results.csv")
    assert [r["name"] for r in table] == [r["name"] for r in study.rows]
    assert np.array_equal([float(r["fit"]) for r in table], study.column("fit"))
    assert (out / "bank_boxplot.png").read_bytes()[:4] == b"\x89PNG"
    assert "median fit" in capsys.readouterr().out
    # existing outputs: refused without --force (files untouched), replaced with it
    before = (out / "bank_results.csv").read_bytes()
    assert main(argv + ["--quiet"]) == 1
    err = _own_lines(capsys.readouterr().err)
    assert len(err) == 1 and "exists" in err[0] and "--force" in err[0]
    assert (out / "bank_results.csv").read_bytes() == before
    assert main(argv + ["--quiet", "--force", "--systems", "1"]) == 0
    assert len(_read(out / "bank_results.csv")) == 2 * 4


def test_cli_local_cluster(tmp_path, capsys):
    out = tmp_path / "local"
    rc = main(
        [
            "bank",
            "run",
            "--systems",
            "1",
            "--kernels",
            "TC",
            "--methods",
            "qr",
            "--N",
            str(N),
            "--order",
            str(ORDER),
            "--scheduler",
            "local",
            "--workers",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0 and capsys.readouterr().out == ""
    table = _read(out / "bank_results.csv")
    assert len(table) == 4 and all(r["error"] == "" for r in table)
    ref = bank_study(1, kernels=("TC",), methods=("qr",), N=N, order=ORDER, random_state=0, progress=False)
    assert np.array_equal([float(r["objective"]) for r in table], ref.column("objective"))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "extra, code, match",
    [
        (["--kernels", "TC,XX"], 2, "--kernels: unknown kernel(s) 'XX'"),
        (["--methods", "svd"], 2, "--methods: unknown method(s) 'svd'"),
        (["--systems", "0"], 2, "--systems: expected a positive integer, got 0"),
        (["--timeout", "-1"], 2, "--timeout: expected a positive number"),
        (["--N", "20"], 2, "--N must exceed --order"),
        (["--scheduler", "UNREACHABLE", "--timeout", "1"], 1, "cannot reach the Dask scheduler"),
    ],
)
def test_cli_errors_are_one_line(extra, code, match, tmp_path, capsys):
    extra = [f"tcp://127.0.0.1:{_free_port()}" if a == "UNREACHABLE" else a for a in extra]
    rc = main(["bank", "run", "--out", str(tmp_path / "o"), "--order", "20"] + extra)
    err = _own_lines(capsys.readouterr().err)
    assert rc == code and len(err) == 1 and match in err[0] and err[0].startswith("krylovid: error: ")
    assert not (tmp_path / "o").exists()
