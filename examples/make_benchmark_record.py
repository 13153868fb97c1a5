"""Generate data shaped like a real benchmark record (for ``identify_real_record.py``).

A lightly damped second-order plant with a direct feedthrough term,
``G(s) = (0.3 s^2 + 4 s + 40) / (s^2 + 2 zeta w s + w^2)`` with ``w = 2 pi``
rad/s and ``zeta = 0.25``, sampled with a zero-order hold at ``Ts = 0.05`` s,
driven around an operating point (input ``u0 = 2``, output ``y0 = 10``) and
measured with coloured noise (white noise through ``1 / (1 - 0.8 q^-1)``).
Two experiments, written as real data usually arrive:

* ``plant_exp1.dat`` — DaISy style: whitespace-separated columns
  ``time  u  y``, no header (a random binary input, 1500 samples);
* ``plant_exp2.mat`` — a MATLAB file (``scipy.io.savemat``) with variables
  ``u``, ``y`` (column vectors) and ``Ts`` (filtered-noise input, 1000 samples);
* ``plant_truth.npz`` — the true impulse response ``g`` (lags 0, 1, ...) and
  ``Ts``, for checking the identified model (not part of "measured" data).

Run as ``python examples/make_benchmark_record.py [OUT_DIR]``; the worked
example imports :func:`make_record`.
"""

import os
import sys
import tempfile

import numpy as np
import scipy.io
import scipy.signal

TS = 0.05
U0, Y0 = 2.0, 10.0


def plant():
    """The ZOH-sampled plant as a ``scipy.signal.dlti`` (state space) with ``dt = TS``."""
    w, zeta = 2 * np.pi, 0.25
    num, den = [0.3, 4.0, 40.0], [1.0, 2 * zeta * w, w * w]
    A, B, C, D, _ = scipy.signal.cont2discrete(scipy.signal.tf2ss(num, den), TS, method="zoh")
    return scipy.signal.dlti(A, B, C, D, dt=TS)


def _experiment(u_dev, rng, noise_std):
    sys_d = plant()
    _, y_dev, _ = scipy.signal.dlsim(sys_d, u_dev)
    e = scipy.signal.lfilter([1.0], [1.0, -0.8], rng.standard_normal(u_dev.size)) * noise_std
    return U0 + u_dev, Y0 + y_dev.ravel() + e


def make_record(out_dir, *, n1: int = 1500, n2: int = 1000, seed: int = 0) -> dict:
    """Write the two experiments and the truth to ``out_dir``; return their paths.

    Parameters
    ----------
    out_dir : str
    n1, n2 : int
        Samples of experiment 1 (.dat) and 2 (.mat).
    seed : int

    Returns
    -------
    dict
        ``{"dat": path, "mat": path, "truth": path}``.
    """
    rng = np.random.default_rng(seed)
    # experiment 1: random binary signal, level held for 1..4 samples (a PRBS-like test signal)
    holds = rng.integers(1, 5, size=n1)
    levels = np.repeat(rng.choice([-1.0, 1.0], size=n1), holds)[:n1]
    u1, y1 = _experiment(levels, rng, noise_std=0.15)
    # experiment 2: low-pass filtered Gaussian noise
    u2_dev = scipy.signal.lfilter([0.5], [1.0, -0.5], rng.standard_normal(n2))
    u2, y2 = _experiment(u2_dev, rng, noise_std=0.15)
    os.makedirs(out_dir, exist_ok=True)
    paths = {
        k: os.path.join(out_dir, f)
        for k, f in (("dat", "plant_exp1.dat"), ("mat", "plant_exp2.mat"), ("truth", "plant_truth.npz"))
    }
    t1 = TS * np.arange(n1)
    np.savetxt(paths["dat"], np.column_stack([t1, u1, y1]), fmt="%.6f")
    scipy.io.savemat(paths["mat"], {"u": u2[:, None], "y": y2[:, None], "Ts": TS})
    _, (g,) = scipy.signal.dimpulse(plant(), n=200)
    np.savez(paths["truth"], g=g.ravel(), Ts=TS)
    return paths


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="krylovid-record-")
    for kind, path in make_record(out).items():
        print(f"{kind}: {path}")
