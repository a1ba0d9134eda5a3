"""`pyrnn bench --lengths`: variable-length batches, forward + backward, measured in one run.

For each op and shape, a batch whose lengths are drawn uniformly from [T/4, T] (seeded), run as
  full     the same batch without lengths (every row all T steps: what ignoring the padding costs);
  lengths  pyrnn.ops with ``lengths`` on the padded batch (packing and unpacking included);
  packed   pyrnn's packed op on the packed rows (PyTorch's PackedSequence layout);
  torch    torch.nn.LSTM / GRU on the same PackedSequence (enforce_sorted=False), when installed.
The ratios to quote are lengths / full (the real steps are `real` of the padded ones: padded steps
should cost nothing) and torch / lengths (> 1: pyrnn faster). All timed in rounds, one call of each
per round (bench_torch._timeit_rounds), so that all see the same machine.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .. import ops
from ._table import cell, keep, print_line, ratio_cell, write_rows
from .bench import LABELS, QUICK_SHAPES, SHAPES, Case, _inputs, environment, torch_note, torch_version
from .bench_torch import THREADS_LINE, _timeit_rounds, packed_module_step, packed_ops_step, threads


@dataclass
class LengthsRow(Case):
    real: float              # real steps / padded steps (sum(lengths) / (N*T))
    full_ms: float           # pyrnn, no lengths
    lengths_ms: float        # pyrnn, padded batch with lengths
    packed_ms: float         # pyrnn packed op on the packed rows
    torch_ms: float | None   # torch.nn on the PackedSequence

    @property
    def saving(self):
        return self.lengths_ms / self.full_ms

    @property
    def vs_torch(self):
        return None if self.torch_ms is None else self.torch_ms / self.lengths_ms


def uniform_lengths(N, T, seed=0):
    """N lengths drawn uniformly from [max(1, T/4), T]."""
    return np.random.default_rng(seed).integers(max(1, T // 4), T + 1, N)


def padded_step(op, xs, Wx, Wh, b, dhs, lengths):
    """forward + backward through pyrnn.ops on the padded batch, with lengths (None: all T steps)."""
    if op == "lstm":
        def run():
            saved = ops.lstm_forward(xs, Wx, Wh, b, lengths=lengths)[-1]
            ops.lstm_backward(dhs, None, None, saved)
    else:
        def run():
            saved = ops.gru_forward(xs, Wx, Wh, b, reset_after=True, lengths=lengths)[-1]
            ops.gru_backward(dhs, None, saved)
    return run


def _packed(xs, lengths):
    """The packed rows of xs (N, T, ...) and batch_sizes, as PyTorch packs them (longest first)."""
    order = np.argsort(-lengths, kind="stable")
    batch_sizes = (lengths[order][None, :] > np.arange(lengths.max())[:, None]).sum(axis=1)
    rows = np.concatenate([xs[order[:n], t] for t, n in enumerate(batch_sizes)])
    return np.ascontiguousarray(rows), batch_sizes


def _torch_step(op, D, H, xs, lengths, dhs_packed):
    """torch.nn's module (its own initial weights: the timing does not depend on them) on the
    PackedSequence of xs."""
    import torch
    net = (torch.nn.LSTM if op == "lstm" else torch.nn.GRU)(D, H, batch_first=True,
                                                            dtype=torch.from_numpy(xs[:0]).dtype)
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(xs), torch.from_numpy(lengths),
                                                     batch_first=True, enforce_sorted=False)
    data = packed.data.clone().requires_grad_(True)
    return packed_module_step(net, data, packed, torch.from_numpy(dhs_packed))


def run(ops_=("lstm", "gru"), shapes=SHAPES, dtype=np.float32, repeat=5, torch=True, progress=print):
    rows = []
    if torch and torch_version() is not None:
        import torch as _torch
        _torch.set_num_threads(threads())  # the same count as pyrnn's pool
    else:
        torch = False
    for op in ops_:
        for N, T, D, H in shapes:
            xs, Wx, Wh, b, dhs = _inputs(op, N, T, D, H, dtype)
            lengths = uniform_lengths(N, T)
            xs_packed, batch_sizes = _packed(xs, lengths)
            dhs_packed, _ = _packed(dhs, lengths)
            fns = [padded_step(op, xs, Wx, Wh, b, dhs, None), padded_step(op, xs, Wx, Wh, b, dhs, lengths),
                   packed_ops_step(op, xs_packed, batch_sizes, Wx, Wh, b, dhs_packed)]
            if torch:
                fns.append(_torch_step(op, D, H, xs, lengths, dhs_packed))
            times = _timeit_rounds(fns, repeat)
            keep(rows, LengthsRow(op, N, T, D, H, np.dtype(dtype).name, float(lengths.sum() / (N * T)), *times[:3],
                                  times[3] if torch else None), progress, format_row)
    return rows


HEADER = (f"{'op':<7}{'N,T,D,H':<16}{'real':>6}{'full ms':>9}{'lengths ms':>11}{'packed ms':>10}{'torch ms':>9}"
          f"{'lengths/full':>13}{'vs torch':>9}")


def format_row(r: LengthsRow) -> str:
    torch_ms, vs = cell(r.torch_ms, "9.2f", 9), ratio_cell(r.vs_torch, 9)
    return (f"{LABELS[r.op]:<7}{r.shape:<16}{r.real:6.2f}{r.full_ms:9.2f}{r.lengths_ms:11.2f}"
            f"{r.packed_ms:10.2f}{torch_ms}{r.saving:12.2f}x{vs}")


def cli(args) -> int:
    """`pyrnn bench --lengths` (honours --op, --shape, --quick, --dtype, --repeat, --no-torch, --json)."""
    print("pyrnn bench --lengths: median ms per forward + backward; lengths uniform in [T/4, T], seeded; "
          "timed in rounds")
    print("  full = no lengths; lengths = pyrnn.ops with lengths (padded batch); packed = the packed op on "
          "packed rows; real = sum(lengths) / (N*T)")
    print("  " + torch_note(not args.no_torch, "torch.nn.LSTM / GRU on the PackedSequence (enforce_sorted=False)"))
    print(THREADS_LINE.format(threads()))
    print(HEADER, flush=True)
    shapes = [s for s in (args.shape or (QUICK_SHAPES if args.quick else SHAPES)) if s[0] >= 2]
    rows = run(ops_=args.op or ("lstm", "gru"), shapes=shapes, dtype=np.dtype(args.dtype).type,
               repeat=2 if args.quick else args.repeat, torch=not args.no_torch,
               progress=print_line)
    if args.json:
        write_rows(args.json, "lengths", dict(environment(), threads=threads()),
                   [dict(asdict(r), saving=r.saving, vs_torch=r.vs_torch) for r in rows])
    return 0
