"""`pyrnn bench --torch-bridge`: pyrnn.torch.LSTM / GRU against torch.nn.LSTM / GRU, forward +
backward on the CPU, measured in one run; and pyrnn's op alone (pyrnn.ops, the same work without
the bridge) to show what the bridge adds.

Each step is what a training loop does per batch minus the optimizer: parameters' .grad set to
None, forward, backward of the output with a fixed random gradient (dx included, as in
`pyrnn bench`). Both modules hold the same state_dict, float32, batch_first, one layer.
Ratio = torch / bridge (> 1: the bridge is faster).

Rows marked /p take PackedSequence input (for each shape with N >= 4): lengths spread evenly from T
down to T/2, in shuffled order (enforce_sorted=False); both modules run the packed data, and "ops"
is pyrnn's packed op (`ops.*_packed_forward/backward`) on the same packed arrays.
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np

from ._table import keep, print_line, print_load_average, write_rows
from .bench import LABELS, QUICK_SHAPES, SETTLE_S, SHAPES, Case, _inputs, pyrnn_step

PACKED_LABELS = {"lstm": "lstm/p", "gru": "gru/p"}  # gru/p: the reset-after GRU too
PACKED_MIN_N = 4  # packed rows for the shapes with at least this many sequences


@dataclass
class BridgeRow(Case):
    bridge_ms: float   # pyrnn.torch module, fwd+bwd
    torch_ms: float    # torch.nn module, fwd+bwd
    ops_ms: float      # pyrnn.ops forward + backward on NumPy arrays (no torch)
    packed: bool = False  # PackedSequence input (lengths T ... T/2, unsorted)

    @property
    def ratio(self):
        return self.torch_ms / self.bridge_ms

    @property
    def overhead(self):
        return self.bridge_ms / self.ops_ms - 1


def _timeit_rounds(fns, repeat, min_time=0.5):
    """Median ms of each of fns, timed in rounds (one call of each per round, as bench_attention
    times its pairs), so that all see the same machine: on a shared machine, timing one after
    the other moved the (64, 100, 512, 512) LSTM's bridge overhead from 3% to 30% between runs.
    Each timed call follows an untimed call of the same function: torch's OpenMP workers keep
    spinning after its call, and the untimed call absorbs that and warms the caches."""
    time.sleep(SETTLE_S)
    for f in fns:
        f()
    times = [[] for _ in fns]
    t_start = time.perf_counter()
    while len(times[0]) < repeat or (time.perf_counter() - t_start < min_time and len(times[0]) < 50):
        for f, ts in zip(fns, times):
            f()
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) * 1e3 for ts in times]


def module_step(net, x, dh):
    """A closure: grads to None, forward, backward (x.grad too)."""
    params = list(net.parameters())

    def run():
        for p in params:
            p.grad = None
        x.grad = None
        out, _ = net(x)
        out.backward(dh)
    return run


def packed_lengths(N, T, seed=0):
    """N lengths spread evenly from T down to T/2 (at least 1), in a shuffled order."""
    lengths = np.linspace(T, max(1, T // 2), N).round().astype(np.int64)
    return np.random.default_rng(seed).permutation(lengths)


def packed_module_step(net, data, packed, dh):
    """module_step for a PackedSequence: `data` (the packed rows, a leaf that requires grad) in
    `packed`'s layout; dh (P, H) the gradient of the output's packed rows."""
    import torch
    params = list(net.parameters())

    def run():
        for p in params:
            p.grad = None
        data.grad = None
        out, _ = net(torch.nn.utils.rnn.PackedSequence(data, packed.batch_sizes, packed.sorted_indices,
                                                        packed.unsorted_indices))
        out.data.backward(dh)
    return run


def packed_ops_step(op, xs, batch_sizes, Wx, Wh, b, dhs):
    """pyrnn_step for the packed ops: xs (P, D), dhs (P, H) packed rows."""
    from .. import ops
    if op == "lstm":
        def run():
            saved = ops.lstm_packed_forward(xs, batch_sizes, Wx, Wh, b)[-1]
            ops.lstm_packed_backward(dhs, None, None, saved)
    else:
        def run():
            saved = ops.gru_packed_forward(xs, batch_sizes, Wx, Wh, b, reset_after=True)[-1]
            ops.gru_packed_backward(dhs, None, saved)
    return run


def modules(op, D, H, dtype, seed=0):
    """(torch.nn module, pyrnn.torch module) with one state_dict."""
    import torch

    import pyrnn.torch as pt
    torch.manual_seed(seed)
    tdt = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
    theirs = (torch.nn.LSTM if op == "lstm" else torch.nn.GRU)(D, H, batch_first=True, dtype=tdt)
    ours = (pt.LSTM if op == "lstm" else pt.GRU)(D, H, batch_first=True, dtype=tdt)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


# the line under a bench's title that says threads(), for `.format(threads())`
THREADS_LINE = "  threads  {} for each library (PYRNN_NUM_THREADS, else all cores)"


def threads() -> int:
    """The thread count both libraries get: PYRNN_NUM_THREADS (which sizes pyrnn's pool) when set,
    else every core (pyrnn's default, and `pyrnn bench`'s setting for torch)."""
    try:
        return max(1, int(os.environ.get("PYRNN_NUM_THREADS", "")))
    except ValueError:
        return os.cpu_count() or 1


def run(ops_=("lstm", "gru"), shapes=SHAPES, dtype=np.float32, repeat=5, progress=print):
    import torch
    torch.set_num_threads(threads())  # the same count as pyrnn's pool
    rows = []
    for op in ops_:
        for N, T, D, H in shapes:
            theirs, ours = modules(op, D, H, dtype)
            g = torch.Generator().manual_seed(1)
            x = torch.randn(N, T, D, generator=g, dtype=theirs.weight_ih_l0.dtype).requires_grad_(True)
            dh = torch.randn(N, T, H, generator=g, dtype=x.dtype)
            xs, Wx, Wh, b, dhs = _inputs(op, N, T, D, H, dtype)
            bridge, alone, tms = _timeit_rounds(
                [module_step(ours, x, dh), pyrnn_step(op, "fwd+bwd", xs, Wx, Wh, b, dhs), module_step(theirs, x, dh)],
                repeat)
            keep(rows, BridgeRow(op, N, T, D, H, np.dtype(dtype).name, bridge, tms, alone), progress, format_row)
        for N, T, D, H in shapes:
            if N < PACKED_MIN_N:
                continue
            theirs, ours = modules(op, D, H, dtype)
            g = torch.Generator().manual_seed(1)
            x = torch.randn(N, T, D, generator=g, dtype=theirs.weight_ih_l0.dtype)
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(packed_lengths(N, T)),
                                                             batch_first=True, enforce_sorted=False)
            data = packed.data.clone().requires_grad_(True)
            dh = torch.randn(data.shape[0], H, generator=g, dtype=x.dtype)
            _, Wx, Wh, b, _ = _inputs(op, N, T, D, H, dtype)
            bridge, alone, tms = _timeit_rounds(
                [packed_module_step(ours, data, packed, dh),
                 packed_ops_step(op, data.detach().numpy(), packed.batch_sizes.numpy(), Wx, Wh, b, dh.numpy()),
                 packed_module_step(theirs, data, packed, dh)],
                repeat)
            keep(rows, BridgeRow(op, N, T, D, H, np.dtype(dtype).name, bridge, tms, alone, packed=True), progress,
                 format_row)
    return rows


HEADER = (f"{'op':<7}{'N,T,D,H':<16}{'bridge ms':>10}{'torch ms':>10}{'vs torch':>9}"
          f"{'ops ms':>9}{'bridge overhead':>17}")


def format_row(r: BridgeRow) -> str:
    label = (PACKED_LABELS if r.packed else LABELS)[r.op]
    return (f"{label:<7}{r.shape:<16}{r.bridge_ms:10.2f}{r.torch_ms:10.2f}"
            f"{r.ratio:8.2f}x{r.ops_ms:9.2f}{100 * r.overhead:16.1f}%")


def cli(args) -> int:
    """`pyrnn bench --torch-bridge` (honours --op, --shape, --quick, --dtype, --repeat, --json)."""
    from .bench import environment, torch_version
    if torch_version() is None:
        print("pyrnn bench --torch-bridge: PyTorch is not installed: pip install 'pyrnn[torch]'", flush=True)
        return 2
    print("pyrnn bench --torch-bridge: median ms per fwd+bwd step (grads set to None, forward, backward "
          "with dx), batch_first, one layer; the three timed in rounds")
    print(f"  bridge   pyrnn.torch.LSTM / GRU;  torch  torch.nn.LSTM / GRU {torch_version()}, CPU; same state_dict")
    print(THREADS_LINE.format(threads()))
    print("  vs torch = torch ms / bridge ms (> 1: the bridge is faster); ops ms = pyrnn.ops alone on "
          "NumPy arrays; bridge overhead = bridge / ops - 1")
    print(f"  /p       PackedSequence input (shapes with N >= {PACKED_MIN_N}): lengths T down to T/2, "
          f"shuffled (enforce_sorted=False); ops = the packed op")
    print_load_average(suffix=" (other processes on the cores slow torch's OpenMP barriers most)")
    print(HEADER, flush=True)
    shapes = args.shape or (QUICK_SHAPES if args.quick else SHAPES)
    rows = run(ops_=args.op or ("lstm", "gru"), shapes=shapes, dtype=np.dtype(args.dtype).type,
               repeat=2 if args.quick else args.repeat, progress=print_line)
    if args.json:
        write_rows(args.json, "torch-bridge", dict(environment(), threads=threads()),
                   [dict(asdict(r), ratio=r.ratio, overhead=r.overhead) for r in rows])
    return 0
