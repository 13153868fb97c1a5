"""End-to-end study: attention approximations inside all-MiniLM-L6-v2 (DESIGN §4, issue 14 item 2).

Usage::

    python benchmarks/attention_model.py            # full run (a few minutes on 2 cores), writes RESULTS.md
    python benchmarks/attention_model.py --quick    # 20 sentences, one budget, prints only

What is measured
----------------
The 60 sentences shipped in ``krylovid/data/sentences.txt`` (12 topics of 5,
20–30 tokens each) are embedded with exact attention and with each
approximation replacing softmax attention in every layer and head
(``minilm_embed(texts, attention=fn)``), at budgets ``m`` (landmarks,
features, samples, rank, window ``m/2`` or kept keys, capped at the sequence
length).  Per method and budget: cosine similarity of each sentence
embedding to the exact one (mean and minimum), agreement of nearest-neighbour
retrieval (the fraction of sentences whose nearest other sentence is the same
as with exact attention), same-topic retrieval accuracy, the number of heads
flagged worse than a zero output (Nyström's held-out check), and the time to
embed all sentences.  The MLA conversion (joint SVD of ``[W_K; W_V]``, every
layer) appears in the same table at several latent sizes, with its KV cache
size.  Budgets are relative to the short sequences (``m = 8`` is a third of
a sentence): the point is the effect on the model's output, not speed.
"""

from __future__ import annotations

import argparse
import dataclasses
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

from krylovid.attention import latent as LAT  # noqa: E402
from krylovid.attention.exact import softmax_attention  # noqa: E402
from krylovid.attention.features import performer_attention  # noqa: E402
from krylovid.attention.lowrank import linformer_attention, lowrank_attention  # noqa: E402
from krylovid.attention.minilm import default_sentences, load_minilm, minilm_embed  # noqa: E402
from krylovid.attention.nystrom import nystrom_attention  # noqa: E402
from krylovid.attention.sampling import skeinformer_attention  # noqa: E402
from krylovid.attention.sparse import sliding_window_attention, topk_attention  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
FIGS = HERE / "figures"
BEGIN, END = "<!-- attention-model:begin -->", "<!-- attention-model:end -->"
SECTION = "## Attention inside the model (all-MiniLM-L6-v2)"
TOPIC_SIZE = 5


def _cap(m, n):
    return max(1, min(m, n))


