"""Model structure chosen from the data: the delay and the order by marginal likelihood.

Candidates are compared on the same footing — the same output samples and
the same noise variance — so that their objectives ``F`` (``-2`` log marginal
likelihood up to a constant) are comparable:

* rows: with ``initial="drop"`` every candidate ``(n, d)`` drops the first
  ``n_max + d_max - 1`` outputs of each record (its own first rows plus the
  difference, trimmed off the front), with ``initial="zero"`` all rows count;
* noise: ``"ls"`` uses the least-squares residual variance at the largest
  candidate (order ``n_max``, the smallest delay), the most flexible FIR;
  ``"ml"`` and fixed values are used as they are.

Delay: the candidate with the smallest ``F`` at a reference order (the given
order, or ``min(50, n_max)``).  With ``delay="auto"`` (``0..10``) a fit with
delay 0 (and an order longer by the delay span) locates the first significant
coefficient ``k``; only the delays ``k-2 .. k+1`` and 0 are then compared,
which keeps the search to a few fits (a slowly rising response is flagged a
lag or two late, hence the wider window below ``k``).  Order: the smallest candidate whose ``F`` is within
``tolerance = 2`` (a likelihood ratio of ``e``) of the best, at the chosen
delay — beyond the point where the impulse response has decayed, longer FIRs
change ``F`` by less than that; orders are tried in increasing order until
two in a row no longer improve the best ``F``.  Delays not compared carry NaN
in :attr:`StructureSelection.delay_objective`.

:func:`decay_check` measures whether the impulse response has died out at the
chosen order: the largest ``|g|`` over the last tenth of the coefficients
relative to the peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_int
from .data import MIN_NOISE_DOF

__all__ = [
    "StructureSelection",
    "parse_candidates",
    "candidate_orders",
    "select_structure",
    "decay_check",
    "DEFAULT_MAX_DELAY",
]

DEFAULT_MAX_DELAY = 10
_ORDER_LADDER = (5, 10, 15, 20, 30, 40, 50, 70, 100, 140, 200, 280, 400)
ORDER_TOLERANCE = 2.0


@dataclass(frozen=True)
class StructureSelection:
    """Outcome of :func:`select_structure`.

    Attributes
    ----------
    order, delay : int
        Chosen values.
    orders : tuple of int
        Order candidates evaluated (at the chosen delay).
    order_objective : tuple of float
        ``F`` of each order candidate.
    delays : tuple of int
        Delay candidates evaluated.
    delay_objective : tuple of float
        ``F`` of each delay candidate (at ``delay_order``).
    delay_order : int
        Order at which the delays were compared.
    tolerance : float
        ``F`` margin of the order rule.
    """

    order: int
    delay: int
    orders: tuple
    order_objective: tuple
    delays: tuple
    delay_objective: tuple
    delay_order: int
    tolerance: float = ORDER_TOLERANCE


def parse_candidates(spec, name: str, default) -> tuple:
    """``(candidates, chosen_from_data)`` from an ``order`` / ``delay`` argument.

    Parameters
    ----------
    spec : int, "auto" or sequence of int
    name : {"order", "delay"}
        Argument name (``"delay"`` allows 0).
    default : callable
        Returns the candidates for ``"auto"``.

    Examples
    --------
    >>> parse_candidates(5, "order", list), parse_candidates([0, 2], "delay", list)
    (([5], False), ([0, 2], True))
    """
    minimum = 0 if name == "delay" else 1
    if isinstance(spec, str):
        if spec != "auto":
            raise ValueError(f"{name} must be an int, 'auto' or a list of ints, got {spec!r}")
        return list(default()), True
    if isinstance(spec, (list, tuple, np.ndarray)):
        vals = [check_int(v, name, minimum=minimum) for v in spec]
        if not vals:
            raise ValueError(f"{name}: the list of candidates is empty")
        return vals, len(vals) > 1
    return [check_int(spec, name, minimum=minimum)], False


def candidate_orders(
    n_samples: int, num_inputs: int, max_delay: int = 0, initial: str = "zero", max_order: int = 400
) -> list:
    """Order candidates from the ladder 5, 10, 15, 20, 30, ..., 400 that the shortest record can support.

    An order ``n`` is kept when ``N_eff - m n >= 10`` and ``m n <= N_eff / 2``
    (half the samples, so that the least-squares noise variance at the largest
    candidate is well determined).

    Examples
    --------
    >>> candidate_orders(200, 1)
    [5, 10, 15, 20, 30, 40, 50, 70, 100]
    """
    out = []
    for n in _ORDER_LADDER:
        n_eff = n_samples - (n + max_delay - 1 if initial == "drop" else 0)
        if n <= max_order and n_eff - num_inputs * n >= MIN_NOISE_DOF and num_inputs * n <= n_eff / 2:
            out.append(n)
    if not out:
        raise ValueError(
            f"order: a record of {n_samples} samples is too short to choose the order "
            f"automatically with {num_inputs} input(s); give order=<int>"
        )
    return out


def _trim(records, k: int):
    return [(u[k:], y[k:]) for u, y in records] if k else records


def first_significant(g, std, *, z: float = 3.0, rel: float = 0.05) -> int:
    """Index of the first coefficient (over all inputs) with ``|g_k| > z std_k`` and ``|g_k| > rel max|g|``.

    Examples
    --------
    >>> import numpy as np
    >>> first_significant(np.array([0.0, 0.01, 1.0, 0.5]), np.full(4, 0.05))
    2
    """
    G = np.atleast_2d(np.asarray(g, dtype=np.float64))
    S = np.atleast_2d(np.asarray(std, dtype=np.float64))
    hit = (np.abs(G) > z * S) & (np.abs(G) > rel * np.max(np.abs(G)))
    cols = np.flatnonzero(np.any(hit, axis=0))
    return int(cols[0]) if cols.size else 0


def select_structure(
    objective,
    noise,
    records,
    orders,
    delays,
    *,
    initial: str = "zero",
    order_ref: int | None = None,
    screen_delays: bool = True,
) -> StructureSelection:
    """Choose the delay and the order (see module notes).

    Parameters
    ----------
    objective : callable
        ``objective(records, order, delay, sigma2) -> (F, g, std)``: tunes the
        model on ``records`` with noise variance ``sigma2`` and returns ``F`` at
        the optimum and the posterior mean and standard deviation of ``g``.
    noise : callable
        ``noise(records, order, delay) -> sigma2``: the noise variance every
        candidate uses (the least-squares one of the most flexible structure, or
        the configured value).
    records : list of (u, y)
        ``u`` of shape ``(N, m)``, ``y`` of shape ``(N,)``.
    orders, delays : list of int
        Candidates (one entry: fixed).
    initial : {"zero", "drop"}
    order_ref : int, optional
        Order of the delay-screening fit (default ``min(50, max(orders))``).
    screen_delays : bool
        Compare by ``F`` only the smallest delay and the delays ``k-2 .. k+1``
        around the first significant coefficient ``k`` of a fit with the
        smallest delay and order ``order_ref + (max delay - min delay)``;
        otherwise every delay.

    Returns
    -------
    StructureSelection

    Notes
    -----
    Orders are evaluated in increasing order and the search stops when two
    consecutive candidates improve the best ``F`` so far by less than the
    tolerance (``F`` is flat once the FIR covers the response).
    """
    orders, delays = sorted(set(int(n) for n in orders)), sorted(set(int(d) for d in delays))
    n_max, d_min, d_max = orders[-1], delays[0], delays[-1]
    span = d_max - d_min

    def rows(n, d):
        return _trim(records, (n_max + d_max) - (n + d)) if initial == "drop" else records

    sigma2 = noise(rows(n_max, d_min), n_max, d_min)
    cache = {}

    def F(n, d):
        if (n, d) not in cache:
            cache[(n, d)] = objective(rows(n, d), n, d, sigma2)[0]
        return cache[(n, d)]

    ref = (min(50, n_max) if len(orders) > 1 else n_max) if order_ref is None else int(order_ref)
    if len(delays) > 1 and screen_delays and span > 2:
        _, g, std = objective(rows(ref + span, d_min), ref + span, d_min, sigma2)
        d_est = d_min + first_significant(g, std)
        near = [d for d in delays if d == d_min or -2 <= d - d_est <= 1]
    else:
        near = delays
    delay = near[int(np.argmin([F(ref, d) for d in near]))]
    oF = []
    for n in orders:
        oF.append(F(n, delay))
        if len(oF) >= 3 and min(oF[-2:]) > min(oF[:-2]) - ORDER_TOLERANCE:
            break
    best = min(oF)
    order = next(n for n, f in zip(orders, oF, strict=False) if f <= best + ORDER_TOLERANCE)
    dF = [cache.get((ref, d), np.nan) for d in delays]
    return StructureSelection(
        order,
        delay,
        tuple(orders[: len(oF)]),
        tuple(float(f) for f in oF),
        tuple(delays),
        tuple(float(f) for f in dF),
        ref,
    )


def decay_check(g, std=None, *, fraction: float = 0.1, threshold: float = 0.1) -> list:
    """Inputs whose impulse response has not decayed at the model's order.

    For each input, ``r = max |g_k|`` over the last ``fraction`` of the
    coefficients (at least two) divided by ``max |g_k|``; the input is flagged
    when ``r > threshold`` and (when ``std`` is given) some tail coefficient
    is outside two standard deviations, i.e. the tail is not just noise.

    Parameters
    ----------
    g : array of shape (n,) or (m, n)
    std : array like ``g``, optional

    Returns
    -------
    list of (int, float)
        ``(input index, r)`` of the flagged inputs.

    Examples
    --------
    >>> import numpy as np
    >>> decay_check(0.5 ** np.arange(40)), decay_check(0.99 ** np.arange(20))
    ([], [(0, 0.8345137614500875)])
    """
    G = np.atleast_2d(np.asarray(g, dtype=np.float64))
    S = None if std is None else np.atleast_2d(np.asarray(std, dtype=np.float64))
    n = G.shape[1]
    k = max(2, int(np.ceil(fraction * n)))
    out = []
    for i in range(G.shape[0]):
        peak = float(np.max(np.abs(G[i])))
        tail = np.abs(G[i, -k:])
        if peak == 0:
            continue
        r = float(tail.max() / peak)
        significant = True if S is None else bool(np.any(tail > 2 * S[i, -k:]))
        if r > threshold and significant:
            out.append((i, r))
    return out
