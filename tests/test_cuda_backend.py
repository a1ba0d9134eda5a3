"""The CUDA backend (pyrnn._cuda) against the NumPy reference, on the GPU.

Every family's cases from tests/cases/ (recurrent: the CPU suite's shapes, N=1, T=1, odd sizes,
D != H; bias, initial states and final-state gradients on and off; float32 and float64; the packed
ops; attention, sdpa, layer norm), with the backend forced to "cuda" on CuPy arrays and the reference
run on the same values as NumPy arrays.

Tolerances are cases.core's, relative to the largest magnitude of the reference tensor: float32
1e-5, float64 1e-12. The differences come from cuBLAS's summation order (the GEMMs run in plain
IEEE float32/float64: no TF32), from the FMA contractions nvcc makes in the fused gate kernels, and
from CUDA's expf/tanhf (2 ulp at most) against NumPy's; they add up over the T steps and over the
N*T-row sums of the weight gradients as on the CPU, where 1e-5 left an 8x margin.

Every test here needs a GPU and CuPy and skips only where either is missing (marked `gpu`). The
checks that need neither (the module is built where nvcc exists, its errors name the call) are
at the end and run wherever pyrnn._cuda is built.
"""
import importlib.util
import json
import os
import shutil

import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops
from cases import norm, recurrent as rc
from cases.attention import (MASKS as S2S_MASKS, PARTS_NAMES, S2S_SHAPES, SDPA_CASES, SDPA_IDS, STRIDED_S2S_SHAPE,
                             STRIDED_SDPA_SHAPE, s2s_case, sdpa_case)
from cases.norm import SHAPES as LN_SHAPES, make_case as ln_case
from cases.recurrent import (OPS, SHAPES, VARIANTS, assert_close, concat_chunks as _concat_chunks, make_case, names,
                             packed_case, packed_to_device, run_packed)

try:
    import cupy as cp
    _gpus = cp.cuda.runtime.getDeviceCount()
except Exception:  # CuPy missing, or no driver/GPU
    cp, _gpus = None, 0


def gpu(test):
    """Marks a test `gpu` and skips it only where CuPy or a GPU is missing; where both exist, the
    cuda backend must be usable (a missing or broken build fails instead of skipping)."""
    return pytest.mark.gpu(pytest.mark.skipif(cp is None or _gpus == 0, reason="needs CuPy and a CUDA GPU")(test))


def _cuda_usable():
    ok, detail = backends.backend_status()["cuda"]
    assert ok, f"CuPy and a GPU are here, but the cuda backend is unusable: {detail}"


