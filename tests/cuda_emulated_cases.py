"""The CUDA backend's cases on the host emulator (kernels/emulator), run by test_cuda_emulated.py.

pyrnn/backends/cuda/ drives an emulated pyrnn._cuda: the real kernel sources (kernels/src,
kernels/bindings) compiled by g++ against kernels/emulator's stand-ins for the CUDA runtime and
cuBLAS, on NumPy arrays in host memory (CuPy's few calls there are replaced by NumPy's). What this
checks: every kernel's indexing, strides and math, the row-major-to-cuBLAS mapping (transposes,
leading dimensions, the documented cuBLAS argument checks), workspace sizes and the buffers the
Python side allocates, against the NumPy reference, with AddressSanitizer watching every access.
What it cannot check: real GPU execution (concurrency between threads, streams, cuBLAS's own
rounding); tests/test_cuda_backend.py does that on a GPU.

Run as a script (in a process started with LD_PRELOAD=kernels/emulator/build.py sanitizer_preload()
when the module is sanitized):
``python tests/cuda_emulated_cases.py MODULE_PATH`` prints one JSON line per case:
[case id, error message or null]. The cases, shapes and the tolerance norm of every family are
tests/cases/'s (cases.core: float32 1e-5, float64 1e-12 of the reference tensor's largest magnitude).
"""
from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import sys
import types

import numpy as np

from cases import norm, recurrent as rc
from cases.attention import (EMULATOR_NAN_SDPA_CASES as NAN_SDPA_CASES,
                             EMULATOR_NAN_SDPA_STREAM_CASES as NAN_SDPA_STREAM_CASES,
                             EMULATOR_PARTS_SHAPES, EMULATOR_SDPA_SHAPES, EMULATOR_SDPA_STREAM_CASES as SDPA_STREAM_CASES,
                             MASKS as ATTN_MASKS, NAN_S2S_SHAPES as NAN_ATTN_SHAPES, PARTS_NAMES,
                             S2S_CORNERS as ATTN_CORNERS, S2S_SHAPES as ATTN_SHAPES, STRIDED_S2S_SHAPE, STRIDED_SDPA_SHAPE,
                             run_parts, s2s_case, sdpa_case, sdpa_cases)
from cases.norm import SHAPES as LN_SHAPES, make_case as ln_case
from cases.recurrent import OPS, SHAPES, VARIANTS, assert_close, make_case, names, packed_case, run_packed

DTYPES = {"f32": np.float32, "f64": np.float64}
# beyond the CPU suite's shapes: several thread blocks per step and column-sum blocks, and the
# empty and D = 0 corners (no step, no batch row, no input features)
EXTRA_SHAPES = [rc.LARGE_SHAPE] + rc.EMPTY_SHAPES
SDPA_CASES = sdpa_cases(EMULATOR_SDPA_SHAPES)


