"""``krylovid identify`` and ``compare``: identification from data files.

Registered by :mod:`krylovid.cli`.  ``identify`` fits one model to one or
several data files (experiments), reports it with a residual analysis, and
writes on request JSON (``--json -``: to stdout, the report then goes to
stderr), the model (``--save-model``) and figures of the impulse, step and
frequency responses with their bands, of the residual analysis and of the
simulated against the measured output (``--validate`` names validation data).
"""

from __future__ import annotations

import logging
import os
import sys
import time

import numpy as np

from .._progress import progress_bar, progress_callback
from ..io import load_data
from ..plotting import plot_compare, plot_frequency_response, plot_impulse_response, plot_residuals, plot_step_response
from ..sysid import KernelFIR
from ..sysid.evaluators import EVALUATORS, METHODS
from .common import (
    CLIError,
    UsageError,
    add_common,
    check_output,
    delay_spec,
    echo,
    figure_path,
    format_table,
    fraction,
    names_list,
    noise_variance,
    order_spec,
    positive_float,
    positive_int,
    save_figure,
    write_json,
)
from .records import add_data_options, load_records

__all__ = ["add_parsers", "run_identify", "run_compare", "fit_model", "validation_fit", "hp_text"]

logger = logging.getLogger("krylovid")

KERNELS = ("TC", "DC", "SS", "SE", "HF", "DI", "CS")
DETREND = ("none", "constant", "linear")
#: identify's figure options: (option, attribute, what it draws).
FIGURES = (
    ("--plot", "plot", "the impulse response with its 99%% band"),
    ("--step-plot", "step_plot", "the step response with its 99%% band"),
    ("--bode-plot", "bode_plot", "the Bode plot with 99%% bands"),
    ("--residuals-plot", "residuals_plot", "the residual analysis (validation data if given)"),
    ("--compare-plot", "compare_plot", "simulated against measured output (validation data if given)"),
)


def _add_model_options(p, method=True):
    p.add_argument(
        "--order",
        type=order_spec,
        required=True,
        metavar="N|auto",
        help="FIR order n (number of coefficients), or auto: chosen by marginal likelihood",
    )
    p.add_argument("--kernel", type=str.upper, choices=KERNELS, default="TC", help="prior kernel (default TC)")
    if method:
        p.add_argument(
            "--method",
            type=str.lower,
            choices=METHODS,
            default="auto",
            help="objective evaluator (default auto: the fastest certified one for the problem)",
        )
    p.add_argument(
        "--delay",
        type=delay_spec,
        default=1,
        metavar="D|auto",
        help="input delay; 0 = feedthrough, auto = chosen from the data (default 1)",
    )
    p.add_argument(
        "--initial",
        choices=("zero", "drop"),
        default="zero",
        help="zero past input, or drop the first n outputs (default zero)",
    )
    p.add_argument(
        "--detrend",
        type=str.lower,
        choices=DETREND,
        default="none",
        help="remove each record's means (constant) or straight lines (linear) before fitting "
        "(default none: a warning says when the means are significant)",
    )
    p.add_argument(
        "--sample-time",
        type=positive_float,
        metavar="T",
        help="sample time in seconds (default: from a .mat Ts or a time column; else lags)",
    )
    p.add_argument(
        "--noise-variance",
        type=noise_variance,
        default="ls",
        metavar="ls|ml|VALUE",
        help="noise variance: least-squares residual (ls, default), joint ML (ml), or a value",
    )
    p.add_argument("--seed", type=int, default=0, help="random_state of the estimator (default 0)")