def _odd_layout(a, order):
    """The values of NumPy array a as a CuPy array in Fortran order or as a non-contiguous view."""
    g = cp.asarray(a)
    if order == "F":
        return cp.asfortranarray(g)
    big = cp.zeros(tuple(2 * s for s in a.shape), a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = g
    return view


def to_gpu(c):
    return {k: (cp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in c.items()}


def to_host(arrays, what):
    """CuPy results as NumPy arrays (None passes), after checking they are CuPy arrays."""
    out = []
    for a in arrays:
        if a is not None:
            assert isinstance(a, cp.ndarray), f"{what}: expected a cupy array, got {type(a).__name__}"
            a = cp.asnumpy(a)
        out.append(a)
    return out


def run(op, c, backend="cuda", train=True, grads_in=True):
    """Forward then backward through pyrnn.ops on `backend` (the arrays in c decide NumPy or CuPy)."""
    with pyrnn.use_backend(backend):
        return rc.run(ops, op, c, train=train, grads_in=grads_in)


def compare(op, c, dtype, grads_in=True, what=""):
    """The cuda backend on c's values (moved to the GPU) against the reference on NumPy."""
    fwd, grads, saved = run(op, to_gpu(c), grads_in=grads_in)
    assert saved.backend.NAME == "cuda", f"{op} ran on {saved.backend.NAME}, not cuda"
    rfwd, rgrads, _ = run(op, c, backend="reference", grads_in=grads_in)
    assert len(grads) == len(rgrads)
    for name, got, want in zip(names(op, "fwd") + names(op, "grad"), to_host(fwd + grads, op), rfwd + rgrads):
        assert_close(got, want, dtype, f"cuda {op} {name}{what}")


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "N{}T{}D{}H{}".format(*s))
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "bias{:d}-state{:d}-dhT{:d}".format(*v))
@pytest.mark.parametrize("op", list(OPS))
def test_forward_and_backward_match_reference(op, variant, shape, dtype):
    _cuda_usable()
    bias, state, grads_in = variant
    compare(op, make_case(op, shape, dtype, bias=bias, state=state), dtype, grads_in=grads_in)


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(OPS))
def test_larger_shapes_match_reference(op, dtype):
    """Past one thread block per step (N*H > 256) and one column-sum block (gates*H > 32), with many
    rows in the weight-gradient GEMMs and the bias column sums."""
    _cuda_usable()
    compare(op, make_case(op, rc.LARGE_SHAPE, dtype), dtype)


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(OPS))
def test_packed_ops_and_lengths_run_on_cuda_and_match_reference(op, dtype):
    """The packed ops (test_lengths.packed_case) on CuPy arrays run on the cuda backend (its
    whole-sequence kernels per run of equal steps), as does a padded batch with `lengths`."""
    _cuda_usable()
    c = packed_case(op, dtype)
    dev = packed_to_device(c, cp.asarray)
    with pyrnn.use_backend("cuda"):
        got = run_packed(ops, dev)
    for k, (g, w) in enumerate(zip(got, run_packed(backends.get("reference"), c))):
        assert_close(cp.asnumpy(g), w, dtype, f"cuda {op}_packed result {k}")
    m = make_case(op, (6, 7, 5, 4), dtype)
    lengths = np.array([7, 0, 3, 1, 7, 3])
    args = [cp.asarray(m[k]) for k in ("xs", "Wx", "Wh", "b")]
    name = op.split("_")[0]
    fwd = getattr(ops, f"{name}_forward")
    kw = dict(reset_after=OPS[op][1]) if name == "gru" else {}
    *outs, saved = fwd(*args, lengths=lengths, **kw)
    ran = saved.saved.backend.NAME  # a padded batch with lengths saves the packed op's saved
    assert ran == "cuda", f"{op} with lengths ran on {ran}, not cuda"
    with pyrnn.use_backend("reference"):
        *want, _ = fwd(*(m[k] for k in ("xs", "Wx", "Wh", "b")), lengths=lengths, **kw)
    for k, (g, w) in enumerate(zip(outs, want)):
        assert_close(cp.asnumpy(g), w, dtype, f"cuda {op} with lengths, output {k}")


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(OPS))
def test_inference_mode_saves_nothing_and_matches(op, dtype):
    _cuda_usable()
    c = make_case(op, rc.INFERENCE_SHAPE, dtype)
    g = to_gpu(c)
    fwd, grads, saved = run(op, g, train=False)
    assert saved is None and grads is None
    train_fwd, _, _ = run(op, g, train=True)
    rfwd, _, _ = run(op, c, backend="reference", train=False)
    for name, got, want, tr in zip(names(op, "fwd"), to_host(fwd, op), rfwd, to_host(train_fwd, op)):
        assert_close(got, want, dtype, f"cuda {op} {name} (train=False)")
        np.testing.assert_array_equal(got, tr, err_msg=f"{op} {name}: train=False differs from train=True")


@gpu
@pytest.mark.parametrize("order", ["F", "strided"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(OPS))
def test_non_contiguous_and_fortran_inputs(op, dtype, order):
    _cuda_usable()
    c = make_case(op, rc.STRIDED_SHAPE, dtype)
    odd = {k: _odd_layout(v, order) if isinstance(v, np.ndarray) else v for k, v in c.items()}
    assert not odd["xs"].flags.c_contiguous
    before = {k: v.copy() for k, v in odd.items() if isinstance(v, cp.ndarray)}
    fwd, grads, _ = run(op, odd)
    rfwd, rgrads, _ = run(op, c, backend="reference")
    for name, got, want in zip(names(op, "fwd") + names(op, "grad"), to_host(fwd + grads, op), rfwd + rgrads):
        assert_close(got, want, dtype, f"cuda {op} {name} ({order} inputs)")
    for k, v in before.items():
        assert cp.array_equal(odd[k], v), f"{op}: input {k} was modified"


def _chunks(op, c, split):
    """cases.recurrent's chunked run on the cuda backend (CuPy in), NumPy out."""
    fwd, grads = _concat_chunks(op, "cuda", c, split)
    return to_host(fwd, op), to_host(grads, op)


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(OPS))
def test_stateful_chunks_equal_one_run(op, dtype):
    """Two chunks with the state carried forward (and dh0/dc0 carried back) equal one run."""
    _cuda_usable()
    c = make_case(op, rc.CHUNKS_SHAPE, dtype)
    g = to_gpu(c)
    fwd, grads = _chunks(op, g, split=4)
    wfwd, wgrads, _ = run(op, g)
    for name, got, want in zip(names(op, "fwd") + names(op, "grad"), fwd + grads, to_host(wfwd + wgrads, op)):
        assert_close(got, want, dtype, f"cuda {op} {name} (chunked vs whole)")


