"""Two-input FIR identification (block-diagonal prior, one kernel block per input).

Run as ``python examples/multi_input.py [OUT_DIR]``
(``KRYLOVID_EXAMPLE_SMALL=1`` for a faster run).
"""

import os
import sys
import tempfile

import numpy as np

from krylovid.plotting import plot_impulse_response
from krylovid.sysid import KernelFIR
from krylovid.sysid.metrics import fit
from krylovid.sysid.simulate import random_system

SMALL = os.environ.get("KRYLOVID_EXAMPLE_SMALL") == "1"
OUT = (
    sys.argv[1]
    if len(sys.argv) > 1
    else (os.environ.get("KRYLOVID_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="krylovid-example-"))
)
os.makedirs(OUT, exist_ok=True)

N, order = (300, 20) if SMALL else (1000, 60)
rng = np.random.default_rng(7)
systems = [random_system(order=10, kind="fast", rng=rng) for _ in range(2)]
u = rng.standard_normal((N, 2))
y0 = systems[0].simulate(u[:, 0]) + systems[1].simulate(u[:, 1])
sigma2 = np.var(y0) / 10.0  # SNR 10
y = y0 + np.sqrt(sigma2) * rng.standard_normal(N)
truth = np.vstack([s.impulse_response(order) for s in systems])

model = KernelFIR(order, kernel="DC", random_state=0).fit(u, y)
G = np.asarray(model.impulse_response_)  # shape (2, order)
print("impulse response shape:", G.shape)
print(
    "hyperparameters:", {k: np.round(np.asarray(v, dtype=float), 4).tolist() for k, v in model.hyperparameters_.items()}
)
print(f"noise variance {model.noise_variance_:.4g} (true {sigma2:.4g})")
for i in range(2):
    print(f"input {i}: fit to the true impulse response {fit(truth[i], G[i]):.1f} %")

fig = plot_impulse_response(
    G, std=model.impulse_response_std_, truth=truth, input_names=["input 0", "input 1"], title="two-input DC model"
)
fig.savefig(os.path.join(OUT, "multi_input.png"), dpi=100)
print("figure written to", OUT)
