"""pyrnn.models: gradients (float64 gradcheck on tiny sizes), dtypes, generation, padding,
and short training runs that must learn.

Learning thresholds were measured on the 2-core dev machine (OpenBLAS 1 thread, seed 0);
each is set well below the measured value so a different BLAS or backend still passes.
"""
import numpy as np
import pytest

import pyrnn
from pyrnn import datasets as D
from pyrnn.models import (AttentionSeq2seq, BetterRnnlm, BiLSTMClassifier, PeekySeq2seq, Rnnlm, Seq2seq,
                          TransformerEncoderClassifier)
from pyrnn.train import (Adam, RnnlmTrainer, SGD, Trainer, dedup_params, eval_accuracy, eval_perplexity,
                         eval_seq2seq)

TOL = 1e-6
V = 7


def _ids(shape, seed=0, high=V):
    return np.random.default_rng(seed).integers(0, high, shape)


class Unique:
    """A language model as gradcheck sees it: tied parameters merged (as the trainer does)
    and the recurrent state reset before every forward (each forward starts from zeros)."""

    def __init__(self, model):
        self.m = model
        self.params, _ = dedup_params(model.params, model.params)
        self.grads = None

    def forward(self, *args):
        self.m.reset_state()
        return self.m.forward(*args)

    def backward(self, *args):
        self.m.backward(*args)
        _, self.grads = dedup_params(self.m.params, self.m.grads)


@pytest.mark.parametrize("build", [
    lambda: Seq2seq(V, 3, 4, dtype=np.float64),
    lambda: PeekySeq2seq(V, 3, 4, dtype=np.float64),
    lambda: AttentionSeq2seq(V, 3, 4, dtype=np.float64),
    lambda: AttentionSeq2seq(V, 3, 4, bidirectional=True, dtype=np.float64),
], ids=["seq2seq", "peeky", "attention", "attention-bi"])
def test_seq2seq_gradcheck(build):
    report = pyrnn.gradcheck(build(), _ids((2, 5)), _ids((2, 4), seed=1))
    assert report.max_error < TOL, str(report)


@pytest.mark.parametrize("build", [
    lambda: Rnnlm(V, 3, 4, dtype=np.float64),
    lambda: BetterRnnlm(V, 4, 4, dropout_ratio=0.3, dtype=np.float64),
    lambda: BetterRnnlm(V, 3, 4, dropout_ratio=0.0, tie_weights=False, dtype=np.float64),
], ids=["rnnlm", "better-tied-dropout", "better-untied"])
def test_rnnlm_gradcheck(build):
    report = pyrnn.gradcheck(Unique(build()), _ids((2, 4)), _ids((2, 4), seed=1))
    assert report.max_error < TOL, str(report)


PADDED = np.array([[3, 4, 5, 0], [4, 0, 0, 0], [6, 6, 3, 5]])
LABELS = np.array([0, 1, 1])


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_bilstm_classifier_gradcheck_and_padding(pooling):
    m = BiLSTMClassifier(V, 3, 4, pooling=pooling, dtype=np.float64)
    report = pyrnn.gradcheck(m, PADDED, LABELS)
    assert report.max_error < TOL, str(report)
    longer = np.concatenate([PADDED, np.zeros((3, 3), int)], axis=1)  # more padding: same scores
    np.testing.assert_allclose(m.predict(PADDED), m.predict(longer), rtol=1e-12, atol=1e-12)


def test_transformer_classifier_gradcheck_and_padding():
    m = TransformerEncoderClassifier(V, d_model=4, num_heads=2, d_ff=6, num_layers=2, max_len=8,
                                     dtype=np.float64)
    report = pyrnn.gradcheck(m, PADDED, LABELS)
    assert report.max_error < TOL, str(report)
    longer = np.concatenate([PADDED, np.zeros((3, 3), int)], axis=1)
    np.testing.assert_allclose(m.predict(PADDED), m.predict(longer), rtol=1e-10, atol=1e-12)
    ids, mask = m.add_special_tokens(PADDED)
    assert ids[1].tolist() == [m.cls_id, 4, m.sep_id, 0, 0, 0] and mask[1].tolist() == [1, 1, 1, 0, 0, 0]


ALL = [lambda **k: Seq2seq(V, 3, 4, **k), lambda **k: PeekySeq2seq(V, 3, 4, **k),
       lambda **k: AttentionSeq2seq(V, 3, 4, **k), lambda **k: Rnnlm(V, 3, 4, **k),
       lambda **k: BetterRnnlm(V, 4, 4, **k), lambda **k: BiLSTMClassifier(V, 3, 4, **k),
       lambda **k: TransformerEncoderClassifier(V, d_model=4, num_heads=2, d_ff=6, num_layers=1, **k)]