@gpu
@pytest.mark.parametrize("op", list(OPS))
def test_deterministic(op):
    """Same inputs: bitwise identical outputs and gradients (no atomics; cuBLAS is deterministic on
    one GPU with atomics off). Large enough for several column-sum blocks and GEMM tiles."""
    _cuda_usable()
    g = to_gpu(make_case(op, (32, 40, 64, 96), np.float32))
    fwd1, grads1, _ = run(op, g)
    fwd2, grads2, _ = run(op, g)
    for name, a, b in zip(names(op, "fwd") + names(op, "grad"), fwd1 + grads1, fwd2 + grads2):
        if a is None:
            assert b is None
        else:
            assert cp.array_equal(a, b), f"cuda {op} {name}: two runs differ"


@gpu
def test_outputs_never_alias_inputs():
    _cuda_usable()
    c = to_gpu(make_case("lstm", (2, 3, 4, 5), np.float32))
    fwd, grads, _ = run("lstm", c)
    for out in fwd + [g for g in grads if g is not None]:
        for k in ("xs", "Wx", "Wh", "b", "h0", "c0", "dhs", "dhT", "dcT"):
            assert not cp.shares_memory(out, c[k]), f"an output shares memory with input {k}"


@gpu
@pytest.mark.parametrize("N,T", [(0, 3), (2, 0), (0, 0)])
@pytest.mark.parametrize("op", list(OPS))
def test_empty_batch_or_sequence(op, N, T):
    """No step or no batch row: the empty answer, states and their gradients passed through,
    zero weight gradients."""
    _cuda_usable()
    c = make_case(op, (N, T, 4, 5), np.float32)
    fwd, grads, _ = run(op, to_gpu(c))
    rfwd, rgrads, _ = run(op, c, backend="reference")
    for name, got, want in zip(names(op, "fwd") + names(op, "grad"), to_host(fwd + grads, op), rfwd + rgrads):
        if want is None:
            assert got is None, name
        else:
            assert got.shape == want.shape, name
            np.testing.assert_array_equal(got, want, err_msg=f"cuda {op} {name} (N={N}, T={T})")


@gpu
def test_runs_on_cupys_current_stream():
    """The kernels queue on CuPy's current stream: on a non-blocking stream, an LSTM queued right after
    a slow producer of xs must see the new xs (on any other stream it would read the old one)."""
    _cuda_usable()
    c = make_case("lstm", (8, 12, 16, 32), np.float32)
    new_xs = (np.asarray(c["xs"]) * -0.5).astype(np.float32)
    g = to_gpu(c)
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        busy = cp.ones((4096, 4096), cp.float32) / 4096
        for _ in range(30):  # tens of milliseconds of GPU work ahead of the copy
            busy = busy @ busy
        g["xs"][...] = cp.asarray(new_xs)
        fwd, grads, _ = run("lstm", g)
    stream.synchronize()
    rfwd, rgrads, _ = run("lstm", dict(c, xs=new_xs), backend="reference")
    for name, got, want in zip(names("lstm", "fwd") + names("lstm", "grad"), to_host(fwd + grads, "lstm"),
                               rfwd + rgrads):
        assert_close(got, want, np.float32, f"cuda lstm {name} (non-default stream)")


