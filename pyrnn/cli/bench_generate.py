"""`pyrnn bench --generate`: generation speed of an LSTM language model, tokens per second.

pyrnn: `pyrnn.models.Rnnlm` (TimeEmbedding -> TimeLSTM -> TimeAffine; vocabulary 10,000, word vectors
and hidden state 650) decoding greedily with ``Rnnlm.decode`` (``PROMPT`` prompt ids read first, then
``TOKENS`` new ids per row), at batch 1 and 32. PyTorch: the same loop on ``torch.nn.Embedding`` +
``torch.nn.LSTM`` + ``torch.nn.Linear`` holding the same weights, under ``torch.no_grad()``: the prompt
in one call, then one ``nn.LSTM`` call per new token, the argmax, and the chosen id's log-probability
(which pyrnn's greedy decode reports too). Both produce the same ids (the ``same ids`` column).

tokens/s = batch * new ids / seconds for the whole decode (prompt included), median of ``repeat``
runs, pyrnn and torch alternating so both see the same machine load. The per-step breakdown times
each part of one step alone (pyrnn ops / torch modules, same shapes), to show where the time goes.
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import backends, ops
from ._table import cell, keep, print_line, print_load_average, ratio_cell, write_rows

V_SIZE, WORDVEC, HIDDEN = 10000, 650, 650
BATCHES = (1, 32)
PROMPT, TOKENS = 5, 100
QUICK = dict(V=200, D=16, H=32, batches=(1, 4), tokens=10)


def make_model(V=V_SIZE, D=WORDVEC, H=HIDDEN, dtype=np.float32, seed=0):
    from ..models import Rnnlm
    return Rnnlm(V, D, H, dtype=dtype, seed=seed)


def pyrnn_generate(model, prompt, tokens):
    """Greedy continuation of every prompt row by `tokens` ids -> Decoded."""
    return model.decode(prompt, tokens)


def torch_modules(model):
    """torch.nn Embedding, LSTM (batch_first) and Linear with the Rnnlm's weights (its dtype).
    pyrnn's gates are [f, g, i, o] along 4H; torch's are [i, f, g, o]."""
    import torch

    W_emb = model.embed.params[0]
    Wx, Wh, b = model.lstm.params
    W_out, b_out = model.affine.params
    (V, D), H = W_emb.shape, Wh.shape[0]
    tdt = torch.float32 if W_emb.dtype == np.float32 else torch.float64
    perm = np.concatenate([np.arange(k * H, (k + 1) * H) for k in (2, 0, 1, 3)])
    emb = torch.nn.Embedding(V, D).to(tdt)
    lstm = torch.nn.LSTM(D, H, batch_first=True).to(tdt)
    lin = torch.nn.Linear(H, V).to(tdt)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(np.asarray(W_emb)))
        lstm.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(Wx[:, perm].T)))
        lstm.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(Wh[:, perm].T)))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b[perm]))
        lstm.bias_hh_l0.zero_()
        lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W_out.T)))
        lin.bias.copy_(torch.from_numpy(b_out))
    return emb, lstm, lin


def torch_generate(model, prompt, tokens):
    """A closure running the torch loop once -> (ids (N, tokens), summed log-probabilities (N,))."""
    import torch

    emb, lstm, lin = torch_modules(model)
    p = torch.from_numpy(np.asarray(prompt, np.int64))

    def run():
        with torch.no_grad():
            state = None
            if p.shape[1] > 1:
                _, state = lstm(emb(p[:, :-1]))
            x = p[:, -1]
            out, score = [], torch.zeros(p.shape[0], dtype=torch.float64)
            for _ in range(tokens):
                o, state = lstm(emb(x[:, None]), state)
                logits = lin(o[:, 0])
                x = logits.argmax(dim=1)
                mx = logits.gather(1, x[:, None])
                score -= (logits - mx).exp().sum(dim=1).log().double()
                out.append(x)
            return torch.stack(out, dim=1).numpy(), score.numpy()
    return run


@dataclass
class GenRow:
    batch: int
    V: int
    D: int
    H: int
    prompt: int
    tokens: int
    dtype: str
    backend: str
    pyrnn_tokens_per_s: float
    torch_tokens_per_s: float | None
    same_ids: bool | None
    breakdown_ms: dict = field(default_factory=dict)  # per step: {"pyrnn": {...}, "torch": {...}}

    @property
    def ratio(self):
        return None if self.torch_tokens_per_s is None else self.pyrnn_tokens_per_s / self.torch_tokens_per_s


def _alternating(fns, repeat):
    """Median seconds of each fn, after one untimed call each, timed in alternation."""
    for f in fns:
        f()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for f, ts in zip(fns, times):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def _ms(fn, repeat=20):
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def breakdown(model, N, torch=True):
    """ms per decoding step of each part, timed alone at batch N: pyrnn's ops and torch's modules."""
    W_emb = model.embed.params[0]
    Wx, Wh, b = model.lstm.params
    W, bo = model.affine.params
    V, D, H, dt = W.shape[1], W_emb.shape[1], Wh.shape[0], W.dtype
    rng = np.random.default_rng(0)
    ids = rng.integers(0, V, (N, 1))
    x = rng.standard_normal((N, 1, D)).astype(dt) * 0.01
    h, c = (rng.standard_normal((N, H)).astype(dt) * 0.1 for _ in range(2))
    logits = rng.standard_normal((N, V)).astype(dt)

    def search():  # what greedy decoding does with the logits of a step
        a = logits.argmax(axis=1)
        mx = logits.max(axis=1, keepdims=True)
        np.log(np.exp(logits - mx).sum(axis=1))
        return a
    ours = {"embedding": _ms(lambda: ops.embedding_forward(W_emb, ids)),
            "lstm": _ms(lambda: ops.lstm_forward(x, Wx, Wh, b, h, c, train=False)),
            "affine": _ms(lambda: ops.affine_forward(h, W, bo)),
            "argmax+logsumexp": _ms(search)}
    out = {"pyrnn": ours}
    if torch:
        import torch as T
        emb, lstm, lin = torch_modules(model)
        tids, tx = T.from_numpy(ids), T.from_numpy(x)
        state = (T.from_numpy(h)[None], T.from_numpy(c)[None])
        th, tl = T.from_numpy(h), T.from_numpy(logits)

        def tsearch():
            a = tl.argmax(dim=1)
            (tl - tl.gather(1, a[:, None])).exp().sum(dim=1).log()
        with T.no_grad():
            out["torch"] = {"embedding": _ms(lambda: emb(tids)), "lstm": _ms(lambda: lstm(tx, state)),
                            "affine": _ms(lambda: lin(th)), "argmax+logsumexp": _ms(tsearch)}
    return out


def run(V=V_SIZE, D=WORDVEC, H=HIDDEN, batches=BATCHES, tokens=TOKENS, prompt=PROMPT, dtype=np.float32,
        repeat=3, torch=True, progress=print):
    if torch:
        try:
            import torch as T
        except ImportError:
            torch = False
        else:
            T.set_num_threads(os.cpu_count() or 1)
    model = make_model(V, D, H, dtype)
    backend = backends.select("lstm_forward", on_gpu=False).NAME
    rows = []
    for N in batches:
        p = np.random.default_rng(N).integers(0, V, (N, prompt))
        ours = lambda: pyrnn_generate(model, p, tokens)  # noqa: E731
        if torch:
            theirs = torch_generate(model, p, tokens)
            t_ours, t_theirs = _alternating([ours, theirs], repeat)
            same = bool(np.array_equal(ours().ids, theirs()[0]))
        else:
            (t_ours,), t_theirs, same = _alternating([ours], repeat), None, None
        keep(rows, GenRow(N, V, D, H, prompt, tokens, np.dtype(dtype).name, backend, N * tokens / t_ours,
                          None if t_theirs is None else N * tokens / t_theirs, same, breakdown(model, N, torch)),
             progress, format_row)
    return rows


HEADER = (f"{'batch':>5}  {'V,D,H':<14}{'new ids':>8}  {'backend':<9}{'pyrnn tok/s':>12}{'torch tok/s':>12}"
          f"{'ratio':>8}  {'same ids':<8}")


def format_row(r: GenRow) -> str:
    tt, ratio = cell(r.torch_tokens_per_s, "12.0f", 12), ratio_cell(r.ratio, 8)
    same = {True: "yes", False: "NO", None: "-"}[r.same_ids]
    lines = [f"{r.batch:>5}  {f'{r.V},{r.D},{r.H}':<14}{r.tokens:>8}  {r.backend:<9}{r.pyrnn_tokens_per_s:12.0f}"
             f"{tt}{ratio}  {same:<8}"]
    for who, parts in r.breakdown_ms.items():
        lines.append(f"{'':>7}{who + ' ms/step:':<17}" + "  ".join(f"{k} {v:.3f}" for k, v in parts.items()))
    return "\n".join(lines)


def cli(args) -> int:
    """`pyrnn bench --generate` (honours --quick, --dtype, --repeat, --no-torch, --backend, --json)."""
    import contextlib

    from .bench import environment, torch_note
    size = QUICK if args.quick else dict(V=V_SIZE, D=WORDVEC, H=HIDDEN, batches=BATCHES, tokens=TOKENS)
    print(f"pyrnn bench --generate: greedy decoding of an LSTM language model (Rnnlm: embedding, LSTM, affine), "
          f"prompt {PROMPT} ids, then {size['tokens']} new ids per row; tokens/s = batch * new ids / seconds, "
          f"median of {args.repeat if not args.quick else 2} runs; ratio = pyrnn / torch (> 1: pyrnn faster)")
    print(torch_note(not args.no_torch, "torch.nn.Embedding + LSTM + Linear, no_grad,"))
    print_load_average("load average: ")
    print(HEADER, flush=True)
    forced = getattr(args, "backend", None)
    with backends.use_backend(forced) if forced else contextlib.nullcontext():
        rows = run(size["V"], size["D"], size["H"], size["batches"], size["tokens"], dtype=np.dtype(args.dtype).type,
                   repeat=2 if args.quick else args.repeat, torch=not args.no_torch,
                   progress=print_line)
    if args.json:
        write_rows(args.json, "generate", environment(), [dict(asdict(r), ratio=r.ratio) for r in rows])
    return 0