def case_ids():
    ids = [f"{op}/{'x'.join(map(str, s))}/{''.join(str(int(f)) for f in v)}/{dt}"
           for op, s, v, dt in itertools.product(OPS, SHAPES + EXTRA_SHAPES, VARIANTS, DTYPES)]
    ids += [f"{op}/inference/{dt}" for op, dt in itertools.product(OPS, DTYPES)]
    ids += [f"{op}/packed/{dt}" for op, dt in itertools.product(OPS, DTYPES)]  # the packed ops (lengths)
    ids += [f"attention/{'x'.join(map(str, s))}/{m}/{dt}"
            for s, m, dt in itertools.product(ATTN_SHAPES + ATTN_CORNERS, ATTN_MASKS, DTYPES) if s[0] or m == "none"]
    ids += [f"attention/{'x'.join(map(str, s))}/nan-in-padding/{dt}" for s, dt in itertools.product(NAN_ATTN_SHAPES, DTYPES)]
    ids += [f"attention_parts/{'x'.join(map(str, s))}/{dt}"
            for s, dt in itertools.product(EMULATOR_PARTS_SHAPES, DTYPES)]
    ids += [f"attention/inference/{dt}" for dt in DTYPES]
    ids += [f"sdpa/{'x'.join(map(str, s))}/{m}{'-causal' if c else ''}/{dt}"
            for (m, c, s), dt in itertools.product(SDPA_CASES + NAN_SDPA_CASES, DTYPES)]
    ids += [f"sdpa/strided-inference/{dt}" for dt in DTYPES]
    ids += [f"sdpa_stream/{'x'.join(map(str, s))}/{m}{'-causal' if c else ''}/{dt}"
            for (m, c, s), dt in itertools.product(SDPA_STREAM_CASES + NAN_SDPA_STREAM_CASES, DTYPES)]
    ids += [f"sdpa_stream/strided-inference/{dt}" for dt in DTYPES]
    ids += ["sdpa_stream/path-choice/f32"]
    ids += [f"layer_norm/{'x'.join(map(str, s))}/{dt}" for s, dt in itertools.product(LN_SHAPES, DTYPES)]
    ids += [f"layer_norm/{what}/{dt}" for what, dt in itertools.product(("mean-1000", "strided"), DTYPES)]
    ids += ["layer_norm/deterministic/f32"]
    return ids


def install(module_path):
    """pyrnn.backends.cuda on the emulated module, NumPy arrays standing in for CuPy's."""
    import pyrnn.backends.cuda as cuda_backend
    from pyrnn.backends import export_ops
    from pyrnn.backends.cuda import _launch

    spec = importlib.util.spec_from_file_location("_cuda", module_path)
    emulated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(emulated)
    fake_cupy = types.SimpleNamespace(
        empty=np.empty, ascontiguousarray=np.ascontiguousarray,
        cuda=types.SimpleNamespace(Device=lambda device: contextlib.nullcontext(),
                                   get_current_stream=lambda: types.SimpleNamespace(ptr=0)))
    _launch._cuda, _launch.cp = emulated, fake_cupy
    _launch.address = lambda a: 0 if a is None else a.ctypes.data  # host memory is the "device" memory
    _launch.device_of = lambda **arrays: 0
    export_ops(vars(cuda_backend))  # the ops, also where the real pyrnn._cuda did not load
    return cuda_backend


def run(api, op, c, train=True, grads_in=True):
    """Forward (and backward) of the contract's functions in `api`: (forward outputs, gradients)."""
    fwd, grads, saved = rc.run(api, op, c, train=train, grads_in=grads_in)
    if not train:
        assert saved is None, "train=False must save nothing"
    return fwd, grads


def check_attention(backend, case_id):
    from pyrnn import reference

    op, what, *rest = case_id.split("/")
    dtype = DTYPES[rest[-1]]
    if what == "packed":
        c = packed_case(op, dtype)
        for k, (got, want) in enumerate(zip(run_packed(backend, c), run_packed(reference, c))):
            assert_close(got, want, dtype, f"{op}_packed result {k}")
        return
    if what == "inference":
        hs, hq, _, _, mask = s2s_case(STRIDED_S2S_SHAPE, dtype, "padding")
        c, a, saved = backend.attention_forward(hs, hq, mask, False)
        assert saved is None, "train=False must save nothing"
        ct, at, _ = backend.attention_forward(hs, hq, mask, True)
        rc, ra, _ = reference.attention_forward(hs, hq, mask, False)
        assert_close(c, rc, dtype, "attention c (train=False)")
        np.testing.assert_array_equal(c, ct, err_msg="attention c: train=False differs from train=True")
        np.testing.assert_array_equal(a, at, err_msg="attention a: train=False differs from train=True")
        return
    shape = tuple(int(v) for v in what.split("x"))
    if op == "attention_parts":  # attention_weights and weighted_sum, each on its own
        hs, hq, dc, da, mask = s2s_case(shape, dtype, "padding" if shape[0] else "none", seed=1)

        for name, got, want in zip(PARTS_NAMES, run_parts(backend, hs, hq, dc, da, mask),
                                   run_parts(reference, hs, hq, dc, da, mask)):
            assert_close(got, want, dtype, f"attention_parts {name}")
        return
    hs, hq, dc, _, mask = s2s_case(shape, dtype, rest[0])

    def whole(api):
        c, a, saved = api.attention_forward(hs, hq, mask, True)
        return [c, a, *api.attention_backward(dc, saved)]
    got = whole(backend)
    for name, g, want in zip(("c", "a", "dhs", "dhq"), got, whole(reference)):
        assert_close(g, want, dtype, f"attention {name}")
    if mask is not None:  # padding gets exactly zero weight; an all-masked query exactly zero everything
        assert np.all(got[1][~np.broadcast_to(mask[:, None, :], got[1].shape)] == 0), "a masked key got weight"
        dead = ~mask.any(axis=1)
        for name, arr in zip(("c", "a", "dhs", "dhq"), got):
            assert np.all(arr[dead] == 0), f"attention {name}: an all-masked sequence is not exactly zero"