@gpu
def test_threads_on_their_own_streams_get_their_own_results():
    """Four threads, each on its own non-blocking stream, run different LSTMs at once: every result
    matches its own reference (the per-device cuBLAS handle is bound to one stream at a time)."""
    import threading

    _cuda_usable()
    cases = [make_case("lstm", (6, 15, 20, 24), np.float32, seed=s) for s in range(4)]
    results, errors = [None] * 4, []

    def work(i):
        try:
            stream = cp.cuda.Stream(non_blocking=True)
            with stream:
                for _ in range(5):  # several rounds, so the threads' calls interleave
                    fwd, grads, _ = run("lstm", to_gpu(cases[i]))
                stream.synchronize()
            results[i] = to_host(fwd + grads, "lstm")
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for c, got in zip(cases, results):
        rfwd, rgrads, _ = run("lstm", c, backend="reference")
        for name, g, w in zip(names("lstm", "fwd") + names("lstm", "grad"), got, rfwd + rgrads):
            assert_close(g, w, np.float32, f"cuda lstm {name} (threaded)")


@gpu
def test_cuda_backend_is_the_automatic_choice_for_cupy(monkeypatch):
    _cuda_usable()
    monkeypatch.delenv("PYRNN_BACKEND", raising=False)
    c = to_gpu(make_case("gru", (2, 3, 4, 5), np.float32))
    _, _, saved = ops.gru_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], False)
    assert saved.backend.NAME == "cuda"


# ---- seq2seq attention (attention, attention_weights, weighted_sum) ----------------------------------
# tests/cases/attention.py's cases and cases.core's tolerances (float32 1e-5, float64 1e-12 of the
# tensor's max: cuBLAS's summation order and CUDA's expf against NumPy's, over at most 300 terms).

def _s2s(shape, dtype, mask_kind, train=True, seed=0, backend="cuda"):
    """attention forward and backward via pyrnn.ops: [c, a, dhs, dhq] as NumPy (reference) or CuPy."""
    hs, hq, dc, _, mask = s2s_case(shape, dtype, mask_kind, seed=seed)
    if backend == "cuda":
        hs, hq, dc = cp.asarray(hs), cp.asarray(hq), cp.asarray(dc)
        mask = None if mask is None else cp.asarray(mask)
    with pyrnn.use_backend(backend):
        c, a, saved = ops.attention_forward(hs, hq, mask, train=train)
        if backend == "cuda" and train:
            assert saved.backend.NAME == "cuda", f"attention ran on {saved.backend.NAME}, not cuda"
        return [c, a, *ops.attention_backward(dc, saved)] if train else [c, a]


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mask_kind", S2S_MASKS)
@pytest.mark.parametrize("shape", S2S_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_matches_reference(shape, mask_kind, dtype):
    _cuda_usable()
    got = to_host(_s2s(shape, dtype, mask_kind), "attention")
    want = _s2s(shape, dtype, mask_kind, backend="reference")
    for name, g, w in zip(("c", "a", "dhs", "dhq"), got, want):
        assert_close(g, w, dtype, f"cuda attention {name}")
    mask = s2s_case(shape, dtype, mask_kind)[4]
    if mask is not None:  # padding gets exactly zero weight; an all-masked query exactly zero everything
        assert np.all(got[1][~np.broadcast_to(mask[:, None, :], got[1].shape)] == 0)
        dead = ~mask.any(axis=1)
        for name, arr in zip(("c", "a", "dhs", "dhq"), got):
            assert np.all(arr[dead] == 0), f"cuda attention {name}: an all-masked sequence is not exactly zero"


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 7, 5, 9), (2, 300, 13, 17), (2, 3, 4, 0)],
                         ids=lambda s: "x".join(map(str, s)))
def test_attention_weights_and_weighted_sum_match_reference(shape, dtype):
    _cuda_usable()
    hs, hq, dc, da, mask = s2s_case(shape, dtype, "padding", seed=1)

    def parts(backend, xp):
        h, q, d, dd = xp.asarray(hs), xp.asarray(hq), xp.asarray(dc), xp.asarray(da)
        m = xp.asarray(mask)
        with pyrnn.use_backend(backend):
            a, sa = ops.attention_weights_forward(h, q, m)
            c, sw = ops.weighted_sum_forward(h, a)
            assert backend != "cuda" or (sa.backend.NAME == sw.backend.NAME == "cuda")
            return [a, *ops.attention_weights_backward(dd, sa), c, *ops.weighted_sum_backward(d, sw)]
    got, want = to_host(parts("cuda", cp), "attention parts"), parts("reference", np)
    for name, g, w in zip(PARTS_NAMES, got, want):
        assert_close(g, w, dtype, f"cuda attention parts {name}")


