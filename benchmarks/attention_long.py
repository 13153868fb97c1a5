"""Long inputs: speed–accuracy frontier on MiniLM-calibrated heads, and exact attention against PyTorch's SDPA.

Usage::

    python benchmarks/attention_long.py                 # n = 4096, 16384; SDPA table up to 65536 (~20 min)
    python benchmarks/attention_long.py --quick         # n = 4096 only, SDPA table n = 4096, prints only
    python benchmarks/attention_long.py --sdpa-sizes 4096,16384 --sdpa-repeats 5

What is measured
----------------
1. Calibrated heads.  MiniLM's positions stop at 512, so long heads are
   synthetic, calibrated on the real model: every head of all-MiniLM-L6-v2
   on the shipped text (n = 512) is measured (mean row entropy, stable rank of
   ``P``); three heads are picked at the 1/6, 1/2 and 5/6 entropy quantiles
   (sharp, medium, broad).  For each, queries, keys and values are drawn from
   Gaussians with the head's own means and covariances (d = 32: the biases and
   the shared directions that give ``P`` its dominant low-rank part), and the
   queries are scaled by a temperature ``tau`` chosen by bisection so that the
   synthetic head at n = 512 has the real head's mean row entropy; the stable
   rank at n = 512 is reported beside the real one as a check.  The same
   ``tau`` is used at n = 4096 and 16384.
2. Frontier.  For budgets m, every fast method's relative output error on 256
   random query rows (against exact float64 rows) and its time, in float32 (the
   model's dtype); per budget the best method, and the Pareto frontier over all
   (method, m).  The truncated-SVD oracle (output error of the best rank-m
   ``P``, estimated by a randomized SVD of the implicit ``P``) is given beside
   it at n = 4096.
3. Baseline users have.  krylovid's exact blocked attention against
   ``torch.nn.functional.scaled_dot_product_attention`` on the CPU, one thread,
   same dtype (Gaussian heads, d = 64 as in issue 14, n = 4096 .. 65536); and
   each approximation's speed-up against float32 SDPA on the calibrated heads
   (every method and budget).  Times are CPU seconds of the process, medians.
   torch is optional (never a krylovid dependency); without it the SDPA columns
   say "not installed".
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import pathlib
import platform
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # the shared _results helper
import _results  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
from threadpoolctl import threadpool_limits  # noqa: E402

from krylovid.attention.exact import AttentionOperator, attention_matrix, softmax_attention  # noqa: E402
from krylovid.attention.features import performer_attention  # noqa: E402
from krylovid.attention.lowrank import linformer_attention  # noqa: E402
from krylovid.attention.minilm import minilm_qkv  # noqa: E402
from krylovid.attention.nystrom import nystrom_attention  # noqa: E402
from krylovid.attention.routed import routed_attention  # noqa: E402
from krylovid.attention.sampling import hyperattention, skeinformer_attention  # noqa: E402
from krylovid.attention.sparse import sliding_window_attention  # noqa: E402
from krylovid.sketch import randomized_svd  # noqa: E402

try:  # optional baseline
    import torch
except ImportError:  # pragma: no cover
    torch = None

HERE = pathlib.Path(__file__).resolve().parent
FIGS = HERE / "figures"
BEGIN, END = "<!-- attention-long:begin -->", "<!-- attention-long:end -->"
SECTION = "## Attention on long inputs (MiniLM-calibrated heads, SDPA baseline)"
NOT_INSTALLED = "not installed"

METHODS = {
    "Nystromformer": lambda Q, K, V, m: nystrom_attention(Q, K, V, m),
    "Nystrom sampled": lambda Q, K, V, m: nystrom_attention(Q, K, V, m, "sampled", rng=0),
    "Skyformer": lambda Q, K, V, m: nystrom_attention(Q, K, V, m, "skyformer", rng=0),
    "Linformer": lambda Q, K, V, m: linformer_attention(Q, K, V, m, rng=0),
    "Performer": lambda Q, K, V, m: performer_attention(Q, K, V, m, rng=0),
    "Skeinformer": lambda Q, K, V, m: skeinformer_attention(Q, K, V, m, rng=0),
    "HyperAttention": lambda Q, K, V, m: hyperattention(Q, K, V, block_size=m, num_samples=m, rng=0),
    "sliding window": lambda Q, K, V, m: sliding_window_attention(Q, K, V, m // 2),
    "Routed": lambda Q, K, V, m: routed_attention(Q, K, V, m, rng=0),
}


# ----------------------------------------------------------------------------- calibration
def _entropy(P):
    return float(np.mean(-np.sum(P * np.log(np.maximum(P, 1e-300)), axis=1)))


def _entropy_and_stable_rank(Q, K):
    P = attention_matrix(Q, K)
    s = np.linalg.svd(P, compute_uv=False)
    return _entropy(P), float(np.sum(s**2) / s[0] ** 2)


def _gaussian(X):
    mu = X.mean(axis=0)
    C = np.cov(X, rowvar=False) + 1e-9 * np.eye(X.shape[1])
    return mu, np.linalg.cholesky(C)


class CalibratedHead:
    """Gaussian model of one MiniLM head fitted to its entropy and stable rank.

    Q, K, V are drawn from Gaussians with the head's own means and covariances;
    queries are ``tau * (mu_q + beta * L_q z)``: ``beta`` scales how much the
    queries differ from one another (``beta -> 0``: every row of ``P`` alike,
    stable rank 1) and ``tau`` the logits (entropy).  Nested bisections on
    ``log beta`` (stable rank) and, inside, ``log tau`` (mean row entropy) at
    ``n = n_cal`` match both to the real head.
    """

    def __init__(self, Q, K, V, label, n_cal=512):
        self.label = label
        self.q, self.k, self.v = _gaussian(Q), _gaussian(K), _gaussian(V)
        self.H_real, self.sr_real = _entropy_and_stable_rank(Q, K)
        self.n_cal = n_cal
        lo, hi = np.log(0.05), np.log(5.0)
        for _ in range(10):  # stable rank increases with beta
            mid = 0.5 * (lo + hi)
            self.beta = float(np.exp(mid))
            self.tau = self._fit_tau()
            _, sr = _entropy_and_stable_rank(*self.sample(n_cal, np.random.default_rng(0))[:2])
            lo, hi = (mid, hi) if sr < self.sr_real else (lo, mid)
        self.beta = float(np.exp(0.5 * (lo + hi)))
        self.tau = self._fit_tau()
        self.H_syn, self.sr_syn = _entropy_and_stable_rank(*self.sample(n_cal, np.random.default_rng(0))[:2])

    def _fit_tau(self):
        lo, hi = np.log(0.05), np.log(20.0)
        for _ in range(20):  # entropy decreases with tau
            mid = 0.5 * (lo + hi)
            Qs, Ks, _ = self.sample(self.n_cal, np.random.default_rng(0), np.exp(mid))
            lo, hi = (mid, hi) if _entropy(attention_matrix(Qs, Ks)) > self.H_real else (lo, mid)
        return float(np.exp(0.5 * (lo + hi)))

    def sample(self, n, rng, tau=None):
        tau = self.tau if tau is None else tau
        draw = lambda mu_L, b=1.0: mu_L[0] + b * rng.standard_normal((n, mu_L[0].size)) @ mu_L[1].T  # noqa: E731
        return tau * draw(self.q, self.beta), draw(self.k), draw(self.v)


def calibrated_heads(n_tok=512):
    act = minilm_qkv(max_tokens=n_tok)
    L, Hn = act.Q.shape[:2]
    ent = np.array([[_entropy(attention_matrix(act.Q[l, h], act.K[l, h])) for h in range(Hn)] for l in range(L)])
    order = np.argsort(ent.ravel())
    heads = []
    for name, q in (("sharp", 1 / 6), ("medium", 1 / 2), ("broad", 5 / 6)):
        l, h = divmod(int(order[int(q * (order.size - 1))]), Hn)
        heads.append(CalibratedHead(act.Q[l, h], act.K[l, h], act.V[l, h], f"{name} (L{l}H{h})"))
    return heads, ent


# ----------------------------------------------------------------------------- timing
def _median_time(fn, repeats):
    """``(last output, median CPU seconds of the process)`` over ``repeats`` calls.

    CPU time of this process (one thread for BLAS and torch): on a machine shared
    with other jobs it is the compute time, while wall time also counts waiting.
    """
    ts, out = [], None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        ts.append(time.process_time() - t0)
    return out, float(np.median(ts))


def _sdpa_fn(Q, K, V):
    """A call of torch's scaled_dot_product_attention on these arrays (None without torch)."""
    if torch is None:
        return None
    torch.set_num_threads(1)
    tq, tk, tv = (torch.from_numpy(np.ascontiguousarray(a))[None, None] for a in (Q, K, V))

    def call():
        with torch.no_grad():
            return torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)

    return call


