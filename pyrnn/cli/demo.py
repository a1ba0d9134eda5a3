"""`pyrnn demo`: real training runs on the built-in tasks.

    date       AttentionSeq2seq on the date-format task (the README's main job)
    addition   plain vs reversed-input vs peeky vs both, seq2seq on the addition task
    rnnlm      LSTM language model with truncated BPTT, plain vs dropout + weight tying
    sentiment  BiLSTM vs Transformer-encoder classifier on the synthetic sentiment set
"""
from __future__ import annotations

import os
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import backends
from ..train import Adam, RnnlmTrainer, Trainer, eval_accuracy, eval_seq2seq


def _train_step(model, x, t, i, batch_size):
    s = (i * batch_size) % max(len(x) - batch_size, 1)
    model.forward(x[s:s + batch_size], t[s:s + batch_size])
    model.backward()


def speed_vs_reference(make_model, x, t, batch_size=128, warmup=2, rounds=5):
    """(auto backend name, seconds/step, reference seconds/step) for forward+backward of one
    batch (no optimizer step), measured now; medians after warm-up. Measured one backend after
    the other, not interleaved: the reference's NumPy BLAS threads keep spinning for a while
    after each call and would slow whichever backend ran next."""
    auto = backends.select("lstm_forward", on_gpu=False).NAME

    def seconds(model):
        times = []
        for i in range(warmup + rounds):
            t0 = time.perf_counter()
            _train_step(model, x, t, i, batch_size)
            times.append(time.perf_counter() - t0)
        return float(np.median(times[warmup:]))

    ours = seconds(make_model())
    with backends.use_backend("reference"):
        ref = seconds(make_model())
    return auto, ours, ref


