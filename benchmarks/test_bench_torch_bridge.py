"""pytest-benchmark suite: pyrnn.torch.LSTM / GRU (pyrnn's kernels inside PyTorch) against
torch.nn.LSTM / GRU, forward + backward on the CPU at the README shapes. For one table with
ratios and the bridge's overhead over pyrnn.ops, use `pyrnn bench --torch-bridge` (same workloads,
pyrnn/cli/bench_torch.py).

    pytest benchmarks/test_bench_torch_bridge.py --benchmark-only --benchmark-group-by=param:op,param:shape
    pytest benchmarks/test_bench_torch_bridge.py -k layout_conversion --benchmark-only  # the copies alone
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from pyrnn.cli.bench import SHAPES  # noqa: E402
from pyrnn.cli.bench_torch import module_step, modules  # noqa: E402

IDS = ["x".join(map(str, s)) for s in SHAPES]


def _step(which, op, shape):
    N, T, D, H = shape
    theirs, ours = modules(op, D, H, np.float32)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, T, D, generator=g).requires_grad_(True)
    dh = torch.randn(N, T, H, generator=g)
    return module_step(ours if which == "bridge" else theirs, x, dh)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("op", ["lstm", "gru"])
@pytest.mark.parametrize("which", ["bridge", "torch"])
def test_fwd_bwd(benchmark, which, op, shape):
    benchmark.pedantic(_step(which, op, shape), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("H", [128, 256, 512])
def test_layout_conversion(benchmark, H):
    """The bridge's copies for one LSTM layer and direction, D = H: torch's weight_ih and weight_hh
    to pyrnn's layout (each forward) and the two weight gradients back (each backward)."""
    from pyrnn.torch._layout import LAYOUTS, weight_grad_to_torch, weight_to_pyrnn
    lay = LAYOUTS["lstm"]
    rng = np.random.default_rng(0)
    w_ih, w_hh = (rng.standard_normal((4 * H, H)).astype(np.float32) for _ in range(2))
    dWx, dWh = (rng.standard_normal((H, 4 * H)).astype(np.float32) for _ in range(2))

    def convert():
        weight_to_pyrnn(w_ih, lay), weight_to_pyrnn(w_hh, lay)
        weight_grad_to_torch(dWx, lay), weight_grad_to_torch(dWh, lay)
    benchmark(convert)