def sdpa_time(Q, K, V, repeats):
    """Median CPU seconds of torch's SDPA on one thread (None without torch)."""
    fn = _sdpa_fn(Q, K, V)
    return None if fn is None else _median_time(fn, repeats)[1]


def exact_vs_sdpa(sizes, repeats, d=64):
    """Interleaved calls (krylovid, SDPA, krylovid, ...) after one warm-up each: medians of CPU and wall time."""
    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        for dt in (np.float32, np.float64):
            Q, K, V = (0.7 * rng.standard_normal((3, n, d))).astype(dt)
            fns = {"k": lambda Q=Q, K=K, V=V: softmax_attention(Q, K, V), "s": _sdpa_fn(Q, K, V)}
            fns = {k: f for k, f in fns.items() if f is not None}
            cpu, wall = {k: [] for k in fns}, {k: [] for k in fns}
            for f in fns.values():
                f()
            for _ in range(repeats[n] if isinstance(repeats, dict) else repeats):
                for k, f in fns.items():
                    t0, c0 = time.perf_counter(), time.process_time()
                    f()
                    cpu[k].append(time.process_time() - c0)
                    wall[k].append(time.perf_counter() - t0)
            med = {k: (float(np.median(cpu[k])), float(np.median(wall[k]))) for k in fns}
            rows.append((n, np.dtype(dt).name, med["k"], med.get("s"), len(cpu["k"])))
            print(f"  exact n={n} {np.dtype(dt).name}: krylovid {med['k']} sdpa {med.get('s')} (cpu, wall)", flush=True)
    return rows


