"""``krylovid demo``, ``identify`` and ``compare``: the system-identification commands.

Registered by :mod:`krylovid.cli`.

Output-file rule of ``demo``: it writes ``demo.png`` into ``--out``
(default ``./krylovid-demo``), creating the directory when needed, and lists
the files it wrote in ``DIR/.krylovid-demo``.  A later run may overwrite a file
listed there; any other existing file of the same name is left alone (the run
stops with an error) unless ``--force`` is given.
"""
from __future__ import annotations

import logging
import os
import time

import numpy as np

from .._progress import progress_bar, progress_callback
from ..io import load_data
from ..plotting import plot_impulse_response
from ..sysid import KernelFIR, objective
from ..sysid.metrics import fit
from ..sysid.simulate import random_system, simulate_data
from ..sysid.evaluators import EVALUATORS, METHODS
from .common import (
    CLIError,
    UsageError,
    add_common,
    check_output,
    echo,
    figure_path,
    format_table,
    fraction,
    noise_variance,
    nonneg_int,
    positive_int,
    save_figure,
    write_json,
)

__all__ = ["add_parsers", "run_demo", "run_identify", "run_compare", "fit_model", "validation_fit"]

logger = logging.getLogger("krylovid")

KERNELS = ("TC", "DC", "SS", "SE", "HF", "DI", "CS")
DEMO_MANIFEST = ".krylovid-demo"
DEMO_FIGURE = "demo.png"


def _add_model_options(p, method=True):
    p.add_argument("--order", type=positive_int, required=True, help="FIR order n (number of coefficients)")
    p.add_argument("--kernel", type=str.upper, choices=KERNELS, default="TC", help="prior kernel (default TC)")
    if method:
        p.add_argument("--method", type=str.lower, choices=METHODS, default="auto",
                       help="objective evaluator (default auto: the fastest certified one for the problem)")
    p.add_argument("--delay", type=nonneg_int, default=1, help="input delay; 0 = feedthrough (default 1)")
    p.add_argument("--initial", choices=("zero", "drop"), default="zero",
                   help="zero past input, or drop the first n outputs (default zero)")
    p.add_argument("--noise-variance", type=noise_variance, default="ls", metavar="ls|ml|VALUE",
                   help="noise variance: least-squares residual (ls, default), joint ML (ml), or a value")
    p.add_argument("--seed", type=int, default=0, help="random_state of the estimator (default 0)")


def _add_data_options(p):
    p.add_argument("data", metavar="DATA", help="data file: .csv (with header), .npz, or .dat/.txt")
    p.add_argument("--input", action="append", required=True, metavar="COL",
                   help="input column by name or 0-based index (repeat for several inputs)")
    p.add_argument("--output", required=True, metavar="COL", help="output column by name or index")


