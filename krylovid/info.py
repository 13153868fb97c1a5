"""``KrylovInfo``: the status record every iterative or randomized routine returns."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KrylovInfo", "STATUSES"]

#: Allowed values of ``KrylovInfo.status``.
STATUSES = ("converged", "max_iter", "invariant", "breakdown", "budget", "fallback", "exact")


@dataclass(frozen=True)
class KrylovInfo:
    """How an iterative or randomized computation ended.

    Attributes
    ----------
    status : str
        One of :data:`STATUSES`: ``"converged"`` (tolerance met),
        ``"max_iter"``/``"budget"`` (stopped by the iteration or matvec budget
        without meeting the tolerance), ``"invariant"`` (the Krylov space became
        invariant: the result is exact), ``"breakdown"`` (numerical breakdown),
        ``"fallback"`` (an exact evaluator was used instead), ``"exact"``.
    iterations : int
        Iterations (Lanczos steps, block steps, CG iterations, samples...).
    matvecs : int
        Number of vectors the operator was applied to.
    residual : float
        Final residual norm or error estimate (``nan`` when not applicable).
    message : str
        Human-readable detail.
    history : tuple of float
        Residual / error-estimate history (may be empty).

    Examples
    --------
    >>> info = KrylovInfo("max_iter", iterations=50, matvecs=50, residual=1e-3)
    >>> info.converged, info.status
    (False, 'max_iter')
    >>> KrylovInfo("invariant", 7, 7).converged  # an invariant Krylov space is exact
    True
    >>> KrylovInfo("done", 1, 1)
    Traceback (most recent call last):
    ...
    ValueError: status must be one of (...), got 'done'
    """

    status: str
    iterations: int
    matvecs: int
    residual: float = float("nan")
    message: str = ""
    history: tuple = field(default=(), repr=False)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def converged(self) -> bool:
        """True when the result meets its tolerance (or is exact)."""
        return self.status in ("converged", "invariant", "exact")
