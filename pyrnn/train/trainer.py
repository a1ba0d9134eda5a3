"""Training loops: `Trainer` (mini-batches of independent examples) and `RnnlmTrainer`
(truncated BPTT over one long token stream), book-style, with optional tqdm bars."""
from __future__ import annotations

import math
import time

import numpy as np

from .._arrays import get_xp
from .evaluate import eval_perplexity
from .grads import clip_grads, dedup_params
from .progress import progress

__all__ = ["Trainer", "RnnlmTrainer"]


def _step(model, optimizer, max_grad):
    """backward done: merge tied params, clip, update."""
    params, grads = dedup_params(model.params, model.grads)
    if max_grad is not None:
        clip_grads(grads, max_grad)
    optimizer.update(params, grads)


def _epoch(trainer, batch, max_iters, max_grad, eval_interval, show_progress, report):
    """One epoch of both trainers: for it in range(max_iters), ``bx, bt = batch(it)``, forward, backward
    and an optimizer step; every ``eval_interval`` iterations ``report(mean loss, bar)`` (records it,
    shows it on the bar), and ``report(mean, None)`` for a last partial interval. Returns the epoch's
    mean loss."""
    bar = progress(range(max_iters), total=max_iters, enabled=show_progress,
                   desc=f"epoch {trainer.current_epoch + 1}")
    total, count, epoch_total = 0.0, 0, 0.0
    for it in bar:
        bx, bt = batch(it)
        loss = trainer.model.forward(bx, bt)
        trainer.model.backward()
        _step(trainer.model, trainer.optimizer, max_grad)
        total += loss
        count += 1
        if eval_interval and count == eval_interval:
            report(float(total) / count, bar)
            epoch_total += float(total)
            total, count = 0.0, 0
    bar.close()
    epoch_total += float(total)
    if count and eval_interval:
        report(float(total) / count, None)
    return epoch_total / max_iters


class Trainer:
    """fit(x, t) runs ``loss = model.forward(bx, bt); model.backward()`` and an optimizer
    step per mini-batch, shuffling every epoch with a Generator seeded by ``seed``.

    History: ``loss_list`` (mean loss every ``eval_interval`` iterations, as in the book),
    ``epoch_loss`` and ``epoch_time`` (seconds) per epoch. ``callback(trainer, epoch)``,
    when given, runs after each epoch (evaluate, print samples, save).
    """

    def __init__(self, model, optimizer, seed=0):
        self.model, self.optimizer = model, optimizer
        self.rng = np.random.default_rng(seed)
        self.loss_list, self.epoch_loss, self.epoch_time = [], [], []
        self.current_epoch = 0

    def fit(self, x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20,
            shuffle=True, callback=None, show_progress=True, verbose=False):
        n = len(x)
        if len(t) != n:
            raise ValueError(f"x and t: different numbers of examples ({n} vs {len(t)})")
        if n < batch_size:
            raise ValueError(f"batch_size={batch_size} is larger than the data ({n} examples)")
        xp = get_xp(x)
        max_iters = n // batch_size

        def report(avg, bar):
            self.loss_list.append(avg)
            if bar is not None:
                bar.set_postfix(loss=f"{avg:.3f}")
        for _ in range(max_epoch):
            start = time.perf_counter()
            idx = self.rng.permutation(n) if shuffle else np.arange(n)
            idx = xp.asarray(idx)

            def batch(it, idx=idx):
                b = idx[it * batch_size:(it + 1) * batch_size]
                return x[b], t[b]
            mean = _epoch(self, batch, max_iters, max_grad, eval_interval, show_progress, report)
            self.current_epoch += 1
            self.epoch_loss.append(mean)
            self.epoch_time.append(time.perf_counter() - start)
            if verbose:
                print(f"| epoch {self.current_epoch} | loss {self.epoch_loss[-1]:.4f} "
                      f"| {self.epoch_time[-1]:.1f} s")
            if callback is not None:
                callback(self, self.current_epoch)
        return self


class RnnlmTrainer:
    """Truncated BPTT over one long stream: xs = corpus[:-1], ts = corpus[1:].

    The stream is read as ``batch_size`` parallel streams starting ``len // batch_size``
    apart, ``time_size`` steps per chunk; the (stateful) model carries its state from one
    chunk to the next and backward stops at the chunk boundary. History: ``ppl_list``
    (training perplexity every ``eval_interval`` iterations), ``epoch_ppl``, ``epoch_time``
    and, with ``val_corpus``, ``val_ppl_list`` (one per epoch). With ``lr_decay``, the optimizer's lr is multiplied
    by that factor whenever the validation perplexity does not improve (the book's ch06
    schedule uses 0.25). Evaluating resets the model's state.
    """

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer
        self.time_idx = 0
        self.ppl_list, self.epoch_ppl, self.epoch_time, self.val_ppl_list = [], [], [], []
        self.current_epoch = 0

    def get_batch(self, xs, ts, batch_size, time_size):
        xp = get_xp(xs)
        data_size = len(xs)
        jump = data_size // batch_size
        offsets = np.arange(batch_size) * jump
        idx = (offsets[:, None] + self.time_idx + np.arange(time_size)[None, :]) % data_size
        self.time_idx += time_size
        idx = xp.asarray(idx)
        return xs[idx], ts[idx]

    def fit(self, xs, ts, max_epoch=10, batch_size=20, time_size=35, max_grad=None, eval_interval=20,
            val_corpus=None, lr_decay=None, callback=None, show_progress=True, verbose=False):
        if len(xs) != len(ts):
            raise ValueError(f"xs and ts: different lengths ({len(xs)} vs {len(ts)})")
        max_iters = len(xs) // (batch_size * time_size)
        if max_iters < 1:
            raise ValueError(f"the stream ({len(xs)} tokens) is shorter than one batch "
                             f"({batch_size} x {time_size})")
        best_val = math.inf

        def report(avg, bar):
            ppl = math.exp(avg)
            self.ppl_list.append(ppl)
            if bar is not None:
                bar.set_postfix(ppl=f"{ppl:.1f}")
        for _ in range(max_epoch):
            start = time.perf_counter()
            mean = _epoch(self, lambda _it: self.get_batch(xs, ts, batch_size, time_size), max_iters, max_grad,
                          eval_interval, show_progress, report)
            self.current_epoch += 1
            self.epoch_ppl.append(math.exp(mean))
            self.epoch_time.append(time.perf_counter() - start)
            line = (f"| epoch {self.current_epoch} | train perplexity {self.epoch_ppl[-1]:.2f} "
                    f"| {self.epoch_time[-1]:.1f} s")
            if val_corpus is not None:
                val = eval_perplexity(self.model, val_corpus, batch_size=min(batch_size, 10),
                                      time_size=time_size)
                self.val_ppl_list.append(val)
                line += f" | val perplexity {val:.2f}"
                if lr_decay is not None and val >= best_val:
                    self.optimizer.lr *= lr_decay
                best_val = min(best_val, val)
            if verbose:
                print(line)
            if callback is not None:
                callback(self, self.current_epoch)
        return self