@gpu
def test_attention_strided_inputs_and_no_train():
    _cuda_usable()
    hs, hq, dc, _, mask = s2s_case(STRIDED_S2S_SHAPE, np.float64, "padding")
    want = _s2s(STRIDED_S2S_SHAPE, np.float64, "padding", backend="reference")
    with pyrnn.use_backend("cuda"):
        c, a, saved = ops.attention_forward(_odd_layout(hs, "F"), _odd_layout(hq, "strided"),
                                            _odd_layout(mask, "strided"))
        dhs, dhq = ops.attention_backward(_odd_layout(dc, "F"), saved)
        c2, a2, saved2 = ops.attention_forward(cp.asarray(hs), cp.asarray(hq), cp.asarray(mask), train=False)
    assert saved2 is None
    for name, g, w in zip(("c", "a", "dhs", "dhq", "c (train=False)", "a (train=False)"),
                          to_host([c, a, dhs, dhq, c2, a2], "attention"), want + want[:2]):
        assert_close(g, w, np.float64, f"cuda attention {name} (odd layouts)")


@gpu
def test_attention_deterministic():
    """Bitwise the same on every run: the row sums run in a fixed order, cuBLAS with atomics off."""
    _cuda_usable()
    first = _s2s((8, 200, 50, 32), np.float32, "padding", seed=4)
    again = _s2s((8, 200, 50, 32), np.float32, "padding", seed=4)
    for name, a, b in zip(("c", "a", "dhs", "dhq"), first, again):
        assert cp.array_equal(a, b), f"cuda attention {name}: two runs differ"


# ---- scaled dot-product attention ----------------------------------------------------------------
# tests/cases/attention.py's cases (padding and causal masks, an all-masked sequence, 300 and
# 520 keys) and tolerances, on both of the backend's paths: "full" materialises the (Tq, Tk) weights
# (cuBLAS), "stream" runs the streaming kernels (online softmax; the backward recomputes the weights),
# each forced by PYRNN_CUDA_SDPA_STREAM (see pyrnn/backends/cuda/attention.py).
SDPA_PATHS = ["full", "stream"]


@pytest.fixture
def sdpa_path(monkeypatch):
    def force(path):
        monkeypatch.setenv("PYRNN_CUDA_SDPA_STREAM", "1" if path == "stream" else "0")
    return force


def _sdpa(shape, dtype, mask_kind, causal, backend="cuda", seed=0, path=None):
    q, k, v, dout, mask = sdpa_case(shape, dtype, mask_kind, seed=seed)
    if backend == "cuda":
        q, k, v, dout = cp.asarray(q), cp.asarray(k), cp.asarray(v), cp.asarray(dout)
        mask = None if mask is None else cp.asarray(mask)
    with pyrnn.use_backend(backend):
        out, saved = ops.sdpa_forward(q, k, v, mask, causal)
        if backend == "cuda":
            assert saved.backend.NAME == "cuda", f"sdpa ran on {saved.backend.NAME}, not cuda"
            assert path is None or saved.payload[0] == path, f"sdpa ran the {saved.payload[0]} path, not {path}"
        return [out, *ops.sdpa_backward(dout, saved)]


@gpu
@pytest.mark.parametrize("path", SDPA_PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mask_kind,causal,shape", SDPA_CASES, ids=SDPA_IDS)
def test_sdpa_matches_reference(mask_kind, causal, shape, dtype, path, sdpa_path):
    _cuda_usable()
    sdpa_path(path)
    got = to_host(_sdpa(shape, dtype, mask_kind, causal, path=path), "sdpa")
    want = _sdpa(shape, dtype, mask_kind, causal, backend="reference")
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want):
        assert_close(g, w, dtype, f"cuda sdpa ({path}) {name}")
    mask = sdpa_case(shape, dtype, mask_kind)[4]
    if mask is not None:
        dead = ~mask.any(axis=1)
        for name, arr in zip(("out", "dq", "dk", "dv"), got):
            assert np.all(arr[dead] == 0), f"cuda sdpa ({path}) {name}: an all-masked sequence is not exactly zero"
        for name, arr in zip(("dk", "dv"), got[2:]):
            assert np.all(arr.transpose(0, 2, 1, 3)[~mask] == 0), \
                f"cuda sdpa ({path}) {name}: a masked key got a gradient"


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_sdpa_stream_matches_materialised(dtype, sdpa_path):
    """The two paths agree to the suite's tolerances on a causal, padded case with several key and
    query tiles of the streaming kernels."""
    _cuda_usable()
    shape = (2, 4, 300, 300, 16, 8)
    sdpa_path("full")
    full = to_host(_sdpa(shape, dtype, "padding", True, path="full"), "sdpa")
    sdpa_path("stream")
    streamed = to_host(_sdpa(shape, dtype, "padding", True, path="stream"), "sdpa")
    for name, g, w in zip(("out", "dq", "dk", "dv"), streamed, full):
        assert_close(g, w, dtype, f"cuda sdpa {name}: streaming vs materialised")