def add_parsers(sub) -> None:
    """Register ``demo``, ``identify`` and ``compare`` on the subparsers ``sub``."""
    p = sub.add_parser("demo", help="identify a simulated system with three methods",
                       description="Simulate a seeded 30th-order system, identify it with the krylov, "
                       "qr and cholesky evaluators, print a table and write DIR/demo.png.")
    p.add_argument("--out", default="krylovid-demo", metavar="DIR",
                   help="output directory (default ./krylovid-demo, created if needed)")
    p.add_argument("--seed", type=int, default=0, help="seed of system, data and estimator (default 0)")
    p.add_argument("--N", type=positive_int, default=2000, help="number of samples (default 2000)")
    p.add_argument("--order", type=positive_int, default=100, help="FIR order (default 100)")
    p.add_argument("--no-plot", action="store_true", help="do not write the figure")
    p.add_argument("--cholesky-max", type=positive_int, default=1000, metavar="N",
                   help="tune with cholesky (O(N^3) per evaluation) only up to N samples; above, "
                   "evaluate its exact F once at krylov's optimum (default 1000)")
    p.add_argument("--force", action="store_true", help="overwrite files in DIR the demo did not write")
    add_common(p)
    p.set_defaults(func=run_demo)

    p = sub.add_parser("identify", help="identify an FIR model from a data file",
                       description="Kernel-regularized FIR identification with hyperparameters tuned "
                       "by marginal likelihood.")
    _add_data_options(p)
    _add_model_options(p)
    p.add_argument("--plot", metavar="FILE.png", help="write the impulse response with its 99%% band")
    p.add_argument("--json", metavar="FILE.json", help="write all results (incl. impulse response) as JSON")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    add_common(p)
    p.set_defaults(func=run_identify)

    p = sub.add_parser("compare", help="compare all evaluators on a data file",
                       description="Fit with every evaluator on the first part of the data and "
                       "report objective, validation fit and time side by side.")
    _add_data_options(p)
    _add_model_options(p, method=False)
    p.add_argument("--validation", type=fraction, default=0.3, metavar="FRAC",
                   help="fraction of samples at the end held out for validation (default 0.3)")
    p.add_argument("--methods", default=",".join(EVALUATORS), metavar="M1,M2",
                   help=f"comma-separated evaluators (default {','.join(EVALUATORS)})")
    p.add_argument("--cholesky-max", type=positive_int, default=3000, metavar="N",
                   help="skip cholesky (O(N^3)) above this many training samples (default 3000)")
    p.add_argument("--json", metavar="FILE.json", help="write the comparison as JSON")
    p.add_argument("--force", action="store_true", help="overwrite an existing JSON file")
    add_common(p)
    p.set_defaults(func=run_compare)


def fit_model(u, y, *, order, kernel="TC", method="auto", noise_variance="ls", delay=1,
              initial="zero", seed=0, quiet=False, verbose=0, desc=None):
    """Fit a KernelFIR and return ``(model, wall_time_s)``, logging Krylov depth and bounds."""
    n_samples = int(np.shape(y)[0])
    if order >= n_samples:
        raise CLIError(f"too little data for --order {order}: {n_samples} samples "
                       f"(need more samples than the order)")
    with progress_bar(None, desc=desc or method, quiet=quiet) as bar:
        model = KernelFIR(order, kernel=kernel, method=method, noise_variance=noise_variance,
                          delay=delay, initial=initial, random_state=seed,
                          progress=progress_callback(bar), verbose=verbose >= 1)
        t0 = time.perf_counter()
        model.fit(u, y)
        elapsed = time.perf_counter() - t0
    info = dict(getattr(model, "info_", {}) or {})
    logger.info("%s: status %s, subspace dim %s, matvecs %s, F in [%s, %s], %s evaluations, %.3f s",
                method, info.get("status"), info.get("subspace_dim"), info.get("matvecs"),
                info.get("F_lower"), info.get("F_upper"), info.get("n_evaluations"), elapsed)
    for i, row in enumerate(info.get("history") or []):
        logger.debug("%s: history[%d] = %s", method, i, row)
    return model, elapsed


def _hp_text(hp) -> str:
    return ", ".join(f"{k} = {float(v):.6g}" for k, v in dict(hp).items())


def _data_from_args(args):
    return load_data(args.data, args.input, args.output)


