"""Built-in tasks: deterministic by seed, well-formed, train/test disjoint."""
import datetime
import gzip

import numpy as np
import pytest

from pyrnn import datasets as D
from pyrnn.datasets import corpus as corpus_mod


def _rows(vocab, x):
    return [vocab.decode(r) for r in x]


def test_date_shapes_vocab_and_iso_targets():
    (x, t), (xt, tt), v = D.load_date(n=3000, test_size=500, seed=3)
    assert x.shape == (2500, 29) and t.shape == (2500, 11) and xt.shape == (500, 29) and tt.shape == (500, 11)
    assert x.dtype == np.int32 and t.dtype == np.int32
    assert v.char_to_id[" "] == v.pad_id and v.id_to_char[v.start_id] == "_"
    srcs = _rows(v, np.concatenate([x, xt]))
    tgts = _rows(v, np.concatenate([t, tt]))
    for s, g in zip(srcs, tgts):
        assert g[0] == "_"
        d = datetime.date.fromisoformat(g[1:])  # a real date
        assert datetime.date(1950, 1, 1) <= d <= datetime.date(2049, 12, 31)
        assert len(s) == 29 and s.strip()
    # many formats, not one
    assert len({len(s.rstrip()) for s in srcs}) > 8
    assert any(s[0].isupper() for s in srcs) and any("/" in s for s in srcs) and any("-" in s for s in srcs)


def test_date_examples_decode_to_their_target():
    (x, t), _, v = D.load_date(n=2000, test_size=100, seed=0)
    for s, g in zip(_rows(v, x[:300]), _rows(v, t[:300])):
        s = s.rstrip()
        d = datetime.date.fromisoformat(g[1:])
        if "-" in s and len(s) == 10:
            assert s == d.isoformat()
        if "," in s and s.split(",")[0].lower() in [w.lower() for w in D.dates.WEEKDAYS]:
            assert s.split(",")[0].lower() == D.dates.WEEKDAYS[d.weekday()].lower()


def test_date_deterministic_and_disjoint():
    a = D.load_date(n=4000, test_size=1000, seed=7)
    b = D.load_date(n=4000, test_size=1000, seed=7)
    c = D.load_date(n=4000, test_size=1000, seed=8)
    for u, w in zip(a[:2], b[:2]):
        assert np.array_equal(u[0], w[0]) and np.array_equal(u[1], w[1])
    assert not np.array_equal(a[0][0], c[0][0])
    train = {r.tobytes() for r in a[0][0]}
    assert all(r.tobytes() not in train for r in a[1][0])
    assert len(train) == len(a[0][0])


def test_date_default_size():
    (x, t), (xt, tt), _ = D.load_date()
    assert len(x) == 45000 and len(xt) == 5000


def test_addition_answers_correct_and_padded():
    (x, t), (xt, tt), v = D.load_addition(n=3000, test_size=300, seed=1)
    assert x.shape == (2700, 7) and t.shape == (2700, 5)
    for q, a in zip(_rows(v, x), _rows(v, t)):
        assert a[0] == "_"
        left, right = q.strip().split("+")
        assert int(a[1:]) == int(left) + int(right)
    assert {r.tobytes() for r in x}.isdisjoint({r.tobytes() for r in xt})


def test_addition_reverse_and_determinism():
    (x, t), _, v = D.load_addition(n=1000, test_size=100, seed=2)
    (xr, tr), _, _ = D.load_addition(n=1000, test_size=100, seed=2, reverse=True)
    assert np.array_equal(xr, x[:, ::-1]) and np.array_equal(tr, t)
    assert np.array_equal(D.reverse_input(x), xr) and xr.flags.c_contiguous
    (x2, _), _, _ = D.load_addition(n=1000, test_size=100, seed=2)
    assert np.array_equal(x, x2)
    assert v.decode(x[0])[::-1] == v.decode(xr[0])


def test_corpus_default_word_and_char():
    corpus, w2i, i2w = D.load_corpus()
    # the built-in text (World English Bible, New Testament; docs/make_default_corpus.py): large
    # enough for a language model to overfit or not, small enough to ship (a few hundred KB)
    assert corpus.dtype == np.int32 and 200_000 < len(corpus) < 250_000 and 5000 < len(w2i) < 8000
    assert all(i2w[w2i[w]] == w for w in w2i) and corpus.max() == len(w2i) - 1
    assert [i2w[int(i)] for i in corpus[:7]] == ["the", "good", "news", "according", "to", "matthew", "<eos>"]
    assert "don't" in w2i and "<unk>" not in w2i  # ASCII apostrophes: contractions stay one word
    assert i2w[int(corpus[-1])] == "<eos>" and (corpus == w2i["<eos>"]).sum() > 2000
    counts = np.sort(np.bincount(corpus))[::-1]
    assert counts[0] > 10_000 and (counts == 1).sum() > 1000  # Zipf: a few very common words, many rare
    chars, c2i, i2c = D.load_corpus(level="char")
    assert len(chars) > 900_000 and "".join(i2c[int(i)] for i in chars[:8]) == "the good"
    assert set(corpus_mod.default_corpus_text()) <= set(map(chr, range(32, 127))) | {"\n", "\u2014"}
    assert corpus_mod.DEFAULT_CORPUS.is_file()  # shipped inside the package (pyrnn/datasets/data)
    assert corpus_mod.DEFAULT_CORPUS.stat().st_size < 1_000_000  # the wheel stays small