@contextlib.contextmanager
def sdpa_path(stream):
    """The cuda backend's SDPA forced onto its streaming (or materialised) kernels."""
    old = os.environ.get("PYRNN_CUDA_SDPA_STREAM")
    os.environ["PYRNN_CUDA_SDPA_STREAM"] = "1" if stream else "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["PYRNN_CUDA_SDPA_STREAM"]
        else:
            os.environ["PYRNN_CUDA_SDPA_STREAM"] = old


def check_sdpa_path_choice(backend):
    """Unforced, the streaming path is taken once the weights (N, Hh, Tq, Tk) pass the budget; forced
    or not, whenever a size would not fit cuBLAS's 32-bit int (the streaming kernels index in 64 bits)."""
    from pyrnn.backends import limits
    from pyrnn.backends.cuda import attention

    q, k, v, _, _ = sdpa_case((1, 2, 6, 5, 3, 2), np.float32, "none")
    old_env, old_budget = os.environ.pop("PYRNN_CUDA_SDPA_STREAM", None), limits.SDPA_WEIGHTS_BYTES
    try:
        os.environ["PYRNN_CUDA_SDPA_STREAM"] = "0"
        for dims in ((1, 1, 1, 1, 2**31, 1), (1, 1, 1, 1, 1, 2**31), (2**16, 2**15, 1, 1, 1, 1)):
            assert attention._sdpa_streams(*dims, np.dtype(np.float32)), f"{dims}: materialised (cuBLAS int sizes)"
        assert not attention._sdpa_streams(1, 1, 1, 1, 2**31 - 1, 1, np.dtype(np.float32))
        del os.environ["PYRNN_CUDA_SDPA_STREAM"]
        for budget, kind in ((2 * 6 * 5 * 4, "full"), (2 * 6 * 5 * 4 - 1, "stream")):
            limits.SDPA_WEIGHTS_BYTES = budget
            kind_taken = backend.sdpa_forward(q, k, v, None, False, True)[1][0]
            assert kind_taken == kind, f"sdpa with a {budget}-byte budget ran {kind_taken}, not {kind}"
        os.environ["PYRNN_CUDA_SDPA_STREAM"] = "yes"
        try:
            backend.sdpa_forward(q, k, v, None, False, True)
        except ValueError as e:
            assert "PYRNN_CUDA_SDPA_STREAM" in str(e), str(e)
        else:
            raise AssertionError("PYRNN_CUDA_SDPA_STREAM=yes was accepted")
    finally:
        limits.SDPA_WEIGHTS_BYTES = old_budget
        os.environ.pop("PYRNN_CUDA_SDPA_STREAM", None)
        if old_env is not None:
            os.environ["PYRNN_CUDA_SDPA_STREAM"] = old_env


