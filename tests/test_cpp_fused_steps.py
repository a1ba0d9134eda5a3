"""Fused LSTM steps of the C++ backend (StepWeights::forward_units / backward_units in
cpp/include/pyrnn/blas.hpp): on a CPU with the float32 AVX-512 step kernel, each step's pointwise
work runs on the tiles of its product as they are computed. Every tile element is the same dot
product as in the unfused step and the gate math is the same expression, so a fused run must be
bitwise the unfused one (PYRNN_STEP_FUSED=0), outputs and gradients. The default (fused) path is
checked against the reference in test_backend_vs_reference.py; this file ties the unfused path to it."""
import os
import subprocess
import sys

import numpy as np
import pytest

from pyrnn import backends

cpp_ok = backends.backend_status()["cpp"][0]
pytestmark = pytest.mark.skipif(not cpp_ok, reason="pyrnn._cpu not usable")


def _step_kernel():
    import pyrnn._cpu as m
    return bool(m.build_info()["step_kernel"])


needs_kernel = pytest.mark.skipif(cpp_ok and not _step_kernel(), reason="no AVX-512: no step kernel, nothing fused")


def _run(fused, xs, Wx, Wh, b, h0, c0, dhs, dhT, dcT, train):
    from pyrnn.backends import cpp
    old = os.environ.get("PYRNN_STEP_FUSED")
    os.environ["PYRNN_STEP_FUSED"] = "1" if fused else "0"
    try:
        hs, hT, cT, saved = cpp.lstm_forward(xs, Wx, Wh, b, h0, c0, train)
        out = [hs, hT, cT]
        if train:
            out += [g for g in cpp.lstm_backward(dhs, dhT, dcT, saved) if g is not None]
        return out
    finally:
        if old is None:
            del os.environ["PYRNN_STEP_FUSED"]
        else:
            os.environ["PYRNN_STEP_FUSED"] = old


# H below, at and past one 8-unit forward panel and one 32-unit backward panel; N not a multiple of the
# 8-row tile; T = 1 (no fused backward step) and longer
SHAPES = [(1, 1, 1, 1), (3, 5, 7, 9), (8, 4, 16, 8), (9, 6, 5, 33), (17, 7, 13, 40), (20, 3, 32, 130), (2, 9, 4, 65)]


@needs_kernel
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("state", [False, True], ids=["zero-state", "h0-c0-dhT"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "inference"])
def test_fused_lstm_is_bitwise_the_unfused(shape, state, train):
    N, T, D, H = shape
    rng = np.random.default_rng(N * 1000 + H)
    r = lambda *s, k=1.0: (rng.standard_normal(s) * k).astype(np.float32)  # noqa: E731
    args = (r(N, T, D), r(D, 4 * H, k=0.3), r(H, 4 * H, k=0.3), r(4 * H), r(N, H) if state else None,
            r(N, H) if state else None, r(N, T, H), r(N, H) if state else None, r(N, H) if state else None, train)
    fused, unfused = _run(True, *args), _run(False, *args)
    assert len(fused) == len(unfused)
    for k, (a, b) in enumerate(zip(fused, unfused)):
        assert np.array_equal(a, b), f"output {k} differs: max |diff| {np.abs(a - b).max()}"


@needs_kernel
def test_fusion_is_what_runs():
    """The profile's pointwise phases are empty when every step is fused (h0 given, so the first
    forward step has a product too; the backward's last step has none and runs unfused)."""
    script = r"""
import json, numpy as np
import pyrnn._cpu as m
from pyrnn.backends import cpp
rng = np.random.default_rng(0)
N, T, D, H = 16, 6, 8, 40
f = lambda *s: (rng.standard_normal(s) * 0.3).astype(np.float32)
m.profile(True)
hs, hT, cT, s = cpp.lstm_forward(f(N, T, D), f(D, 4 * H), f(H, 4 * H), f(4 * H), f(N, H), f(N, H), True)
cpp.lstm_backward(f(N, T, H), None, None, s)
print(json.dumps(m.profile(True)))
"""
    import json
    prof = {}
    for fused in ("1", "0"):
        env = dict(os.environ, PYRNN_PROFILE="1", PYRNN_STEP_FUSED=fused)
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        prof[fused] = json.loads(out.stdout.strip().splitlines()[-1])
    assert prof["1"]["fwd pointwise"] == 0.0
    assert prof["0"]["fwd pointwise"] > 0.0
    assert prof["0"]["bwd pointwise"] > prof["1"]["bwd pointwise"] > 0.0  # fused: only the last step's pass