# ----------------------------------------------------------------------------- frontier
def _oracle(Q, K, V, ms, rows, rng=0):
    """Output error on ``rows`` of the rank-m truncated SVD of P, estimated by a randomized SVD of the operator.

    A dense SVD at n = 4096 takes minutes on the shared machine; the randomized SVD
    (rank max(ms) + 10, two power iterations, blocked products with P and P^T)
    gives singular triplets whose rank-m truncation is within a small factor of the
    best one when the spectrum decays (it over-estimates the oracle's error, never
    under-estimates it).
    """
    res = randomized_svd(AttentionOperator(Q, K), max(ms), oversample=10, power_iters=2, rng=rng)
    ref = softmax_attention(Q[rows], K, V)
    W = res.Vt @ V
    return {m: float(np.linalg.norm((res.U[rows, :m] * res.s[:m]) @ W[:m] - ref) / np.linalg.norm(ref)) for m in ms}


def _methods(Q, K, V, rows, ref, ms, reps):
    """Errors on ``rows``, best times and flags of every method and budget on one head."""
    err, times, flagged = {}, {}, {}
    for name, fn in METHODS.items():
        for m in ms:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RuntimeWarning)
                Y, t = _median_time(lambda fn=fn, m=m: fn(Q, K, V, m), reps)
            e = float(np.linalg.norm(np.asarray(Y, np.float64)[rows] - ref) / np.linalg.norm(ref))
            err[name, m], times[name, m], flagged[name, m] = e, t, bool(caught) or e > 1.0
    return dict(err=err, time=times, flagged=flagged)


