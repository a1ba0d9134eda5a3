"""pytest-benchmark suite for attention, fwd+bwd: TimeAttention on every usable NumPy backend vs
the book's per-step NumPy formulation, scaled dot-product attention vs PyTorch's
scaled_dot_product_attention on the CPU, and layer norm vs the reference and PyTorch. For one
table with ratios: `pyrnn bench --attention` (same workloads, pyrnn/cli/bench_attention.py).

    pytest benchmarks/test_bench_attention.py --benchmark-only --benchmark-group-by=param:shape
"""
import numpy as np
import pytest

from pyrnn import backends
from pyrnn.cli.bench_attention import (LAYER_NORM_SHAPES, SDPA_SHAPES, TIME_ATTENTION_SHAPES, book_time_attention_step,
                                   layer_norm_inputs, layer_norm_step, sdpa_inputs, sdpa_step, time_attention_inputs,
                                   time_attention_step, torch_layer_norm_step, torch_sdpa_step)

USABLE = [n for n in backends.NUMPY_ORDER if backends.backend_status()[n][0]]
TA_IDS = ["x".join(map(str, s)) for s in TIME_ATTENTION_SHAPES]
SD_IDS = ["x".join(map(str, s)) for s in SDPA_SHAPES]
LN_IDS = ["x".join(map(str, s)) for s in LAYER_NORM_SHAPES]


@pytest.mark.parametrize("backend", USABLE)
@pytest.mark.parametrize("shape", TIME_ATTENTION_SHAPES, ids=TA_IDS)
def test_time_attention(benchmark, backend, shape):
    hs, hd, dout = time_attention_inputs(*shape)
    with backends.use_backend(backend):
        benchmark.pedantic(time_attention_step(hs, hd, dout), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("shape", TIME_ATTENTION_SHAPES, ids=TA_IDS)
def test_time_attention_book_per_step(benchmark, shape):
    benchmark.pedantic(book_time_attention_step(*time_attention_inputs(*shape)), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("backend", USABLE)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("shape", SDPA_SHAPES, ids=SD_IDS)
def test_sdpa(benchmark, backend, causal, shape):
    if backend == "reference" and shape[2] > 256:
        pytest.skip("the reference materialises every T x T matrix: slow, not what is compared")
    q, k, v, dout = sdpa_inputs(*shape)
    with backends.use_backend(backend):
        benchmark.pedantic(sdpa_step(q, k, v, dout, causal), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("shape", SDPA_SHAPES, ids=SD_IDS)
def test_torch_sdpa(benchmark, causal, shape):
    pytest.importorskip("torch")
    benchmark.pedantic(torch_sdpa_step(*sdpa_inputs(*shape), causal=causal), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("backend", USABLE)
@pytest.mark.parametrize("shape", LAYER_NORM_SHAPES, ids=LN_IDS)
def test_layer_norm(benchmark, backend, shape):
    benchmark.pedantic(layer_norm_step(*layer_norm_inputs(*shape), backend=backend), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("shape", LAYER_NORM_SHAPES, ids=LN_IDS)
def test_torch_layer_norm(benchmark, shape):
    pytest.importorskip("torch")
    benchmark.pedantic(torch_layer_norm_step(*layer_norm_inputs(*shape)), rounds=5, warmup_rounds=1)
