"""The C++ backend's threading: its own pool, a single-threaded BLAS, and bitwise reproducibility
across processes at the same thread count (PYRNN_NUM_THREADS)."""
import os
import subprocess
import tempfile
import sys

import pytest

from pyrnn import backends

pytestmark = pytest.mark.skipif(not backends.backend_status()["cpp"][0], reason="pyrnn._cpu not usable")

# Every C++ op, at sizes where the GEMMs, the pointwise passes and the word-level ops are all split
# across threads; prints one hash of every output and gradient.
SCRIPT = r"""
import hashlib, numpy as np, pyrnn
from pyrnn import ops
h = hashlib.sha256()
rng = np.random.default_rng(0)
def r(*s, k=1.0):
    return (rng.standard_normal(s) * k).astype(np.float32)
with pyrnn.use_backend("cpp"):
    for N, T, D, H in [(64, 10, 96, 256), (1, 30, 64, 96)]:
        xs, dhs, h0 = r(N, T, D), r(N, T, H), r(N, H)
        hs, hT, cT, s = ops.lstm_forward(xs, r(D, 4 * H, k=0.1), r(H, 4 * H, k=0.1), r(4 * H), h0, r(N, H))
        outs = [hs, cT, *ops.lstm_backward(dhs, None, None, s)]
        for ra in (False, True):
            b = r(2, 3 * H) if ra else r(3 * H)
            hs, hT, s = ops.gru_forward(xs, r(D, 3 * H, k=0.1), r(H, 3 * H, k=0.1), b, h0, ra)
            outs += [hs, *ops.gru_backward(dhs, None, s)]
        hs, hT, s = ops.rnn_forward(xs, r(D, H, k=0.1), r(H, H, k=0.1), r(H), h0)
        outs += [hs, *ops.rnn_backward(dhs, None, s)]
    x, t = r(32, 35, 3000), rng.integers(0, 3000, (32, 35))
    t[::3] = -1
    loss, s = ops.softmax_cross_entropy_forward(x, t)
    outs += [loss, ops.softmax_cross_entropy_backward(1.0, s)]
    W, idx = r(500, 256), rng.integers(0, 500, (64, 35))
    out, s = ops.embedding_forward(W, idx)
    outs += [out, ops.embedding_backward(r(64, 35, 256), s)]
for a in outs:
    if a is not None:
        h.update(np.ascontiguousarray(a).tobytes())
print(h.hexdigest())
"""


def _hash(threads):
    env = dict(os.environ, PYRNN_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300,
                         cwd=tempfile.gettempdir())  # not the repo root: its pyrnn/ has no compiled module
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("threads", [1, 2])
def test_bitwise_identical_across_processes_at_the_same_thread_count(threads):
    assert _hash(threads) == _hash(threads)


def test_thread_settings():
    from pyrnn import _cpu
    assert _cpu.blas_threads() == 1, "pyrnn splits its GEMMs itself; its private OpenBLAS must run 1 thread"
    assert _cpu.worker_threads() >= 1
    env = dict(os.environ, PYRNN_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", "from pyrnn import _cpu; print(_cpu.worker_threads())"],
                         env=env, capture_output=True, text=True, timeout=60, cwd=tempfile.gettempdir())
    assert out.stdout.strip() == "3", out.stderr


# Layer norm splits dgamma/dbeta by columns (each column summed over rows in order by one task), so its
# results are the same at any thread count, not only run to run.
LN_SCRIPT = r"""
import hashlib, numpy as np, pyrnn
from pyrnn import ops
rng = np.random.default_rng(1)
x, dy = rng.standard_normal((2, 2, 64, 130, 300)).astype(np.float32)
g, b = rng.standard_normal((2, 300)).astype(np.float32)
with pyrnn.use_backend("cpp"):
    y, s = ops.layer_norm_forward(x, g, b, 1e-5)
    outs = (y, *ops.layer_norm_backward(dy, s))
print(hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in outs)).hexdigest())
"""


def test_layer_norm_is_bitwise_the_same_at_any_thread_count():
    hashes = set()
    for threads in (1, 2, 3):
        env = dict(os.environ, PYRNN_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, "-c", LN_SCRIPT], env=env, capture_output=True, text=True, timeout=120,
                             cwd=tempfile.gettempdir())
        assert out.returncode == 0, out.stderr
        hashes.add(out.stdout.strip())
    assert len(hashes) == 1


# SDPA backward with fewer heads than threads splits each head by key blocks (dk, dv) and query blocks
# (dq); with one thread it runs one task per head. Both sum every block pair in the same order, so the
# gradients must be bitwise equal at 1, 2 and 3 threads (T = 600 spans 3 key and 5 query blocks).
SDPA_SCRIPT = r"""
import hashlib, numpy as np, pyrnn
from pyrnn import ops
rng = np.random.default_rng(2)
h = hashlib.sha256()
with pyrnn.use_backend("cpp"):
    for N, Hh, causal in [(1, 1, False), (1, 1, True), (1, 2, True)]:
        q, k, v, do = (rng.standard_normal((N, Hh, 600, 32)).astype(np.float32) for _ in range(4))
        mask = np.ones((N, 600), bool)
        mask[:, 550:] = False
        out, s = ops.sdpa_forward(q, k, v, mask, causal)
        for a in (out, *ops.sdpa_backward(do, s)):
            h.update(np.ascontiguousarray(a).tobytes())
print(h.hexdigest())
"""


def test_sdpa_backward_is_bitwise_the_same_under_both_schedules():
    hashes = set()
    for threads in (1, 2, 3):
        env = dict(os.environ, PYRNN_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, "-c", SDPA_SCRIPT], env=env, capture_output=True, text=True,
                             timeout=120, cwd=tempfile.gettempdir())
        assert out.returncode == 0, out.stderr
        hashes.add(out.stdout.strip())
    assert len(hashes) == 1