# name -> fn(Q, K, V, m) for one head of n tokens
METHODS = {
    "Nystromformer": lambda Q, K, V, m: nystrom_attention(Q, K, V, _cap(m, len(Q))),
    "Nystrom sampled": lambda Q, K, V, m: nystrom_attention(Q, K, V, _cap(m, len(Q)), "sampled", rng=0),
    "Skyformer": lambda Q, K, V, m: nystrom_attention(Q, K, V, _cap(m, 2 * len(Q)), "skyformer", rng=0),
    "randomized SVD": lambda Q, K, V, m: lowrank_attention(Q, K, V, _cap(m, len(Q)), rng=0),
    "Linformer": lambda Q, K, V, m: linformer_attention(Q, K, V, m, rng=0),
    "Performer": lambda Q, K, V, m: performer_attention(Q, K, V, m, rng=0),
    "Skeinformer": lambda Q, K, V, m: skeinformer_attention(Q, K, V, m, rng=0),
    "sliding window": lambda Q, K, V, m: sliding_window_attention(Q, K, V, max(1, m // 2)),
    "top-k": lambda Q, K, V, m: topk_attention(Q, K, V, _cap(m, len(Q))),
}


class _Counting:
    """``fn(Q, K, V)`` for one budget that counts the heads where a RuntimeWarning (worse than zero) was raised."""

    def __init__(self, fn, m):
        self.fn, self.m, self.flagged = fn, m, 0

    def __call__(self, Q, K, V):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            out = self.fn(Q, K, V, self.m)
        self.flagged += any(issubclass(w.category, RuntimeWarning) for w in caught)
        return out


def retrieval(E):
    """Index of each row's nearest other row (cosine; rows are unit vectors)."""
    S = E @ E.T
    np.fill_diagonal(S, -np.inf)
    return S.argmax(axis=1)


def scores(E, E_ref, nn_ref):
    cos = np.sum(E * E_ref, axis=1)
    nn = retrieval(E)
    topic = np.arange(len(E)) // TOPIC_SIZE
    return dict(
        cos_mean=float(cos.mean()),
        cos_min=float(cos.min()),
        nn_agree=float(np.mean(nn == nn_ref)),
        topic_acc=float(np.mean(topic[nn] == topic)),
    )


def _timed_embed(texts, **kw):
    t0 = time.perf_counter()
    E = minilm_embed(texts, **kw)
    return E, time.perf_counter() - t0


def mla_weights(weights, r):
    """MiniLM with every layer's key/value projections through a rank-``r`` joint-SVD latent (MLA)."""
    layers = []
    for lw in weights.layers:
        Wk, Wv = np.asarray(lw.key_weight, float), np.asarray(lw.value_weight, float)
        mla = LAT.mha_to_mla(Wk, Wv, r, method="svd")
        layers.append(dataclasses.replace(lw, key_weight=mla.W_up_k @ mla.W_down, value_weight=mla.W_up_v @ mla.W_down))
    return dataclasses.replace(weights, layers=tuple(layers))


def run(texts, budgets, methods, latents):
    exact_head = lambda Q, K, V: softmax_attention(Q, K, V)  # noqa: E731  (same per-head path as the methods)
    E_ref, _ = _timed_embed(texts)
    _, t_exact = _timed_embed(texts, attention=exact_head)
    nn_ref = retrieval(E_ref)
    rows = [
        dict(
            method="exact (per-head hook)", budget="—", time=t_exact, flagged=0, kv="—", **scores(E_ref, E_ref, nn_ref)
        )
    ]
    for name in methods:
        for m in budgets:
            fn = _Counting(METHODS[name], m)
            E, t = _timed_embed(texts, attention=fn)
            rows.append(dict(method=name, budget=m, time=t, flagged=fn.flagged, kv="—", **scores(E, E_ref, nn_ref)))
            print(f"  {name} m={m}: cos {rows[-1]['cos_mean']:.4f} nn {rows[-1]['nn_agree']:.2f} {t:.1f}s", flush=True)
    w = load_minilm()
    mha = LAT.kv_cache_bytes(12, 32, num_layers=6).mha
    for r in latents:
        E, t = _timed_embed(texts, weights=mla_weights(w, r))
        kv = LAT.kv_cache_bytes(12, 32, r, num_layers=6).mla
        rows.append(
            dict(
                method="MLA (joint SVD)",
                budget=f"r={r}",
                time=t,
                flagged=0,
                kv=f"{kv} ({kv / mha:.2f}x)",
                **scores(E, E_ref, nn_ref),
            )
        )
        print(f"  MLA r={r}: cos {rows[-1]['cos_mean']:.4f} nn {rows[-1]['nn_agree']:.2f}", flush=True)
    return rows, scores(E_ref, E_ref, nn_ref)["topic_acc"]


def _table(rows):
    head = [
        "method",
        "budget",
        "cosine mean",
        "cosine min",
        "NN agreement",
        "topic accuracy",
        "heads flagged > 1",
        "time s",
        "KV bytes/token",
    ]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        out.append(
            f"| {r['method']} | {r['budget']} | {r['cos_mean']:.4f} | {r['cos_min']:.4f} | {r['nn_agree']:.2f} "
            f"| {r['topic_acc']:.2f} | {r['flagged']} | {r['time']:.1f} | {r['kv']} |"
        )
    return "\n".join(out)


def figure(rows, budgets, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for name in dict.fromkeys(r["method"] for r in rows if isinstance(r["budget"], int)):
        pts = [(r["budget"], r["cos_mean"], r["nn_agree"]) for r in rows if r["method"] == name]
        b, c, a = zip(*pts, strict=True)
        ax1.plot(b, 1 - np.array(c), marker="o", ms=3, label=name)
        ax2.plot(b, a, marker="o", ms=3, label=name)
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("budget m")
    ax1.set_ylabel("1 - mean cosine to exact embedding")
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("budget m")
    ax2.set_ylabel("nearest-neighbour agreement")
    ax2.set_ylim(-0.02, 1.02)
    ax1.legend(fontsize=6)
    mla = [r for r in rows if r["method"].startswith("MLA")]
    if mla:
        ax1.set_title("MLA: " + ", ".join(f"{r['budget']}: {1 - r['cos_mean']:.1e}" for r in mla), fontsize=7)
    fig.savefig(path, dpi=80)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 sentences, one budget, print only")
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md / figures")
    args = ap.parse_args(argv)
    write = not (args.quick or args.no_write)
    texts = default_sentences()
    if args.quick:
        texts, budgets, methods, latents = texts[:20], (8,), ["Nystromformer", "Performer"], (192,)
    else:
        budgets, methods, latents = (4, 8, 16), list(METHODS), (96, 192, 288, 384)
    t_start = time.perf_counter()
    with threadpool_limits(1):
        rows, topic_exact = run(texts, budgets, methods, latents)
    total = time.perf_counter() - t_start
    from krylovid.attention.minilm import minilm_tokenizer

    lens = [len(minilm_tokenizer().encode(t)[0]) for t in texts]
    cmd = "python benchmarks/attention_model.py" + (" --quick" if args.quick else "")
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy "
        f"{np.__version__}.  Date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC.  Command: `{cmd}` "
        f"({total:.0f} s, one BLAS thread, machine shared with other jobs).",
        "",
        f"{len(texts)} sentences of `krylovid/data/sentences.txt` ({len(texts) // TOPIC_SIZE} topics of "
        f"{TOPIC_SIZE}), n = {min(lens)}..{max(lens)} tokens (median {int(np.median(lens))}).  Each approximation "
        "replaces softmax attention in all 6 layers x 12 heads (`minilm_embed(texts, attention=fn)`); budgets are "
        "capped at the sequence length.  Cosine: between the approximate and the exact sentence embedding.  NN "
        "agreement: fraction of sentences whose nearest other sentence is the same as with exact attention.  "
        f"Topic accuracy: fraction whose nearest other sentence is from the same topic (exact model: "
        f"{topic_exact:.2f}).  Heads flagged: head evaluations where Nyström's held-out check found an error "
        "above 1 (worse than a zero output).  Time: embedding all sentences through the per-head hook (the "
        "exact row uses the same hook with exact blocked attention).  MLA rows: key/value projections of every "
        "layer through a latent of size r (joint SVD of [W_K; W_V]; r = 384 is exact and halves the cache).",
        "",
        _table(rows),
        "",
        "![attention inside MiniLM](figures/attention_model.png)",
        "",
    ]
    body = "\n".join(lines)
    print(body)
    if write:
        FIGS.mkdir(exist_ok=True)
        figure(rows, budgets, FIGS / "attention_model.png")
        _results.write_section(body, begin=BEGIN, end=END, heading=SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
