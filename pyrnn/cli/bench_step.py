"""`pyrnn bench --step`: one recurrent step (T = 1), inference, as decoding and streaming run it,
measured in one run.

For each (N, H = D), float32, an LSTM step four ways:
  layer   a stateful TimeLSTM.forward on (N, 1, D) (the book's way to step a layer; it trains by
          default, so it saves what a backward needs);
  step    pyrnn.ops.lstm_step(x, h, c, Wx, Wh, b) (inference: nothing saved);
  numpy   the same step written in plain NumPy: x Wx + h Wh + b, then the gate math;
  torch   torch.nn.LSTM on (N, 1, D) under torch.no_grad(), carrying (h, c), when installed.
pyrnn's and NumPy's are timed in rounds (one call of each per round, bench_torch._timeit_rounds), so
they see the same machine; torch's after them, in its own rounds (its spinning OpenMP workers would
otherwise slow the calls that follow its own).
Ratios to quote: step / numpy (<= 1.5 is the target) and torch / step (> 1: pyrnn faster).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import ops
from ._table import cell, keep, print_line, print_load_average, ratio_cell, write_rows
from .bench import environment, torch_note, torch_version
from .bench_torch import THREADS_LINE, _timeit_rounds, threads

SHAPES = [(1, 256), (1, 1024), (32, 256)]  # (N, H = D)
QUICK_SHAPES = [(2, 16)]


@dataclass
class StepRow:
    N: int
    H: int
    layer_us: float
    step_us: float
    numpy_us: float
    torch_us: float | None

    @property
    def vs_numpy(self):
        return self.step_us / self.numpy_us

    @property
    def vs_torch(self):
        return None if self.torch_us is None else self.torch_us / self.step_us


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def run(shapes=SHAPES, repeat=50, torch=True, progress=print):
    from ..layers import TimeLSTM
    if torch and torch_version() is not None:
        import torch as _torch
        _torch.set_num_threads(threads())
    else:
        torch = False
    rows = []
    for N, H in shapes:
        D = H
        rng = np.random.default_rng(0)
        Wx = (rng.standard_normal((D, 4 * H)) / np.sqrt(D)).astype(np.float32)
        Wh = (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(np.float32)
        b = np.zeros(4 * H, np.float32)
        x = rng.standard_normal((N, D)).astype(np.float32)
        layer = TimeLSTM(Wx, Wh, b, stateful=True)
        xs = x[:, None, :]
        state = {"pyrnn": (None, None), "numpy": (np.zeros((N, H), np.float32), np.zeros((N, H), np.float32))}

        def step():
            state["pyrnn"] = ops.lstm_step(x, *state["pyrnn"], Wx, Wh, b)

        def numpy_step():
            h, c = state["numpy"]
            a = x @ Wx + h @ Wh + b
            f, g, i, o = _sigmoid(a[:, :H]), np.tanh(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:])
            c = f * c + g * i
            state["numpy"] = (o * np.tanh(c), c)

        fns = [lambda: layer.forward(xs), step, numpy_step]
        if torch:
            import torch as _torch
            net = _torch.nn.LSTM(D, H, batch_first=True)
            xt, carried = _torch.from_numpy(xs), [None]

            def torch_step():
                with _torch.no_grad():
                    carried[0] = net(xt, carried[0])[1]
            fns.append(torch_step)
        # pyrnn and NumPy in rounds; torch after, alone: its OpenMP workers spin after each call and
        # took the cores from the next call in the round (pyrnn's step at (1, 256): 50 us without torch
        # in the rounds, 190 us with it)
        times = [1e3 * t for t in _timeit_rounds(fns[:3], repeat)]  # ms -> us
        torch_us = 1e3 * _timeit_rounds(fns[3:], repeat)[0] if torch else None
        keep(rows, StepRow(N, H, *times, torch_us), progress, format_row)
    return rows


HEADER = (f"{'N, H=D':<10}{'layer us':>10}{'step us':>9}{'numpy us':>10}{'torch us':>10}"
          f"{'step/numpy':>11}{'vs torch':>9}")


def format_row(r: StepRow) -> str:
    torch_us, vs = cell(r.torch_us, "10.1f", 10), ratio_cell(r.vs_torch, 9)
    return (f"{f'{r.N}, {r.H}':<10}{r.layer_us:10.1f}{r.step_us:9.1f}{r.numpy_us:10.1f}{torch_us}"
            f"{r.vs_numpy:10.2f}x{vs}")


def cli(args) -> int:
    """`pyrnn bench --step` (honours --quick, --repeat, --no-torch, --json)."""
    print("pyrnn bench --step: one LSTM step (T = 1), float32, median us per call, timed in rounds")
    print("  layer = stateful TimeLSTM.forward on (N, 1, D) (trains: saves for backward); step = "
          "ops.lstm_step (inference); numpy = the same step in plain NumPy")
    print("  " + torch_note(not args.no_torch, "torch.nn.LSTM under no_grad, state carried,"))
    print(THREADS_LINE.format(threads()))
    print_load_average()
    print(HEADER, flush=True)
    rows = run(shapes=QUICK_SHAPES if args.quick else SHAPES, repeat=5 if args.quick else max(args.repeat, 50),
               torch=not args.no_torch, progress=print_line)
    if args.json:
        write_rows(args.json, "step", dict(environment(), threads=threads()),
                   [dict(asdict(r), vs_numpy=r.vs_numpy, vs_torch=r.vs_torch) for r in rows])
    return 0
