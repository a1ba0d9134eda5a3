"""The attention family on every usable NumPy backend that implements the attention ops, against the
reference, op by op: time-batched seq2seq attention (attention, attention_weights, weighted_sum) and
scaled dot-product attention (streaming softmax), forward outputs and every backward gradient.

The cases (shapes, masks, the generators) and the tolerance norm are in tests/cases/attention.py and
tests/cases/core.py (float32 1e-5, float64 1e-12 of the reference tensor's largest magnitude).
"""
import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops

from cases.attention import (MASKS, PARTS_NAMES, PARTS_SHAPES, S2S_SHAPES, SDPA_CASES, SDPA_IDS, STRIDED_S2S_SHAPE,
                             STRIDED_SDPA_SHAPE, assert_close, run_parts, s2s_case, sdpa_case)

ATTENTION_OPS = ("attention_forward", "attention_weights_forward", "weighted_sum_forward", "sdpa_forward")


def _implements_all(name):
    ok, _ = backends.backend_status()[name]
    return ok and all(hasattr(backends.get(name), f) for f in ATTENTION_OPS)


OTHER_BACKENDS = [n for n in backends.NUMPY_ORDER if n != "reference" and _implements_all(n)]
DTYPES = [np.float32, np.float64]

pytestmark = pytest.mark.skipif(not OTHER_BACKENDS, reason="no NumPy backend besides the reference implements attention")


def close(name, got, want, dtype):
    assert_close(got, want, dtype, name)


def on(backend, fn):
    with pyrnn.use_backend(backend):
        return fn()


# ---- seq2seq attention --------------------------------------------------------------------------------

def s2s_run(hs, hq, dc, mask, train=True):
    c, a, saved = ops.attention_forward(hs, hq, mask, train=train)
    grads = ops.attention_backward(dc, saved) if train else None
    return c, a, grads


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("shape", S2S_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention(backend, dtype, mask_kind, shape):
    hs, hq, dc, _, mask = s2s_case(shape, dtype, mask_kind)
    got = on(backend, lambda: s2s_run(hs, hq, dc, mask))
    want = on("reference", lambda: s2s_run(hs, hq, dc, mask))
    close("c", got[0], want[0], dtype)
    close("a", got[1], want[1], dtype)
    close("dhs", got[2][0], want[2][0], dtype)
    close("dhq", got[2][1], want[2][1], dtype)
    if mask is not None:  # padding gets exactly zero weight; an all-masked query exactly zero everything
        assert np.all(got[1][~np.broadcast_to(mask[:, None, :], got[1].shape)] == 0)
        dead = ~mask.any(axis=1)
        for arr in (got[0], got[1], got[2][0], got[2][1]):
            assert np.all(arr[dead] == 0)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", PARTS_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_weights_and_weighted_sum(backend, dtype, shape):
    hs, hq, dc, da, mask = s2s_case(shape, dtype, "padding", seed=1)

    def run():
        return run_parts(ops, hs, hq, dc, da, mask)
    got, want = on(backend, run), on("reference", run)
    for name, g, w in zip(PARTS_NAMES, got, want):
        close(name, g, w, dtype)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_attention_strided_inputs_and_no_train(backend):
    hs, hq, dc, _, mask = s2s_case(STRIDED_S2S_SHAPE, np.float64, "padding")
    hs_t = np.ascontiguousarray(hs.transpose(1, 0, 2)).transpose(1, 0, 2)  # same values, not C-contiguous
    got = on(backend, lambda: s2s_run(hs_t, hq[:, ::1], dc, mask[:, :]))
    want = on("reference", lambda: s2s_run(hs, hq, dc, mask))
    close("c", got[0], want[0], np.float64)
    close("dhs", got[2][0], want[2][0], np.float64)
    c, a, saved = on(backend, lambda: ops.attention_forward(hs, hq, mask, train=False))
    assert saved is None
    close("c (train=False)", c, want[0], np.float64)


# ---- scaled dot-product attention ----------------------------------------------------------------------

def sdpa_run(q, k, v, dout, mask, causal, train=True):
    out, saved = ops.sdpa_forward(q, k, v, mask, causal, train=train)
    return (out, *ops.sdpa_backward(dout, saved)) if train else (out,)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mask_kind,causal,shape", SDPA_CASES, ids=SDPA_IDS)
def test_sdpa(backend, dtype, mask_kind, causal, shape):
    q, k, v, dout, mask = sdpa_case(shape, dtype, mask_kind)
    got = on(backend, lambda: sdpa_run(q, k, v, dout, mask, causal))
    want = on("reference", lambda: sdpa_run(q, k, v, dout, mask, causal))
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want):
        close(name, g, w, dtype)
    if mask is not None and mask_kind == "all-masked-row":
        dead = ~mask.any(axis=1)
        for arr in got:
            assert np.all(arr[dead] == 0)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_sdpa_causal_first_query_with_first_key_masked_is_zero(backend):
    # query 0 sees only key 0; masking key 0 leaves it nothing: zero output and zero dq
    q, k, v, dout, mask = sdpa_case((2, 2, 300, 300, 16, 16), np.float32, "padding")
    out, dq, dk, dv = on(backend, lambda: sdpa_run(q, k, v, dout, mask, True))
    assert np.all(out[0, :, 0] == 0) and np.all(dq[0, :, 0] == 0)
    assert np.all(dk[0, :, 0] == 0) and np.all(dv[0, :, 0] == 0)  # a masked key gets no gradient


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_sdpa_strided_inputs_and_no_train(backend):
    q, k, v, dout, mask = sdpa_case(STRIDED_SDPA_SHAPE, np.float64, "padding")
    qt = np.ascontiguousarray(q.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)  # how MultiHeadAttention splits heads
    got = on(backend, lambda: sdpa_run(qt, k, v, dout, mask, False))
    want = on("reference", lambda: sdpa_run(q, k, v, dout, mask, False))
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want):
        close(name, g, w, np.float64)
    out, saved = on(backend, lambda: ops.sdpa_forward(q, k, v, mask, False, train=False))
    assert saved is None
    close("out (train=False)", out, want[0], np.float64)


