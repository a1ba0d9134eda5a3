"""Vocabularies: id <-> token maps with encode/decode, for the character and word tasks."""
from __future__ import annotations

import numpy as np


class Vocab:
    """A fixed token list. ``char_to_id`` / ``id_to_char`` (the book's names for the
    character tasks) and ``word_to_id`` / ``id_to_word`` are the same two dicts."""

    def __init__(self, tokens, pad=None):
        tokens = list(tokens)
        if len(set(tokens)) != len(tokens):
            dup = sorted({t for t in tokens if tokens.count(t) > 1})
            raise ValueError(f"tokens: duplicates {dup!r}")
        self.tokens = tokens
        self.token_to_id = {t: i for i, t in enumerate(tokens)}
        self.id_to_token = dict(enumerate(tokens))
        self.pad = pad
        self.pad_id = None if pad is None else self.token_to_id[pad]

    # the book's names: char_to_id / word_to_id are token_to_id, id_to_char / id_to_word are id_to_token
    char_to_id = word_to_id = property(lambda self: self.token_to_id)
    id_to_char = id_to_word = property(lambda self: self.id_to_token)

    def __len__(self):
        return len(self.tokens)

    def __contains__(self, token):
        return token in self.token_to_id

    def __getitem__(self, token):
        return self.token_to_id[token]

    def encode(self, tokens, length=None, dtype=np.int32):
        """tokens (a string for character vocabularies, or a list) -> int array,
        right-padded with the pad token to ``length`` when given."""
        try:
            ids = [self.token_to_id[t] for t in tokens]
        except KeyError as e:
            raise ValueError(f"token {e.args[0]!r} is not in the vocabulary") from None
        if length is not None:
            if len(ids) > length:
                raise ValueError(f"sequence of {len(ids)} tokens is longer than length={length}")
            if self.pad_id is None:
                raise ValueError("length given but this vocabulary has no pad token")
            ids += [self.pad_id] * (length - len(ids))
        return np.asarray(ids, dtype=dtype)

    def decode(self, ids, sep=""):
        """int ids (any iterable, NumPy or CuPy) -> string (tokens joined by ``sep``)."""
        if hasattr(ids, "get") and not isinstance(ids, (np.ndarray, dict)):
            ids = ids.get()  # CuPy -> NumPy
        return sep.join(self.id_to_token[int(i)] for i in np.asarray(ids).ravel())

    def __repr__(self):
        return f"Vocab({len(self)} tokens, pad={self.pad!r})"


def encode_pairs(pairs, vocab, src_len, tgt_len, dtype=np.int32):
    """[(source string, target string)] -> x (n, src_len), t (n, tgt_len), both right-padded."""
    x = np.full((len(pairs), src_len), vocab.pad_id, dtype=dtype)
    t = np.full((len(pairs), tgt_len), vocab.pad_id, dtype=dtype)
    for i, (s, g) in enumerate(pairs):
        x[i] = vocab.encode(s, src_len, dtype)
        t[i] = vocab.encode(g, tgt_len, dtype)
    return x, t