def frontier_runs(heads, ns, ms, n_rows=256, bound_max_n=4096):
    res = {}
    for head in heads:
        for n in ns:
            rng = np.random.default_rng(n)
            Q, K, V = head.sample(n, rng)
            rows = np.sort(rng.choice(n, size=n_rows, replace=False))
            ref = softmax_attention(Q[rows], K, V)  # float64 exact rows
            Q32, K32, V32 = (a.astype(np.float32) for a in (Q, K, V))
            _, t_exact = _median_time(lambda: softmax_attention(Q32, K32, V32), 1)  # noqa: B023 (called at once)
            entry = dict(t_exact=t_exact, t_sdpa=sdpa_time(Q32, K32, V32, 3))
            entry.update(_methods(Q32, K32, V32, rows, ref, ms, reps=3))
            if n <= bound_max_n:
                entry["bound"] = _oracle(Q, K, V, ms, rows)
            res[head.label, n] = entry
            print(f"  {head.label} n={n}: exact {t_exact:.2f}s sdpa {entry['t_sdpa']}", flush=True)
    return res


def pareto(entry):
    """(time, error, method, m) points not beaten in both time and error, by increasing time."""
    pts = sorted((t, entry["err"][k], k[0], k[1]) for k, t in entry["time"].items() if entry["err"][k] <= 1.0)
    out, best = [], np.inf
    for p in pts:
        if p[1] < best:
            out.append(p)
            best = p[1]
    return out


def _fmt_speed(t_ref, t):
    return NOT_INSTALLED if t_ref is None else f"{t_ref / t:.1f}x"


def _fmt(x):
    return f"{x:.2e}" if x < 1e-2 or x >= 100 else f"{x:.3f}"


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def frontier_section(heads, res, ns, ms):
    lines = [
        "### Calibrated heads",
        "",
        _table(
            ["head", "entropy real / synthetic (n=512, nats)", "stable rank real / synthetic", "tau", "beta"],
            [
                [
                    h.label,
                    f"{h.H_real:.2f} / {h.H_syn:.2f}",
                    f"{h.sr_real:.1f} / {h.sr_syn:.1f}",
                    f"{h.tau:.3f}",
                    f"{h.beta:.3f}",
                ]
                for h in heads
            ],
        ),
        "",
    ]
    for (label, n), e in res.items():
        lines += [
            f"**{label}, n = {n}**: exact blocked (krylovid, float32) {e['t_exact']:.3f} s; SDPA float32 "
            + (f"{e['t_sdpa']:.3f} s" if e["t_sdpa"] is not None else NOT_INSTALLED)
            + ".",
            "",
        ]
        rows = []
        for m in ms:
            ok = [(e["err"][k, m], k) for k in METHODS if not e["flagged"][k, m]]
            err, best = min(ok) if ok else (np.nan, "—")
            t = e["time"].get((best, m), np.nan)
            rows.append(
                [
                    m,
                    best,
                    _fmt(err),
                    f"{t:.4f}",
                    f"{e['t_exact'] / t:.1f}x",
                    _fmt_speed(e["t_sdpa"], t),
                    _fmt(e["bound"][m]) if "bound" in e else "—",
                    ", ".join(k for k in METHODS if e["flagged"][k, m]) or "—",
                ]
            )
        lines += [
            _table(
                [
                    "m",
                    "best method",
                    "rel. error",
                    "time s",
                    "vs exact",
                    "vs SDPA fp32",
                    "truncated-SVD oracle",
                    "flagged (error > 1)",
                ],
                rows,
            ),
            "",
        ]
        fr = pareto(e)
        lines += [
            "Pareto frontier (time, error): " + "; ".join(f"{k} m={m}: {t:.4f} s, {_fmt(er)}" for t, er, k, m in fr),
            "",
        ]
    return lines


