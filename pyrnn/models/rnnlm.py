"""LSTM language models (the book's ch06): Rnnlm and BetterRnnlm (two stacked LSTMs,
dropout, weight tying), trained with truncated BPTT (`pyrnn.train.RnnlmTrainer`).

``forward(xs, ts, train_flg=True)`` -> mean loss over (N, T) next-token targets;
``backward(dout=1)``; ``predict(xs)`` -> scores (N, T, V); ``reset_state()`` before a new
stream; ``generate(start_id, sample_size)`` samples (or greedily picks) a continuation (one
stream, the book's API); ``decode(prompt, max_len, method=...)`` continues N prompts at once,
greedily, by sampling or by beam search (`pyrnn.models.decoding`).
"""
from __future__ import annotations

import numpy as np

from .. import ops
from .._arrays import get_xp, to_numpy
from ..layers import TimeAffine, TimeDropout, TimeEmbedding, TimeLSTM, TimeSoftmaxWithLoss
from . import decoding
from ._base import Init, Model


class _LanguageModel(Model):
    def _set_train(self, train_flg):
        for _, layer in self._children:
            if isinstance(layer, TimeDropout):
                layer.train_flg = train_flg

    def predict(self, xs, train_flg=False):
        self._set_train(train_flg)
        for _, layer in self._children:
            xs = layer.forward(xs)
        return xs

    def forward(self, xs, ts, train_flg=True):
        return self.loss_layer.forward(self.predict(xs, train_flg), ts)

    def backward(self, dout=1):
        dout = self.loss_layer.backward(dout)
        for _, layer in reversed(self._children):
            dout = layer.backward(dout)
        return dout

    def _lstms(self):
        return [layer for _, layer in self._children if isinstance(layer, TimeLSTM)]

    def generate(self, start_id, sample_size=100, skip_ids=None, greedy=False, seed=None):
        """Continue from ``start_id`` (an int or a list of ids to read first) for
        ``sample_size`` tokens: sampled from the softmax (seeded by ``seed``) or, with
        ``greedy``, the argmax; ids in ``skip_ids`` are never produced. Returns a list of
        ids (the start ids included). The model's recurrent state is restored afterwards."""
        lstms = self._lstms()
        saved = [(l.h, l.c) for l in lstms]
        rng = np.random.default_rng(seed)
        xp = get_xp(self.params[0])
        ids = [int(start_id)] if np.ndim(start_id) == 0 else [int(i) for i in start_id]
        skip = set(skip_ids or ())
        try:
            self.reset_state()
            for i in ids[:-1]:
                self.predict(xp.asarray([[i]], dtype=np.int32))
            x = ids[-1]
            for _ in range(sample_size):
                score = to_numpy(self.predict(xp.asarray([[x]], dtype=np.int32)))[0, -1].astype(np.float64)
                if skip:
                    score[list(skip)] = -np.inf
                if greedy:
                    x = int(score.argmax())
                else:
                    p = np.exp(score - score.max())
                    x = int(rng.choice(len(p), p=p / p.sum()))
                ids.append(x)
        finally:
            for l, (h, c) in zip(lstms, saved):
                l.set_state(h, c)
        return ids

    # ---- decoding (the step protocol of pyrnn.models.decoding) ----

    @property
    def decode_vocab_size(self):
        return self.affine.params[0].shape[1]

    def _run_layers(self, xs, state):
        """The layers at test time (dropout is the identity there) over xs (N, T) from the LSTM
        states (h, c, h, c, ...) (None: zeros), through the ops the layers call, leaving the layers'
        own state alone. -> (scores (N, T, V), new states)."""
        new, i = [], 0
        for _, layer in self._children:
            if isinstance(layer, TimeEmbedding):
                xs = ops.embedding_forward(layer.params[0], xs)[0]
            elif isinstance(layer, TimeLSTM):
                xs, h, c, _ = ops.lstm_forward(xs, *layer.params, h0=state[i], c0=state[i + 1], train=False)
                new += [h, c]
                i += 2
            elif isinstance(layer, TimeAffine):
                xs = ops.affine_forward(xs, *layer.params)[0]
            elif not isinstance(layer, TimeDropout):
                raise TypeError(f"decoding: no test-time step for a {type(layer).__name__} layer")
        return xs, tuple(new)

    def decode_start(self, prompt):
        """Read prompt[:, :-1] from zero states -> (states, first ids = prompt[:, -1])."""
        xp = get_xp(self.params[0])
        state = (None,) * (2 * len(self._lstms()))
        if prompt.shape[1] > 1:
            _, state = self._run_layers(xp.asarray(prompt[:, :-1]), state)
        return state, prompt[:, -1]

    def decode_step(self, state, ids):
        scores, state = self._run_layers(ids[:, None], state)
        return scores[:, 0], state

    def decode_select(self, state, rows):
        return decoding.select_rows(state, rows)

    def decode(self, prompt, max_len, method="greedy", *, end_id=None, pad_id=None, skip_ids=None,
               width=None, length_penalty=None, temperature=None, top_k=None, top_p=None, seed=None, rng=None):
        """Continue N prompts at once by up to ``max_len`` ids each.

        ``prompt``: one id, a sequence of ids (one row) or (N, P) ids; the model reads it from zero
        states (its own recurrent state, used by training, is left alone). The methods and options
        are those of `Seq2seq.decode`: "greedy", "sample" (temperature, top_k, top_p, seed or rng) or
        "beam" (width, length_penalty), with end_id, pad_id, skip_ids. -> `decoding.Decoded` whose
        ids are the new ids (the prompt not included)."""
        V = self.decode_vocab_size
        opts = decoding.check_options(V, method, max_len, end_id, pad_id, skip_ids, width, length_penalty,
                                      temperature, top_k, top_p, seed, rng)
        p = np.asarray(to_numpy(prompt))
        if p.ndim == 0:
            p = p.reshape(1, 1)
        elif p.ndim == 1:
            p = p.reshape(1, -1)
        if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
            raise ValueError(f"prompt: expected an id, a sequence of ids or (N, P) ids with N, P >= 1, "
                             f"got shape {np.shape(prompt)}")
        decoding.check_start_ids("prompt", p.reshape(-1), p.size, V)  # integer ids in [0, V)
        state, first = self.decode_start(get_xp(self.params[0]).asarray(p.astype(np.int64)))
        return decoding.run(self, state, to_numpy(first), opts, get_xp(self.params[0]))


