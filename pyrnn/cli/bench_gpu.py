"""`pyrnn bench --gpu`: pyrnn on CuPy arrays (the CUDA backend, or whichever the dispatcher picks)
against PyTorch's cuDNN nn.LSTM / nn.GRU, forward + backward, in one run on one GPU.

Each cell: T=100, D=H, float32, the cuDNN GRU variant (reset_after) for GRU. Timing is by CUDA
events around a whole forward+backward on the library's own current stream, median of `repeat`
runs after warm-up calls (cuBLAS/cuDNN pick their algorithms on the first).

Both sides do plain float32 math: pyrnn's cuBLAS GEMMs run without TF32, and cuDNN is told the same
(torch.backends.cudnn.allow_tf32 = False) for the `cudnn_ms` column; `cudnn_tf32_ms` is cuDNN with
TF32 tensor cores allowed (PyTorch's default for cuDNN), for reference.
"""
from __future__ import annotations

import os
import platform
import re
import statistics
from dataclasses import asdict, dataclass

import numpy as np

from .. import backends, ops
from ._table import cell, keep, print_line, ratio_cell, write_json as _write_json

# (N, T, D, H) from the CUDA issue: T=100, D=H
SHAPES = [(1, 100, 256, 256), (16, 100, 512, 512), (64, 100, 512, 512), (256, 100, 1024, 1024)]
QUICK_SHAPES = [(2, 10, 32, 32)]
GATES = {"lstm": 4, "gru": 3}


class NoGpu(RuntimeError):
    """No usable GPU backend here: the message says why and what to install."""


@dataclass
class GpuRow:
    op: str
    N: int
    T: int
    D: int
    H: int
    backend: str               # the backend pyrnn ran on
    pyrnn_ms: float
    cudnn_ms: float | None     # torch nn.LSTM/nn.GRU on cuDNN, TF32 off (None: no torch with CUDA)
    cudnn_tf32_ms: float | None


def _cupy_and_backend(backend):
    """(cupy, name of the backend that runs recurrent ops on CuPy arrays), or raise NoGpu."""
    from .._arrays import cupy_module

    cp = cupy_module()
    if cp is None:
        raise NoGpu("CuPy is not installed (pip install 'pyrnn[cuda]')")
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, or a driver too old for CuPy's CUDA
        raise NoGpu(f"no GPU visible to CuPy ({type(e).__name__}: {e})") from None
    if count == 0:
        raise NoGpu("no GPU visible to CuPy (cudaGetDeviceCount returned 0)")
    name = backend or "cuda"
    ok, detail = backends.backend_status()[name]
    if not ok:
        raise NoGpu(f"backend {name!r} is unusable: {detail}")
    if "cupy" not in backends.get(name).ARRAYS:
        raise NoGpu(f"backend {name!r} does not run on CuPy arrays")
    return cp, name


def _median_event_ms(fn, repeat, warmup, new_event, elapsed_ms):
    """Median ms of `repeat` calls of fn() timed by two CUDA events, after `warmup` untimed calls; the
    events are CuPy's or torch's: new_event() makes one, elapsed_ms(start, end) reads the time."""
    for _ in range(warmup):
        fn()
    start, end = new_event(), new_event()
    times = []
    for _ in range(repeat):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(elapsed_ms(start, end))
    return statistics.median(times)


def _median_ms_cupy(cp, fn, repeat, warmup):
    return _median_event_ms(fn, repeat, warmup, cp.cuda.Event, cp.cuda.get_elapsed_time)


def _pyrnn_step(cp, op, N, T, D, H, seed=0):
    """A closure running one forward+backward of `op` through pyrnn.ops on CuPy float32 arrays."""
    g = GATES[op]
    rng = np.random.default_rng(seed)

    def r(*shape, k=1.0):
        return cp.asarray((rng.standard_normal(shape) * k).astype(np.float32))

    xs, dhs = r(N, T, D), r(N, T, H)
    Wx, Wh = r(D, g * H, k=1 / np.sqrt(D)), r(H, g * H, k=1 / np.sqrt(H))
    if op == "lstm":
        b = r(g * H, k=0.1)

        def run():
            hs, hT, cT, saved = ops.lstm_forward(xs, Wx, Wh, b)
            ops.lstm_backward(dhs, None, None, saved)
    else:  # the cuDNN/PyTorch GRU variant, comparable with torch.nn.GRU
        b = r(2, g * H, k=0.1)

        def run():
            hs, hT, saved = ops.gru_forward(xs, Wx, Wh, b, reset_after=True)
            ops.gru_backward(dhs, None, saved)
    return run