@pytest.mark.parametrize("build", ALL)
def test_dtype_default_float32_option_float64_and_seeded_init(build):
    m = build()
    assert all(p.dtype == np.float32 for p in m.params) and len(m.params) == len(m.grads)
    assert all(g.shape == p.shape for p, g in zip(m.params, m.grads))
    assert all(p.dtype == np.float64 for p in build(dtype=np.float64).params)
    a, b, c = build(seed=1), build(seed=1), build(seed=2)
    assert all(np.array_equal(p, q) for p, q in zip(a.params, b.params))
    assert not all(np.array_equal(p, q) for p, q in zip(a.params, c.params))
    names = [n for n, _ in m.named_params()]
    assert len(names) == len(set(names))
    with pytest.raises(TypeError):
        build(dtype=np.int32)


@pytest.mark.parametrize("cls", [Seq2seq, PeekySeq2seq, AttentionSeq2seq])
def test_seq2seq_generate_is_greedy_teacher_forcing(cls):
    m = cls(V, 3, 4, seed=0)
    xs = _ids((3, 5))
    out = m.generate(xs, 0, 4)
    assert out.shape == (3, 4) and out.dtype.kind == "i"
    # feeding the generated ids back with teacher forcing reproduces them (greedy = argmax)
    ts = np.concatenate([np.zeros((3, 1), int), out], axis=1)
    m.forward(xs, ts)
    score = m.decoder.affine.forward(m.decoder.affine.x)  # last affine input -> scores
    np.testing.assert_array_equal(score.argmax(axis=2), out)
    if cls is AttentionSeq2seq:
        m.generate(xs, 0, 4)
        w = m.attention_weights
        assert w.shape == (3, 4, 5) and np.allclose(w.sum(axis=2), 1)
    np.testing.assert_array_equal(m.generate(xs[:1], 0, 4), out[:1])  # batch-independent


def test_rnnlm_generate_restores_state():
    m = BetterRnnlm(V, 4, 4, seed=0)
    m.forward(_ids((1, 3)), _ids((1, 3), seed=2))
    h = m.lstm1.h.copy()
    ids = m.generate(2, sample_size=6, skip_ids=[0], seed=0)
    assert len(ids) == 7 and ids[0] == 2 and 0 not in ids[1:]
    np.testing.assert_array_equal(m.lstm1.h, h)
    assert m.generate(2, 6, seed=0) == m.generate(2, 6, seed=0)
    assert len(m.generate([1, 2, 3], 2, greedy=True)) == 5


# ---- learning: short runs ------------------------------------------------------------------

def _char_acc(pred, t):
    return float((pred == t[:, 1:]).mean())


def _majority_char_acc(t):
    """Per-position majority guess: the chance level of per-character accuracy."""
    tt = t[:, 1:]
    return float(np.mean([np.mean(tt[:, j] == np.bincount(tt[:, j]).argmax()) for j in range(tt.shape[1])]))


def test_attention_seq2seq_learns_dates():
    (x, t), (xt, tt), v = D.load_date(n=5000, test_size=500, seed=1)
    m = AttentionSeq2seq(len(v), 16, 32, seed=0)
    tr = Trainer(m, Adam(0.02), seed=0)
    tr.fit(x, t, max_epoch=2, batch_size=32, max_grad=5.0, eval_interval=10, show_progress=False)
    acc, pred = eval_seq2seq(m, xt, tt, return_predictions=True)
    # measured (init seeds 0/1/2): loss 2.98 -> 0.30-0.34, exact match 0.34-0.40, per-char 0.86-0.88
    # (chance: exact ~0, per-char 0.47 by guessing each position's most common character)
    assert tr.loss_list[-1] < 0.3 * tr.loss_list[0]
    assert acc > 0.15 and _char_acc(pred, tt) > _majority_char_acc(tt) + 0.2


@pytest.mark.parametrize("reverse", [False, True], ids=["plain", "reversed"])
def test_seq2seq_learns_addition(reverse):
    (x, t), (xt, tt), v = D.load_addition(n=6500, test_size=500, seed=0, reverse=reverse)
    m = Seq2seq(len(v), 16, 64, seed=0)
    tr = Trainer(m, Adam(0.01), seed=0)
    tr.fit(x, t, max_epoch=2, batch_size=64, max_grad=5.0, eval_interval=10, show_progress=False)
    acc, pred = eval_seq2seq(m, xt, tt, return_predictions=True)
    # measured: loss 2.40 -> 1.50 (plain) / 1.49 (reversed); per-char 0.38 / 0.41 vs chance 0.32
    assert tr.loss_list[-1] < 0.75 * tr.loss_list[0]
    assert _char_acc(pred, tt) > _majority_char_acc(tt) + 0.03