def run_identify(args) -> int:
    """``krylovid identify``: fit, print, optionally write JSON and a figure."""
    plot_path = figure_path(args.plot, args.force)
    json_path = check_output(args.json, args.force, "JSON file", exts=(".json",))
    if plot_path is not None and json_path is not None and os.path.abspath(plot_path) == os.path.abspath(json_path):
        raise UsageError("--plot and --json name the same file")
    data = _data_from_args(args)
    model, elapsed = fit_model(data.u, data.y, order=args.order, kernel=args.kernel, method=args.method,
                               noise_variance=args.noise_variance, delay=args.delay,
                               initial=args.initial, seed=args.seed, quiet=args.quiet,
                               verbose=args.verbose)
    info = dict(model.info_)
    score = float(model.score(data.u, data.y))
    q = args.quiet
    echo(f"data: {data.path} (N = {data.num_samples}, inputs: {', '.join(data.input_names)}, "
         f"output: {data.output_name})", quiet=q, essential=False)
    echo(f"model: FIR order {args.order}, kernel {args.kernel}, method {args.method}, delay {args.delay}, "
         f"initial {args.initial}", quiet=q, essential=False)
    echo(f"hyperparameters: {_hp_text(model.hyperparameters_)}")
    echo(f"noise variance: {float(model.noise_variance_):.6g} ({args.noise_variance})")
    echo(f"objective F: {float(model.objective_):.10g}")
    echo(f"fit to the data: {score:.2f} %")
    echo(f"time: {elapsed:.3f} s")
    keys = ("status", "subspace_dim", "matvecs", "F_lower", "F_upper", "n_evaluations")
    echo("info: " + ", ".join(f"{k} {info[k]}" for k in keys if k in info and info[k] is not None))
    if json_path is not None:
        write_json(json_path, _identify_payload(args, data, model, elapsed, score))
        echo(f"wrote {json_path}", quiet=q, essential=False)
    if plot_path is not None:
        fig = plot_impulse_response(model.impulse_response_, std=model.impulse_response_std_,
                                    delay=args.delay, input_names=data.input_names,
                                    title=f"{os.path.basename(data.path)}: {args.kernel} kernel, order {args.order}")
        save_figure(fig, plot_path)
        echo(f"wrote {plot_path}", quiet=q, essential=False)
    return 0


def _identify_payload(args, data, model, elapsed, score) -> dict:
    return {
        "data": data.path, "num_samples": data.num_samples, "inputs": list(data.input_names),
        "output": data.output_name,
        "options": {"order": args.order, "kernel": args.kernel, "method": args.method,
                    "delay": args.delay, "initial": args.initial,
                    "noise_variance": args.noise_variance, "seed": args.seed},
        "hyperparameters": dict(model.hyperparameters_),
        "noise_variance": float(model.noise_variance_), "objective": float(model.objective_),
        "fit_percent_on_data": score, "time_s": elapsed, "info": dict(model.info_),
        "impulse_response": np.asarray(model.impulse_response_),
        "impulse_response_std": np.asarray(model.impulse_response_std_),
    }


def validation_fit(y_val, y_hat) -> float:
    """``100 (1 - ||y - yhat|| / ||y - mean y||)`` on the validation part."""
    y_val, y_hat = np.asarray(y_val, float), np.asarray(y_hat, float)
    denom = float(np.linalg.norm(y_val - y_val.mean()))
    if denom == 0.0:
        return float("nan")
    return 100.0 * (1.0 - float(np.linalg.norm(y_val - y_hat)) / denom)