def _torch():
    """torch when it is installed with a usable CUDA device, else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _torch_ms(torch, op, N, T, D, H, repeat, warmup, tf32):
    torch.backends.cudnn.enabled = True
    torch.backends.cudnn.allow_tf32 = tf32
    cls = torch.nn.LSTM if op == "lstm" else torch.nn.GRU
    net = cls(D, H, batch_first=True).cuda().float()
    x = torch.randn(N, T, D, device="cuda", requires_grad=True)
    dh = torch.randn(N, T, H, device="cuda")

    def run():
        out, _ = net(x)
        out.backward(dh)

    return _median_event_ms(run, repeat, warmup, lambda: torch.cuda.Event(enable_timing=True),
                            lambda start, end: start.elapsed_time(end))


def run(ops_=("lstm", "gru"), shapes=SHAPES, repeat=10, warmup=3, torch=True, backend=None, progress=print):
    """One row per (op, shape). Raises NoGpu (with the reason) where no GPU backend is usable."""
    cp, name = _cupy_and_backend(backend)
    th = _torch() if torch else None
    rows = []
    for op in ops_:
        for N, T, D, H in shapes:
            step = _pyrnn_step(cp, op, N, T, D, H)
            with backends.use_backend(name):
                ours = _median_ms_cupy(cp, step, repeat, warmup)
            cudnn = _torch_ms(th, op, N, T, D, H, repeat, warmup, tf32=False) if th else None
            cudnn_tf32 = _torch_ms(th, op, N, T, D, H, repeat, warmup, tf32=True) if th else None
            keep(rows, GpuRow(op, N, T, D, H, name, ours, cudnn, cudnn_tf32), progress, format_row)
    return rows


HEADER = (f"{'op':<5}{'N':>5}{'T':>5}{'D':>6}{'H':>6}  {'backend':<11}{'pyrnn ms':>10}{'cuDNN ms':>10}"
          f"{'vs cuDNN':>10}{'cuDNN tf32':>12}")


def format_row(r: GpuRow) -> str:
    def ms(v, w=10):
        return cell(v, f"{w}.3f", w)
    ratio = ratio_cell(None if r.cudnn_ms is None else r.cudnn_ms / r.pyrnn_ms, 10)
    return (f"{r.op:<5}{r.N:>5}{r.T:>5}{r.D:>6}{r.H:>6}  {r.backend:<11}{ms(r.pyrnn_ms)}{ms(r.cudnn_ms)}"
            f"{ratio}{ms(r.cudnn_tf32_ms, 12)}")


def environment(backend=None) -> dict:
    cp, name = _cupy_and_backend(backend)
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    env = {"device": props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"]),
           "compute_capability": f"{props['major']}.{props['minor']}",
           "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(), "cuda_driver": cp.cuda.runtime.driverGetVersion(),
           "cupy": cp.__version__, "python": platform.python_version(), "numpy": np.__version__,
           "machine": platform.machine(), "backend": name}
    if name == "cuda":
        from ..backends import cuda as cuda_backend
        info = cuda_backend._cuda.build_info()
        env.update(cublas=info["cublas_runtime_version"], cublas_from=info["cublas_from"],
                   pyrnn_cuda_built_with=info["cuda_version"], cuda_archs=info["cuda_archs"])
    th = _torch()
    env["torch"] = th.__version__ if th else None
    env["cudnn"] = th.backends.cudnn.version() if th else None
    from .. import __version__
    env["pyrnn"] = __version__
    return env


def default_json_path(device: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-") or "gpu"
    return os.path.join("benchmarks", "results", f"gpu-{slug}.json")


def write_json(rows, path, env):
    _write_json(path, {"environment": env, "rows": [asdict(r) for r in rows]})


def cli(args) -> int:
    """`pyrnn bench --gpu [--op ...] [--shape ...] [--repeat R] [--quick] [--no-torch] [--json [PATH]]`."""
    import sys

    try:
        env = environment(args.backend)
    except NoGpu as e:
        print(f"pyrnn bench --gpu: no GPU to benchmark on: {e}", file=sys.stderr)
        return 2
    if args.dtype != "float32" or args.mode or args.no_reference:
        print("pyrnn bench --gpu: times float32 fwd+bwd against cuDNN only (--dtype, --mode and "
              "--no-reference apply to the CPU bench)", file=sys.stderr)
    shapes = args.shape or (QUICK_SHAPES if args.quick else SHAPES)
    print(f"pyrnn bench --gpu on {env['device']}: float32 forward+backward, median ms of CUDA-event timings; "
          f"vs cuDNN = cuDNN ms / pyrnn ms (>1: pyrnn faster); cuDNN with TF32 off, and on in the last column")
    print(HEADER, flush=True)
    rows = run(ops_=args.op or ("lstm", "gru"), shapes=shapes, repeat=2 if args.quick else args.repeat,
               warmup=1 if args.quick else 3, torch=not args.no_torch, backend=args.backend,
               progress=print_line)
    path = args.json or default_json_path(env["device"])
    write_json(rows, path, env)
    print(f"wrote {path}")
    return 0
