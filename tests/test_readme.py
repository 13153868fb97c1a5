"""Every code block of README.md is checked, wherever it stands in the file.

The rules (also stated in the README's "Developing krylovid" section):

* A ```` ```python ```` block is a complete script: each one runs on its own in
  a subprocess, in a temporary directory, with one BLAS thread and the Agg
  matplotlib backend, and must exit with status 0.  Some blocks have their
  printed numbers checked against a known answer as well (:data:`OUTPUT_CHECKS`).
* A ```` ```python no-run REASON ```` block is not run; the reason is required.
* A ```` ```bash ```` block holds commands that install packages or run for
  minutes, so it is not executed here (the quick-start commands are what
  ``.ci/run`` runs).  Each command in it is checked instead: ``krylovid ...``
  and ``python3 -m krylovid ...`` must parse with the real argument parser,
  ``python benchmarks/X.py`` must name a script that answers ``--help``, a
  ``.ci/X`` command an executable script, and ``pip install -e ".[extra]"``
  must name extras declared in pyproject.toml.
* Any other kind of block fails the test.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import sys

import pytest

from krylovid.cli import build_parser

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
# one BLAS thread per subprocess: small dense factorizations slow down 20x or more
# when multithreaded BLAS competes for a small shared machine
ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>.*)$")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block: info string, heading above it, its number under that heading, first line, text."""

    info: str
    heading: str
    ordinal: int
    line: int
    code: str

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"{slug}-{self.ordinal}"


def readme_blocks(text: str) -> list[Block]:
    """All fenced code blocks of a Markdown text (indented fences in list items too)."""
    blocks, heading, start, indent, lines, info = [], "", None, 0, [], ""
    for number, line in enumerate(text.splitlines(), 1):
        if start is None:
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
            match = FENCE.match(line)
            if match:
                start, indent, info, lines = number, len(match["indent"]), match["info"].strip(), []
        elif line.strip() == "```":
            ordinal = 1 + sum(b.heading == heading for b in blocks)
            blocks.append(Block(info, heading, ordinal, start, "\n".join(lines) + "\n"))
            start = None
        else:
            lines.append(line[indent:] if line[:indent].strip() == "" else line)
    assert start is None, f"README.md: code block opened at line {start} is never closed"
    return blocks


with open(README, encoding="utf-8") as _fh:
    BLOCKS = readme_blocks(_fh.read())
PYTHON = [b for b in BLOCKS if b.info == "python"]
BASH = [b for b in BLOCKS if b.info == "bash"]


def _last_number(text: str) -> float:
    return float(re.findall(r"[-+]?\d[\d.]*(?:e[-+]?\d+)?", text)[-1])


def _check_fit(out: str, tmp_path) -> None:
    (fit_pct,) = re.findall(r"fit to the truth: ([-\d.]+) %", out)
    assert float(fit_pct) > 80.0, out


def _check_objective(out: str, tmp_path) -> None:
    assert _last_number(out.strip().splitlines()[-1]) < 1e-6, out  # |F_krylov - F_exact| / |F_exact|


def _check_attention(out: str, tmp_path) -> None:
    errors = {line.split()[0]: float(line.split()[1]) for line in out.strip().splitlines()}
    assert set(errors) == {"rSVD", "Nystrom", "Performer"}, out
    assert all(0.0 < e < float("inf") for e in errors.values()), out  # relative errors, finite
    assert errors["rSVD"] < 1.0, out  # rank 32 of a 256 x 256 attention matrix: better than Y_hat = 0


def _check_identify_many(out: str, tmp_path) -> None:
    assert out.split() == ["20", "0"], out  # 20 fits, no error rows
    with open(tmp_path / "fits.csv", encoding="utf-8") as fh:
        assert len(fh.read().strip().splitlines()) == 21  # header + one row per dataset


def _check_bank_study(out: str, tmp_path) -> None:
    assert (tmp_path / "bank_boxplot.png").stat().st_size > 1000


#: A block containing the key gets its output checked by the value.
OUTPUT_CHECKS = {
    "KernelFIR(50": _check_fit,
    "F_exact = objective(": _check_objective,
    "performer_attention(Q, K, V": _check_attention,
    "identify_many(data, client=client": _check_identify_many,
    "bank_study(": _check_bank_study,
}
#: Blocks that start a Dask cluster and run tens of fits: marked slow (still in the default run).
SLOW = ("LocalCluster(",)


