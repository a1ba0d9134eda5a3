"""`pyrnn bench --blas-spin`: what NumPy's spinning OpenBLAS threads cost pyrnn's kernels.

NumPy's OpenBLAS workers spin about 0.1 s after each multi-threaded call (pyrnn/_process.py).
An LSTM fwd+bwd (TimeLSTM, float32) is timed in a fresh process twice: alone (back to back), and
with a NumPy (400, 400) matmul before each timed call, as in a model that mixes NumPy layers with
pyrnn's. Once with OPENBLAS_THREAD_TIMEOUT unset (NumPy's default) and once with it at 4 (what
the `pyrnn` command sets), in alternating rounds; the median over rounds is reported. The figure
to quote: "after matmul / alone" per setting (1.0 = no interference).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from ._table import json_path, print_line, write_json

SHAPE = (1, 200, 256, 256)  # N, T, D, H
QUICK_SHAPE = (1, 20, 32, 32)
SETTINGS = [(None, "unset (NumPy's default)"), ("4", "4 (the pyrnn command)")]


def _child(shape, repeat):
    """Runs in the fresh process: prints {"alone_ms", "after_ms", "matmul_us", "openblas_read"} as JSON."""
    import time

    import numpy as np

    from pyrnn.layers import TimeLSTM

    N, T, D, H = shape
    rng = np.random.default_rng(0)
    layer = TimeLSTM((rng.standard_normal((D, 4 * H)) * 0.1).astype(np.float32),
                     (rng.standard_normal((H, 4 * H)) * 0.1).astype(np.float32), np.zeros(4 * H, np.float32))
    xs = rng.standard_normal((N, T, D)).astype(np.float32)
    dhs = np.ones((N, T, H), np.float32)
    a = rng.standard_normal((400, 400)).astype(np.float32)

    def lstm():
        layer.forward(xs)
        layer.backward(dhs)

    def timed(before):
        ts = []
        for _ in range(repeat):
            before()
            t0 = time.perf_counter()
            lstm()
            ts.append(time.perf_counter() - t0)
        return 1e3 * statistics.median(ts)

    lstm()
    a @ a  # load and warm both
    alone = timed(lambda: None)
    after = timed(lambda: a @ a)
    t0 = time.perf_counter()
    for _ in range(repeat):
        a @ a
    matmul = 1e6 * (time.perf_counter() - t0) / repeat
    from pyrnn._process import _numpy_openblas_timeout
    print(json.dumps({"alone_ms": alone, "after_ms": after, "matmul_us": matmul,
                      "openblas_read": _numpy_openblas_timeout()}))  # what NumPy's OpenBLAS took


def run(shape=SHAPE, repeat=30, rounds=3, progress=None):
    """[(label, value, {"alone_ms", "after_ms", "matmul_us"} medians over rounds)]."""
    results = {v: [] for v, _ in SETTINGS}
    for r in range(rounds):
        for value, _ in SETTINGS:
            env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
            if value is not None:
                env["OPENBLAS_THREAD_TIMEOUT"] = value
            code = f"from pyrnn.cli.bench_blas_spin import _child; _child({tuple(shape)!r}, {repeat})"
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"bench --blas-spin child failed:\n{out.stderr}")
            results[value].append(json.loads(out.stdout.strip().splitlines()[-1]))
        if progress:
            progress(f"  round {r + 1}/{rounds} done")
    rows = []
    for value, label in SETTINGS:
        runs = results[value]
        rows.append((label, value, dict({k: statistics.median(d[k] for d in runs) for k in ("alone_ms", "after_ms", "matmul_us")},
                                        openblas_read=runs[-1]["openblas_read"])))
    return rows


def cli(args) -> int:
    """`pyrnn bench --blas-spin` (honours --quick, --json)."""
    shape = QUICK_SHAPE if args.quick else SHAPE
    print(f"pyrnn bench --blas-spin: TimeLSTM fwd+bwd (N, T, D, H) = {shape}, float32, median ms, "
          f"alone vs after a NumPy (400, 400) matmul, each setting in a fresh process")
    print(f"  {os.cpu_count()} CPUs; PYRNN_NUM_THREADS={os.environ.get('PYRNN_NUM_THREADS', 'all cores')}")
    rows = run(shape, repeat=3 if args.quick else 30, rounds=1 if args.quick else 3,
               progress=print_line)
    print(f"{'OPENBLAS_THREAD_TIMEOUT':<26}{'alone ms':>10}{'after matmul ms':>17}{'after/alone':>13}{'matmul us':>11}")
    for label, _, d in rows:
        print(f"{label:<26}{d['alone_ms']:10.2f}{d['after_ms']:17.2f}{d['after_ms'] / d['alone_ms']:12.2f}x"
              f"{d['matmul_us']:11.1f}")
    if args.json:
        from .bench import environment
        path = json_path(args.json, "blas-spin")
        write_json(path, {"environment": environment(), "shape": list(shape),
                          "rows": [dict(setting=label, OPENBLAS_THREAD_TIMEOUT=v, **d,
                                        slowdown=d["after_ms"] / d["alone_ms"]) for label, v, d in rows]})
        print(f"wrote {path}")
    return 0
