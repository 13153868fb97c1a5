"""Former home of the safetensors reader and the MiniLM model, kept as an alias.

The reader now lives in :mod:`krylovid.attention.safetensors_io`, the tokenizer
in :mod:`krylovid.attention.tokenizer` and the model (weights, forward pass,
embeddings) in :mod:`krylovid.attention.minilm`; importing from here keeps
working (the CLI loads ``minilm_qkv`` through this module, and its tests
replace it here).
"""

from __future__ import annotations

from .minilm import (
    LayerWeights,
    MiniLMActivations,
    MiniLMWeights,
    default_text,
    exact_attention,
    load_minilm,
    max_seq_length,
    minilm_embed,
    minilm_forward,
    minilm_path,
    minilm_qkv,
    minilm_tokenizer,
)
from .safetensors_io import read_safetensors
from .tokenizer import WordPieceTokenizer

__all__ = [
    "read_safetensors",
    "minilm_path",
    "load_minilm",
    "MiniLMWeights",
    "LayerWeights",
    "WordPieceTokenizer",
    "minilm_tokenizer",
    "minilm_forward",
    "minilm_qkv",
    "MiniLMActivations",
    "minilm_embed",
    "default_text",
    "max_seq_length",
    "exact_attention",
]
