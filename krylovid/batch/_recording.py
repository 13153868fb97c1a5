"""Thread-safe recording of the warnings of one fit.

:func:`warnings.catch_warnings` swaps process-wide state (``warnings.showwarning``
and the filter list) on entry and restores it on exit.  Two threads that enter
and leave it in interleaved order restore each other's state: warnings of one
fit land in another fit's list, and the last thread to leave can install a
recorder that swallows every later warning of the process.  Batches run fits
in threads (a ``ThreadPoolExecutor``, a threaded Dask worker), so the batch
layer records with :func:`record_warnings` instead:

* the first recording thread installs one dispatcher as ``warnings.showwarning``
  and one ``"always"`` filter at the front of the filter list; the last one to
  leave removes exactly these two (whatever else changed in between stays);
* the dispatcher appends a warning to the innermost recording of the thread
  that raised it; a thread that is not recording gets the original
  ``showwarning`` -- also when a ``catch_warnings`` block of another thread,
  entered while a recording was active, puts the dispatcher back after the
  last recording ended (it then only forwards).

While any thread records, the ``"always"`` filter applies to the whole process
(Python < 3.14 has no per-thread filters): other threads see every warning
instead of the first per location, and a filter ``"error"`` set by the caller
does not turn warnings into exceptions during that time.

Private to :mod:`krylovid.batch`.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

__all__ = ["record_warnings"]

_LOCK = threading.Lock()
_LOCAL = threading.local()
_ALWAYS = ("always", None, Warning, None, 0)
#: ``[number of active recordings, the showwarning that was installed before the first]``
_STATE: list = [0, None]
#: ``warnings.showwarning`` when this module was imported: what a thread that is not recording gets
#: when the dispatcher outlives the recordings.
_ORIGINAL = warnings.showwarning


def _dispatch(message, category, filename, lineno, file=None, line=None) -> None:
    stack = getattr(_LOCAL, "stack", None)
    if stack:
        stack[-1].append(warnings.WarningMessage(message, category, filename, lineno, file, line))
    else:  # also after the last recording ended, if another thread's catch_warnings put the dispatcher back
        (_STATE[1] or _ORIGINAL)(message, category, filename, lineno, file, line)


def _filters() -> list:
    """``warnings.filters``, the list itself (typeshed calls it a Sequence)."""
    return cast(list, warnings.filters)


def _filters_changed() -> None:
    """Invalidate the per-module ``__warningregistry__`` caches, as ``warnings.filterwarnings`` does."""
    mutated = getattr(warnings, "_filters_mutated", None)
    if mutated is not None:
        mutated()


@contextmanager
def record_warnings() -> Iterator[list]:
    """Record every warning raised in this thread inside the block, whatever the filters say.

    Yields
    ------
    list of warnings.WarningMessage
        Filled while the block runs (the same objects ``catch_warnings(record=True)`` gives).

    Examples
    --------
    >>> import warnings
    >>> with record_warnings() as caught:
    ...     warnings.warn("first", RuntimeWarning)
    ...     warnings.warn("first", RuntimeWarning)
    >>> [str(w.message) for w in caught]
    ['first', 'first']
    """
    caught: list = []
    with _LOCK:
        if _STATE[0] == 0:
            # (the dispatcher itself may be installed: restored by a catch_warnings of another thread)
            if warnings.showwarning is not _dispatch:
                _STATE[1] = warnings.showwarning
            warnings.showwarning = _dispatch
            _filters().insert(0, _ALWAYS)
            _filters_changed()
        _STATE[0] += 1
    stack = getattr(_LOCAL, "stack", None)
    if stack is None:
        stack = _LOCAL.stack = []
    stack.append(caught)
    try:
        yield caught
    finally:
        stack.pop()
        with _LOCK:
            _STATE[0] -= 1
            if _STATE[0] == 0:
                if warnings.showwarning is _dispatch:
                    warnings.showwarning = _STATE[1]
                if _ALWAYS in warnings.filters:
                    _filters().remove(_ALWAYS)
                _filters_changed()
                # _STATE[1] is kept: a dispatcher put back later forwards to it
