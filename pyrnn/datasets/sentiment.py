"""A synthetic sentiment set whose labels depend on word order (negation scope).

Sentences come from a template: [opener] subject verb [negation] [intensifier]
adjective [closer] [punctuation], e.g. "honestly , the plot was not very good ."
(label 0) or "i was not sure at first , but the acting felt really great !" (label 1).
The label is the adjective's polarity, flipped by a "not"/"never" directly before
the (optionally intensified) adjective; a "not" in the opener negates nothing.

Polarity and negation are drawn independently and 50/50, so every word, "not"
included, is as frequent in positive as in negative sentences: a linear
bag-of-words classifier stays near chance, while a BiLSTM that sees the order
learns the task. Sentences are right-padded with ``<pad>`` (id 0); the vocabulary
also has ``<cls>``, ``<sep>`` (for BERT-style models) and ``<unk>``.

    (x_train, t_train), (x_test, t_test), vocab = load_sentiment()
"""
from __future__ import annotations

import numpy as np

from .vocab import Vocab

SPECIALS = ["<pad>", "<cls>", "<sep>", "<unk>"]
OPENERS = ["", "", "", "", "honestly ,", "i think", "overall ,", "to be fair ,", "in the end",
           "i was not sure at first , but", "it is not a long story , but"]
SUBJECTS = ["the movie", "the film", "the plot", "the acting", "this show", "the ending",
            "the music", "the story", "the cast", "the dialogue"]
VERBS = ["was", "is", "seemed", "felt"]
NEGATIONS = ["not", "never"]
INTENSIFIERS = ["", "", "very", "really", "so", "quite"]
POSITIVE = ["good", "great", "excellent", "wonderful", "fun", "brilliant", "enjoyable", "amazing"]
NEGATIVE = ["bad", "boring", "awful", "terrible", "dull", "weak", "poor", "horrible"]
CLOSERS = ["", "", "to me", "for me"]
NEG_CLOSERS = ["at all"]  # only after a negation ("not good at all")
PUNCT = ["", ".", "!"]
MAX_LEN = 20


def _vocab():
    words = []
    for group in (OPENERS, SUBJECTS, VERBS, NEGATIONS, INTENSIFIERS, POSITIVE, NEGATIVE,
                  CLOSERS, NEG_CLOSERS, PUNCT):
        for phrase in group:
            for w in phrase.split():
                if w not in words:
                    words.append(w)
    v = Vocab(SPECIALS + words, pad="<pad>")
    v.cls_id, v.sep_id, v.unk_id = (v.token_to_id[s] for s in SPECIALS[1:])
    return v


VOCAB = _vocab()


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def sentiment_sentence(rng):
    """One (sentence, label) drawn from the template with a NumPy Generator."""
    positive = bool(rng.integers(2))
    negated = bool(rng.integers(2))
    parts = [_pick(rng, OPENERS), _pick(rng, SUBJECTS), _pick(rng, VERBS)]
    if negated:
        parts.append(_pick(rng, NEGATIONS))
    parts += [_pick(rng, INTENSIFIERS), _pick(rng, POSITIVE if positive else NEGATIVE)]
    parts.append(_pick(rng, CLOSERS + NEG_CLOSERS) if negated else _pick(rng, CLOSERS))
    parts.append(_pick(rng, PUNCT))
    return " ".join(p for p in parts if p), int(positive != negated)


def sentiment_pairs(n=12000, seed=0):
    """n distinct (sentence, label) pairs in random order."""
    rng = np.random.default_rng(seed)
    seen, pairs = set(), []
    tries = 0
    while len(pairs) < n:
        s, y = sentiment_sentence(rng)
        tries += 1
        if tries > 50 * n + 1000:
            raise ValueError(f"n: could not draw {n} distinct sentences (got {len(pairs)})")
        if s not in seen:
            seen.add(s)
            pairs.append((s, y))
    return pairs


def load_sentiment(n=12000, test_size=2000, seed=0, max_len=MAX_LEN):
    """-> (x_train, t_train), (x_test, t_test), vocab.

    x (n, max_len) int32 word ids right-padded with ``vocab.pad_id`` (0); t (n,) int32
    labels (1 positive, 0 negative), balanced in expectation. Every sentence occurs once,
    so train and test are disjoint. Deterministic by ``seed``.
    """
    if not 0 <= test_size < n:
        raise ValueError(f"test_size: expected 0 <= test_size < n={n}, got {test_size}")
    pairs = sentiment_pairs(n, seed)
    x = np.full((n, max_len), VOCAB.pad_id, dtype=np.int32)
    t = np.empty(n, dtype=np.int32)
    for i, (s, y) in enumerate(pairs):
        x[i] = VOCAB.encode(s.split(), max_len)
        t[i] = y
    k = n - test_size
    return (x[:k], t[:k]), (x[k:], t[k:]), VOCAB


def get_vocab():
    return VOCAB
