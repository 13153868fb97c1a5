"""Identify a simulated 30th-order system with a TC-kernel FIR model.

Run as ``python examples/identify_simulated.py [OUT_DIR]``.  Figures go to
OUT_DIR (or ``$KRYLOVID_EXAMPLE_OUT``, or a fresh temporary folder); set
``KRYLOVID_EXAMPLE_SMALL=1`` for a smaller, faster problem.
"""

import os
import sys
import tempfile

import numpy as np

from krylovid.plotting import plot_bode, plot_impulse_response
from krylovid.sysid import KernelFIR
from krylovid.sysid.metrics import fit
from krylovid.sysid.simulate import random_system, simulate_data

SMALL = os.environ.get("KRYLOVID_EXAMPLE_SMALL") == "1"
OUT = (
    sys.argv[1]
    if len(sys.argv) > 1
    else (os.environ.get("KRYLOVID_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="krylovid-example-"))
)
os.makedirs(OUT, exist_ok=True)

N, order = (400, 40) if SMALL else (1000, 100)
system = random_system(order=30, kind="fast", rng=1)
data = simulate_data(system, N, snr=10, rng=2, order_truth=order)

model = KernelFIR(order, kernel="TC", method="krylov", random_state=0).fit(data.u, data.y)
g, g_std = np.asarray(model.impulse_response_), np.asarray(model.impulse_response_std_)

print(f"N = {N}, FIR order {order}, SNR {data.snr:g}")
print("hyperparameters:", {k: round(float(v), 6) for k, v in model.hyperparameters_.items()})
print(f"noise variance: {model.noise_variance_:.4g} (true {data.noise_variance:.4g})")
print(f"objective F: {model.objective_:.8g}")
print(f"fit to the true impulse response: {fit(data.g0, g):.1f} %")
print(f"Krylov subspace dimension {model.info_.get('subspace_dim')}, matvecs {model.info_.get('matvecs')}")

inside = np.mean(np.abs(g - data.g0) <= 2.58 * g_std)
print(f"true coefficients inside the 99% band: {100 * inside:.0f} %")

fig = plot_impulse_response(g, std=g_std, truth=data.g0, title="TC kernel, 99% band")
fig.savefig(os.path.join(OUT, "identify_impulse.png"), dpi=100)
fig = plot_bode(np.vstack([g, data.g0]), input_names=["estimate", "truth"])
fig.savefig(os.path.join(OUT, "identify_bode.png"), dpi=100)
print("figures written to", OUT)
