"""Random stable test systems and simulated identification data.

In the style of the data banks of the kernel-identification literature
(Chen, Ohlsson & Ljung 2012; Pillonetto et al. 2014): 30th-order discrete-time
SISO systems with random poles, excited by white Gaussian input and observed
in white Gaussian noise at a given signal-to-noise ratio.  Everything is
reproducible from an explicit ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

from .._validation import check_array, check_int, check_positive
from ..backend import default_rng

__all__ = ["System", "random_system", "SimulatedData", "simulate_data", "bank"]

_KINDS = ("fast", "slow")


@dataclass(frozen=True)
class System:
    """A stable discrete-time SISO transfer function ``G(q) = B(q^-1) / A(q^-1)``.

    Attributes
    ----------
    b : ndarray of shape (order + 1,)
        Numerator coefficients in powers of ``q^-1`` (``b[0] = 0``: strictly proper).
    a : ndarray of shape (order + 1,)
        Denominator coefficients, ``a[0] = 1``.
    poles, zeros : ndarray of complex
        Roots of ``A`` and ``B`` (as polynomials in ``q``).
    kind : str
        ``"fast"`` or ``"slow"``.
    """

    b: np.ndarray
    a: np.ndarray
    poles: np.ndarray = field(repr=False)
    zeros: np.ndarray = field(repr=False)
    kind: str = "fast"

    @property
    def order(self) -> int:
        return len(self.a) - 1

    @property
    def pole_radius(self) -> float:
        """Largest pole modulus (``< 1``: stable)."""
        return float(np.max(np.abs(self.poles)))

    def impulse_response(self, n: int) -> np.ndarray:
        """FIR coefficients ``g_1..g_n`` (``g_k`` multiplies ``u(t-k)``), shape ``(n,)``.

        Examples
        --------
        >>> s = System(np.array([0.0, 1.0]), np.array([1.0, -0.5]), np.array([0.5]), np.array([]))
        >>> s.impulse_response(3).tolist()
        [1.0, 0.5, 0.25]
        """
        n = check_int(n, "n", minimum=1)
        delta = np.zeros(n + 1)
        delta[0] = 1.0
        return lfilter(self.b, self.a, delta)[1:]

    def simulate(self, u) -> np.ndarray:
        """Noise-free output ``y0 = G(q) u`` with zero initial conditions, shape ``(N,)``."""
        u = check_array(u, "u", ndim=1)
        return lfilter(self.b, self.a, np.asarray(u))


def _random_roots(rng, count: int, r_low: float, r_high: float) -> np.ndarray:
    """``count`` roots closed under conjugation with moduli in ``(r_low, r_high]``.

    A random number of complex-conjugate pairs (angles uniform in ``(0, pi)``)
    and real roots of random sign; moduli uniform.
    """
    n_pairs = int(rng.integers(0, count // 2 + 1))
    radii = r_high - rng.uniform(0.0, r_high - r_low, size=count - n_pairs)
    angles = rng.uniform(0.0, np.pi, size=n_pairs)
    pairs = radii[:n_pairs] * np.exp(1j * angles)
    reals = radii[n_pairs:] * rng.choice([-1.0, 1.0], size=count - 2 * n_pairs)
    return np.concatenate([pairs, np.conj(pairs), reals.astype(complex)])


def _slow_head(rng, order: int) -> np.ndarray:
    """One real pole or one conjugate pair with modulus in ``(0.95, 0.99]``."""
    r = 0.99 - rng.uniform(0.0, 0.04)
    if order >= 2 and rng.uniform() < 0.5:
        p = r * np.exp(1j * rng.uniform(0.0, np.pi))
        return np.array([p, np.conj(p)])
    return np.array([complex(r * rng.choice([-1.0, 1.0]))])


def random_system(order: int = 30, kind: str = "fast", rng=None) -> System:
    """A random stable SISO system of the given order.

    Parameters
    ----------
    order : int, default 30
        Number of poles (denominator degree).
    kind : {"fast", "slow"}
        ``"fast"``: every pole has modulus ``<= 0.95``; ``"slow"``: one pole
        (or conjugate pair) has modulus in ``(0.95, 0.99]``, the rest ``<= 0.95``.
    rng : None, int or numpy Generator
        Random source.

    Returns
    -------
    System

    Notes
    -----
    Poles: a random number of complex-conjugate pairs with uniform angles in
    ``(0, pi)`` and moduli uniform in ``[0, 0.95]`` (one in ``(0.95, 0.99]``
    for ``"slow"``), the rest real with random sign.  Zeros: ``order - 1``
    roots built the same way with moduli uniform in ``[0, 1.2]`` (so
    non-minimum-phase systems occur).  ``b[0] = 0`` (one sample delay, as in
    the FIR convention ``g_1`` multiplies ``u(t-1)``).  The gain is normalised
    to a unit H2 norm, ``sum_k g_k^2 = 1`` (over a horizon where the response
    has decayed to below ``1e-12``).

    Examples
    --------
    >>> s = random_system(30, "slow", rng=0)
    >>> 0.95 < s.pole_radius <= 0.99
    True
    """
    order = check_int(order, "order", minimum=1)
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {list(_KINDS)}, got {kind!r}")
    rng = default_rng(rng)
    head = _slow_head(rng, order) if kind == "slow" else np.zeros(0, dtype=complex)
    poles = np.concatenate([head, _random_roots(rng, order - len(head), 0.0, 0.95)])
    zeros = _random_roots(rng, order - 1, 0.0, 1.2) if order > 1 else np.zeros(0, dtype=complex)
    a = np.real(np.poly(poles))
    b = np.concatenate([[0.0], np.real(np.poly(zeros))])
    horizon = int(np.ceil(np.log(1e-12) / np.log(max(np.max(np.abs(poles)), 0.5)))) + order + 10
    h = System(b, a, poles, zeros, kind).impulse_response(horizon)
    b = b / np.linalg.norm(h)
    return System(b=b, a=a, poles=poles, zeros=zeros, kind=kind)


@dataclass(frozen=True)
class SimulatedData:
    """One simulated identification experiment.

    Attributes
    ----------
    u : ndarray of shape (N,)
        Input.
    y : ndarray of shape (N,)
        Measured output ``y0 + e``.
    y0 : ndarray of shape (N,)
        Noise-free output.
    g0 : ndarray of shape (n_truth,)
        True impulse response ``g_1..g_{n_truth}``.
    noise_variance : float
        ``var(y0) / snr``.
    snr : float
        Requested signal-to-noise ratio (variance ratio).
    system : System
        The data-generating system.
    """

    u: np.ndarray
    y: np.ndarray
    y0: np.ndarray
    g0: np.ndarray
    noise_variance: float
    snr: float
    system: System = field(repr=False)


def _make_input(input, N: int, rng) -> np.ndarray:
    if isinstance(input, str):
        if input == "white":
            return rng.standard_normal(N)
        if input == "lowpass":  # white noise through 1 / (1 - 0.9 q^-1), unit variance
            return lfilter([np.sqrt(1 - 0.81)], [1.0, -0.9], rng.standard_normal(N))
        raise ValueError(f"input must be 'white', 'lowpass' or an array, got {input!r}")
    u = np.asarray(check_array(input, "input", ndim=1), dtype=float)
    if u.shape[0] != N:
        raise ValueError(f"input: expected {N} samples, got {u.shape[0]}")
    return u


def simulate_data(
    system: System, N: int, snr: float = 10, rng=None, input="white", order_truth: int | None = None
) -> SimulatedData:
    """Simulate ``y = G(q) u + e`` with zero initial conditions.

    Parameters
    ----------
    system : System
        The true system.
    N : int
        Number of samples.
    snr : float, default 10
        ``var(y0) / noise_variance``.
    rng : None, int or numpy Generator
        Random source (input and noise).
    input : {"white", "lowpass"} or array of shape (N,)
        White unit-variance Gaussian input (default), a low-pass filtered one,
        or a given signal.
    order_truth : int, optional
        Length of the returned true impulse response (default 125).

    Returns
    -------
    SimulatedData

    Examples
    --------
    >>> d = simulate_data(random_system(rng=1), 200, snr=10, rng=2)
    >>> d.u.shape, d.g0.shape
    ((200,), (125,))
    """
    if not isinstance(system, System):
        raise TypeError(f"system must be a System, got {type(system).__name__}")
    N = check_int(N, "N", minimum=2)
    snr = check_positive(snr, "snr")
    n_truth = 125 if order_truth is None else check_int(order_truth, "order_truth", minimum=1)
    rng = default_rng(rng)
    u = _make_input(input, N, rng)
    y0 = system.simulate(u)
    noise_variance = float(np.var(y0)) / snr
    if not noise_variance > 0:
        raise ValueError("input: the noise-free output is constant, the SNR is undefined")
    y = y0 + np.sqrt(noise_variance) * rng.standard_normal(N)
    return SimulatedData(
        u=u, y=y, y0=y0, g0=system.impulse_response(n_truth), noise_variance=noise_variance, snr=snr, system=system
    )


def bank(
    kind: str, snr: float, num_systems: int, N: int = 500, n_truth: int = 125, rng=None, order: int = 30, input="white"
) -> list:
    """A data bank: ``num_systems`` independent random systems, one experiment each.

    Each experiment gets its own child seed (``SeedSequence.spawn``), so entry
    ``i`` depends only on ``rng`` and ``i``, not on ``num_systems``.

    Examples
    --------
    >>> data = bank("fast", 10, 3, N=100, rng=0)
    >>> len(data), data[0].y.shape
    (3, (100,))
    """
    num_systems = check_int(num_systems, "num_systems", minimum=1)
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {list(_KINDS)}, got {kind!r}")
    seed = int(default_rng(rng).integers(0, 2**63 - 1))
    children = np.random.SeedSequence(seed).spawn(num_systems)
    out = []
    for child in children:
        r = np.random.default_rng(child)
        system = random_system(order, kind, rng=r)
        out.append(simulate_data(system, N, snr, rng=r, input=input, order_truth=n_truth))
    return out
