"""Shared pytest fixtures for the krylovid test suite (small and generic on purpose).

Fixtures
--------
rng
    ``np.random.default_rng(1234)``: a fresh, seeded NumPy Generator per test.
strict_xp
    The ``array_api_strict`` namespace (the test is skipped when it is absent).
"""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh NumPy Generator seeded with 1234 (one per test: no shared state)."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def strict_xp():
    """The ``array_api_strict`` namespace, the CPU stand-in for CuPy."""
    return pytest.importorskip("array_api_strict")