def add_parsers(sub) -> None:
    """Register ``identify`` and ``compare`` on the subparsers ``sub``."""
    p = sub.add_parser(
        "identify",
        help="identify an FIR model from one or several data files",
        description="Kernel-regularized FIR identification with hyperparameters tuned by "
        "marginal likelihood; several data files are several experiments of one model.",
    )
    add_data_options(p, several=True)
    _add_model_options(p)
    p.add_argument("--validate", metavar="FILE", help="validation data (same columns): fit and residual analysis")
    for option, _, what in FIGURES:
        p.add_argument(option, metavar="FILE.png", help=f"write {what}")
    p.add_argument("--json", metavar="FILE.json|-", help="write all results as JSON ('-': to stdout)")
    p.add_argument("--save-model", metavar="FILE.npz", help="write the model (KernelFIR.load reads it)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    add_common(p)
    p.set_defaults(func=run_identify)

    p = sub.add_parser(
        "compare",
        help="compare all evaluators on a data file",
        description="Fit with every evaluator on the first part of the data and "
        "report objective, validation fit and time side by side.",
    )
    add_data_options(p, several=False)
    _add_model_options(p, method=False)
    p.add_argument(
        "--validation",
        type=fraction,
        default=0.3,
        metavar="FRAC",
        help="fraction of samples at the end held out for validation (default 0.3)",
    )
    p.add_argument(
        "--methods",
        default=",".join(EVALUATORS),
        metavar="M1,M2",
        help=f"comma-separated evaluators (default {','.join(EVALUATORS)})",
    )
    p.add_argument(
        "--cholesky-max",
        type=positive_int,
        default=3000,
        metavar="N",
        help="skip cholesky (O(N^3)) above this many training samples (default 3000)",
    )
    p.add_argument("--json", metavar="FILE.json|-", help="write the comparison as JSON ('-': to stdout)")
    p.add_argument("--force", action="store_true", help="overwrite an existing JSON file")
    add_common(p)
    p.set_defaults(func=run_compare)


def _check_length(order, n_samples, where="") -> None:
    if isinstance(order, int) and order >= n_samples:
        raise CLIError(
            f"too little data for --order {order}: {where}{n_samples} samples (need more samples than the order)"
        )


def fit_model(
    u,
    y,
    *,
    order,
    kernel="TC",
    method="auto",
    noise_variance="ls",
    delay=1,
    initial="zero",
    detrend="none",
    sample_time=None,
    seed=0,
    quiet=False,
    verbose=0,
    desc=None,
):
    """Fit a KernelFIR to one record (arrays) or several (lists); ``(model, wall_time_s)``.

    Logs the Krylov depth and bounds at ``-v`` and the tuning history at ``-vv``.
    """
    for y_i in y if isinstance(y, list) else [y]:
        _check_length(order, int(np.shape(y_i)[0]))
    with progress_bar(None, desc=desc or method, quiet=quiet) as bar:
        model = KernelFIR(
            order,
            kernel=kernel,
            method=method,
            noise_variance=noise_variance,
            delay=delay,
            initial=initial,
            detrend=detrend,
            sample_time=sample_time,
            random_state=seed,
            progress=progress_callback(bar),
            verbose=verbose >= 1,
        )
        t0 = time.perf_counter()
        model.fit(u, y)
        elapsed = time.perf_counter() - t0
    info = dict(getattr(model, "info_", {}) or {})
    logger.info(
        "%s: status %s, subspace dim %s, matvecs %s, F in [%s, %s], %s evaluations, %.3f s",
        method,
        info.get("status"),
        info.get("subspace_dim"),
        info.get("matvecs"),
        info.get("F_lower"),
        info.get("F_upper"),
        info.get("n_evaluations"),
        elapsed,
    )
    for i, row in enumerate(info.get("history") or []):
        logger.debug("%s: history[%d] = %s", method, i, row)
    return model, elapsed


def hp_text(hp) -> str:
    """``c = 1.2, beta = 0.9`` (array-valued hyperparameters as lists)."""

    def fmt(v):
        a = np.ravel(np.asarray(v, dtype=float))
        return f"{a[0]:.6g}" if a.size == 1 else "[" + ", ".join(f"{x:.6g}" for x in a) + "]"

    return ", ".join(f"{k} = {fmt(v)}" for k, v in dict(hp).items())


def _outputs(args):
    """Check every output path before any work; ``{attribute: path}`` of those given."""
    paths = {
        attr: figure_path(getattr(args, attr), args.force, what=option)
        for option, attr, _ in FIGURES
        if getattr(args, attr) is not None
    }
    if args.json is not None:
        paths["json"] = check_output(args.json, args.force, "JSON file", exts=(".json",), stdout_ok=True)
    if args.save_model is not None:
        paths["save_model"] = check_output(args.save_model, args.force, "model file", exts=(".npz",))
    files = [os.path.abspath(p) for p in paths.values() if p != "-"]
    if len(set(files)) != len(files):
        raise UsageError("two output options name the same file")
    return paths


def _printer(args, to_stderr: bool):
    """``say(text, essential=True)``: :func:`echo` to stdout, or to stderr while JSON goes to stdout."""

    def say(text, essential=True):
        echo(text, quiet=args.quiet, essential=essential, stream=sys.stderr if to_stderr else None)

    return say


def _auto(value) -> str:
    return " (auto)" if value == "auto" else ""


def _structure_text(args, model) -> str:
    method = dict(model.info_).get("method", args.method)
    return (
        f"FIR order {model.order_}{_auto(args.order)}, delay {model.delay_}{_auto(args.delay)}, kernel "
        f"{args.kernel}, method {method}{_auto(args.method)}, initial {args.initial}, detrend {args.detrend}"
    )


def _validation_data(args, recs):
    """``(label, u, y)`` of the record used for residuals and compare: ``--validate`` or the first file."""
    if args.validate is None:
        return recs.first.path, recs.first.u, recs.first.y
    val = load_data(args.validate, args.input, args.output, time=args.time)
    if val.num_inputs != recs.first.num_inputs:
        raise CLIError(f"{val.path} gives {val.num_inputs} input column(s), the model has {recs.first.num_inputs}")
    return val.path, val.u, val.y


def _yes(flag) -> str:
    return "yes" if flag else "NO"


def _residual_text(label, res) -> str:
    worst = float(np.max(np.abs(res.autocorrelation[1:]))) if res.autocorrelation.size > 1 else 0.0
    return (
        f"residual analysis ({label}, {100 * res.confidence:g} % limits): white {_yes(res.white)} "
        f"(max |rho_e| {worst:.3g}, limit {res.autocorrelation_limit:.3g}), independent of the input "
        f"{_yes(res.independent)}"
    )


def run_identify(args) -> int:
    """``krylovid identify``: fit, report, and write the requested files."""
    paths = _outputs(args)
    say = _printer(args, paths.get("json") == "-")
    recs = load_records(args.data, args.input, args.output, time=args.time, sample_time=args.sample_time)
    for d in recs.datas:
        _check_length(args.order, d.num_samples, f"{d.path} has ")
    label, u_val, y_val = _validation_data(args, recs)
    model, elapsed = fit_model(
        recs.u,
        recs.y,
        order=args.order,
        kernel=args.kernel,
        method=args.method,
        noise_variance=args.noise_variance,
        delay=args.delay,
        initial=args.initial,
        detrend=args.detrend,
        sample_time=recs.sample_time,
        seed=args.seed,
        quiet=args.quiet,
        verbose=args.verbose,
    )
    fits = [float(model.compare(d.u, d.y).fit) for d in recs.datas]
    residuals = model.residuals(u_val, y_val)
    compared = model.compare(u_val, y_val)
    ts = recs.sample_time
    say(f"data: {recs.describe()}", essential=False)
    say(
        "sample time: none (lags in samples; give --sample-time)"
        if ts is None
        else f"sample time: {ts:g} s (from {recs.sample_time_source})",
        essential=False,
    )
    say(f"model: {_structure_text(args, model)}", essential=False)
    say(f"hyperparameters: {hp_text(model.hyperparameters_)}")
    say(f"noise variance: {float(model.noise_variance_):.6g} ({args.noise_variance})")
    say(f"objective F: {float(model.objective_):.10g} ({_certificate_text(model.info_)})")
    say("fit to the data: " + ", ".join(f"{f:.2f} %" for f in fits))
    if args.validate is not None:
        say(f"fit to the validation data ({label}): {compared.fit:.2f} %")
    say(_residual_text(label, residuals))
    say(f"time: {elapsed:.3f} s")
    info = dict(model.info_)
    keys = ("status", "certified", "subspace_dim", "matvecs", "F_lower", "F_upper", "n_evaluations")
    say("info: " + ", ".join(f"{k} {info[k]}" for k in keys if k in info and info[k] is not None))
    _write_identify_files(args, paths, recs, model, residuals, compared, label, say)
    if "json" in paths:
        payload = _identify_payload(args, recs, model, elapsed, fits, residuals, compared, label)
        write_json(paths["json"], payload)
        if paths["json"] != "-":
            say(f"wrote {paths['json']}", essential=False)
    return 0


def _certificate_text(info) -> str:
    """``certified`` / ``exact`` / ``NOT certified: F in [lo, hi]`` for the summary line of the objective."""
    if info.get("status") == "exact":
        return "exact"
    if info.get("certified"):
        return "certified"
    return f"NOT certified: F in [{info.get('F_lower'):.10g}, {info.get('F_upper'):.10g}]"


def _write_identify_files(args, paths, recs, model, residuals, compared, label, say) -> None:
    names, ts = recs.first.input_names, recs.sample_time
    title = f"{os.path.basename(recs.first.path)}: {args.kernel} kernel, order {model.order_}"
    figures = {
        "plot": lambda: plot_impulse_response(
            model.impulse_response_,
            std=model.impulse_response_std_,
            delay=model.delay_,
            sample_time=ts,
            input_names=names,
            title=title,
        ),
        "step_plot": lambda: plot_step_response(model.step_response(), sample_time=ts, input_names=names, title=title),
        "bode_plot": lambda: plot_frequency_response(model.frequency_response(), input_names=names, title=title),
        "residuals_plot": lambda: plot_residuals(residuals, input_names=names, title=f"residuals on {label}"),
        "compare_plot": lambda: plot_compare(compared, sample_time=ts, title=f"{label}: measured and simulated"),
    }
    for attr, make in figures.items():
        if attr in paths:
            save_figure(make(), paths[attr])
            say(f"wrote {paths[attr]}", essential=False)
    if "save_model" in paths:
        model.save(paths["save_model"])
        say(f"wrote {paths['save_model']}", essential=False)


def _identify_payload(args, recs, model, elapsed, fits, residuals, compared, label) -> dict:
    step = model.step_response()
    return {
        "data": [d.path for d in recs.datas],
        "num_samples": list(recs.num_samples),
        "inputs": list(recs.first.input_names),
        "output": recs.first.output_name,
        "sample_time": recs.sample_time,
        "sample_time_source": recs.sample_time_source,
        "options": {
            "order": args.order,
            "kernel": args.kernel,
            "method": args.method,
            "delay": args.delay,
            "initial": args.initial,
            "detrend": args.detrend,
            "noise_variance": args.noise_variance,
            "seed": args.seed,
        },
        "order": int(model.order_),
        "delay": int(model.delay_),
        "hyperparameters": dict(model.hyperparameters_),
        "noise_variance": float(model.noise_variance_),
        "objective": float(model.objective_),
        "fit_percent_on_data": fits,
        "time_s": elapsed,
        "info": dict(model.info_),
        "validation": {
            "data": label,
            "fit_percent": float(compared.fit),
            "white": bool(residuals.white),
            "independent": bool(residuals.independent),
            "autocorrelation": residuals.autocorrelation,
            "autocorrelation_limit": float(residuals.autocorrelation_limit),
            "cross_correlation": residuals.cross_correlation,
            "cross_correlation_limit": residuals.cross_correlation_limit,
        },
        "impulse_response": np.asarray(model.impulse_response_),
        "impulse_response_std": np.asarray(model.impulse_response_std_),
        "step_response": {"time": step.time, "response": step.response, "std": step.std},
    }


def validation_fit(y_val, y_hat) -> float:
    """``100 (1 - ||y - yhat|| / ||y - mean y||)`` on the validation part."""
    y_val, y_hat = np.asarray(y_val, float), np.asarray(y_hat, float)
    denom = float(np.linalg.norm(y_val - y_val.mean()))
    if denom == 0.0:
        return float("nan")
    return 100.0 * (1.0 - float(np.linalg.norm(y_val - y_hat)) / denom)


def run_compare(args) -> int:
    """``krylovid compare``: all evaluators on a training/validation split."""
    methods = names_list(args.methods, METHODS, "--methods", kind="method")
    json_path = check_output(args.json, args.force, "JSON file", exts=(".json",), stdout_ok=True)
    say = _printer(args, json_path == "-")
    data = load_data(args.data, args.input, args.output, time=args.time)
    n = data.num_samples
    n_val = int(round(args.validation * n))
    n_train = n - n_val
    if n_val < 1 or (isinstance(args.order, int) and n_train <= args.order):
        raise CLIError(
            f"too little data for --order {args.order} with --validation {args.validation}: "
            f"{n_train} training samples of {n} (need more training samples than the order)"
        )
    sample_time = args.sample_time if args.sample_time is not None else data.sample_time
    rows, notes, records = [], [], []
    for method in methods:
        if method == "cholesky" and n_train > args.cholesky_max:
            notes.append(
                f"cholesky skipped: {n_train} training samples > --cholesky-max "
                f"{args.cholesky_max} (dense O(N^3) per evaluation)"
            )
            continue
        model, elapsed = fit_model(
            data.u[:n_train],
            data.y[:n_train],
            order=args.order,
            kernel=args.kernel,
            method=method,
            noise_variance=args.noise_variance,
            delay=args.delay,
            initial=args.initial,
            detrend=args.detrend,
            sample_time=sample_time,
            seed=args.seed,
            quiet=args.quiet,
            verbose=args.verbose,
        )
        vfit = validation_fit(data.y[n_train:], np.asarray(model.predict(data.u))[n_train:])
        info = dict(model.info_)
        rows.append(
            [
                method,
                f"{float(model.objective_):.10g}",
                round(vfit, 2),
                round(elapsed, 3),
                info.get("matvecs"),
                hp_text(model.hyperparameters_),
            ]
        )
        records.append(
            {
                "method": method,
                "objective": float(model.objective_),
                "validation_fit": vfit,
                "time_s": elapsed,
                "order": int(model.order_),
                "delay": int(model.delay_),
                "hyperparameters": dict(model.hyperparameters_),
                "noise_variance": float(model.noise_variance_),
                "info": info,
            }
        )
    say(
        f"data: {data.path} (N = {n}: {n_train} for estimation, last {n_val} for validation), "
        f"order {args.order}, kernel {args.kernel}, detrend {args.detrend}",
        essential=False,
    )
    say(format_table(["method", "objective F", "val. fit %", "time s", "matvecs", "hyperparameters"], rows))
    for note in notes:
        say(f"note: {note}")
    if json_path is not None:
        write_json(
            json_path,
            {
                "data": data.path,
                "num_train": n_train,
                "num_validation": n_val,
                "order": args.order,
                "kernel": args.kernel,
                "detrend": args.detrend,
                "sample_time": sample_time,
                "results": records,
                "notes": notes,
            },
        )
        if json_path != "-":
            say(f"wrote {json_path}", essential=False)
    return 0
