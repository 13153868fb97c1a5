"""Attention approximations measured against exact softmax attention.

The exact, kernel-feature, sparse and sampling functions take arrays of shape
``(..., n, d)`` (leading dimensions are batch and heads); the low-rank
functions and :func:`attention_spectrum` work on one head (``(n, d)``).  All
run on NumPy, CuPy or any array-API namespace.

* exact: :func:`softmax_attention` (blocked, log-sum-exp merging),
  :class:`AttentionOperator` (implicit ``P`` for Krylov methods);
* low rank / subspace: :func:`lowrank_attention`, :func:`nystrom_attention`,
  :func:`linformer_attention`, :func:`truncated_svd_attention` (the oracle);
* kernel reformulations: :func:`performer_attention`,
  :func:`random_feature_attention`, :func:`linear_attention`,
  :func:`cosformer_attention` on one :class:`FeatureMap` interface;
* sampling: :func:`skeinformer_attention`, :func:`hyperattention`, :func:`routed_attention`
  (routed top keys plus a sampled mean-field residual);
* sparsity / clustering: :func:`sliding_window_attention`, :func:`bigbird_attention`,
  :func:`topk_attention`, :func:`lsh_attention`, :func:`kmeans_attention`,
  :func:`scatterbrain_attention`;
* tensor: :func:`tucker`, :func:`cp_als` of stacked per-head weights;
* latent attention (MLA): :func:`mha_to_mla`, :func:`gqa_to_mla`, :func:`absorb`,
  :func:`kv_cache_bytes`;
* evaluation: :func:`attention_spectrum`, :func:`error_curve`,
  :func:`truncated_svd_bound`, :func:`relative_error`, ... (:mod:`.analysis`);
* real weights: :func:`~krylovid.attention.minilm.minilm_qkv` (per-head Q, K, V of all-MiniLM-L6-v2),
  :func:`~krylovid.attention.minilm.minilm_embed` (sentence embeddings, optionally with an approximate
  attention in every layer and head), :func:`~krylovid.attention.safetensors_io.read_safetensors`.
"""

from .analysis import (
    EntropyStrata,
    ErrorCurve,
    SpectrumResult,
    TruncatedSVDBound,
    attention_spectrum,
    error_curve,
    frobenius_norm,
    plot_error_curves,
    relative_error,
    row_entropy,
    row_normalizer_error,
    stratify_by_entropy,
    top1_retention,
    truncated_svd_bound,
)
from .exact import (
    AttentionOperator,
    attention_logits,
    attention_matrix,
    attention_matvec,
    attention_rmatvec,
    row_normalizer,
    softmax_attention,
)
from .features import (
    CosformerFeatures,
    EluFeatures,
    FeatureMap,
    PositiveRandomFeatures,
    TrigRandomFeatures,
    cosformer_attention,
    kernel_attention,
    linear_attention,
    performer_attention,
    random_feature_attention,
)
from .latent import AbsorbedQuery, KVCacheSize, MLAWeights, absorb, gqa_to_mla, kv_cache_bytes, mha_to_mla
from .lowrank import linformer_attention, lowrank_attention, nystrom_attention, truncated_svd_attention
from .minilm import load_minilm, max_seq_length, minilm_embed, minilm_qkv
from .routed import routed_attention
from .safetensors_io import read_safetensors
from .sampling import SamplingAttentionResult, hyperattention, skeinformer_attention
from .sparse import (
    SparseAttentionResult,
    bigbird_attention,
    bigbird_block_mask,
    kmeans_attention,
    lsh_attention,
    scatterbrain_attention,
    sliding_window_attention,
    topk_attention,
)
from .tensor import CPResult, TuckerResult, cp_als, tucker

__all__ = [
    "softmax_attention",
    "attention_logits",
    "attention_matrix",
    "attention_matvec",
    "attention_rmatvec",
    "row_normalizer",
    "AttentionOperator",
    "lowrank_attention",
    "nystrom_attention",
    "linformer_attention",
    "truncated_svd_attention",
    "FeatureMap",
    "PositiveRandomFeatures",
    "TrigRandomFeatures",
    "EluFeatures",
    "CosformerFeatures",
    "kernel_attention",
    "performer_attention",
    "random_feature_attention",
    "linear_attention",
    "cosformer_attention",
    "skeinformer_attention",
    "hyperattention",
    "routed_attention",
    "SamplingAttentionResult",
    "sliding_window_attention",
    "bigbird_attention",
    "bigbird_block_mask",
    "topk_attention",
    "lsh_attention",
    "kmeans_attention",
    "scatterbrain_attention",
    "SparseAttentionResult",
    "tucker",
    "cp_als",
    "TuckerResult",
    "CPResult",
    "mha_to_mla",
    "gqa_to_mla",
    "absorb",
    "kv_cache_bytes",
    "MLAWeights",
    "AbsorbedQuery",
    "KVCacheSize",
    "attention_spectrum",
    "error_curve",
    "truncated_svd_bound",
    "relative_error",
    "row_normalizer_error",
    "top1_retention",
    "row_entropy",
    "frobenius_norm",
    "stratify_by_entropy",
    "plot_error_curves",
    "SpectrumResult",
    "ErrorCurve",
    "TruncatedSVDBound",
    "EntropyStrata",
    "load_minilm",
    "minilm_qkv",
    "minilm_embed",
    "max_seq_length",
    "read_safetensors",
]
