"""Text corpora for language models: any local text file, word- or character-level,
as one long stream of ids (the book's ``ptb.load_data`` shape), plus a small default
corpus shipped inside the package (``data/default_corpus.txt``, original text).

    corpus, word_to_id, id_to_word = load_corpus()                 # the built-in text
    corpus, char_to_id, id_to_char = load_corpus("my.txt", level="char")
    train, val = split_corpus(corpus, 0.1)
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

DEFAULT_CORPUS = Path(__file__).with_name("data") / "default_corpus.txt"
EOS = "<eos>"
_WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?|[^\sA-Za-z0-9]")


def default_corpus_text() -> str:
    """The built-in corpus (a few KB of plain English written for pyrnn)."""
    return DEFAULT_CORPUS.read_text(encoding="utf-8")


def tokenize(text: str, level: str = "word", lower: bool = True) -> list:
    """Words and punctuation marks, one ``<eos>`` per non-empty line (level="word"),
    or every character including newlines (level="char")."""
    if level not in ("word", "char"):
        raise ValueError(f"level: expected 'word' or 'char', got {level!r}")
    if lower:
        text = text.lower()
    if level == "char":
        return list(text)
    tokens = []
    for line in text.splitlines():
        words = _WORD.findall(line)
        if words:
            tokens += words + [EOS]
    return tokens


def build_vocab(tokens):
    """Ids in order of first appearance (deterministic): -> word_to_id, id_to_word."""
    word_to_id = {}
    for t in tokens:
        if t not in word_to_id:
            word_to_id[t] = len(word_to_id)
    return word_to_id, {i: w for w, i in word_to_id.items()}


def load_corpus(path=None, level="word", lower=True, encoding="utf-8"):
    """-> corpus (int32 ids, one long stream), word_to_id, id_to_word.

    path: a local text file; None reads the built-in default corpus. ``level`` "word"
    splits words and punctuation (an ``<eos>`` ends each non-empty line); "char" keeps
    every character. Lower-cased unless ``lower=False``.
    """
    text = default_corpus_text() if path is None else Path(path).read_text(encoding=encoding)
    tokens = tokenize(text, level, lower)
    if not tokens:
        raise ValueError(f"{path or DEFAULT_CORPUS}: no tokens in the text")
    word_to_id, id_to_word = build_vocab(tokens)
    corpus = np.fromiter((word_to_id[t] for t in tokens), dtype=np.int32, count=len(tokens))
    return corpus, word_to_id, id_to_word


def split_corpus(corpus, val_fraction=0.1, test_fraction=0.0):
    """Contiguous split of one stream: -> (train, val) or, with test_fraction, (train, val, test)."""
    n = len(corpus)
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    if n_val + n_test >= n:
        raise ValueError(f"val_fraction + test_fraction leave no training data ({n} tokens)")
    k = n - n_val - n_test
    parts = (corpus[:k], corpus[k:k + n_val])
    return parts + ((corpus[k + n_val:],) if test_fraction else ())
