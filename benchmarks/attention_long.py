"""Long inputs: speed–accuracy frontier on MiniLM-calibrated heads, and exact attention against PyTorch's SDPA.

Usage::

    python benchmarks/attention_long.py                       # everything (~25 min)
    python benchmarks/attention_long.py --only exact          # the exact-vs-SDPA table only
    python benchmarks/attention_long.py --only frontier --heads sharp --ns 16384
    python benchmarks/attention_long.py --ns 16384 --sdpa-sizes 4096,16384,65536
    python benchmarks/attention_long.py --quick               # n = 4096 only, prints only

Results are MERGED into the store ``benchmarks/figures/attention_long.json``:
a (head, n) block or an (n, dtype) row of the exact-vs-SDPA table measured by
this run replaces the stored one, the others stay; every block and row names
the run (command, date, krylovid commit) it comes from, and the RESULTS.md
section and the figure are rendered whole from the store.

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
import json
import os
import pathlib
import platform
import subprocess
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
REPO = HERE.parent
FIGS = HERE / "figures"
STORE = FIGS / "attention_long.json"
HEAD_NAMES = ("sharp", "medium", "broad")
GOAL_N, GOAL_M, GOAL_ERR, GOAL_SPEEDUP = 16384, 256, 0.1, 10.0
USED = (
    "krylovid/attention",
    "krylovid/sketch",
    "krylovid/operators",
    "krylovid/krylov",
    "krylovid/backend.py",
    "krylovid/_validation.py",
)  # what the benchmark runs (the +dirty of a run's commit)
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
    """Interleaved calls (krylovid, SDPA, krylovid, ...) after one warm-up each: rows with CPU and wall medians."""
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
            for _ in range(repeats[n]):
                for k, f in fns.items():
                    t0, c0 = time.perf_counter(), time.process_time()
                    f()
                    cpu[k].append(time.process_time() - c0)
                    wall[k].append(time.perf_counter() - t0)
            row = dict(n=n, dtype=np.dtype(dt).name, repeats=len(cpu["k"]))
            for k, name in (("k", "krylovid"), ("s", "sdpa")):
                if k in fns:
                    row[name] = [float(np.median(cpu[k])), float(np.median(wall[k]))]
            if "s" in fns:  # median over the interleaved pairs of the per-pair CPU ratio
                row["pair_ratio"] = float(np.median(np.array(cpu["k"]) / np.array(cpu["s"])))
            rows.append(row)
            print(f"  exact n={n} {row['dtype']}: {row}", flush=True)
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
    """One cell per method and budget: relative error on ``rows``, median CPU time, flag."""
    cells = []
    for name, fn in METHODS.items():
        for m in ms:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RuntimeWarning)
                Y, t = _median_time(lambda fn=fn, m=m: fn(Q, K, V, m), reps)
            e = float(np.linalg.norm(np.asarray(Y, np.float64)[rows] - ref) / np.linalg.norm(ref))
            cells.append(dict(method=name, m=m, err=e, time=t, flagged=bool(caught) or e > 1.0))
    return cells


def _goal_pairs(Q, K, V, cells, pairs=7):
    """The goal's candidate (fastest cell with error < 0.1 at m = GOAL_M) timed interleaved with float32 SDPA."""
    ok = [c for c in cells if c["m"] == GOAL_M and c["err"] < GOAL_ERR]
    sdpa = _sdpa_fn(Q, K, V)
    if not ok or sdpa is None:
        return None
    best = min(ok, key=lambda c: c["time"])
    fn = lambda: METHODS[best["method"]](Q, K, V, GOAL_M)  # noqa: E731
    ts = {"method": [], "sdpa": []}
    fn(), sdpa()
    for _ in range(pairs):
        for key, f in (("method", fn), ("sdpa", sdpa)):
            c0 = time.process_time()
            f()
            ts[key].append(time.process_time() - c0)
    ratio = float(np.median(np.array(ts["sdpa"]) / np.array(ts["method"])))
    return dict(
        method=best["method"],
        err=best["err"],
        t_method=float(np.median(ts["method"])),
        t_sdpa=float(np.median(ts["sdpa"])),
        speedup=ratio,
        pairs=pairs,
    )


