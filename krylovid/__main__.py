"""``python -m krylovid``: the command line of :mod:`krylovid.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