def goal_lines(res, n=16384, m=256):
    out = []
    for (label, nn), e in res.items():
        if nn != n or m not in {k[1] for k in e["err"]}:
            continue
        ok = [(e["time"][k, m], e["err"][k, m], k) for k in METHODS if e["err"][k, m] < 0.1]
        if not ok:
            out.append(f"- {label}: no method below error 0.1 at m = {m}")
            continue
        t, err, k = min(ok)
        sp = _fmt_speed(e["t_sdpa"], t)
        out.append(
            f"- {label}: fastest method with error < 0.1 at m = {m}: {k} (error {_fmt(err)}, {t:.4f} s, "
            f"{sp} faster than float32 SDPA)"
        )
    return out or [f"- n = {n}, m = {m} not in this run"]


def exact_section(rows):
    body = []
    for n, dt, (ck, wk), ts, reps in rows:
        cs, ws = (None, None) if ts is None else ts
        body.append(
            [
                n,
                dt,
                reps,
                f"{ck:.3f} / {wk:.3f}",
                NOT_INSTALLED if ts is None else f"{cs:.3f} / {ws:.3f}",
                "—" if ts is None else f"{ck / cs:.2f}",
                "—" if ts is None else f"{wk / ws:.2f}",
            ]
        )
    return [
        "### Exact attention against PyTorch SDPA (CPU, one thread, d = 64)",
        "",
        "Same process, same dtype, one thread (threadpoolctl for BLAS, `torch.set_num_threads(1)`); one warm-up "
        "call each, then interleaved calls; medians.  Target: ratio <= 1.3 at every n and dtype.",
        "",
        _table(
            [
                "n",
                "dtype",
                "repeats",
                "krylovid softmax_attention s (CPU / wall)",
                "torch SDPA s (CPU / wall)",
                "ratio (CPU)",
                "ratio (wall)",
            ],
            body,
        ),
        "",
    ]


def all_methods_section(res, ms):
    """Every method and budget: relative error / speed-up against float32 SDPA."""
    lines = ["### Every approximation against float32 SDPA", ""]
    lines += [
        "Cells: relative error / speed-up (SDPA float32 CPU time over the method's), "
        f"'{NOT_INSTALLED}' without torch; * marks a flagged result (error above 1 or a warning).",
        "",
    ]
    for (label, n), e in res.items():
        rows = []
        for k in METHODS:
            cells = [k]
            for m in ms:
                flag = "*" if e["flagged"][k, m] else ""
                cells.append(f"{_fmt(e['err'][k, m])}{flag} / {_fmt_speed(e['t_sdpa'], e['time'][k, m])}")
            rows.append(cells)
        lines += [f"**{label}, n = {n}**", "", _table(["method"] + [f"m = {m}" for m in ms], rows), ""]
    return lines