def frontier_runs(heads, ns, ms, n_rows=256, bound_max_n=4096):
    """One block per (head, n): exact and SDPA times, every method's cells, the oracle (n <= bound_max_n), goal."""
    blocks = {}
    for head in heads:
        for n in ns:
            rng = np.random.default_rng(n)
            Q, K, V = head.sample(n, rng)
            rows = np.sort(rng.choice(n, size=n_rows, replace=False))
            ref = softmax_attention(Q[rows], K, V)  # float64 exact rows
            Q32, K32, V32 = (a.astype(np.float32) for a in (Q, K, V))
            _, t_exact = _median_time(lambda: softmax_attention(Q32, K32, V32), 1)  # noqa: B023 (called at once)
            block = dict(head=head.label, n=n, t_exact=t_exact, t_sdpa=sdpa_time(Q32, K32, V32, 3))
            block["cells"] = _methods(Q32, K32, V32, rows, ref, ms, reps=3)
            if n <= bound_max_n:
                block["bound"] = {str(m): e for m, e in _oracle(Q, K, V, ms, rows).items()}
            if n == GOAL_N and GOAL_M in ms:
                block["goal"] = _goal_pairs(Q32, K32, V32, block["cells"])
            blocks[f"{head.label}|{n}"] = block
            print(
                f"  {head.label} n={n}: exact {t_exact:.2f}s sdpa {block['t_sdpa']} goal {block.get('goal')}",
                flush=True,
            )
    return blocks


# ----------------------------------------------------------------------------- the store
def load_store(path=STORE):
    store = json.loads(path.read_text()) if path.exists() else {}
    return {k: store.get(k, {}) for k in ("runs", "heads", "frontier", "exact")}


