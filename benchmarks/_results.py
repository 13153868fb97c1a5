"""Shared writer for the marked sections of ``benchmarks/RESULTS.md``.

Each benchmark script owns the text between its own pair of HTML-comment
markers; rerunning a script replaces only that text.
"""

from __future__ import annotations

import pathlib

RESULTS = pathlib.Path(__file__).with_name("RESULTS.md")
TITLE = "# krylovid benchmark results"


def write_section(body: str, *, begin: str, end: str, heading: str, path: pathlib.Path = RESULTS) -> None:
    """Replace the text between ``begin`` and ``end`` in ``path``.

    Creates the file (with the common title) or appends ``heading`` and the
    marked block when they are not there yet.
    """
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else f"{TITLE}\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + f"\n\n{heading}\n\n{block}\n"
    path.write_text(text)
