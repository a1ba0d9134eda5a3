"""Book-API models (tests/book_models.py) train on pyrnn.layers: chapter-8 attention
seq2seq and a chapter-6 RNNLM with stateful truncated BPTT."""
import numpy as np

from book_models import Adam, AttentionSeq2seq, Rnnlm

START = 10  # vocabulary: digits 0-9 and a start symbol


def _reverse_task(rng, n, length=5):
    """Input: random digits; target: start symbol + the digits reversed."""
    xs = rng.integers(0, 10, size=(n, length))
    ts = np.concatenate([np.full((n, 1), START), xs[:, ::-1]], axis=1)
    return xs, ts


def test_attention_seq2seq_learns_to_reverse():
    rng = np.random.default_rng(0)
    model, opt = AttentionSeq2seq(V=11, D=16, H=32, seed=0), Adam(lr=0.01)
    losses = []
    for _ in range(150):
        xs, ts = _reverse_task(rng, 32)
        losses.append(float(model.forward(xs, ts)))
        model.backward()
        opt.update(model.params, model.grads)
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert first > 2.0  # ~ln(11) at the start: the model knew nothing
    assert last < 0.2 * first, (first, last)  # measured: 2.36 -> 0.04

    xs, ts = _reverse_task(rng, 64)
    pred = model.generate(xs, START, xs.shape[1])
    assert (pred == ts[:, 1:]).mean() > 0.9  # per-token accuracy (measured 1.0); chance is 0.1
    assert model.decoder.attention.attention_weights[0].shape == (64, 5)


def test_seq2seq_grads_are_written_in_place():
    model = AttentionSeq2seq(V=11, D=8, H=8, seed=1)
    before = [id(g) for g in model.grads]
    xs, ts = _reverse_task(np.random.default_rng(0), 4)
    model.forward(xs, ts)
    model.backward()
    assert [id(g) for g in model.grads] == before
    assert all(g.dtype == np.float32 for g in model.grads)
    assert all(np.abs(g).sum() > 0 for g in model.grads)


def _corpus(rng, n):
    """A token stream with structure an LSTM can learn: repeated noisy phrases."""
    phrases = [rng.integers(0, 20, size=rng.integers(3, 7)) for _ in range(6)]
    return np.concatenate([phrases[i] for i in rng.integers(0, 6, size=n)])


def test_rnnlm_truncated_bptt_perplexity_falls():
    rng = np.random.default_rng(0)
    corpus = _corpus(rng, 400)
    xs_all, ts_all = corpus[:-1], corpus[1:]
    N, T = 8, 10
    jump = len(xs_all) // N
    model, opt = Rnnlm(V=20, D=16, H=32, dropout=0.1), Adam(lr=0.01)
    ppl = []
    for epoch in range(6):
        total, count, t0 = 0.0, 0, 0
        model.reset_state()
        for it in range(jump // T):
            # the book's batch layout: N streams, each advancing T tokens per iteration
            idx = (np.arange(N)[:, None] * jump + t0 + np.arange(T)[None, :]) % len(xs_all)
            t0 += T
            loss = model.forward(xs_all[idx], ts_all[idx])
            model.backward()
            opt.update(model.params, model.grads)
            total, count = total + float(loss), count + 1
        ppl.append(np.exp(total / count))
    assert ppl[0] > 8 and ppl[-1] < 0.3 * ppl[0], ppl  # measured 16.2 -> 2.9
    assert all(b < a * 1.05 for a, b in zip(ppl, ppl[1:])), ppl  # falls steadily