def figure(res, ns, path):
    from matplotlib.figure import Figure

    keys = [k for k in res if k[1] == max(ns)]
    fig = Figure(figsize=(4.2 * len(keys), 3.6), layout="constrained")
    for ax, key in zip(fig.subplots(1, len(keys), squeeze=False)[0], keys, strict=True):
        e = res[key]
        for name in METHODS:
            pts = sorted((e["time"][k], e["err"][k]) for k in e["time"] if k[0] == name)
            ax.loglog(*zip(*pts, strict=True), marker="o", ms=3, lw=0.8, label=name)
        fr = pareto(e)
        ax.loglog([p[0] for p in fr], [p[1] for p in fr], "k--", lw=1.5, label="frontier")
        if e["t_sdpa"] is not None:
            ax.axvline(e["t_sdpa"], color="r", lw=1, label="SDPA fp32 (exact)")
        ax.axvline(e["t_exact"], color="gray", lw=1, label="krylovid exact fp32")
        ax.set_title(f"{key[0]}, n = {key[1]}", fontsize=8)
        ax.set_xlabel("seconds")
        ax.set_ylabel("relative output error")
    fig.axes[0].legend(fontsize=5)
    fig.savefig(path, dpi=80)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 4096 only, print only")
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md / figures")
    ap.add_argument("--sdpa-sizes", default=None, help="comma-separated n for the exact-vs-SDPA table")
    ap.add_argument(
        "--sdpa-repeats",
        type=int,
        default=None,
        help="interleaved repeats per n of the exact-vs-SDPA table (default 7 / 3 / 3 at n <= 4096 / 16384 / more)",
    )
    args = ap.parse_args(argv)
    write = not (args.quick or args.no_write)
    ns = (4096,) if args.quick else (4096, 16384)
    ms = (64, 256) if args.quick else (32, 64, 128, 256, 512)
    sdpa_sizes = (4096,) if args.quick else (4096, 16384, 65536)
    if args.sdpa_sizes:
        sdpa_sizes = tuple(int(s) for s in args.sdpa_sizes.split(","))
    reps = {n: args.sdpa_repeats or (7 if n <= 4096 else 3) for n in sdpa_sizes}
    t_start = time.perf_counter()
    with threadpool_limits(1):
        heads, _ = calibrated_heads()
        res = frontier_runs(heads, ns, ms)
        ex = exact_vs_sdpa(sdpa_sizes, reps)
    total = time.perf_counter() - t_start
    cmd = (
        "python benchmarks/attention_long.py"
        + (" --quick" if args.quick else "")
        + (f" --sdpa-sizes {args.sdpa_sizes}" if args.sdpa_sizes else "")
        + (f" --sdpa-repeats {args.sdpa_repeats}" if args.sdpa_repeats else "")
    )
    tv = "not installed" if torch is None else torch.__version__
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy "
        f"{np.__version__}, torch {tv}.  Date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC.  "
        f"Command: `{cmd}` ({total:.0f} s wall, one thread for BLAS and torch, machine shared with other jobs).  "
        "Times are CPU seconds of the process (medians: 3 calls per method and budget, 3 SDPA calls per head; "
        "one call for krylovid's exact attention on the calibrated heads); the exact-vs-SDPA table gives CPU and "
        "wall medians of interleaved calls.",
        "",
        "Calibration: three heads of all-MiniLM-L6-v2 (n = 512, shipped text) at the 1/6, 1/2 and 5/6 quantiles "
        "of mean row entropy; Q, K, V drawn from Gaussians with the head's own means and covariances (d = 32); "
        "the spread of the queries around their mean is scaled by beta and the queries by tau, chosen by nested "
        "bisections so that the synthetic head at n = 512 has the real head's stable rank and mean row "
        "entropy (table below); the same Gaussians, tau and beta at n = 4096 and 16384.  V is drawn independently "
        "of K (the real heads' values depend on their keys): methods that replace the values of low-weight keys by "
        "a mean (Routed) profit from that.  Errors: relative "
        "Frobenius error of the output on "
        "256 random query rows against exact float64 rows; methods run in float32.  'best method': lowest error "
        "among methods not flagged (error above 1 or Nyström's held-out warning).  Truncated-SVD oracle: output "
        "error of the rank-m truncated SVD of P (n = 4096 only; singular triplets from a randomized SVD of the "
        "implicit P, rank max(m) + 10, 2 power iterations: an over-estimate of the best rank-m error).  "
        "Routed: routed_attention with m exact logits per query (7m/8 top keys of the query's k-means cluster, "
        "m/8 uniformly sampled keys for the residual mass, ceil(n/256) clusters).",
        "",
        "Goal check (n = 16384, budget 256, error < 0.1, >= 10x faster than float32 SDPA):",
        "",
    ]
    lines += goal_lines(res) + [""] + frontier_section(heads, res, ns, ms) + all_methods_section(res, ms)
    lines += exact_section(ex)
    lines += ["![frontier](figures/attention_long_frontier.png)", ""]
    body = "\n".join(lines)
    print(body)
    if write:
        FIGS.mkdir(exist_ok=True)
        figure(res, ns, FIGS / "attention_long_frontier.png")
        _results.write_section(body, begin=BEGIN, end=END, heading=SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
