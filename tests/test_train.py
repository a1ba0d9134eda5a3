"""pyrnn.train: optimizers, clipping, weight-tying merge, save/load, trainers, evaluation."""
import math

import numpy as np
import pytest

from pyrnn.models import BetterRnnlm, Rnnlm, Seq2seq
from pyrnn.train import (SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, RnnlmTrainer, Trainer, clip_grads,
                         dedup_params, eval_perplexity, eval_seq2seq, grad_norm, load_params, named_params,
                         progress, save_params)


class Quadratic:
    """loss = 0.5 * sum(A * (w - c)^2) over two params; forward/backward book-style."""

    def __init__(self, dtype):
        rng = np.random.default_rng(0)
        self.params = [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(5).astype(dtype)]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.c = [np.full_like(p, 0.5) for p in self.params]
        self.a = [np.linspace(0.5, 2.0, p.size).reshape(p.shape).astype(dtype) for p in self.params]

    def loss(self):
        return sum(float(0.5 * (a * (p - c) ** 2).sum()) for p, c, a in zip(self.params, self.c, self.a))

    def grad(self):
        for g, p, c, a in zip(self.grads, self.params, self.c, self.a):
            g[...] = a * (p - c)


@pytest.mark.parametrize("opt", [SGD(0.1), Momentum(0.05), Nesterov(0.05), AdaGrad(0.3), RMSprop(0.02), Adam(0.05)],
                         ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizers_reduce_a_quadratic_in_place_keeping_dtype(opt, dtype):
    q = Quadratic(dtype)
    ids = [id(p) for p in q.params]
    start = q.loss()
    for _ in range(100):
        q.grad()
        opt.update(q.params, q.grads)
    assert [id(p) for p in q.params] == ids and all(p.dtype == dtype for p in q.params)
    assert q.loss() < 0.05 * start


def test_clip_grads_caps_the_global_norm():
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal((4, 5)).astype("f") * 10, rng.standard_normal(3).astype("f") * 10]
    before = [g.copy() for g in grads]
    norm = clip_grads(grads, 1.0)
    assert norm == pytest.approx(math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in before)), rel=1e-5)
    assert grad_norm(grads) == pytest.approx(1.0, rel=1e-4)
    assert all(g.dtype == np.float32 for g in grads)
    np.testing.assert_allclose(grads[0] / before[0], grads[1][0] / before[1][0], rtol=1e-5)  # same direction
    small = [np.full(3, 0.1, "f")]
    clip_grads(small, 1.0)
    assert np.array_equal(small[0], np.full(3, 0.1, "f"))  # under the cap: untouched


def test_dedup_params_same_object_and_transposed_view():
    W = np.arange(6, dtype="f").reshape(2, 3)
    b = np.zeros(3, "f")
    g1, g2, g3, g4 = np.ones((2, 3), "f"), np.full(3, 2.0, "f"), np.full((2, 3), 3.0, "f"), np.full((3, 2), 4.0, "f")
    g4[0, 1] = 5.0
    params, grads = dedup_params([W, b, W, W.T], [g1, g2, g3, g4])
    assert len(params) == 2 and params[0] is W and params[1] is b
    np.testing.assert_array_equal(grads[0], g1 + g3 + g4.T)
    np.testing.assert_array_equal(g1, np.ones((2, 3), "f"))  # inputs untouched: calling twice never double-counts
    p2, gr2 = dedup_params([W, b, W, W.T], [g1, g2, g3, g4])
    np.testing.assert_array_equal(gr2[0], grads[0])
    # a model with tied embedding/output weights: one parameter in the update
    m = BetterRnnlm(11, 4, 4, seed=0)
    p, g = dedup_params(m.params, m.grads)
    assert len(m.params) == 9 and len(p) == 8 and p[0] is m.embed.params[0]
    assert m.affine.params[0].base is m.embed.params[0]


def test_training_step_with_tying_keeps_the_tie():
    m = BetterRnnlm(11, 4, 4, dropout_ratio=0.0, seed=0)
    xs = np.random.default_rng(0).integers(0, 11, (2, 5))
    m.forward(xs, xs)
    m.backward()
    p, g = dedup_params(m.params, m.grads)
    SGD(0.5).update(p, g)
    np.testing.assert_array_equal(m.affine.params[0], m.embed.params[0].T)


