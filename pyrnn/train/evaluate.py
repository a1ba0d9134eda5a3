"""Evaluation: perplexity of a language model over one long stream, exact-match accuracy
of greedy seq2seq generation, and classification accuracy."""
from __future__ import annotations

import inspect
import math

import numpy as np

from .._arrays import get_xp, to_numpy
from .progress import progress

__all__ = ["eval_perplexity", "eval_seq2seq", "seq2seq_predict", "eval_accuracy", "forward_eval"]


def _takes_train_flg(fn) -> bool:
    try:
        return "train_flg" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def forward_eval(model, *args):
    """model.forward(*args) in evaluation mode (``train_flg=False`` where the model has it)."""
    if _takes_train_flg(model.forward):
        return model.forward(*args, train_flg=False)
    return model.forward(*args)


def _reset(model):
    if hasattr(model, "reset_state"):
        model.reset_state()


def eval_perplexity(model, corpus, batch_size=10, time_size=35, show_progress=False):
    """exp(mean cross-entropy) of ``model`` predicting corpus[1:] from corpus[:-1].

    The stream is cut into ``batch_size`` parallel streams read ``time_size`` steps at a
    time with the state carried (the model must be stateful, like the training run);
    the model's state is reset before and after. ``model.forward(xs, ts)`` must return the
    mean loss over the chunk.
    """
    xp = get_xp(corpus)
    n = (len(corpus) - 1) // batch_size
    if n < 1:
        raise ValueError(f"corpus: {len(corpus)} tokens are too few for batch_size={batch_size}")
    xs = corpus[:batch_size * n].reshape(batch_size, n)
    ts = corpus[1:batch_size * n + 1].reshape(batch_size, n)
    _reset(model)
    total, count = 0.0, 0
    starts = range(0, n, time_size)
    for s in progress(starts, total=len(starts), desc="perplexity", enabled=show_progress):
        bx, bt = xp.ascontiguousarray(xs[:, s:s + time_size]), xp.ascontiguousarray(ts[:, s:s + time_size])
        loss = forward_eval(model, bx, bt)
        total += float(loss) * bx.size
        count += bx.size
    _reset(model)
    return math.exp(total / count)


def seq2seq_predict(model, x, start_id, sample_size, batch_size=500):
    """Greedy generation for every row of x: -> ids (N, sample_size) (NumPy)."""
    out = []
    for s in range(0, len(x), batch_size):
        out.append(to_numpy(model.generate(x[s:s + batch_size], start_id, sample_size)))
    return np.concatenate(out, axis=0) if out else np.zeros((0, sample_size), np.int64)


def eval_seq2seq(model, x, t, batch_size=500, return_predictions=False):
    """Exact-match accuracy of greedy generation: t[:, 0] is the start symbol, the model
    must produce t[:, 1:] exactly. -> fraction in [0, 1] (and the predictions if asked)."""
    if len(x) != len(t):
        raise ValueError(f"x and t: different numbers of examples ({len(x)} vs {len(t)})")
    t = to_numpy(t)
    start_id = int(t[0, 0])
    if not (t[:, 0] == start_id).all():
        raise ValueError("t: every target must begin with the same start symbol")
    pred = seq2seq_predict(model, x, start_id, t.shape[1] - 1, batch_size)
    acc = float((pred == t[:, 1:]).all(axis=1).mean()) if len(t) else 0.0
    return (acc, pred) if return_predictions else acc


def eval_accuracy(model, x, t, batch_size=500):
    """Classification accuracy: argmax of ``model.predict(x)`` (N, C) against labels t (N,)."""
    correct = 0
    for s in range(0, len(x), batch_size):
        scores = model.predict(x[s:s + batch_size])
        correct += int((to_numpy(scores).argmax(axis=-1) == to_numpy(t[s:s + batch_size])).sum())
    return correct / max(len(x), 1)
