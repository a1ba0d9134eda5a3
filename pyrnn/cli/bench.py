"""`pyrnn bench`: one table, measured in one run, comparing for each op and shape
pyrnn (the automatic backend), the NumPy reference, PyTorch CPU (when installed)
and the GEMM limit (one sgemm/dgemm doing the same multiply-adds).

The ratios in the table are what to quote: absolute times on a shared machine
drift between runs, ratios measured side by side in one run much less.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np

from .. import backends, ops
from ._table import cell, keep, ratio_cell, write_json as _write_json

# (N, T, D, H) from the CPU kernel issue
SHAPES = [(32, 35, 128, 128), (64, 100, 512, 512), (1, 200, 256, 256)]
QUICK_SHAPES = [(4, 8, 16, 16)]
GATES = {"lstm": 4, "gru": 3}


@dataclass
class Row:
    op: str
    mode: str          # "fwd" or "fwd+bwd"
    N: int
    T: int
    D: int
    H: int
    dtype: str
    backend: str       # the backend pyrnn chose
    pyrnn_ms: float
    reference_ms: float | None
    torch_ms: float | None
    gemm_ms: float
    first_call_ms: float = 0.0  # pyrnn's untimed warm-up call: includes Numba's JIT compile/cache load


@dataclass
class Case:
    """The first fields of the --lengths and --torch-bridge rows: the op, its shape and dtype."""
    op: str
    N: int
    T: int
    D: int
    H: int
    dtype: str

    @property
    def shape(self) -> str:
        """The tables' N,T,D,H column."""
        return f"{self.N},{self.T},{self.D},{self.H}"


# bench_attention's runner pauses this long before each timed pair: the libraries timed one after another keep
# their idle worker threads spinning for a while after their last call (OpenBLAS's default thread
# timeout is 2^28 cycles, ~0.1 s; OpenMP's spin count is similar), and on a 2-core machine a spinning
# worker from the previous cell takes a core from the next one. (The runner here does not pause: each
# cell's untimed warm-up call absorbs that. Tried this session, each in one run on a machine whose
# speed drifted by 20% meanwhile: a pause before each cell, and timing pyrnn and torch in alternation
# as bench_attention does; neither steadied the table, and alternation slowed whichever library
# followed torch, whose OpenMP workers spin on after it returns.)
SETTLE_S = 0.3


def _timeit(fn, repeat, min_time=0.2, first=None):
    """Median of `repeat` timings of fn(), after one warm-up call; at least min_time in total.
    `first`, a list, receives the warm-up call's time (ms)."""
    t0 = time.perf_counter()
    fn()
    if first is not None:
        first.append((time.perf_counter() - t0) * 1e3)
    times, t_start = [], time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - t_start < min_time and len(times) < 50):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _inputs(op, N, T, D, H, dtype, seed=0):
    g = GATES[op]
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((N, T, D)).astype(dtype)
    Wx = (rng.standard_normal((D, g * H)) / np.sqrt(D)).astype(dtype)
    Wh = (rng.standard_normal((H, g * H)) / np.sqrt(H)).astype(dtype)
    b = np.zeros((2, g * H) if op == "gru" else g * H, dtype)
    dhs = rng.standard_normal((N, T, H)).astype(dtype)
    return xs, Wx, Wh, b, dhs


def pyrnn_step(op, mode, xs, Wx, Wh, b, dhs):
    """A closure running one forward (and backward) through pyrnn.ops."""
    if op == "lstm":
        def run():
            hs, hT, cT, saved = ops.lstm_forward(xs, Wx, Wh, b, train=mode != "fwd")
            if mode != "fwd":
                ops.lstm_backward(dhs, None, None, saved)
    else:  # the cuDNN/PyTorch GRU variant, comparable with torch.nn.GRU
        def run():
            hs, hT, saved = ops.gru_forward(xs, Wx, Wh, b, reset_after=True, train=mode != "fwd")
            if mode != "fwd":
                ops.gru_backward(dhs, None, saved)
    return run


def _torch_step(op, mode, N, T, D, H, dtype):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    cls = torch.nn.LSTM if op == "lstm" else torch.nn.GRU
    net = cls(D, H, batch_first=True).to(tdt)
    x = torch.randn(N, T, D, dtype=tdt, requires_grad=mode != "fwd")
    dh = torch.randn(N, T, H, dtype=tdt)

    def run():
        if mode == "fwd":
            with torch.inference_mode():
                net(x)
        else:
            out, _ = net(x)
            out.backward(dh)
    return run


def _gemm_step(op, mode, N, T, D, H, dtype):
    """One GEMM with the multiply-adds of the op: forward is (N*T, D+H) @ (D+H, gH); a
    backward costs twice that (input and weight gradients), so fwd+bwd is 3x as wide."""
    g = GATES[op]
    width = g * H * (1 if mode == "fwd" else 3)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((N * T, D + H)).astype(dtype)
    w = rng.standard_normal((D + H, width)).astype(dtype)
    out = np.empty((N * T, width), dtype)
    return lambda: np.matmul(a, w, out=out)


