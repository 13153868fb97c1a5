"""Optional progress bars (tqdm when installed and useful, silent otherwise).

:func:`progress_bar` wraps an iterable or a total count.  It shows a tqdm bar
only when all of these hold: tqdm is importable, ``quiet`` is false, and
``enabled`` is True or (``enabled=None``, the default) the output stream is
an interactive terminal.  Otherwise it returns a no-op bar with the same
methods, so callers never branch on whether progress is shown.

:func:`progress_callback` adapts a bar to the ``progress`` callback of the
tuning code (``callback(k, params, F)`` after each evaluation).
"""

from __future__ import annotations

import sys

__all__ = ["progress_bar", "progress_callback", "NullBar", "tqdm_available"]


def tqdm_available() -> bool:
    """True when the optional dependency tqdm can be imported."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


class NullBar:
    """A progress bar that shows nothing (same interface as the tqdm bar used).

    Parameters
    ----------
    iterable : iterable or None
        Iterated over unchanged.
    total : int or None
        Number of steps, kept for introspection.
    """

    def __init__(self, iterable=None, total=None):
        self.iterable = iterable
        self.total = total
        self.n = 0

    def __iter__(self):
        if self.iterable is None:
            raise TypeError("this progress bar was created from a total, not an iterable")
        for item in self.iterable:
            yield item
            self.n += 1

    def __len__(self):
        if self.total is not None:
            return int(self.total)
        return len(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def update(self, n=1):
        self.n += n

    def set_description(self, desc=None):
        pass

    def set_postfix_str(self, s="", refresh=True):
        pass

    def close(self):
        pass


def _should_show(enabled, quiet, stream) -> bool:
    if quiet or enabled is False:
        return False
    if enabled is None:
        isatty = getattr(stream, "isatty", None)
        try:
            if not (isatty and isatty()):
                return False
        except (ValueError, OSError):  # closed or detached stream
            return False
    return tqdm_available()


def progress_bar(iterable_or_total=None, desc=None, enabled=None, *, quiet=False, stream=None, leave=False):
    """A progress bar over an iterable, or one counting to a total.

    Parameters
    ----------
    iterable_or_total : iterable or int or None
        What to iterate over, or the number of steps (then call ``update``).
    desc : str, optional
        Short label shown left of the bar.
    enabled : bool or None
        True: show when tqdm is available; False: never; None (default):
        only on an interactive terminal (see ``stream``).
    quiet : bool
        When True, never show (overrides ``enabled``).
    stream : file-like, optional
        Where the bar is written; default ``sys.stderr``. ``enabled=None``
        tests ``sys.stdout.isatty()`` (``stream.isatty()`` when a stream is
        given), so that piping the output turns bars off.
    leave : bool
        Keep the finished bar on screen.

    Returns
    -------
    tqdm.tqdm or NullBar
        Usable as an iterator (when built from an iterable) and as a
        context manager; ``update(n)``, ``set_postfix_str(s)``, ``close()``.

    Examples
    --------
    >>> total = 0
    >>> for k in progress_bar(range(3), desc="fits", enabled=False):
    ...     total += k
    >>> total
    3
    >>> with progress_bar(5, enabled=False) as bar:
    ...     bar.update(5)
    >>> bar.n
    5
    """
    if isinstance(iterable_or_total, bool):
        raise TypeError("iterable_or_total must be an iterable or an int, got bool")
    if isinstance(iterable_or_total, int):
        if iterable_or_total < 0:
            raise ValueError(f"iterable_or_total must be >= 0, got {iterable_or_total}")
        iterable, total = None, iterable_or_total
    else:
        iterable = iterable_or_total
        total = len(iterable) if hasattr(iterable, "__len__") else None
    tty_stream = sys.stdout if stream is None else stream
    if not _should_show(enabled, quiet, tty_stream):
        return NullBar(iterable, total)
    from tqdm.auto import tqdm

    return tqdm(
        iterable, total=total, desc=desc, leave=leave, file=sys.stderr if stream is None else stream, dynamic_ncols=True
    )


def progress_callback(bar):
    """Adapt ``bar`` to the tuning callback ``cb(k, params, F)``.

    Parameters
    ----------
    bar : tqdm.tqdm or NullBar
        A bar from :func:`progress_bar`.

    Returns
    -------
    callable
        ``cb(k, params=None, F=None)`` moves the bar to position ``k`` (the
        number of evaluations so far) and shows ``F``; ``cb()`` advances by one.
        ``params`` (the shape hyperparameters) is accepted and ignored.

    Examples
    --------
    >>> bar = progress_bar(4, enabled=False)
    >>> cb = progress_callback(bar)
    >>> cb(); cb(3, {"beta": 0.9}, -12.5)
    >>> bar.n
    3
    """

    def callback(k=None, params=None, F=None):
        if k is None:
            bar.update(1)
        else:
            bar.update(int(k) - bar.n)
        if F is not None:
            bar.set_postfix_str(f"F={float(F):.6g}", refresh=False)

    return callback