def _python_param(block: Block):
    marks = [pytest.mark.slow] if any(key in block.code for key in SLOW) else []
    return pytest.param(block, id=block.id, marks=marks)


def test_block_parser_on_a_known_text():
    text = "# A\n```python\nx = 1\n```\n## B\n- item:\n\n  ```bash\n  krylovid demo \\\n      --N 10\n  ```\n"
    blocks = readme_blocks(text)
    assert [(b.info, b.heading, b.ordinal, b.line) for b in blocks] == [("python", "A", 1, 2), ("bash", "B", 1, 8)]
    assert blocks[0].code == "x = 1\n" and blocks[1].code == "krylovid demo \\\n    --N 10\n"
    assert _commands(blocks[1]) == [["krylovid", "demo", "--N", "10"]]
    with pytest.raises(AssertionError, match="never closed"):
        readme_blocks("```python\nx = 1\n")


def test_readme_blocks_follow_the_rules():
    """Only python, python no-run REASON and bash blocks; the key examples are all there."""
    assert len(PYTHON) >= 5 and len(BASH) >= 5
    for block in BLOCKS:
        if block.info.startswith("python no-run"):
            assert block.info[len("python no-run") :].strip(), f"line {block.line}: no-run needs a reason"
        else:
            assert block.info in ("python", "bash"), f"README.md line {block.line}: block of kind {block.info!r}"
    for key in OUTPUT_CHECKS:
        assert sum(key in b.code for b in PYTHON) == 1, f"no single README python block contains {key!r}"
    assert any(b.heading.startswith("Many systems at once") for b in PYTHON)  # blocks after "Citing" too


@pytest.mark.parametrize("block", [_python_param(b) for b in PYTHON])
def test_readme_python_block_runs(block, tmp_path):
    script = tmp_path / "readme_block.py"
    script.write_text(block.code, encoding="utf-8")
    env = dict(os.environ, **ENV, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
    )
    assert r.returncode == 0, f"README.md block at line {block.line} failed:\n{r.stdout}\n{r.stderr}"
    for key, check in OUTPUT_CHECKS.items():
        if key in block.code:
            check(r.stdout, tmp_path)


def _commands(block: Block) -> list[list[str]]:
    """The commands of a bash block: continuation lines joined, comments dropped, split at && and ;."""
    text = block.code.replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        current: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", ";", "||"):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(word)
    return commands


def _without_env(words: list[str]) -> list[str]:
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
        words = words[1:]
    return words


def _declared_extras() -> set[str]:
    """Names of the extras in pyproject.toml (tomllib is Python 3.11+, so read the section directly)."""
    with open(os.path.join(REPO, "pyproject.toml"), encoding="utf-8") as fh:
        section = fh.read().split("[project.optional-dependencies]")[1].split("\n[")[0]
    return set(re.findall(r"(?m)^([\w-]+)\s*=", section))


def _check_command(words: list[str]) -> None:
    words = _without_env(words)
    if words[0] == "krylovid":
        build_parser().parse_args(words[1:])
    elif words[:3] in (["python3", "-m", "krylovid"], ["python", "-m", "krylovid"]):
        build_parser().parse_args(words[3:])
    elif words[0] in ("python", "python3") and words[1].endswith(".py"):
        script = os.path.join(REPO, words[1])
        r = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert r.returncode == 0, f"{words[1]} --help failed:\n{r.stderr}"
    elif words[:4] == ["python3", "-m", "pip", "install"] or words[:2] == ["pip", "install"]:
        for word in words:
            match = re.fullmatch(r"\.\[([\w,-]+)\]", word)
            if match:
                assert set(match[1].split(",")) <= _declared_extras(), word
    elif words[0].startswith(".ci/"):
        script = os.path.join(REPO, words[0])
        assert os.path.isfile(script) and os.access(script, os.X_OK), f"{words[0]} is not an executable script"
    elif words[:3] == ["python3", "-m", "pytest"]:
        pass  # the test command itself
    else:
        raise AssertionError(f"README bash command of an unknown kind: {shlex.join(words)}")


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in BASH])
def test_readme_bash_commands_are_valid(block):
    commands = _commands(block)
    assert commands, f"README.md line {block.line}: empty bash block"
    for words in commands:
        _check_command(words)
