"""Worked example: from measured-style files to a validated model with bands, and its export.

The data (see ``make_benchmark_record.py``) look like a real record: a ZOH-sampled
plant with direct feedthrough, measured around an operating point (offsets), with
coloured noise, in two experiments — a DaISy-style ``.dat`` (columns time, u, y)
and a MATLAB ``.mat`` (u, y, Ts).  Steps:

1. load both files (sample time from the Time column and from ``Ts``);
2. one model from both experiments: ``detrend="constant"`` (each record its own
   operating point), ``order="auto"`` and ``delay="auto"`` chosen by marginal likelihood;
3. residual analysis and ``compare`` on held-out data;
4. Bode and step responses with their 99 % bands, checked against the truth;
5. export to ``scipy.signal.dlti`` and python-control, save and load the model.

Run as ``python examples/identify_real_record.py [OUT_DIR]`` (``KRYLOVID_EXAMPLE_SMALL=1``
for shorter records).
"""

import os
import sys
import tempfile

import matplotlib
import numpy as np
import scipy.io
import scipy.signal

from krylovid import KernelFIR
from krylovid.sysid.metrics import fit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_benchmark_record import make_record  # noqa: E402

if "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")

SMALL = os.environ.get("KRYLOVID_EXAMPLE_SMALL") == "1"
OUT = (
    sys.argv[1]
    if len(sys.argv) > 1
    else (os.environ.get("KRYLOVID_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="krylovid-example-"))
)
os.makedirs(OUT, exist_ok=True)

# -- 1. load -------------------------------------------------------------------------------
paths = make_record(OUT, n1=1000 if SMALL else 1500, n2=600 if SMALL else 1000)
t1, u1, y1 = np.loadtxt(paths["dat"], unpack=True)
Ts = float(np.median(np.diff(t1)))
mat = scipy.io.loadmat(paths["mat"])
u2, y2 = mat["u"].ravel(), mat["y"].ravel()
assert abs(float(mat["Ts"].squeeze()) - Ts) < 1e-9
n_val = len(u1) // 3  # hold out the end of experiment 1 for validation
u_est, y_est, u_val, y_val = u1[:-n_val], y1[:-n_val], u1[-n_val:], y1[-n_val:]
print(f"sample time {Ts:g} s; experiment 1: {len(u1)} samples (.dat), experiment 2: {len(u2)} samples (.mat)")
print(f"means: u {u1.mean():.3f}, y {y1.mean():.3f}  (an operating point, not dynamics)")

# -- 2. fit: one model from both experiments, structure from the data ----------------------
model = KernelFIR(order="auto", delay="auto", detrend="constant", sample_time=Ts)
model.fit([u_est, u2], [y_est, y2])
s = model.structure_
print(
    f"chosen delay {model.delay_} (F by delay: "
    + ", ".join(f"{d}: {f:.1f}" for d, f in zip(s.delays, s.delay_objective, strict=True) if np.isfinite(f))
    + ")"
)
print(f"chosen order {model.order_} (orders tried {list(s.orders)})")
print(f"hyperparameters: {model.hyperparameters_}, noise variance {model.noise_variance_:.4g}")

truth = np.load(paths["truth"])["g"]
g_true = truth[model.delay_ : model.delay_ + model.order_]
print(f"fit to the true impulse response: {fit(g_true, model.impulse_response_):.1f} %")

# -- 3. validation on held-out data -------------------------------------------------------
ra = model.residuals(u_val, y_val)
cr = model.compare(u_val, y_val)
print(f"validation fit (compare): {cr.fit:.1f} %")
print(
    f"residuals white: {ra.white} (noise is coloured, so an FIR output-error model leaves them coloured); "
    f"independent of the input: {ra.independent}"
)
model.plot_residuals(u_val, y_val).savefig(os.path.join(OUT, "real_residuals.png"))
model.plot_compare(u_val, y_val).savefig(os.path.join(OUT, "real_compare.png"))

# -- 4. responses with bands, checked against the truth -----------------------------------
omega = np.logspace(-1, np.log10(np.pi / Ts), 200)
fr = model.frequency_response(omega)
_, G_true = scipy.signal.dfreqresp(scipy.signal.dlti(truth, np.r_[1.0, np.zeros(truth.size - 1)], dt=Ts), w=omega * Ts)
inside_f = np.mean(np.abs(fr.response - G_true) ** 2 <= 4.6 * fr.std**2)  # 99 % of a complex Gaussian
sr = model.step_response(num=120)
s_true = np.cumsum(truth)[:120]
inside_s = np.mean(np.abs(sr.response - s_true) <= 2.576 * sr.std + 1e-12)
print(f"true frequency response inside the 99% band: {100 * inside_f:.0f} %")
print(f"true step response inside the 99% band: {100 * inside_s:.0f} %")
print(f"static gain: {sr.response[-1]:.3f} +- {sr.std[-1]:.3f} (true {s_true[-1]:.3f})")
model.plot_bode(omega).savefig(os.path.join(OUT, "real_bode.png"))
model.plot_step_response(num=120).savefig(os.path.join(OUT, "real_step.png"))

# -- 5. export, save, load ----------------------------------------------------------------
sys_d = model.to_dlti()
_, y_sim = scipy.signal.dlsim(sys_d, u_val - model.input_offset_)
print(
    f"scipy.signal.dlti (dt={sys_d.dt:g}) reproduces predict: "
    f"{np.allclose(y_sim.ravel() + model.output_offset_, model.predict(u_val))}"
)
try:
    tf = model.to_control()
    print(f"python-control transfer function with dt={tf.dt:g}")
except ImportError:
    print("python-control not installed: to_control() skipped")
path = os.path.join(OUT, "real_model.npz")
model.save(path)
loaded = KernelFIR.load(path)
print(
    f"saved and loaded: same prediction {np.allclose(loaded.predict(u_val), model.predict(u_val))}, "
    f"same band {np.allclose(loaded.frequency_response(omega).std, fr.std)}"
)
