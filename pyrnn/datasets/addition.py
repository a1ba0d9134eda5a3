"""The addition task: ``"16+75"`` -> ``"91"`` (the book's addition.txt task, generated).

    (x_train, t_train), (x_test, t_test), vocab = load_addition()
    vocab.decode(x_train[0])  # '16+75  '   (question padded to 7)
    vocab.decode(t_train[0])  # '_91  '     ("_" + answer padded to 4)

Operands are 0..999 (``max_digits=3``); every question occurs once, so train and test
are disjoint. ``reverse_input(x)`` flips the padded questions (Sutskever et al.'s trick,
as in the book), which makes the task markedly easier for a plain seq2seq.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .vocab import Vocab, encode_pairs

START = "_"
VOCAB = Vocab("0123456789+ " + START, pad=" ")
VOCAB.start_id = VOCAB.token_to_id[START]


def addition_pairs(n=50000, seed=0, max_digits=3):
    """n distinct (question, "_" + answer) string pairs, e.g. ('16+75', '_91'), in random order."""
    hi = 10 ** max_digits
    if not 1 <= n <= hi * hi:
        raise ValueError(f"n: expected 1 <= n <= {hi * hi} (distinct questions), got {n}")
    rng = np.random.default_rng(seed)
    codes = rng.choice(hi * hi, size=n, replace=False)
    a, b = np.divmod(codes, hi)
    return [(f"{x}+{y}", f"{START}{x + y}") for x, y in zip(a.tolist(), b.tolist())]


@lru_cache(maxsize=4)
def _load(n, seed, max_digits):
    pairs = addition_pairs(n, seed, max_digits)
    x, t = encode_pairs(pairs, VOCAB, 2 * max_digits + 1, max_digits + 2)
    x.flags.writeable = t.flags.writeable = False
    return x, t


def load_addition(n=50000, test_size=5000, seed=0, reverse=False, max_digits=3):
    """-> (x_train, t_train), (x_test, t_test), vocab.

    x (n, 2 * max_digits + 1) questions, t (n, max_digits + 2) answers as int32 ids
    (defaults: 7 and 5, as in the book); the last ``test_size`` examples are held out.
    ``reverse`` flips the questions (see `reverse_input`). Deterministic by ``seed``.
    """
    if not 0 <= test_size < n:
        raise ValueError(f"test_size: expected 0 <= test_size < n={n}, got {test_size}")
    x, t = _load(int(n), int(seed), int(max_digits))
    if reverse:
        x = reverse_input(x)
    k = n - test_size
    return (x[:k].copy(), t[:k].copy()), (x[k:].copy(), t[k:].copy()), VOCAB


def reverse_input(x):
    """Reverse each (padded) source sequence along time: x[:, ::-1] as a new contiguous array."""
    return x[:, ::-1].copy()


def get_vocab():
    """The addition task's character vocabulary (fixed)."""
    return VOCAB