def check_sdpa(backend, case_id):
    op, what, *_ = case_id.split("/")
    if what == "path-choice":
        return check_sdpa_path_choice(backend)
    stream = op == "sdpa_stream"
    with sdpa_path(stream):
        got = check_sdpa_path(backend, case_id, stream)
    if stream:  # both paths agree, to the same tolerances
        with sdpa_path(False):
            full = check_sdpa_path(backend, case_id, False)
        dtype = DTYPES[case_id.split("/")[-1]]
        for name, g, w in zip(("out", "dq", "dk", "dv"), got, full):
            assert_close(g, w, dtype, f"sdpa {name}: streaming vs materialised")


def check_sdpa_path(backend, case_id, stream):
    """The case on the path sdpa_path forced (checked to have run); returns [out, dq, dk, dv]."""
    from pyrnn import reference

    _, what, *rest = case_id.split("/")
    dtype = DTYPES[rest[-1]]
    kind = "stream" if stream else "full"
    if what == "strided-inference":  # non-contiguous q (how MultiHeadAttention splits heads); train=False
        q, k, v, dout, mask = sdpa_case(STRIDED_SDPA_SHAPE, dtype, "padding")
        qt = np.ascontiguousarray(q.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
        out, saved = backend.sdpa_forward(qt, k, v, mask, False, True)
        assert saved[0] == kind, f"sdpa ran the {saved[0]} path, not {kind}"
        got = [out, *backend.sdpa_backward(dout, saved)]
        rout, rsaved = reference.sdpa_forward(q, k, v, mask, False, True)
        for name, g, w in zip(("out", "dq", "dk", "dv"), got, [rout, *reference.sdpa_backward(dout, rsaved)]):
            assert_close(g, w, dtype, f"sdpa {name} (strided q)")
        out_i, saved_i = backend.sdpa_forward(q, k, v, mask, False, False)
        assert saved_i is None, "train=False must save nothing"
        np.testing.assert_array_equal(out_i, out, err_msg="sdpa out: train=False differs from train=True")
        return got
    shape = tuple(int(x) for x in what.split("x"))
    mask_kind, causal = rest[0].removesuffix("-causal"), rest[0].endswith("-causal")
    q, k, v, dout, mask = sdpa_case(shape, dtype, mask_kind)

    def whole(api):
        out, saved = api.sdpa_forward(q, k, v, mask, causal, True)
        if api is backend:
            assert saved[0] == kind, f"sdpa ran the {saved[0]} path, not {kind}"
        return [out, *api.sdpa_backward(dout, saved)]
    got = whole(backend)
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, whole(reference)):
        assert_close(g, w, dtype, f"sdpa {name}")
    if mask is not None:  # an all-masked sequence: exactly zero output and gradients; a masked key: none
        dead = ~mask.any(axis=1)
        for name, arr in zip(("out", "dq", "dk", "dv"), got):
            assert np.all(arr[dead] == 0), f"sdpa {name}: an all-masked sequence is not exactly zero"
        for name, arr in zip(("dk", "dv"), got[2:]):
            assert np.all(arr.transpose(0, 2, 1, 3)[~mask] == 0), f"sdpa {name}: a masked key got a gradient"
        if causal and shape[2] > 2:  # query 0 of sequence 0 sees only key 0, which is masked
            assert np.all(got[0][0, :, 0] == 0) and np.all(got[1][0, :, 0] == 0), "causal query 0 not zero"
    return got


layer_norm_both = norm.run


