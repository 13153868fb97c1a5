"""A minimal BERT uncased WordPiece tokenizer, normalising text as the reference (Rust) tokenizer does.

The steps follow the ``BertNormalizer`` / ``BertPreTokenizer`` / ``WordPiece``
pipeline of the ``tokenizers`` library that sentence-transformers uses:
clean control characters and map whitespace to spaces, put spaces around CJK
ideographs, strip accents (NFD, drop non-spacing marks), lowercase *character
by character*, split on whitespace and punctuation, then greedy longest-match
WordPiece.  Character-by-character lowercasing differs from Python's
``str.lower()`` for a capital sigma at the end of a word: ``"ΣΑΣ".lower()`` is
``"σας"`` (final sigma), the reference gives ``"σασ"``.
"""

from __future__ import annotations

import unicodedata

import numpy as np

__all__ = ["WordPieceTokenizer", "basic_tokenize", "lowercase"]


def lowercase(text: str) -> str:
    """Lowercase ``text`` one character at a time (no context rules such as the final sigma).

    Examples
    --------
    >>> lowercase("ΟΔΥΣΣΕΑΣ"), "ΟΔΥΣΣΕΑΣ".lower()
    ('οδυσσεασ', 'οδυσσεας')
    """
    return "".join(ch.lower() for ch in text)


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return any(
        lo <= cp <= hi
        for lo, hi in (
            (0x4E00, 0x9FFF),
            (0x3400, 0x4DBF),
            (0x20000, 0x2A6DF),
            (0x2A700, 0x2B73F),
            (0x2B740, 0x2B81F),
            (0x2B820, 0x2CEAF),
            (0xF900, 0xFAFF),
            (0x2F800, 0x2FA1F),
        )
    )


def _clean(text: str) -> str:
    """Drop NUL, U+FFFD and control characters; whitespace to spaces; spaces around CJK ideographs."""
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
    return "".join(chars)


def basic_tokenize(text: str) -> list:
    """BERT uncased basic tokenization: clean, split CJK, strip accents, lowercase, split punctuation.

    Examples
    --------
    >>> basic_tokenize("Héllo, WORLD!")
    ['hello', ',', 'world', '!']
    """
    text = unicodedata.normalize("NFD", _clean(text))
    text = lowercase("".join(c for c in text if unicodedata.category(c) != "Mn"))
    out = []
    for word in text.split():
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
    def from_file(cls, path) -> WordPieceTokenizer:
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
        return [p for w in basic_tokenize(text) for p in self._wordpiece(w)]

    def encode(self, text: str, max_tokens: int = 512) -> tuple:
        """``([CLS] tokens [SEP], ids)`` truncated to ``max_tokens`` in total (the last word pieces dropped)."""
        if int(max_tokens) < 2:
            raise ValueError(f"max_tokens must be >= 2, got {max_tokens}")
        tokens = ["[CLS]"] + self.tokenize(text)[: int(max_tokens) - 2] + ["[SEP]"]
        return tokens, np.array([self.vocab.get(t, self.vocab[self.unk_token]) for t in tokens])
