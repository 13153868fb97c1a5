"""Many identifications at once: serial, process pools or a Dask cluster.

:func:`identify_many` fits one :class:`~krylovid.sysid.KernelFIR` per dataset
and returns a :class:`BatchResult` with one row per dataset, in input order.
:func:`bank_study` runs the standard Monte Carlo study (fast/slow systems at
SNR 10 and 1, every kernel x method) on top of it and
:func:`plot_bank_boxplot` draws the usual box plot of fits.

Modules: :mod:`~krylovid.batch.result` (the table), :mod:`~krylovid.batch.runners`
(one fit as a task; serial, executor, process pool and Dask schedulers),
:mod:`~krylovid.batch.identify` (:func:`identify_many`) and
:mod:`~krylovid.batch.bank` (:func:`bank_study`).
"""

from ..plotting.bank import plot_bank_boxplot
from .bank import STANDARD_COLLECTIONS, bank_study
from .identify import identify_many
from .result import BatchResult

__all__ = ["BatchResult", "identify_many", "bank_study", "plot_bank_boxplot", "STANDARD_COLLECTIONS"]