def save_store(store, path=STORE):
    """Write atomically (a run killed mid-write leaves the previous store)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def merge(store, run_id, run, heads, blocks, exact_rows):
    """The new blocks and rows replace the stored ones with the same key; runs no row refers to are dropped."""
    store["runs"][run_id] = run
    for h in heads:
        store["heads"][h.label] = dict(
            H_real=h.H_real, H_syn=h.H_syn, sr_real=h.sr_real, sr_syn=h.sr_syn, tau=h.tau, beta=h.beta
        )
    for key, block in blocks.items():
        store["frontier"][key] = dict(block, run=run_id)
    for row in exact_rows:
        store["exact"][f"{row['n']}|{row['dtype']}"] = dict(row, run=run_id)
    used = {b["run"] for b in store["frontier"].values()} | {r["run"] for r in store["exact"].values()}
    store["runs"] = {k: v for k, v in store["runs"].items() if k in used}
    return store


def _commit():
    """The krylovid commit of this checkout (``+dirty`` with uncommitted changes in the parts this benchmark uses)."""
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", *USED], capture_output=True, text=True)
    except OSError:  # pragma: no cover
        return "unknown"
    return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


# ----------------------------------------------------------------------------- rendering
def _ordered_blocks(store):
    """Frontier blocks in head order (sharp, medium, broad), then n."""
    order = {label: i for i, label in enumerate(sorted(store["heads"], key=_head_rank))}
    return sorted(store["frontier"].values(), key=lambda b: (order.get(b["head"], 99), b["n"]))


def _head_rank(label):
    return next((i for i, k in enumerate(HEAD_NAMES) if label.startswith(k)), len(HEAD_NAMES))


def _cell(block, method, m):
    return next((c for c in block["cells"] if c["method"] == method and c["m"] == m), None)


def _ms(block):
    return sorted({c["m"] for c in block["cells"]})


def pareto(block):
    """(time, error, method, m) points not beaten in both time and error, by increasing time."""
    pts = sorted((c["time"], c["err"], c["method"], c["m"]) for c in block["cells"] if c["err"] <= 1.0)
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


def _run_tag(store, run_id):
    return f"run {sorted(store['runs']).index(run_id) + 1}"


def runs_lines(store):
    lines = ["Runs merged in this section (the store keeps, per block and row, the newest run that measured it):", ""]
    for i, (_, r) in enumerate(sorted(store["runs"].items()), 1):
        lines.append(
            f"- run {i}: `{r['command']}` — {r['date']}, krylovid {r['commit']}, {r['wall_s']:.0f} s wall; "
            f"{r['machine']}"
        )
    return lines + [""]


def heads_section(store):
    heads = sorted(store["heads"].items(), key=lambda kv: _head_rank(kv[0]))
    rows = [
        [
            label,
            f"{h['H_real']:.2f} / {h['H_syn']:.2f}",
            f"{h['sr_real']:.1f} / {h['sr_syn']:.1f}",
            f"{h['tau']:.3f}",
            f"{h['beta']:.3f}",
        ]
        for label, h in heads
    ]
    header = ["head", "entropy real / synthetic (n=512, nats)", "stable rank real / synthetic", "tau", "beta"]
    return ["### Calibrated heads", "", _table(header, rows), ""]


def frontier_section(store):
    lines = []
    for b in _ordered_blocks(store):
        sd = b["t_sdpa"]
        lines += [
            f"**{b['head']}, n = {b['n']}** ({_run_tag(store, b['run'])}): exact blocked (krylovid, float32) "
            f"{b['t_exact']:.3f} s; SDPA float32 " + (f"{sd:.3f} s" if sd is not None else NOT_INSTALLED) + ".",
            "",
        ]
        rows = []
        for m in _ms(b):
            ok = [c for c in b["cells"] if c["m"] == m and not c["flagged"]]
            best = min(ok, key=lambda c: c["err"]) if ok else None
            flagged = ", ".join(c["method"] for c in b["cells"] if c["m"] == m and c["flagged"]) or "—"
            if best is None:
                rows.append([m, "—", "—", "—", "—", "—", "—", flagged])
                continue
            t = best["time"]
            bound = b.get("bound", {}).get(str(m))
            rows.append(
                [
                    m,
                    best["method"],
                    _fmt(best["err"]),
                    f"{t:.4f}",
                    f"{b['t_exact'] / t:.1f}x",
                    _fmt_speed(sd, t),
                    "—" if bound is None else _fmt(bound),
                    flagged,
                ]
            )
        header = [
            "m",
            "best method",
            "rel. error",
            "time s",
            "vs exact",
            "vs SDPA fp32",
            "truncated-SVD oracle",
            "flagged (error > 1)",
        ]
        lines += [_table(header, rows), ""]
        fr = pareto(b)
        lines += [
            "Pareto frontier (time, error): " + "; ".join(f"{k} m={m}: {t:.4f} s, {_fmt(er)}" for t, er, k, m in fr),
            "",
        ]
    return lines


def goal_lines(store):
    out = []
    for b in _ordered_blocks(store):
        if b["n"] != GOAL_N or GOAL_M not in _ms(b):
            continue
        ok = [c for c in b["cells"] if c["m"] == GOAL_M and c["err"] < GOAL_ERR]
        if not ok:
            out.append(f"- {b['head']}: no method below error {GOAL_ERR} at m = {GOAL_M}")
            continue
        c = min(ok, key=lambda c: c["time"])
        g = b.get("goal")
        if g:
            met = "met" if g["speedup"] >= GOAL_SPEEDUP else "NOT met"
            out.append(
                f"- {b['head']}: {g['method']} (error {_fmt(g['err'])}): {g['speedup']:.1f}x faster than float32 SDPA "
                f"(median over {g['pairs']} interleaved pairs: {g['t_method']:.4f} s vs {g['t_sdpa']:.3f} s; "
                f"{_fmt_speed(b['t_sdpa'], c['time'])} from the table's medians) — {met}"
            )
        else:
            out.append(
                f"- {b['head']}: {c['method']} (error {_fmt(c['err'])}, {c['time']:.4f} s, "
                f"{_fmt_speed(b['t_sdpa'], c['time'])} faster than float32 SDPA)"
            )
    return out or [f"- n = {GOAL_N}, m = {GOAL_M} not in the store"]


def exact_section(store):
    body = []
    for r in sorted(store["exact"].values(), key=lambda r: (r["n"], r["dtype"])):
        ck, wk = r["krylovid"]
        sd = r.get("sdpa")
        body.append(
            [
                r["n"],
                r["dtype"],
                r["repeats"],
                f"{ck:.3f} / {wk:.3f}",
                NOT_INSTALLED if sd is None else f"{sd[0]:.3f} / {sd[1]:.3f}",
                "—" if sd is None else f"{ck / sd[0]:.2f}",
                "—" if sd is None else f"{r['pair_ratio']:.2f}",
                "—" if sd is None else f"{wk / sd[1]:.2f}",
                _run_tag(store, r["run"]),
            ]
        )
    header = [
        "n",
        "dtype",
        "repeats",
        "krylovid softmax_attention s (CPU / wall)",
        "torch SDPA s (CPU / wall)",
        "ratio (CPU medians)",
        "ratio (median of pairs, CPU)",
        "ratio (wall)",
        "run",
    ]
    return [
        "### Exact attention against PyTorch SDPA (CPU, one thread, d = 64)",
        "",
        "Same process, same dtype, one thread (threadpoolctl for BLAS, `torch.set_num_threads(1)`); one warm-up "
        "call each, then interleaved calls (krylovid, SDPA, krylovid, ...); medians.  Target: ratio <= 1.3 at "
        "every n and dtype.",
        "",
        _table(header, body),
        "",
    ]


def all_methods_section(store):
    """Every method and budget: relative error / speed-up against float32 SDPA."""
    lines = ["### Every approximation against float32 SDPA", ""]
    lines += [
        "Cells: relative error / speed-up (SDPA float32 CPU time over the method's), "
        f"'{NOT_INSTALLED}' without torch; * marks a flagged result (error above 1 or a warning).",
        "",
    ]
    for b in _ordered_blocks(store):
        ms, rows = _ms(b), []
        for k in METHODS:
            cells = [k]
            for m in ms:
                c = _cell(b, k, m)
                cells.append(
                    "—"
                    if c is None
                    else f"{_fmt(c['err'])}{'*' if c['flagged'] else ''} / {_fmt_speed(b['t_sdpa'], c['time'])}"
                )
            rows.append(cells)
        lines += [f"**{b['head']}, n = {b['n']}**", "", _table(["method"] + [f"m = {m}" for m in ms], rows), ""]
    return lines


def figure(store, path):
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    blocks = _ordered_blocks(store)
    nmax = {}
    for b in blocks:
        nmax[b["head"]] = max(nmax.get(b["head"], 0), b["n"])
    blocks = [b for b in blocks if b["n"] == nmax[b["head"]]]
    if not blocks:
        return
    fig = Figure(figsize=(4.2 * len(blocks), 3.6), layout="constrained")
    for ax, b in zip(fig.subplots(1, len(blocks), squeeze=False)[0], blocks, strict=True):
        for name in METHODS:
            pts = sorted((c["time"], c["err"]) for c in b["cells"] if c["method"] == name)
            if pts:
                ax.loglog(*zip(*pts, strict=True), marker="o", ms=3, lw=0.8, label=name)
        fr = pareto(b)
        ax.loglog([p[0] for p in fr], [p[1] for p in fr], "k--", lw=1.5, label="frontier")
        if b["t_sdpa"] is not None:
            ax.axvline(b["t_sdpa"], color="r", lw=1, label="SDPA fp32 (exact)")
            if b["n"] == GOAL_N:
                ax.axvline(b["t_sdpa"] / GOAL_SPEEDUP, color="r", lw=0.8, ls=":", label="goal: SDPA / 10, error 0.1")
                ax.axhline(GOAL_ERR, color="r", lw=0.8, ls=":")
        ax.axvline(b["t_exact"], color="gray", lw=1, label="krylovid exact fp32")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{b['head']}, n = {b['n']}", fontsize=8)
        ax.set_xlabel("seconds")
        ax.set_ylabel("relative output error")
    fig.axes[0].legend(fontsize=5)
    fig.savefig(path, dpi=80)


DESCRIPTION = (
    "Times are CPU seconds of the process (one thread for BLAS and torch; the machine is shared with other jobs, "
    "so times of different runs are not comparable, ratios within a run are): medians of 3 calls per method and "
    "budget, 3 SDPA calls per head, one call for krylovid's exact attention on the calibrated heads; the goal check "
    "times its method and SDPA in interleaved pairs; the exact-vs-SDPA table gives CPU and wall medians of "
    "interleaved calls.\n\n"
    "Calibration: three heads of all-MiniLM-L6-v2 (n = 512, shipped text) at the 1/6, 1/2 and 5/6 quantiles "
    "of mean row entropy; Q, K, V drawn from Gaussians with the head's own means and covariances (d = 32); "
    "the spread of the queries around their mean is scaled by beta and the queries by tau, chosen by nested "
    "bisections so that the synthetic head at n = 512 has the real head's stable rank and mean row "
    "entropy (table below); the same Gaussians, tau and beta at n = 4096 and 16384.  V is drawn independently "
    "of K (the real heads' values depend on their keys): methods that replace the values of low-weight keys by "
    "a mean (Routed) profit from that.  Errors: relative Frobenius error of the output on "
    "256 random query rows against exact float64 rows; methods run in float32.  'best method': lowest error "
    "among methods not flagged (error above 1 or Nyström's held-out warning).  Truncated-SVD oracle: output "
    "error of the rank-m truncated SVD of P (n = 4096 only; singular triplets from a randomized SVD of the "
    "implicit P, rank max(m) + 10, 2 power iterations: an over-estimate of the best rank-m error).  "
    "Routed: routed_attention with its defaults, m exact logits per query: 7m/8 top keys of the query's k-means "
    "cluster (ceil(n/512) clusters), m/8 residual keys per cluster drawn by importance (centroid weights of the "
    "next keys, a uniform share for the rest) for the residual mass, the mean of V for the residual's values."
)


def render(store):
    lines = runs_lines(store) + [DESCRIPTION, ""]
    lines += [
        f"Goal check (n = {GOAL_N}, budget {GOAL_M}, error < {GOAL_ERR}, >= {GOAL_SPEEDUP}x faster than float32 SDPA):",
        "",
    ]
    lines += goal_lines(store) + [""]
    if store["heads"]:
        lines += heads_section(store)
    if store["frontier"]:
        lines += frontier_section(store) + all_methods_section(store)
    if store["exact"]:
        lines += exact_section(store)
    lines += ["![frontier](figures/attention_long_frontier.png)", ""]
    return "\n".join(lines)


def _csv(text, kind=int):
    return tuple(kind(x) for x in text.split(",") if x)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 4096, m = 64 and 256, SDPA table n = 4096; prints only")
    ap.add_argument("--no-write", action="store_true", help="print only: no store, RESULTS.md or figure")
    ap.add_argument("--only", choices=("frontier", "exact"), default=None, help="run one part only")
    ap.add_argument("--heads", default="sharp,medium,broad", help="comma-separated heads of the frontier")
    ap.add_argument("--ns", default="4096,16384", help="comma-separated n of the frontier")
    ap.add_argument("--ms", default="32,64,128,256,512", help="comma-separated budgets m")
    ap.add_argument("--sdpa-sizes", default="4096,16384,65536", help="comma-separated n of the exact-vs-SDPA table")
    ap.add_argument(
        "--sdpa-repeats",
        type=int,
        default=None,
        help="interleaved repeats per n of the exact-vs-SDPA table (default 21 / 5 / 3 at n <= 4096 / 16384 / more)",
    )
    args = ap.parse_args(argv)
    write = not (args.quick or args.no_write)
    ns, ms, sizes = _csv(args.ns), _csv(args.ms), _csv(args.sdpa_sizes)
    if args.quick:
        ns, ms, sizes = (4096,), (64, 256), (4096,)
    wanted = _csv(args.heads, str)
    reps = {n: args.sdpa_repeats or (21 if n <= 4096 else 5 if n <= 16384 else 3) for n in sizes}
    t_start = time.perf_counter()
    heads, blocks, rows = [], {}, []
    with threadpool_limits(1):
        if args.only != "exact":
            heads = [h for h in calibrated_heads()[0] if any(h.label.startswith(w) for w in wanted)]
            blocks = frontier_runs(heads, ns, ms)
        if args.only != "frontier":
            rows = exact_vs_sdpa(sizes, reps)
    tv = "not installed" if torch is None else torch.__version__
    run = dict(
        command="python benchmarks/attention_long.py" + "".join(f" {a}" for a in argv),
        date=f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        commit=_commit(),
        wall_s=time.perf_counter() - t_start,
        machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy "
        f"{np.__version__}, torch {tv}",
    )
    store = load_store() if write else {k: {} for k in ("runs", "heads", "frontier", "exact")}
    store = merge(store, run["date"] + " " + run["command"], run, heads, blocks, rows)
    body = render(store)
    print(body)
    if write:
        save_store(store)
        FIGS.mkdir(exist_ok=True)
        figure(store, FIGS / "attention_long_frontier.png")
        _results.write_section(body, begin=BEGIN, end=END, heading=SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
