"""The generation benchmark (pyrnn/cli/bench_generate.py): its torch loop holds the Rnnlm's weights and
decodes what pyrnn decodes, so the two are timed doing the same work."""
import numpy as np
import pytest

from pyrnn.cli.bench_generate import make_model, pyrnn_generate, torch_generate


def test_bench_torch_loop_generates_what_pyrnn_generates():
    pytest.importorskip("torch")
    m = make_model(V=50, D=12, H=16, dtype=np.float64, seed=0)
    for name, p in m.named_params():  # weights large enough for distinct argmaxes and real gate use
        p[...] = np.random.default_rng(len(name)).standard_normal(p.shape) * (0.1 if p.ndim == 1 else 0.5)
    prompt = np.random.default_rng(0).integers(0, 50, (3, 4))
    ours = pyrnn_generate(m, prompt, 9)
    ids, scores = torch_generate(m, prompt, 9)()
    np.testing.assert_array_equal(ids, ours.ids)
    np.testing.assert_allclose(scores, ours.scores, rtol=0, atol=1e-10)
    assert len(np.unique(ours.ids)) > 3  # not one id repeated: the gates and the state matter