def write_png(path, image):
    """Write a 2-D array in [0, 1] as an 8-bit grayscale PNG (no plotting library needed)."""
    img = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    h, w = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def attention_heatmap(path, weights, src_labels, tgt_labels, title=""):
    """Attention weights (Td, Te) as a labelled PNG heat map: source characters along x, generated
    ones along y, `title` on top, a colour bar. Needs matplotlib (the `plot` extra); without it, a
    bare grayscale image (white = high weight) and a line saying how to get the plot. Returns
    whether the labelled plot was drawn."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        write_png(path, np.kron(weights / max(weights.max(), 1e-12), np.ones((16, 16))))
        print("matplotlib is not installed, so the heat map is a bare grayscale image without labels: "
              "pip install 'pyrnn[plot]' for the labelled plot")
        return False
    show = [c if c.strip() else "\u00b7" for c in src_labels]  # padding and spaces as a middle dot
    fig, ax = plt.subplots(figsize=(max(5.0, len(show) * 0.3 + 1.5), max(3.0, len(tgt_labels) * 0.35 + 1.2)))
    im = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=float(weights.max()) or 1.0, aspect="auto")
    ax.set_xticks(range(len(show)), show)
    ax.set_yticks(range(len(tgt_labels)), tgt_labels)
    ax.set_xlabel("input characters")
    ax.set_ylabel("output characters")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="attention weight")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _out(args, name):
    os.makedirs(args.out, exist_ok=True)
    return os.path.join(args.out, name)


# ---- date -----------------------------------------------------------------------------------

def demo_date(args):
    from ..datasets import load_date
    from ..models import AttentionSeq2seq, GNMTSeq2seq

    (x_train, t_train), (x_test, t_test), vocab = load_date(n=args.examples + 5000, test_size=5000,
                                                            seed=args.seed)
    V, H = len(vocab), args.hidden
    gnmt = args.model == "gnmt"
    if gnmt:
        # right-padded sources, each run for its own length: a bidirectional first layer needs no reversal
        def make():
            return GNMTSeq2seq(V, wordvec_size=16, hidden_size=H, num_layers=args.layers, dropout=args.dropout,
                               src_pad_id=vocab.pad_id, seed=args.seed)
        what = f"GNMT-style seq2seq, {args.layers} layers a side, dropout {args.dropout}"
    else:
        # the book feeds the source reversed: its last characters meet the decoder first
        x_train, x_test = x_train[:, ::-1].copy(), x_test[:, ::-1].copy()

        def make():
            return AttentionSeq2seq(V, wordvec_size=16, hidden_size=H, seed=args.seed)
        what = "attention seq2seq"

    auto, ours, ref = speed_vs_reference(make, x_train, t_train)
    print(f"date task, {what}: {len(x_train)} training / {len(x_test)} held-out examples, hidden {H}, batch 128")
    print(f"speed (forward+backward per batch of 128, measured now): {auto} {ours * 1e3:.1f} ms, "
          f"NumPy reference {ref * 1e3:.1f} ms -> {ref / ours:.1f}x faster")

    model = make()
    # lr 0.003 (the book uses 0.001): this generator's 20 formats and 100-year span are harder
    # than the book's date.txt; measured 0.888 exact match after 3 epochs at 0.001, 0.998 at 0.003
    trainer = Trainer(model, Adam(lr=args.lr), seed=args.seed)

    def after_epoch(tr, epoch):
        acc = eval_seq2seq(model, x_test, t_test)
        print(f"epoch {epoch}: loss {tr.epoch_loss[-1]:.4f}  {tr.epoch_time[-1]:.1f} s  "
              f"held-out exact match {acc:.4f}", flush=True)
        after_epoch.acc = acc

    trainer.fit(x_train, t_train, max_epoch=args.epochs, batch_size=128, max_grad=5.0,
                callback=after_epoch, show_progress=not args.no_progress)

    reading = (lambda ids: ids) if gnmt else (lambda ids: ids[..., ::-1])  # the source in reading order
    pred = model.generate(x_test[:5], vocab.start_id, t_test.shape[1] - 1)
    print("samples:")
    for i in range(5):
        src = vocab.decode(reading(x_test[i])).strip()
        out, want = vocab.decode(pred[i]), vocab.decode(t_test[i, 1:])
        print(f"  {src:<30} -> {out}  {'ok' if out == want else 'want ' + want}")
    model.generate(x_test[:1], vocab.start_id, t_test.shape[1] - 1)
    # the weights' columns in reading order (the book's encoder read the source reversed)
    w = reading(np.asarray(model.attention_weights)[0])  # (Td, Te)
    src, out = vocab.decode(reading(x_test[0])), vocab.decode(pred[0])
    png = _out(args, "date_attention.png")
    attention_heatmap(png, w, list(src), list(out), title=f"{src.strip()!r} -> {out!r}")
    print(f"attention heat map: {png}")
    if args.beam:
        t0 = time.perf_counter()
        beam = eval_seq2seq_beam(model, x_test, t_test, args.beam)
        print(f"held-out exact match: greedy {after_epoch.acc:.4f}, beam search (width {args.beam}) {beam:.4f} "
              f"({time.perf_counter() - t0:.1f} s for the beam search)")
    print(f"exact-match accuracy: {after_epoch.acc:.4f}")


def eval_seq2seq_beam(model, x, t, width, batch_size=500):
    """Exact-match accuracy of beam search (``width`` beams, no length penalty: the date task's
    answers all have one length) against t[:, 1:]; t[:, 0] is the start symbol."""
    hits = 0
    for s in range(0, len(x), batch_size):
        tb = t[s:s + batch_size]
        out = model.decode(x[s:s + batch_size], int(tb[0, 0]), tb.shape[1] - 1, "beam", width=width)
        hits += int((out.ids == tb[:, 1:]).all(axis=1).sum())
    return hits / max(len(x), 1)


# ---- addition -----------------------------------------------------------------------------------

def demo_addition(args):
    from ..datasets import load_addition
    from ..models import PeekySeq2seq, Seq2seq

    results = {}
    for name, cls, reverse in (("plain", Seq2seq, False), ("reversed", Seq2seq, True),
                               ("peeky", PeekySeq2seq, False), ("reversed+peeky", PeekySeq2seq, True)):
        (x_train, t_train), (x_test, t_test), vocab = load_addition(
            n=args.examples + 5000, test_size=5000, seed=args.seed, reverse=reverse)
        model = cls(len(vocab), wordvec_size=16, hidden_size=args.hidden, seed=args.seed)
        trainer = Trainer(model, Adam(lr=args.lr), seed=args.seed)
        trainer.fit(x_train, t_train, max_epoch=args.epochs, batch_size=128, max_grad=5.0,
                    show_progress=not args.no_progress)
        results[name] = eval_seq2seq(model, x_test, t_test)
        print(f"{name:<15} loss {trainer.epoch_loss[-1]:.4f}  held-out exact match {results[name]:.4f} "
              f"({sum(trainer.epoch_time):.0f} s)", flush=True)
    print("exact-match accuracy: " + ", ".join(f"{k} {v:.4f}" for k, v in results.items()))


# ---- rnnlm --------------------------------------------------------------------------------------

def demo_rnnlm(args):
    from ..datasets import load_corpus, split_corpus
    from ..models import BetterRnnlm, Rnnlm

    corpus, word_to_id, _ = load_corpus(args.corpus, max_vocab=args.vocab or None)
    if args.examples:
        corpus = corpus[:args.examples]  # a shorter stream (smoke runs)
    train, val = split_corpus(corpus, val_fraction=0.1)
    if len(train) <= 20 * RNNLM_BPTT:
        raise ValueError(f"corpus: {len(train)} training tokens (90% of {len(corpus)}) are too few for one "
                         f"batch of 20 x {RNNLM_BPTT}; use --examples >= {int(20 * RNNLM_BPTT / 0.9) + 2} "
                         f"and a corpus at least that long")
    V, H = len(word_to_id), args.hidden
    print(f"corpus: {args.corpus or 'built-in (text from the World English Bible, public domain)'}: "
          f"{len(train)} training / {len(val)} validation tokens, vocabulary {V}; hidden {H}, "
          f"batch 20 x {RNNLM_BPTT} steps of truncated BPTT, Adam {args.lr}", flush=True)
    results = {}
    for name, make in (("plain", lambda: Rnnlm(V, wordvec_size=H, hidden_size=H, seed=args.seed)),
                       ("dropout+tying", lambda: BetterRnnlm(V, wordvec_size=H, hidden_size=H,
                                                             dropout_ratio=RNNLM_DROPOUT, seed=args.seed))):
        np.random.seed(args.seed)  # TimeDropout draws its masks from NumPy's global generator
        model = make()
        trainer = RnnlmTrainer(model, Adam(lr=args.lr))

        def after_epoch(tr, epoch, name=name):
            print(f"{name:<14} epoch {epoch}: train perplexity {tr.epoch_ppl[-1]:7.1f}  "
                  f"validation {tr.val_ppl_list[-1]:7.1f}  {tr.epoch_time[-1]:.1f} s", flush=True)
        # the book's ch06 schedule (it divides by 4): the lr halves whenever validation perplexity stops falling
        trainer.fit(train[:-1], train[1:], max_epoch=args.epochs, batch_size=20, time_size=RNNLM_BPTT,
                    max_grad=0.25, val_corpus=val, lr_decay=0.5, callback=after_epoch,
                    show_progress=not args.no_progress)
        results[name] = trainer.val_ppl_list
    print("validation perplexity (last epoch, best epoch): " + ", ".join(
        f"{k} {v[-1]:.1f} (best {min(v):.1f} at epoch {int(np.argmin(v)) + 1})" for k, v in results.items()))


# batch 20 x 35 steps and gradient clipping at 0.25 are the book's ch06 settings. Adam 0.005 and
# dropout 0.4 (the book: SGD 20, 0.5 for H=650 on PTB's 930k tokens) for H=200 on the built-in
# 192k tokens, chosen by validation perplexity after 8 epochs, dropout+tying vs the plain model's
# best epoch (one run each): H=128, dropout 0.3: 110.4 vs 117.9; H=200, 0.4: 105.9 vs 113.4;
# H=256, 0.5: 104.3 vs 110.2 for a third more time
RNNLM_BPTT, RNNLM_LR, RNNLM_DROPOUT = 35, 0.005, 0.4


# ---- sentiment ----------------------------------------------------------------------------------

def demo_sentiment(args):
    from ..datasets import load_sentiment
    from ..models import BiLSTMClassifier, TransformerEncoderClassifier

    (x_train, t_train), (x_test, t_test), vocab = load_sentiment(n=args.examples + 2000, test_size=2000,
                                                                 seed=args.seed)
    for name, model in (("BiLSTM", BiLSTMClassifier(len(vocab), hidden_size=args.hidden, seed=args.seed)),
                        ("Transformer", TransformerEncoderClassifier(len(vocab), seed=args.seed))):
        trainer = Trainer(model, Adam(lr=args.lr), seed=args.seed)

        def after_epoch(tr, epoch, name=name, model=model):
            after_epoch.acc = eval_accuracy(model, x_test, t_test)
            print(f"{name:<12} epoch {epoch}: loss {tr.epoch_loss[-1]:.4f}  {tr.epoch_time[-1]:.1f} s  "
                  f"held-out accuracy {after_epoch.acc:.4f}", flush=True)
        trainer.fit(x_train, t_train, max_epoch=args.epochs, batch_size=64, max_grad=5.0,
                    callback=after_epoch, show_progress=not args.no_progress)
        print(f"{name:<12} held-out accuracy {after_epoch.acc:.4f}", flush=True)


@dataclass(frozen=True)
class Task:
    """A demo task and its defaults (the CLI shows them in `pyrnn demo <task> --help`)."""
    run: Callable
    summary: str
    details: str
    epochs: int
    hidden: int
    examples: int | None
    examples_help: str
    lr: float
    minutes: str  # the defaults' run time on a 2-core machine like CI's (README's demo table)
    beam: int | None = None  # date only: --beam's default (None: greedy evaluation only)


TASKS = {
    "date": Task(demo_date, "AttentionSeq2seq on the date-format task (the README's main job).",
                 "Human-written dates ('Tuesday, June 3, 2008', '6/3/08', ...) to ISO 2008-06-03; the "
                 "book's chapter-8 model, batch 128; prints the speed against the NumPy reference, "
                 "per-epoch loss and held-out exact match, samples, and an attention heat map.",
                 epochs=3, hidden=256, examples=45000, lr=0.003, minutes="1.5 minutes",
                 examples_help="training examples (default 45000; 5000 more are held out)", beam=None),
    "addition": Task(demo_addition, "The book's ch07 seq2seq on sums ('16+75' -> '91').",
                     "Four models: plain, reversed input, peeky decoder, both; batch 128.",
                     epochs=25, hidden=128, examples=45000, lr=0.001, minutes="8 minutes",
                     examples_help="training examples (default 45000; 5000 more are held out)"),
    "rnnlm": Task(demo_rnnlm, "The book's ch06 LSTM language models with truncated BPTT.",
                  f"Rnnlm vs BetterRnnlm (2 LSTMs, dropout {RNNLM_DROPOUT}, weight tying) on the built-in "
                  f"corpus or --corpus FILE, batch 20 x {RNNLM_BPTT} steps; validation perplexity per epoch.",
                  epochs=8, hidden=200, examples=None, lr=RNNLM_LR, minutes="3 minutes",
                  examples_help="use only the first N tokens of the corpus (default: all)"),
    "sentiment": Task(demo_sentiment, "BiLSTM vs Transformer-encoder classifiers on synthetic sentiment.",
                      "10,000 generated sentences with negation ('not bad' is positive), batch 64; "
                      "per-epoch loss, time and held-out accuracy.",
                      epochs=3, hidden=32, examples=10000, lr=0.003, minutes="20 seconds",
                      examples_help="training examples (default 10000; 2000 more are held out)"),
}


def run(args):
    demo = TASKS[args.task].run
    if args.backend:
        with backends.use_backend(args.backend):
            demo(args)
    else:
        demo(args)
    return 0