def test_save_load_round_trip_with_names(tmp_path):
    m = Seq2seq(13, 4, 5, seed=0)
    names = [n for n, _ in named_params(m)]
    assert names[:3] == ["encoder.embed.W", "encoder.lstm.Wx", "encoder.lstm.Wh"] and "decoder.affine.b" in names
    path = m.save_params(tmp_path / "m.npz")
    m2 = Seq2seq(13, 4, 5, seed=1)
    ids = [id(p) for p in m2.params]
    assert not np.array_equal(m.params[1], m2.params[1])
    assert load_params(m2, path) is m2  # the function and the method are the same
    assert [id(p) for p in m2.params] == ids  # loaded in place
    for a, b in zip(m.params, m2.params):
        np.testing.assert_array_equal(a, b)
    xs = np.random.default_rng(0).integers(0, 13, (3, 6))
    np.testing.assert_array_equal(m.generate(xs, 0, 4), m2.generate(xs, 0, 4))
    # plain lists of arrays: "params.<i>"
    arrays = [np.ones(3), np.zeros((2, 2))]
    save_params(arrays, tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz") as f:
        assert sorted(f.files) == ["params.0", "params.1"]
    # tied weights are stored once and the tie survives loading
    lm, lm2 = BetterRnnlm(9, 4, 4, seed=0), BetterRnnlm(9, 4, 4, seed=5)
    lm.save_params(tmp_path / "lm.npz")
    lm2.load_params(tmp_path / "lm.npz")
    np.testing.assert_array_equal(lm2.affine.params[0], lm.embed.params[0].T)


def test_load_mismatch_raises_value_error_naming_it(tmp_path):
    m = Seq2seq(13, 4, 5, seed=0)
    path = m.save_params(tmp_path / "m.npz")
    before = [p.copy() for p in Seq2seq(13, 4, 6, seed=3).params]
    other = Seq2seq(13, 4, 6, seed=3)
    with pytest.raises(ValueError, match=r"encoder\.lstm\.Wx: shape \(4, 20\) in the file"):
        other.load_params(path)
    for a, b in zip(before, other.params):  # nothing written
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"encoder\.embed\.W: dtype float32 in the file, the model has float64"):
        Seq2seq(13, 4, 5, dtype=np.float64).load_params(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["decoder.extra"] = arrays.pop("decoder.affine.b")
    np.savez(tmp_path / "renamed.npz", **arrays)
    with pytest.raises(ValueError, match=r"missing in the file: decoder\.affine\.b.*not parameters of the model: "
                                         r"decoder\.extra"):
        m.load_params(tmp_path / "renamed.npz")


def test_progress_bar_is_optional():
    assert list(progress(range(3), enabled=False)) == [0, 1, 2]
    bar = progress(range(2), total=2, enabled=False)
    bar.set_postfix(loss=1.0)
    bar.close()


class _Linear:
    """softmax regression on (x, t) as a loss model."""

    def __init__(self):
        from pyrnn.layers import Affine, SoftmaxWithLoss
        rng = np.random.default_rng(0)
        self.affine = Affine((rng.standard_normal((2, 2)) * 0.01).astype("f"), np.zeros(2, "f"))
        self.loss = SoftmaxWithLoss()
        self.params, self.grads = self.affine.params, self.affine.grads

    def forward(self, x, t):
        return self.loss.forward(self.affine.forward(x), t)

    def backward(self, dout=1):
        return self.affine.backward(self.loss.backward(dout))


def test_trainer_fits_and_records_history_deterministically():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 2)).astype("f")
    t = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    runs = []
    for _ in range(2):
        tr = Trainer(_Linear(), Adam(0.05), seed=3)
        tr.fit(x, t, max_epoch=3, batch_size=32, max_grad=10.0, eval_interval=4, show_progress=False)
        runs.append(tr)
    tr = runs[0]
    assert len(tr.epoch_loss) == 3 and len(tr.loss_list) == 6 and len(tr.epoch_time) == 3
    assert tr.epoch_loss[-1] < 0.5 * tr.epoch_loss[0]
    assert runs[0].loss_list == runs[1].loss_list  # shuffling is seeded
    with pytest.raises(ValueError):
        tr.fit(x, t[:10])


def test_rnnlm_trainer_truncated_bptt_perplexity_falls():
    rng = np.random.default_rng(0)
    corpus = np.tile(rng.integers(0, 12, 30), 40).astype(np.int32)  # a repeating stream: learnable
    m = Rnnlm(12, 8, 16, seed=0)
    tr = RnnlmTrainer(m, Adam(0.02))
    tr.fit(corpus[:-1], corpus[1:], max_epoch=4, batch_size=4, time_size=10, max_grad=1.0, eval_interval=5,
           val_corpus=corpus[:200], show_progress=False)
    # stateful across chunks: the LSTM carried (h, c) from the previous chunk
    assert m.lstm.h is None  # eval_perplexity resets the state after evaluating
    assert tr.epoch_ppl[-1] < 0.5 * tr.epoch_ppl[0]
    assert tr.val_ppl_list[-1] < 0.5 * tr.val_ppl_list[0] and len(tr.val_ppl_list) == 4
    ppl = eval_perplexity(m, corpus, batch_size=4, time_size=10)
    assert ppl == pytest.approx(tr.val_ppl_list[-1], rel=0.5) and ppl < 3.0


def test_rnnlm_trainer_carries_state_between_chunks():
    m = Rnnlm(5, 3, 4, seed=0)
    tr = RnnlmTrainer(m, SGD(0.1))
    corpus = np.arange(100, dtype=np.int32) % 5
    xs, ts = tr.get_batch(corpus[:-1], corpus[1:], 3, 7)
    assert xs.shape == (3, 7) and np.array_equal(xs[:, 1:], ts[:, :-1]) and tr.time_idx == 7
    m.forward(xs, ts)
    assert m.lstm.h is not None and m.lstm.stateful


def test_eval_seq2seq_exact_match():
    class Echo:
        def generate(self, xs, start_id, sample_size):
            return xs[:, :sample_size]
    x = np.array([[1, 2, 3], [1, 2, 4]])
    t = np.array([[0, 1, 2, 3], [0, 1, 2, 3]])
    acc, pred = eval_seq2seq(Echo(), x, t, return_predictions=True)
    assert acc == 0.5 and pred.shape == (2, 3)