def test_corpus_max_vocab_maps_rare_words_to_unk(tmp_path):
    corpus, w2i, i2w = D.load_corpus(max_vocab=3000)
    full, fw2i, fi2w = D.load_corpus()
    assert len(w2i) == 3000 and "<unk>" in w2i and len(corpus) == len(full)
    unk = corpus == w2i["<unk>"]
    assert 0.01 < unk.mean() < 0.05  # the 2,999 most frequent words cover ~98% of the text
    # kept words are unchanged, the others are exactly the <unk> positions
    words = np.array([fi2w[int(i)] for i in full])
    assert np.array_equal(np.array([i2w[int(i)] for i in corpus])[~unk], words[~unk])
    kept = set(w2i) - {"<unk>"}
    counts = {w: c for w, c in zip(*np.unique(words, return_counts=True))}
    assert min(counts[w] for w in kept) >= max(counts[w] for w in set(counts) - kept)
    assert D.load_corpus(max_vocab=3000)[1] == w2i  # deterministic (ties: first appearance)
    # a literal <unk> (PTB's files) is one token and counts as such; .gz files are read through gzip
    p = tmp_path / "t.txt.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write("a b <unk> a\nc a b d\n")
    c, w, i = D.load_corpus(p, max_vocab=3)
    assert [i[int(k)] for k in c] == ["a", "<unk>", "<unk>", "a", "<eos>", "<unk>", "a", "<unk>", "<unk>", "<eos>"]
    assert D.load_corpus(p)[1].keys() == {"a", "b", "<unk>", "c", "d", "<eos>"}
    with pytest.raises(ValueError, match="max_vocab"):
        D.load_corpus(p, max_vocab=1)


def test_corpus_local_file_and_split(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("The cat sat.\nThe dog sat, too!\n", encoding="utf-8")
    corpus, w2i, i2w = D.load_corpus(p)
    assert [i2w[int(i)] for i in corpus] == ["the", "cat", "sat", ".", "<eos>", "the", "dog", "sat", ",",
                                             "too", "!", "<eos>"]
    train, val = D.split_corpus(corpus, 0.25)
    assert len(train) == 9 and len(val) == 3 and np.array_equal(np.concatenate([train, val]), corpus)
    with pytest.raises(ValueError):
        D.load_corpus(p, level="byte")


def test_sentiment_well_formed_balanced_and_needs_word_order():
    (x, t), (xt, tt), v = D.load_sentiment(n=3000, test_size=500, seed=0)
    assert x.shape == (2500, 20) and t.shape == (2500,) and set(np.unique(t)) == {0, 1}
    assert 0.4 < t.mean() < 0.6 and v.pad_id == 0 and v.cls_id != v.sep_id
    for row in x:  # right-padded: no real token after a pad
        L = int((row != 0).sum())
        assert (row[:L] != 0).all() and (row[L:] == 0).all() and L > 0
    assert {r.tobytes() for r in x}.isdisjoint({r.tobytes() for r in xt})
    # negation flips the label: the presence of "not" says nothing about it
    has_not = (x == v.word_to_id["not"]).any(axis=1)
    assert abs(t[has_not].mean() - t[~has_not].mean()) < 0.1
    # a linear bag-of-words classifier (least squares) stays near chance on held-out data
    def bow(a):
        X = np.zeros((len(a), len(v)))
        np.add.at(X, (np.arange(len(a))[:, None], a), 1.0)
        X[:, 0] = 1.0  # the pad column becomes the bias
        return X
    w = np.linalg.lstsq(bow(x), 2.0 * t - 1, rcond=None)[0]
    assert ((bow(xt) @ w > 0) == tt).mean() < 0.6
    a = D.load_sentiment(n=500, test_size=100, seed=4)
    b = D.load_sentiment(n=500, test_size=100, seed=4)
    assert np.array_equal(a[0][0], b[0][0]) and np.array_equal(a[1][1], b[1][1])


def test_vocab_encode_decode_errors():
    v = D.Vocab("ab ", pad=" ")
    assert v.decode(v.encode("ab", 4)) == "ab  "
    with pytest.raises(ValueError, match="not in the vocabulary"):
        v.encode("abc")
    with pytest.raises(ValueError, match="longer"):
        v.encode("abab", 3)
