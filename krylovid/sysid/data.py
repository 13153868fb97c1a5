"""Validation of identification data ``(u, y)`` (DESIGN §6).

:func:`check_data` turns user input into float64 arrays ``u`` of shape
``(N, m)`` and ``y`` of shape ``(N,)`` or raises a ``ValueError`` /
``TypeError`` that names the argument at fault.
"""
from __future__ import annotations

from .._validation import check_array, check_int
from ..backend import array_namespace

__all__ = ["check_data", "effective_length"]


def effective_length(N: int, order: int, delay: int = 1, initial: str = "zero") -> int:
    """Number of usable output rows: ``N`` (zero initial) or ``N - order - delay + 1`` (drop).

    Examples
    --------
    >>> effective_length(100, 10, 1, "drop")
    90
    """
    if initial not in ("zero", "drop"):
        raise ValueError(f"initial must be one of ['zero', 'drop'], got {initial!r}")
    return N - order - delay + 1 if initial == "drop" else N


def check_data(u, y, order: int, *, delay: int = 1, initial: str = "zero"):
    """Validate an input/output record for an FIR model of ``order`` coefficients per input.

    Parameters
    ----------
    u : array of shape (N,) or (N, m)
        Input samples (``m`` inputs).
    y : array of shape (N,) or (N, 1)
        Output samples.
    order : int
        FIR order ``n`` per input (``>= 1``).
    delay : int
        Input delay ``d >= 0``.
    initial : {"zero", "drop"}
        Initial-condition treatment (see :func:`~krylovid.sysid.regressors.fir_regressor`).

    Returns
    -------
    u2d : array of shape (N, m), float64
    y : array of shape (N,), float64

    Raises
    ------
    TypeError
        Non-numeric or complex ``u``/``y``, non-integer ``order``/``delay``.
    ValueError
        Empty arrays, wrong number of dimensions, NaN/inf, ``len(u) != len(y)``,
        too little data (``N_eff <= m * order`` with ``N_eff`` the number of
        usable rows, so that the least-squares noise variance has at least one
        degree of freedom), an input column that is constant (in particular
        zero) and therefore does not excite the system, ``delay >= N``, a bad ``initial``.

    Examples
    --------
    >>> import numpy as np
    >>> u, y = check_data(np.arange(20.0), np.ones(20), 5)
    >>> u.shape, y.shape
    ((20, 1), (20,))
    """
    order = check_int(order, "order", minimum=1)
    delay = check_int(delay, "delay", minimum=0)
    if initial not in ("zero", "drop"):
        raise ValueError(f"initial must be one of ['zero', 'drop'], got {initial!r}")
    u = check_array(u, "u", ndim=(1, 2), dtype=None)
    xp = array_namespace(u)
    y = check_array(y, "y", ndim=(1, 2), xp=xp, dtype=xp.float64)
    if u.dtype != xp.float64:
        u = xp.astype(u, xp.float64)
    u = u[:, None] if u.ndim == 1 else u
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise ValueError(f"y must hold a single output, shape (N,) or (N, 1); got shape {tuple(y.shape)}")
        y = y[:, 0]
    N, m = u.shape
    if m == 0:
        raise ValueError(f"u has no input columns (shape {tuple(u.shape)})")
    if y.shape[0] != N:
        raise ValueError(f"y must have the same length as u: len(u) = {N}, len(y) = {y.shape[0]}")
    if delay >= N:
        raise ValueError(f"delay: a delay of {delay} samples leaves no output that depends on the "
                         f"input (N = {N})")
    n_eff = effective_length(N, order, delay, initial)
    if n_eff <= m * order:
        raise ValueError(f"order: too little data for order={order} with {m} input(s): {n_eff} usable "
                         f"samples (N = {N}, initial={initial!r}, delay={delay}) but at least "
                         f"{m * order + 1} are needed")
    spread = xp.max(u, axis=0) - xp.min(u, axis=0)
    scale = xp.max(xp.abs(u), axis=0)
    for i in range(m):
        if float(spread[i]) <= 1e-14 * float(scale[i]):
            what = "is identically zero" if float(scale[i]) == 0 else "is constant"
            raise ValueError(f"u: input column {i} {what} and does not excite the system")
    return u, y