def _parse_methods(text: str):
    methods = [m.strip().lower() for m in text.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise UsageError(f"--methods: unknown method(s) {', '.join(bad) or '(none given)'}; "
                         f"choose from {', '.join(METHODS)}")
    return list(dict.fromkeys(methods))


def run_compare(args) -> int:
    """``krylovid compare``: all evaluators on a training/validation split."""
    methods = _parse_methods(args.methods)
    json_path = check_output(args.json, args.force, "JSON file", exts=(".json",))
    data = _data_from_args(args)
    n = data.num_samples
    n_val = int(round(args.validation * n))
    n_train = n - n_val
    if n_val < 1 or n_train <= args.order:
        raise CLIError(f"too little data for --order {args.order} with --validation {args.validation}: "
                       f"{n_train} training samples of {n} (need more training samples than the order)")
    u_train, y_train = data.u[:n_train], data.y[:n_train]
    rows, notes, records = [], [], []
    for method in methods:
        if method == "cholesky" and n_train > args.cholesky_max:
            notes.append(f"cholesky skipped: {n_train} training samples > --cholesky-max "
                         f"{args.cholesky_max} (dense O(N^3) per evaluation)")
            continue
        model, elapsed = fit_model(u_train, y_train, order=args.order, kernel=args.kernel, method=method,
                                   noise_variance=args.noise_variance, delay=args.delay,
                                   initial=args.initial, seed=args.seed, quiet=args.quiet,
                               verbose=args.verbose)
        y_hat = np.asarray(model.predict(data.u))[n_train:]
        vfit = validation_fit(data.y[n_train:], y_hat)
        info = dict(model.info_)
        rows.append([method, f"{float(model.objective_):.10g}", round(vfit, 2), round(elapsed, 3),
                     info.get("matvecs"),
                     _hp_text(model.hyperparameters_)])
        records.append({"method": method, "objective": float(model.objective_), "validation_fit": vfit,
                        "time_s": elapsed, "hyperparameters": dict(model.hyperparameters_),
                        "noise_variance": float(model.noise_variance_), "info": info})
    echo(f"data: {data.path} (N = {n}: {n_train} for estimation, last {n_val} for validation), "
         f"order {args.order}, kernel {args.kernel}", quiet=args.quiet, essential=False)
    echo(format_table(["method", "objective F", "val. fit %", "time s", "matvecs", "hyperparameters"], rows))
    for note in notes:
        echo(f"note: {note}")
    if json_path is not None:
        write_json(json_path, {"data": data.path, "num_train": n_train, "num_validation": n_val,
                               "order": args.order, "kernel": args.kernel, "results": records,
                               "notes": notes})
        echo(f"wrote {json_path}", quiet=args.quiet, essential=False)
    return 0


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
            raise CLIError(f"{target!r} already exists and was not written by the demo; "
                           f"use --force or another --out")
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
    echo(f"demo: 30th-order system (seed {args.seed}), N = {args.N}, SNR {sim.snr:g}, "
         f"FIR order {args.order}, TC kernel", quiet=args.quiet, essential=False)
    rows, models = [], {}
    full_cholesky = args.N <= args.cholesky_max
    for method in ("krylov", "qr", "cholesky") if full_cholesky else ("krylov", "qr"):
        model, elapsed = fit_model(sim.u, sim.y, order=args.order, kernel="TC", method=method,
                                   seed=args.seed, quiet=args.quiet, verbose=args.verbose)
        models[method] = model
        rows.append([method, _hp_text(model.hyperparameters_), f"{float(model.objective_):.10g}",
                     round(_truth_fit(sim.g0, model.impulse_response_), 2), round(elapsed, 3),
                     dict(model.info_).get("matvecs")])
    if full_cholesky:
        ref = float(models["cholesky"].objective_)
        label = "cholesky"
    else:
        ref, elapsed = _cholesky_at(sim, args.order, models["krylov"])
        rows.append(["cholesky*", "(krylov's)", f"{ref:.10g}", None, round(elapsed, 3), None])
        label = "the exact (cholesky) F at krylov's optimum"
    echo(format_table(["method", "hyperparameters", "objective F", "fit vs truth %", "time s",
                       "matvecs"], rows))
    if not full_cholesky:
        echo(f"* cholesky costs O(N^3) per evaluation: above --cholesky-max {args.cholesky_max} samples "
             "the demo evaluates it once, at krylov's hyperparameters, instead of tuning with it")
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
    F = objective(sim.u, sim.y, order=order, kernel="TC", hyperparameters=dict(model.hyperparameters_),
                  noise_variance=float(model.noise_variance_), method="cholesky")
    return float(F), time.perf_counter() - t0


def _demo_figure(models, sim, order):
    kry = models["krylov"]
    g0 = np.ravel(np.asarray(sim.g0, float))[:order]
    fig = plot_impulse_response(kry.impulse_response_, std=kry.impulse_response_std_, truth=g0,
                                label="krylov (TC)", title="krylovid demo: impulse response, 99% band")
    ax = fig.axes[0]
    lags = np.arange(1, order + 1)
    for method, style in (("qr", ":"), ("cholesky", "-.")):
        if method in models:
            ax.plot(lags, np.ravel(models[method].impulse_response_), style, lw=1.0, label=method)
    ax.legend(loc="upper right", fontsize="small")
    return fig