def _corpus_head(n=20_000, max_vocab=500):
    corpus, w2i, _ = D.load_corpus(max_vocab=max_vocab)
    return corpus[:n], w2i


def test_rnnlm_perplexity_falls_with_truncated_bptt():
    corpus, w2i = _corpus_head()
    train, val = D.split_corpus(corpus, 0.1)
    m = Rnnlm(len(w2i), 32, 32, seed=0)
    tr = RnnlmTrainer(m, SGD(20.0))
    tr.fit(train[:-1], train[1:], max_epoch=4, batch_size=10, time_size=10, max_grad=0.25, eval_interval=5,
           show_progress=False)
    # measured (first 20k tokens of the built-in corpus, V = 500): train perplexity per epoch
    # 67 -> 36 -> 29 -> 25, validation 35 (uniform guessing: 500)
    assert all(b < a for a, b in zip(tr.epoch_ppl, tr.epoch_ppl[1:]))
    assert tr.epoch_ppl[-1] < 0.6 * tr.epoch_ppl[0]
    assert eval_perplexity(m, val, batch_size=5, time_size=10) < 0.2 * len(w2i)  # far better than uniform


def test_better_rnnlm_trains():
    corpus, w2i = _corpus_head()
    np.random.seed(0)  # dropout masks
    m = BetterRnnlm(len(w2i), 32, 32, dropout_ratio=0.2, seed=0)
    tr = RnnlmTrainer(m, Adam(0.005))
    tr.fit(corpus[:-1], corpus[1:], max_epoch=3, batch_size=10, time_size=10, max_grad=0.25, eval_interval=5,
           show_progress=False)
    # measured: train perplexity per epoch 121 -> 77 -> 61
    assert all(b < a for a, b in zip(tr.epoch_ppl, tr.epoch_ppl[1:]))
    assert tr.epoch_ppl[-1] < 0.6 * tr.epoch_ppl[0]


def test_better_rnnlm_tied_embedding_init():
    """Tied, the embedding is also the output affine: fan-in scale 1/sqrt(H); untied, the book's 0.01."""
    H = 64
    tied, untied = BetterRnnlm(3000, H, H, seed=0), BetterRnnlm(3000, H, H, tie_weights=False, seed=0)
    assert abs(float(tied.embed.params[0].std()) * np.sqrt(H) - 1) < 0.02
    assert abs(float(untied.embed.params[0].std()) / 0.01 - 1) < 0.02
    assert float(BetterRnnlm(3000, H, H, embed_std=0.5, seed=0).embed.params[0].std()) > 0.49
    # the same seed draws the same LSTM weights whatever the embedding scale
    np.testing.assert_array_equal(tied.lstm1.params[1], untied.lstm1.params[1])


def test_bilstm_classifier_learns_sentiment_with_negation():
    (x, t), (xt, tt), v = D.load_sentiment(n=4000, test_size=1000, seed=0)
    m = BiLSTMClassifier(len(v), 16, 16, pad_id=v.pad_id, seed=0)
    tr = Trainer(m, Adam(0.01), seed=0)
    tr.fit(x, t, max_epoch=2, batch_size=32, eval_interval=10, show_progress=False)
    # measured: loss 0.70 -> 0.004, held-out accuracy 1.00 (a linear bag of words: 0.49)
    assert tr.loss_list[-1] < 0.5 * tr.loss_list[0]
    assert eval_accuracy(m, xt, tt) > 0.8


def test_transformer_classifier_learns_sentiment():
    (x, t), (xt, tt), v = D.load_sentiment(n=4000, test_size=1000, seed=0)
    m = TransformerEncoderClassifier(len(v), d_model=16, num_heads=2, d_ff=32, num_layers=1, max_len=20,
                                     pad_id=v.pad_id, cls_id=v.cls_id, sep_id=v.sep_id, seed=0)
    tr = Trainer(m, Adam(0.003), seed=0)
    tr.fit(x, t, max_epoch=2, batch_size=32, eval_interval=10, show_progress=False)
    # measured: loss 0.71 -> 0.15, held-out accuracy 0.97
    assert tr.loss_list[-1] < 0.7 * tr.loss_list[0]
    assert eval_accuracy(m, xt, tt) > 0.7