@gpu
def test_sdpa_picks_streaming_above_the_budget(monkeypatch):
    """Unforced, the backend streams once the (N, Hh, Tq, Tk) weights would pass SDPA_WEIGHTS_BYTES."""
    _cuda_usable()
    from pyrnn.backends import limits
    monkeypatch.delenv("PYRNN_CUDA_SDPA_STREAM", raising=False)
    _sdpa((1, 2, 64, 64, 8, 8), np.float32, "none", False, path="full")  # _sdpa checks the path taken
    monkeypatch.setattr(limits, "SDPA_WEIGHTS_BYTES", 2 * 64 * 64 * 4 - 1)  # one byte short of P
    _sdpa((1, 2, 64, 64, 8, 8), np.float32, "none", False, path="stream")


@gpu
@pytest.mark.parametrize("path", SDPA_PATHS)
def test_sdpa_strided_inputs_and_no_train(path, sdpa_path):
    _cuda_usable()
    sdpa_path(path)
    q, k, v, dout, mask = sdpa_case(STRIDED_SDPA_SHAPE, np.float64, "padding")
    want = _sdpa(STRIDED_SDPA_SHAPE, np.float64, "padding", False, backend="reference")
    qt = cp.asarray(np.ascontiguousarray(q.transpose(0, 2, 1, 3))).transpose(0, 2, 1, 3)  # MultiHeadAttention's split
    with pyrnn.use_backend("cuda"):
        out, saved = ops.sdpa_forward(qt, _odd_layout(k, "F"), _odd_layout(v, "strided"), _odd_layout(mask, "strided"))
        assert saved.payload[0] == path
        grads = ops.sdpa_backward(_odd_layout(dout, "F"), saved)
        out2, saved2 = ops.sdpa_forward(cp.asarray(q), cp.asarray(k), cp.asarray(v), cp.asarray(mask), train=False)
    assert saved2 is None
    for name, g, w in zip(("out", "dq", "dk", "dv", "out (train=False)"), to_host([out, *grads, out2], "sdpa"),
                          want + want[:1]):
        assert_close(g, w, np.float64, f"cuda sdpa ({path}) {name} (odd layouts)")


@gpu
@pytest.mark.parametrize("path", SDPA_PATHS)
def test_sdpa_deterministic(path, sdpa_path):
    _cuda_usable()
    sdpa_path(path)
    first = _sdpa((2, 4, 300, 300, 16, 8), np.float32, "padding", True, seed=3, path=path)
    again = _sdpa((2, 4, 300, 300, 16, 8), np.float32, "padding", True, seed=3, path=path)
    for name, a, b in zip(("out", "dq", "dk", "dv"), first, again):
        assert cp.array_equal(a, b), f"cuda sdpa ({path}) {name}: two runs differ"


# ---- layer norm ------------------------------------------------------------------------------------
# tests/cases/norm.py's shapes and data, cases.core's tolerances (float32 1e-5, float64 1e-12 of the
# tensor's max): the kernels sum the row statistics in double and dgamma/dbeta over fixed 64-row chunks,
# NumPy pairwise in the dtype; on the host emulator the worst float32 case is 8e-7 (dgamma, 600 rows of
# 513), float64 1.4e-15.

LN_NAMES = ("y", "dx", "dgamma", "dbeta")


