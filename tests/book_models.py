"""Models written purely against the book's layer API ("Deep Learning from Scratch 2",
ch06 RNNLM and ch08 attention seq2seq), so tests prove that code of that shape runs
unchanged on pyrnn.layers. Written for these tests; the only pyrnn import is the layers."""
import numpy as np

from pyrnn.layers import (TimeAffine, TimeAttention, TimeDropout, TimeEmbedding, TimeLSTM,
                          TimeSoftmaxWithLoss)


def _init(rng, *shape, fan_in):
    return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype("f")


class AttentionEncoder:
    def __init__(self, V, D, H, rng):
        self.embed = TimeEmbedding((rng.standard_normal((V, D)) / 100).astype("f"))
        self.lstm = TimeLSTM(_init(rng, D, 4 * H, fan_in=D), _init(rng, H, 4 * H, fan_in=H),
                             np.zeros(4 * H, "f"), stateful=False)
        self.params = self.embed.params + self.lstm.params
        self.grads = self.embed.grads + self.lstm.grads

    def forward(self, xs):
        return self.lstm.forward(self.embed.forward(xs))

    def backward(self, dhs):
        self.embed.backward(self.lstm.backward(dhs))


class AttentionDecoder:
    def __init__(self, V, D, H, rng):
        self.embed = TimeEmbedding((rng.standard_normal((V, D)) / 100).astype("f"))
        self.lstm = TimeLSTM(_init(rng, D, 4 * H, fan_in=D), _init(rng, H, 4 * H, fan_in=H),
                             np.zeros(4 * H, "f"), stateful=True)
        self.attention = TimeAttention()
        self.affine = TimeAffine(_init(rng, 2 * H, V, fan_in=2 * H), np.zeros(V, "f"))
        self.layers = [self.embed, self.lstm, self.attention, self.affine]
        self.params = [p for lay in self.layers for p in lay.params]
        self.grads = [g for lay in self.layers for g in lay.grads]

    def forward(self, xs, enc_hs):
        self.lstm.set_state(enc_hs[:, -1])
        dec_hs = self.lstm.forward(self.embed.forward(xs))
        c = self.attention.forward(enc_hs, dec_hs)
        return self.affine.forward(np.concatenate((c, dec_hs), axis=2))

    def backward(self, dscore):
        dout = self.affine.backward(dscore)
        H = dout.shape[2] // 2
        denc_hs, ddec_hs = self.attention.backward(dout[:, :, :H])
        dout = self.lstm.backward(ddec_hs + dout[:, :, H:])
        denc_hs[:, -1] += self.lstm.dh
        self.embed.backward(dout)
        return denc_hs

    def generate(self, enc_hs, start_id, length):
        self.lstm.set_state(enc_hs[:, -1])
        ids, x = [], np.full((enc_hs.shape[0], 1), start_id)
        for _ in range(length):
            dec_hs = self.lstm.forward(self.embed.forward(x))
            c = self.attention.forward(enc_hs, dec_hs)
            x = self.affine.forward(np.concatenate((c, dec_hs), axis=2)).argmax(axis=2)
            ids.append(x[:, 0])
        return np.stack(ids, axis=1)


class AttentionSeq2seq:
    def __init__(self, V, D, H, seed=0):
        rng = np.random.default_rng(seed)
        self.encoder = AttentionEncoder(V, D, H, rng)
        self.decoder = AttentionDecoder(V, D, H, rng)
        self.softmax = TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads

    def forward(self, xs, ts):
        score = self.decoder.forward(ts[:, :-1], self.encoder.forward(xs))
        return self.softmax.forward(score, ts[:, 1:])

    def backward(self, dout=1):
        self.encoder.backward(self.decoder.backward(self.softmax.backward(dout)))

    def generate(self, xs, start_id, length):
        return self.decoder.generate(self.encoder.forward(xs), start_id, length)


class Rnnlm:
    """ch06-style LSTM language model trained with stateful truncated BPTT."""

    def __init__(self, V, D, H, dropout=0.0, seed=0):
        rng = np.random.default_rng(seed)
        self.layers = [
            TimeEmbedding((rng.standard_normal((V, D)) / 100).astype("f")),
            TimeDropout(dropout),
            TimeLSTM(_init(rng, D, 4 * H, fan_in=D), _init(rng, H, 4 * H, fan_in=H),
                     np.zeros(4 * H, "f"), stateful=True),
            TimeAffine(_init(rng, H, V, fan_in=H), np.zeros(V, "f")),
        ]
        self.lstm = self.layers[2]
        self.loss_layer = TimeSoftmaxWithLoss()
        self.params = [p for lay in self.layers for p in lay.params]
        self.grads = [g for lay in self.layers for g in lay.grads]

    def forward(self, xs, ts):
        for layer in self.layers:
            xs = layer.forward(xs)
        return self.loss_layer.forward(xs, ts)

    def backward(self, dout=1):
        dout = self.loss_layer.backward(dout)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)

    def reset_state(self):
        self.lstm.reset_state()


class Adam:
    """Book-style optimizer: updates params in place from grads (same list order)."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2, self.iter, self.m, self.v = lr, beta1, beta2, 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m += (1 - self.beta1) * (g - m)
            v += (1 - self.beta2) * (g ** 2 - v)
            p -= (lr_t * m / (np.sqrt(v) + 1e-7)).astype(p.dtype)