class Rnnlm(_LanguageModel):
    """TimeEmbedding -> TimeLSTM (stateful) -> TimeAffine, TimeSoftmaxWithLoss."""

    def __init__(self, vocab_size=10000, wordvec_size=100, hidden_size=100, dtype=np.float32, seed=0, xp=None):
        init = Init(seed, dtype, xp)
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(init.embedding(V, D))
        self.lstm = TimeLSTM(*init.lstm(D, H), stateful=True)
        self.affine = TimeAffine(*init.affine(H, V))
        self.loss_layer = TimeSoftmaxWithLoss()
        self._compose(("embed", self.embed), ("lstm", self.lstm), ("affine", self.affine))


class BetterRnnlm(_LanguageModel):
    """Embedding -> dropout -> LSTM -> dropout -> LSTM -> dropout -> affine (Zaremba et al.;
    the book's ch06 BetterRnnlm). With ``tie_weights`` (needs wordvec_size == hidden_size)
    the output affine's W is the embedding's W transposed (Press & Wolf; Inan et al.): the
    same memory appears twice in ``params`` (as W and W.T) and `pyrnn.train.dedup_params`
    merges it before each update, as the book's trainer does.

    ``embed_std``: the embedding's initial standard deviation. Default: the book's 0.01
    untied; tied, 1/sqrt(H), the output affine's fan-in scale, since the matrix is also
    the output layer. With 0.01 a tied model trains far slower with Adam: on the built-in
    corpus with the settings of ``pyrnn demo rnnlm`` (3,000 words, H=200, dropout 0.4, Adam
    0.005), validation perplexity per epoch was 853, 9586, 187, 151 vs 152, 128, 118, 112."""

    def __init__(self, vocab_size=10000, wordvec_size=650, hidden_size=650, dropout_ratio=0.5,
                 tie_weights=True, embed_std=None, dtype=np.float32, seed=0, xp=None):
        init = Init(seed, dtype, xp)
        V, D, H = vocab_size, wordvec_size, hidden_size
        if tie_weights and D != H:
            raise ValueError(f"tie_weights needs wordvec_size == hidden_size, got {D} and {H}")
        if embed_std is None:
            embed_std = 1.0 / np.sqrt(H) if tie_weights else 0.01
        self.embed = TimeEmbedding(init.normal(V, D, scale=float(embed_std)))
        self.lstm1 = TimeLSTM(*init.lstm(D, H), stateful=True)
        self.lstm2 = TimeLSTM(*init.lstm(H, H), stateful=True)
        if tie_weights:
            self.affine = TimeAffine(self.embed.params[0].T, init.zeros(V))
        else:
            self.affine = TimeAffine(*init.affine(H, V))
        self.tie_weights = bool(tie_weights)
        self.loss_layer = TimeSoftmaxWithLoss()
        self._compose(("embed", self.embed), ("dropout1", TimeDropout(dropout_ratio)), ("lstm1", self.lstm1),
                      ("dropout2", TimeDropout(dropout_ratio)), ("lstm2", self.lstm2),
                      ("dropout3", TimeDropout(dropout_ratio)), ("affine", self.affine))