def _layer_norm(x, gamma, beta, dy, eps=1e-5, backend="cuda"):
    """[y, dx, dgamma, dbeta] via pyrnn.ops on `backend` (the arrays decide NumPy or CuPy)."""
    with pyrnn.use_backend(backend):
        y, saved = ops.layer_norm_forward(x, gamma, beta, eps)
        if backend == "cuda":
            assert saved.backend.NAME == "cuda", f"layer_norm ran on {saved.backend.NAME}, not cuda"
        return [y, *ops.layer_norm_backward(dy, saved)]


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", LN_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_layer_norm_matches_reference(shape, dtype):
    """One element (D = 1: dx exactly 0), odd widths (D not a multiple of 32), no rows (no launch:
    dgamma = dbeta = 0), several 64-row chunks with a partial last one (600 rows)."""
    _cuda_usable()
    args = ln_case(shape, dtype)
    got = to_host(_layer_norm(*(cp.asarray(a) for a in args)), "layer_norm")
    for name, g, w in zip(LN_NAMES, got, _layer_norm(*args, backend="reference")):
        assert_close(g, w, dtype, f"cuda layer_norm {name}")


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_layer_norm_large_offset_and_eps(dtype):
    """Rows far from zero (mean 1000, spread 3): the mean must be removed before squaring; eps 0.5 shows
    eps is applied. Against the float64 reference of the same values: the float32 reference's own mean
    is off by a few ulp of 1000 (1.5e-5 of y on the emulator, against 3.9e-6 for the kernels)."""
    _cuda_usable()
    args = ln_case(norm.OFFSET_SHAPE, dtype, offset=norm.OFFSET)
    want = _layer_norm(*(a.astype(np.float64) for a in args), eps=norm.OFFSET_EPS, backend="reference")
    got = to_host(_layer_norm(*(cp.asarray(a) for a in args), eps=norm.OFFSET_EPS), "layer_norm")
    for name, g, w in zip(LN_NAMES, got, want):
        assert_close(g, w.astype(dtype), dtype, f"cuda layer_norm {name} (mean 1000)")


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_layer_norm_strided_and_fortran_inputs(dtype):
    _cuda_usable()
    x, gamma, beta, dy = ln_case(norm.STRIDED_SHAPE, dtype)
    xs, gs = cp.zeros((6, 10, 96), dtype), cp.zeros(96, dtype)
    xs[:, :, ::2], gs[::2] = cp.asarray(x), cp.asarray(gamma)  # every other column: not contiguous
    before = [a.copy() for a in (xs, gs)]
    got = to_host(_layer_norm(xs[:, :, ::2], gs[::2], cp.asarray(beta), cp.asfortranarray(cp.asarray(dy))),
                  "layer_norm")
    for name, g, w in zip(LN_NAMES, got, _layer_norm(x, gamma, beta, dy, backend="reference")):
        assert_close(g, w, dtype, f"cuda layer_norm {name} (strided inputs)")
    for a, b in zip((xs, gs), before):
        assert cp.array_equal(a, b), "layer_norm modified an input"


@gpu
def test_layer_norm_deterministic():
    """Bitwise the same twice: a transformer-sized (8, 512, 768), 64 chunks of dgamma/dbeta partials."""
    _cuda_usable()
    args = [cp.asarray(a) for a in ln_case((8, 512, 768), np.float32, seed=3)]
    first, again = _layer_norm(*args), _layer_norm(*args)
    for name, a, b in zip(LN_NAMES, first, again):
        assert cp.array_equal(a, b), f"cuda layer_norm {name}: two runs differ"


# ---- the module itself: built where nvcc is, errors that name the call (no GPU needed) ----------

def _nvcc():
    return shutil.which(os.environ.get("CUDACXX") or "nvcc")


def test_cuda_module_is_built_where_nvcc_is():
    """Where nvcc exists (CI has it, without a GPU), the install must carry pyrnn._cuda with its
    kernels, linked to a loadable cuBLAS of the major version it was compiled against. CI's second
    run sets PYRNN_EXPECT_NO_CUDA=1: that build has PYRNN_CUDA=OFF, so no module at all."""
    if os.environ.get("PYRNN_EXPECT_NO_CUDA") == "1":
        assert importlib.util.find_spec("pyrnn._cuda") is None, "a PYRNN_CUDA=OFF build carries pyrnn._cuda"
        return
    if _nvcc() is None:
        pytest.skip("no nvcc here: pyrnn._cuda is not expected")
    from pyrnn.backends import cuda as cuda_backend

    assert cuda_backend._cuda is not None, (
        f"nvcc is at {_nvcc()}, but pyrnn._cuda did not load: {cuda_backend._import_error} "
        "(built without cuBLAS? see the CMake warning; pip install 'nvidia-cublas>=13,<14' and reinstall)")
    m = cuda_backend._cuda
    for f in ("rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
              "layer_norm_forward", "layer_norm_backward"):
        assert hasattr(m, f), f
    info = m.build_info()
    assert info["version"] == pyrnn.__version__
    assert info["cublas_version"].split(".")[0] == info["cublas_runtime_version"].split(".")[0]
    assert info["cublas_from"].startswith(("CUDA toolkit", "nvidia-cublas"))