# ---- determinism -------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_deterministic(backend):
    """Bitwise the same results on every call (threads split the work, never the sums)."""
    q, k, v, dout, mask = sdpa_case((2, 4, 300, 300, 16, 8), np.float32, "padding", seed=3)
    hs, hq, dc, _, m2 = s2s_case((8, 200, 50, 32), np.float32, "padding", seed=4)
    first = on(backend, lambda: sdpa_run(q, k, v, dout, mask, True) + sdpa_run(q, k, v, dout, None, False)
               + (lambda r: (r[0], r[1], *r[2]))(s2s_run(hs, hq, dc, m2)))
    for _ in range(3):
        again = on(backend, lambda: sdpa_run(q, k, v, dout, mask, True) + sdpa_run(q, k, v, dout, None, False)
                   + (lambda r: (r[0], r[1], *r[2]))(s2s_run(hs, hq, dc, m2)))
        for a, b in zip(first, again):
            assert np.array_equal(a, b)


# ---- the layers on every backend ---------------------------------------------------------------------

@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_transformer_encoder_layer_matches_reference(backend):
    from pyrnn.check.cases import _encoder_layer
    layer = _encoder_layer(np.random.default_rng(0), dm=16, heads=4, dff=24)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 40, 16))
    mask = np.ones((3, 40), dtype=bool)
    mask[2, 25:] = False
    dout = rng.standard_normal((3, 40, 16))

    def run():
        y = layer.forward(x, mask=mask)
        dx = layer.backward(dout)
        return (y, dx, *[g.copy() for g in layer.grads])
    got, want = on(backend, run), on("reference", run)
    bk = 2 + 3  # the key bias: its true gradient is 0 (it shifts all of a query's scores alike), both sides
    for i, (g, w) in enumerate(zip(got, want)):  # give rounding noise, compared to the largest gradient
        if i == bk:
            assert np.abs(g).max() < 1e-12 * max(np.abs(a).max() for a in want)
        else:
            close(f"result {i}", g, w, np.float64)