def check_layer_norm(backend, case_id):
    """tests/cases/norm.py's shapes and data on the emulated kernels, the family's tolerances."""
    from pyrnn import reference

    _, what, dt = case_id.split("/")
    dtype = DTYPES[dt]
    names_ = ("y", "dx", "dgamma", "dbeta")
    if what == "deterministic":  # 4 chunks of 64 rows (a partial last one), two runs bitwise equal
        args = ln_case((3, 70, 37), dtype, seed=3)
        for name, a, b in zip(names_, layer_norm_both(backend, *args), layer_norm_both(backend, *args)):
            np.testing.assert_array_equal(a, b, err_msg=f"layer_norm {name}: two runs differ")
        return
    if what == "mean-1000":
        # rows far from zero (mean 1000, spread 3): the mean must be removed before squaring; eps 0.5
        # shows eps is applied. Against the float64 reference of the same values, so float32 is held
        # to the answer (the float32 reference's own mean is off by a few ulp of 1000: 1e-5 of xhat)
        args = ln_case(norm.OFFSET_SHAPE, dtype, offset=norm.OFFSET)
        want = [w.astype(dtype) for w in layer_norm_both(reference, *(a.astype(np.float64) for a in args), eps=norm.OFFSET_EPS)]
        for name, g, w in zip(names_, layer_norm_both(backend, *args, eps=norm.OFFSET_EPS), want):
            assert_close(g, w, dtype, f"layer_norm {name} (mean 1000)")
        return
    if what == "strided":  # every other column of x and gamma (not contiguous), dy in Fortran order
        x, gamma, beta, dy = ln_case(norm.STRIDED_SHAPE, dtype)
        xs, gs = np.zeros((6, 10, 96), dtype), np.zeros(96, dtype)
        xs[:, :, ::2], gs[::2] = x, gamma
        before = [a.copy() for a in (xs, gs, dy)]
        got = layer_norm_both(backend, xs[:, :, ::2], gs[::2], beta, np.asfortranarray(dy))
        for name, g, w in zip(names_, got, layer_norm_both(reference, x, gamma, beta, dy)):
            assert_close(g, w, dtype, f"layer_norm {name} (strided inputs)")
        for a, b in zip((xs, gs, dy), before):
            np.testing.assert_array_equal(a, b, err_msg="layer_norm modified an input")
        return
    shape = tuple(int(v) for v in what.split("x"))
    args = ln_case(shape, dtype)
    for name, g, w in zip(names_, layer_norm_both(backend, *args), layer_norm_both(reference, *args)):
        assert_close(g, w, dtype, f"layer_norm {name}")


def check(backend, case_id):
    from pyrnn import reference

    op, what, *rest = case_id.split("/")
    if op == "layer_norm":
        return check_layer_norm(backend, case_id)
    if op.startswith("attention"):
        return check_attention(backend, case_id)
    if op in ("sdpa", "sdpa_stream"):
        return check_sdpa(backend, case_id)
    dtype = DTYPES[rest[-1]]
    if what == "packed":
        c = packed_case(op, dtype)
        for k, (got, want) in enumerate(zip(run_packed(backend, c), run_packed(reference, c))):
            assert_close(got, want, dtype, f"{op}_packed result {k}")
        return
    if what == "inference":
        c = make_case(op, rc.INFERENCE_SHAPE, dtype)
        fwd, _ = run(backend, op, c, train=False)
        tfwd, _ = run(backend, op, c, train=True)
        rfwd, _ = run(reference, op, c, train=False)
        for name, got, want, tr in zip(names(op, "fwd"), fwd, rfwd, tfwd):
            assert_close(got, want, dtype, f"{op} {name} (train=False)")
            np.testing.assert_array_equal(got, tr, err_msg=f"{op} {name}: train=False differs from train=True")
        return
    shape = tuple(int(v) for v in what.split("x"))
    bias, state, grads_in = (f == "1" for f in rest[0])
    c = make_case(op, shape, dtype, bias=bias, state=state)
    fwd, grads = run(backend, op, c, grads_in=grads_in)
    rfwd, rgrads = run(reference, op, c, grads_in=grads_in)
    for name, got, want in zip(names(op, "fwd") + names(op, "grad"), fwd + grads, rfwd + rgrads):
        assert_close(got, want, dtype, f"{op} {name}")


def main(module_path):
    backend = install(module_path)
    for case_id in case_ids():
        try:
            check(backend, case_id)
            err = None
        except Exception as e:  # reported per case; the test fails that case with this message
            err = f"{type(e).__name__}: {e}"
        print(json.dumps([case_id, err]), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
