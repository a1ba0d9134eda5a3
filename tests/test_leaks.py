"""Memory stays flat over 10,000 forward/backward calls of a small TimeLSTM, per usable backend.

Measured as the process's resident set size (/proc/self/statm) after a warm-up of 1,000 calls
(JIT compilation, allocator pools and caches fill up there) and again after 10,000 more. Sizes
are chosen so every per-call array is at least 1 KiB (hs, cs: 1.5 KiB; gates: 6 KiB in
float32): leaking any one of them per call would add >= 10 MiB, while the tolerance is 4 MiB
(allocator noise; measured growth: 0 KiB for cpp and numba).
The reference is plain NumPy (nothing of pyrnn's own to leak, and 10x slower), so it is not run.
"""
import gc
import os
import sys

import numpy as np
import pytest

import pyrnn
from pyrnn import backends
from pyrnn.layers import TimeLSTM

BACKENDS = [n for n in backends.NUMPY_ORDER if n != "reference" and backends.backend_status()[n][0]]
CALLS, WARMUP = 10_000, 1_000
TOLERANCE = 4 * 2**20  # bytes
N, T, D, H = 4, 12, 8, 8

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")


def rss() -> int:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_flat_over_10k_forward_backward(backend):
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    layer = TimeLSTM(r(D, 4 * H) / 3, r(H, 4 * H) / 3, r(4 * H), stateful=True)
    xs, dhs = r(N, T, D), r(N, T, H)

    def step():
        layer.forward(xs)
        layer.backward(dhs)

    with pyrnn.use_backend(backend):
        for _ in range(WARMUP):
            step()
        before = rss()
        for _ in range(CALLS):
            step()
        after = rss()
    growth = after - before
    assert growth < TOLERANCE, (
        f"{backend}: resident memory grew by {growth / 2**20:.1f} MiB over {CALLS} forward/backward calls "
        f"(tolerance {TOLERANCE / 2**20:.0f} MiB): a leak of ~{growth / CALLS:.0f} bytes per call")
