"""``benchmarks/gpu_check.py --cpu-smoke``: the one-shot device check runs at CI size on the CPU (issue 12).

array-api-strict stands in for the device; the check must run every step, agree with NumPy, and never
touch ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytest.importorskip("array_api_strict")


def _load():
    path = ROOT / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("_krylovid_gpu_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_cpu_smoke_runs_every_step_and_writes_nothing(capsys):
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    assert _load().main(["--cpu-smoke"]) == 0
    out = capsys.readouterr().out
    assert (results.read_bytes() if results.exists() else None) == before, "the smoke mode wrote RESULTS.md"
    assert "CuPy test variants: skipped (--cpu-smoke" in out
    # every step ran on both sides (no timeout, error or skip rows)
    assert out.count("| array-api-strict (CPU stand-in) |") == 4
    assert "limit)" not in out and "error:" not in out and "skipped (time" not in out
    # the device stand-in agrees with NumPy: F of the fit and of the 50-value sweep
    fit_diff = float(re.search(r"F relative difference ([0-9.e+-]+);", out).group(1))
    sweep_diff = float(re.search(r"over the 50 values: ([0-9.e+-]+)\.", out).group(1))
    assert fit_diff <= 1e-10 and sweep_diff <= 1e-10


def test_full_mode_without_gpu_refuses_and_writes_nothing(capsys):
    mod = _load()
    try:
        import cupy

        cupy.asarray([1.0]).sum().item()
        pytest.skip("a GPU is usable here: the full check would run")
    except Exception:  # noqa: BLE001 - no CuPy or no device: the case under test
        pass
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes()
    assert mod.main([]) == 1
    assert "no usable GPU/CuPy" in capsys.readouterr().out
    assert results.read_bytes() == before
