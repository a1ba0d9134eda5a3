"""pytest-benchmark suite: greedy generation of an LSTM language model (vocabulary 10,000, hidden 650),
a 5-id prompt then 100 new ids per row, at batch 1 and 32: pyrnn (`Rnnlm.decode`) on every usable NumPy
backend, and the same loop on torch.nn.LSTM + Linear under no_grad. For tokens per second and the ratio
in one table, use `pyrnn bench --generate` (same workloads, pyrnn/cli/bench_generate.py).

    pytest benchmarks/test_bench_generate.py --benchmark-only --benchmark-group-by=param:batch
"""
import numpy as np
import pytest

from pyrnn import backends
from pyrnn.cli.bench_generate import BATCHES, PROMPT, TOKENS, V_SIZE, make_model, pyrnn_generate, torch_generate

USABLE = [n for n in backends.NUMPY_ORDER if backends.backend_status()[n][0]]


@pytest.fixture(scope="module")
def model():
    return make_model()


def _prompt(batch):
    return np.random.default_rng(batch).integers(0, V_SIZE, (batch, PROMPT))


@pytest.mark.parametrize("backend", USABLE)
@pytest.mark.parametrize("batch", BATCHES)
def test_pyrnn_generate(benchmark, model, backend, batch):
    p = _prompt(batch)
    with backends.use_backend(backend):
        out = benchmark.pedantic(lambda: pyrnn_generate(model, p, TOKENS), rounds=3, warmup_rounds=1)
    assert out.ids.shape == (batch, TOKENS)


@pytest.mark.parametrize("batch", BATCHES)
def test_torch_generate(benchmark, model, batch):
    pytest.importorskip("torch")
    ids, _ = benchmark.pedantic(torch_generate(model, _prompt(batch), TOKENS), rounds=3, warmup_rounds=1)
    assert ids.shape == (batch, TOKENS)
