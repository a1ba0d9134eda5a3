"""pytest-benchmark suite: LSTM/GRU forward and forward+backward on every usable NumPy
backend and PyTorch CPU, at the shapes of the CPU kernel issue. For one table with
ratios, use `pyrnn bench` (same workloads, pyrnn/cli/bench.py).

    pytest benchmarks/ --benchmark-only --benchmark-group-by=param:shape,param:op,param:mode
"""
import numpy as np
import pytest

from pyrnn import backends
from pyrnn.cli.bench import SHAPES, _gemm_step, _inputs, _torch_step, pyrnn_step

USABLE = [n for n in backends.NUMPY_ORDER if backends.backend_status()[n][0]]
CASES = [(op, mode, shape) for op in ("lstm", "gru") for mode in ("fwd+bwd", "fwd") for shape in SHAPES]
IDS = [f"{op}-{mode}-{'x'.join(map(str, s))}" for op, mode, s in CASES]


@pytest.mark.parametrize("backend", USABLE)
@pytest.mark.parametrize("op,mode,shape", CASES, ids=IDS)
def test_pyrnn(benchmark, backend, op, mode, shape):
    xs, Wx, Wh, b, dhs = _inputs(op, *shape, np.float32)
    with backends.use_backend(backend):
        benchmark.pedantic(pyrnn_step(op, mode, xs, Wx, Wh, b, dhs), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("op,mode,shape", CASES, ids=IDS)
def test_torch(benchmark, op, mode, shape):
    pytest.importorskip("torch")
    benchmark.pedantic(_torch_step(op, mode, *shape, np.float32), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("op,mode,shape", CASES, ids=IDS)
def test_gemm_limit(benchmark, op, mode, shape):
    benchmark.pedantic(_gemm_step(op, mode, *shape, np.float32), rounds=5, warmup_rounds=1)