def _built_module():
    from pyrnn.backends import cuda as cuda_backend

    if cuda_backend._cuda is None:
        pytest.skip("pyrnn._cuda is not built or did not load")
    return cuda_backend._cuda


def test_cuda_errors_name_the_call():
    """A failing CUDA call raises pyrnn._cuda.CudaError (a RuntimeError) naming the call and its
    status: no device 10**6 exists with or without a GPU."""
    m = _built_module()
    with pytest.raises(RuntimeError, match=r"^cudaSetDevice failed: cudaError\w+ \(") as e:
        m.lstm_forward(dtype="float32", N=1, T=1, D=1, H=1, xs=0, Wx=0, Wh=0, b=0, h0=0, c0=0, hs=0, hT=0, cT=0,
                       gates=0, cs=0, device=10**6, stream=0)
    assert type(e.value).__name__ == "CudaError"


def test_cuda_module_rejects_bad_dtype_and_sizes():
    m = _built_module()
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got 'float16'"):
        m.rnn_forward(dtype="float16", N=1, T=1, D=1, H=1, xs=0, Wx=0, Wh=0, b=0, h0=0, hs=0, hT=0, device=0,
                      stream=0)
    with pytest.raises(ValueError, match="H >= 1"):
        m.rnn_forward(dtype="float32", N=1, T=1, D=1, H=0, xs=0, Wx=0, Wh=0, b=0, h0=0, hs=0, hT=0, device=0,
                      stream=0)
    with pytest.raises(ValueError, match=r"R >= 0 and D >= 1, got R=3 D=0"):
        m.layer_norm_forward(dtype="float32", R=3, D=0, x=0, gamma=0, beta=0, eps=1e-5, y=0, mean=0, rstd=0,
                             device=0, stream=0)
    with pytest.raises(ValueError, match=r"R >= 0 and D >= 1, got R=-1 D=4"):
        m.layer_norm_backward(dtype="float64", R=-1, D=4, dy=0, x=0, mean=0, rstd=0, gamma=0, dx=0, dgamma=0,
                              dbeta=0, part=0, device=0, stream=0)


@gpu
def test_bench_gpu_quick_writes_the_table_and_json(tmp_path):
    """`pyrnn bench --gpu --quick` on the GPU: one row per op, timings > 0, the JSON's keys."""
    import subprocess
    import sys
    import tempfile

    _cuda_usable()
    path = tmp_path / "gpu.json"
    out = subprocess.run([sys.executable, "-m", "pyrnn", "bench", "--gpu", "--quick", "--json", str(path)],
                         capture_output=True, text=True, cwd=tempfile.gettempdir())
    assert out.returncode == 0, out.stdout + out.stderr
    assert "vs cuDNN" in out.stdout and f"wrote {path}" in out.stdout
    d = json.loads(path.read_text())
    assert d["environment"]["device"] and d["environment"]["cublas"] and d["environment"]["backend"] == "cuda"
    assert [r["op"] for r in d["rows"]] == ["lstm", "gru"]
    for r in d["rows"]:
        assert {"op", "N", "T", "D", "H", "pyrnn_ms", "cudnn_ms"} <= set(r) and r["pyrnn_ms"] > 0


def test_arrays_on_two_gpus_are_rejected_naming_the_argument():
    """The backend's device check (no GPU needed: stand-ins carry only `.device.id`)."""
    import types

    from pyrnn.backends.cuda._launch import device_of

    def on(i):
        return types.SimpleNamespace(device=types.SimpleNamespace(id=i))
    with pytest.raises(ValueError, match=r"^h0: on GPU 1, but xs is on GPU 0; all arrays of one call must be on one "
                                         r"device$"):
        device_of(xs=on(0), Wx=on(0), b=None, h0=on(1))
    assert device_of(xs=on(2), b=None) == 2