def run(ops_=("lstm", "gru"), modes=("fwd+bwd", "fwd"), shapes=SHAPES, dtype=np.float32, repeat=5,
        reference=True, torch=True, progress=print, backend=None):
    """One row per (op, shape, mode). `backend` forces the backend timed as "pyrnn" (default:
    the automatic choice), e.g. "numba" to see the fallback and its first-call JIT cost."""
    rows = []
    for op in ops_:
        for N, T, D, H in shapes:
            xs, Wx, Wh, b, dhs = _inputs(op, N, T, D, H, dtype)
            for mode in modes:
                first = []
                if backend:
                    chosen = backend
                    with backends.use_backend(backend):
                        ours = _timeit(pyrnn_step(op, mode, xs, Wx, Wh, b, dhs), repeat, first=first)
                else:
                    chosen = backends.select(f"{op}_forward", on_gpu=False).NAME
                    ours = _timeit(pyrnn_step(op, mode, xs, Wx, Wh, b, dhs), repeat, first=first)
                ref = None
                if reference:
                    with backends.use_backend("reference"):
                        ref = _timeit(pyrnn_step(op, mode, xs, Wx, Wh, b, dhs), max(1, repeat // 2))
                tstep = _torch_step(op, mode, N, T, D, H, dtype) if torch else None
                tms = _timeit(tstep, repeat) if tstep else None
                gemm = _timeit(_gemm_step(op, mode, N, T, D, H, dtype), repeat)
                keep(rows, Row(op, mode, N, T, D, H, np.dtype(dtype).name, chosen, ours, ref, tms, gemm, first[0]),
                     progress, format_row)
    return rows


# the op column's labels: the GRU timed is the reset-after variant, the one torch.nn.GRU and cuDNN run
LABELS = {"lstm": "lstm", "gru": "gru-ra"}


def torch_version() -> str | None:
    """The installed torch's version, from its metadata: importing torch only to say which one would
    load its OpenMP runtime and thread pools into a process that may never time it (--no-torch),
    and pyrnn's kernels ran up to 25% slower beside them (LSTM fwd+bwd at (64, 100, 512, 512))."""
    import importlib.metadata
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def legend(torch=True) -> str:
    """The lines above the table: what each column means, and why a column may be empty."""
    lines = ["pyrnn bench: median ms per call; ratios = other time / pyrnn time (> 1: pyrnn faster)",
             "  gru-ra   the reset-after GRU (cuDNN's and torch.nn.GRU's variant), timed against torch.nn.GRU",
             "  % GEMM   time of one GEMM with the same multiply-adds / pyrnn time (100% = the GEMM limit)",
             "  1st ms   pyrnn's first, untimed call (with numba: JIT compile or cache load)"]
    return "\n".join(lines + ["  " + torch_note(torch, "torch.nn.LSTM / GRU"), HEADER])


def torch_note(requested: bool, what: str) -> str:
    """One line on the PyTorch comparison: what it times, or why its cells are empty."""
    version = torch_version()
    if not requested:
        return "torch    skipped (--no-torch): its cells show '-'"
    if version is None:
        return "torch    not installed, so its cells show '-': pip install 'pyrnn[torch]' to compare"
    return f"torch    {what} {version}, CPU, {os.cpu_count()} threads"


HEADER = (f"{'op':<7}{'mode':<8}{'N,T,D,H':<15}{'backend':<10}{'pyrnn ms':>9}{'ref ms':>9}{'torch ms':>9}"
          f"{'vs ref':>7}{'vs torch':>9}{'% GEMM':>7}{'1st ms':>8}")


def format_row(r: Row) -> str:
    def ms(v):
        return cell(v, "9.2f", 9)

    def ratio(v, width):
        return ratio_cell(None if v is None else v / r.pyrnn_ms, width)
    return (f"{LABELS[r.op]:<7}{r.mode:<8}{f'{r.N},{r.T},{r.D},{r.H}':<15}{r.backend:<10}{ms(r.pyrnn_ms)}"
            f"{ms(r.reference_ms)}{ms(r.torch_ms)}{ratio(r.reference_ms, 7)}{ratio(r.torch_ms, 9)}"
            f"{100 * r.gemm_ms / r.pyrnn_ms:6.0f}%{r.first_call_ms:8.1f}")


def environment() -> dict:
    env = {"machine": platform.machine(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
           "numpy": np.__version__}
    env["torch"] = torch_version()
    from .. import __version__
    env["pyrnn"] = __version__
    return env


def write_json(rows, path):
    _write_json(path, {"environment": environment(), "rows": [asdict(r) for r in rows]})
