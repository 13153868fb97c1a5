"""``krylovid demo``: identify a simulated system with three evaluators, a table and a figure.

Registered by :mod:`krylovid.cli`.

Output-file rule: it writes ``demo.png`` into ``--out`` (default
``./krylovid-demo``), creating the directory when needed, and lists the files
it wrote in ``DIR/.krylovid-demo``.  A later run may overwrite a file listed
there; any other existing file of the same name is left alone (the run stops
with an error) unless ``--force`` is given.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..plotting import plot_impulse_response
from ..sysid import objective
from ..sysid.metrics import fit
from ..sysid.simulate import random_system, simulate_data
from .common import CLIError, UsageError, add_common, echo, format_table, positive_int, save_figure
from .sysid import fit_model, hp_text

__all__ = ["add_parsers", "run_demo"]

DEMO_MANIFEST = ".krylovid-demo"
DEMO_FIGURE = "demo.png"


def add_parsers(sub) -> None:
    """Register ``demo`` on the subparsers ``sub``."""
    p = sub.add_parser(
        "demo",
        help="identify a simulated system with three methods",
        description="Simulate a seeded 30th-order system, identify it with the krylov, "
        "qr and cholesky evaluators, print a table and write DIR/demo.png.",
    )
    p.add_argument(
        "--out",
        default="krylovid-demo",
        metavar="DIR",
        help="output directory (default ./krylovid-demo, created if needed)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of system, data and estimator (default 0)")
    p.add_argument("--N", type=positive_int, default=2000, help="number of samples (default 2000)")
    p.add_argument("--order", type=positive_int, default=100, help="FIR order (default 100)")
    p.add_argument("--no-plot", action="store_true", help="do not write the figure")
    p.add_argument(
        "--cholesky-max",
        type=positive_int,
        default=1000,
        metavar="N",
        help="tune with cholesky (O(N^3) per evaluation) only up to N samples; above, "
        "evaluate its exact F once at krylov's optimum (default 1000)",
    )
    p.add_argument("--force", action="store_true", help="overwrite files in DIR the demo did not write")
    add_common(p)
    p.set_defaults(func=run_demo)


def _prepare_demo_dir(out: str, files, force: bool) -> set:
    """Create ``out`` if needed; refuse to clobber files the demo did not write."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise CLIError(f"--out {out!r} exists and is not a directory")
    os.makedirs(out, exist_ok=True)
    manifest = os.path.join(out, DEMO_MANIFEST)
    owned = set()
    if os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as fh:
            owned = {ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")}
    for name in files:
        target = os.path.join(out, name)
        if os.path.exists(target) and name not in owned and not force:
            raise CLIError(f"{target!r} already exists and was not written by the demo; use --force or another --out")
    return owned


def _record_demo_files(out: str, owned: set, files) -> None:
    with open(os.path.join(out, DEMO_MANIFEST), "w", encoding="utf-8") as fh:
        fh.write("# files written by 'krylovid demo'; the demo may overwrite them\n")
        fh.write("\n".join(sorted(owned | set(files))) + "\n")


def _truth_fit(g0, g) -> float:
    g0, g = np.ravel(np.asarray(g0, float)), np.ravel(np.asarray(g, float))
    length = max(g0.size, g.size)
    return float(fit(np.pad(g0, (0, length - g0.size)), np.pad(g, (0, length - g.size))))


def run_demo(args) -> int:
    """``krylovid demo``: simulate, identify with three methods, table and figure."""
    files = [] if args.no_plot else [DEMO_FIGURE]
    owned = _prepare_demo_dir(args.out, files, args.force) if files else set()
    if args.order >= args.N:
        raise UsageError(f"--order {args.order} must be smaller than --N {args.N}")
    rng = np.random.default_rng(args.seed)
    system = random_system(order=30, kind="fast", rng=rng)
    sim = simulate_data(system, args.N, snr=10, rng=rng, order_truth=max(125, args.order))
    echo(
        f"demo: 30th-order system (seed {args.seed}), N = {args.N}, SNR {sim.snr:g}, FIR order {args.order}, TC kernel",
        quiet=args.quiet,
        essential=False,
    )
    rows, models = [], {}
    full_cholesky = args.N <= args.cholesky_max
    for method in ("krylov", "qr", "cholesky") if full_cholesky else ("krylov", "qr"):
        model, elapsed = fit_model(
            sim.u,
            sim.y,
            order=args.order,
            kernel="TC",
            method=method,
            seed=args.seed,
            quiet=args.quiet,
            verbose=args.verbose,
        )
        models[method] = model
        rows.append(
            [
                method,
                hp_text(model.hyperparameters_),
                f"{float(model.objective_):.10g}",
                round(_truth_fit(sim.g0, model.impulse_response_), 2),
                round(elapsed, 3),
                dict(model.info_).get("matvecs"),
            ]
        )
    if full_cholesky:
        ref = float(models["cholesky"].objective_)
        label = "cholesky"
    else:
        ref, elapsed = _cholesky_at(sim, args.order, models["krylov"])
        rows.append(["cholesky*", "(krylov's)", f"{ref:.10g}", None, round(elapsed, 3), None])
        label = "the exact (cholesky) F at krylov's optimum"
    echo(format_table(["method", "hyperparameters", "objective F", "fit vs truth %", "time s", "matvecs"], rows))
    if not full_cholesky:
        echo(
            f"* cholesky costs O(N^3) per evaluation: above --cholesky-max {args.cholesky_max} samples "
            "the demo evaluates it once, at krylov's hyperparameters, instead of tuning with it"
        )
    spread = max(abs(float(m.objective_) - ref) for m in models.values()) / max(abs(ref), 1e-300)
    echo(f"largest relative difference of F to {label}: {spread:.2e}", quiet=args.quiet, essential=False)
    if files:
        path = os.path.join(args.out, DEMO_FIGURE)
        save_figure(_demo_figure(models, sim, args.order), path)
        _record_demo_files(args.out, owned, files)
        echo(f"wrote {path}")
    return 0


def _cholesky_at(sim, order, model):
    """Exact objective (dense Cholesky) at ``model``'s hyperparameters, and its time."""
    t0 = time.perf_counter()
    F = objective(
        sim.u,
        sim.y,
        order=order,
        kernel="TC",
        hyperparameters=dict(model.hyperparameters_),
        noise_variance=float(model.noise_variance_),
        method="cholesky",
    )
    return float(F), time.perf_counter() - t0


def _demo_figure(models, sim, order):
    kry = models["krylov"]
    g0 = np.ravel(np.asarray(sim.g0, float))[:order]
    fig = plot_impulse_response(
        kry.impulse_response_,
        std=kry.impulse_response_std_,
        truth=g0,
        label="krylov (TC)",
        title="krylovid demo: impulse response, 99% band",
    )
    ax = fig.axes[0]
    lags = np.arange(1, order + 1)
    for method, style in (("qr", ":"), ("cholesky", "-.")):
        if method in models:
            ax.plot(lags, np.ravel(models[method].impulse_response_), style, lw=1.0, label=method)
    ax.legend(loc="upper right", fontsize="small")
    return fig
