"""Every usable NumPy backend that implements the attention ops, against the reference, op by op:
time-batched seq2seq attention (attention, attention_weights, weighted_sum) and scaled dot-product
attention (streaming softmax), forward outputs and every backward gradient.

Tolerances, relative to the largest magnitude of the reference tensor (as in
test_backend_vs_reference.py):
  float32: 1e-5. The kernels sum in other orders than NumPy (BLAS blocking, an online softmax that
    rescales partial sums block by block, a polynomial exp of about 2 ulp). Measured worst case over
    these cases on the cpp backend: about 1e-6 (dk of a 300-key causal case), so 1e-5 leaves a margin
    while any wrong term (an O(1) error) fails by orders of magnitude.
  float64: 1e-12. Measured worst case about 1e-15.
"""
import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops

ATTENTION_OPS = ("attention_forward", "attention_weights_forward", "weighted_sum_forward", "sdpa_forward")


def _implements_all(name):
    ok, _ = backends.backend_status()[name]
    return ok and all(hasattr(backends.get(name), f) for f in ATTENTION_OPS)


OTHER_BACKENDS = [n for n in backends.NUMPY_ORDER if n != "reference" and _implements_all(n)]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]

pytestmark = pytest.mark.skipif(not OTHER_BACKENDS, reason="no NumPy backend besides the reference implements attention")


def close(name, got, want, dtype):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != {want.dtype}"
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-30)
    err = float(np.abs(got.astype(np.float64) - want).max(initial=0.0)) / scale
    assert err <= RTOL[dtype], f"{name}: relative error {err:.2e} > {RTOL[dtype]:.0e}"


def on(backend, fn):
    with pyrnn.use_backend(backend):
        return fn()


# ---- seq2seq attention --------------------------------------------------------------------------------

# (N, Te, Td, H): single elements, Td > Te, odd sizes, the date task's shape, a long encoder (300)
S2S_SHAPES = [(1, 1, 1, 1), (2, 3, 7, 5), (3, 7, 5, 9), (4, 29, 11, 33), (2, 300, 13, 17)]
MASKS = ["none", "padding", "all-masked row"]


def s2s_case(shape, dtype, mask_kind, seed=0):
    N, Te, Td, H = shape
    rng = np.random.default_rng(seed)
    hs = rng.standard_normal((N, Te, H)).astype(dtype)
    hq = rng.standard_normal((N, Td, H)).astype(dtype)
    dc = rng.standard_normal((N, Td, H)).astype(dtype)
    mask = None
    if mask_kind != "none":
        mask = np.ones((N, Te), dtype=bool)
        mask[-1, Te // 2 + 1:] = False           # the last sequence padded
        if Te > 2:
            mask[0, 1] = False                   # a hole, not only trailing padding
        if mask_kind == "all-masked row":
            mask[N // 2] = False
    return hs, hq, dc, mask


def s2s_run(hs, hq, dc, mask, train=True):
    c, a, saved = ops.attention_forward(hs, hq, mask, train=train)
    grads = ops.attention_backward(dc, saved) if train else None
    return c, a, grads


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("shape", S2S_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention(backend, dtype, mask_kind, shape):
    hs, hq, dc, mask = s2s_case(shape, dtype, mask_kind)
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
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 7, 5, 9), (2, 300, 13, 17)], ids=lambda s: "x".join(map(str, s)))
def test_attention_weights_and_weighted_sum(backend, dtype, shape):
    hs, hq, dc, mask = s2s_case(shape, dtype, "padding", seed=1)
    rng = np.random.default_rng(2)
    da = rng.standard_normal((shape[0], shape[2], shape[1])).astype(dtype)

    def run():
        a, sa = ops.attention_weights_forward(hs, hq, mask)
        c, sw = ops.weighted_sum_forward(hs, a)
        return (a, *ops.attention_weights_backward(da, sa), c, *ops.weighted_sum_backward(dc, sw))
    got, want = on(backend, run), on("reference", run)
    for name, g, w in zip(("a", "dhs", "dhq", "c", "dhs(sum)", "da"), got, want):
        close(name, g, w, dtype)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_attention_strided_inputs_and_no_train(backend):
    hs, hq, dc, mask = s2s_case((3, 7, 5, 9), np.float64, "padding")
    hs_t = np.ascontiguousarray(hs.transpose(1, 0, 2)).transpose(1, 0, 2)  # same values, not C-contiguous
    got = on(backend, lambda: s2s_run(hs_t, hq[:, ::1], dc, mask[:, :]))
    want = on("reference", lambda: s2s_run(hs, hq, dc, mask))
    close("c", got[0], want[0], np.float64)
    close("dhs", got[2][0], want[2][0], np.float64)
    c, a, saved = on(backend, lambda: ops.attention_forward(hs, hq, mask, train=False))
    assert saved is None
    close("c (train=False)", c, want[0], np.float64)


# ---- scaled dot-product attention ----------------------------------------------------------------------

# (N, Hh, Tq, Tk, dk, dv): single elements, Tq != Tk both ways, odd sizes, dk != dv, long T (300) so that
# several key and query blocks (and the online rescaling between key blocks) are exercised; one head
# over several blocks, so the cpp backward's block split (fewer heads than threads) is compared too
SDPA_SHAPES = [(1, 1, 1, 1, 1, 1), (2, 3, 5, 300, 8, 5), (2, 3, 13, 7, 8, 3), (3, 2, 9, 9, 7, 11),
               (2, 2, 300, 300, 16, 16), (1, 2, 70, 520, 4, 6), (1, 1, 300, 300, 8, 8)]


def sdpa_case(shape, dtype, mask_kind, seed=0):
    N, Hh, Tq, Tk, dk, dv = shape
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((N, Hh, Tq, dk)).astype(dtype)
    k = rng.standard_normal((N, Hh, Tk, dk)).astype(dtype)
    v = rng.standard_normal((N, Hh, Tk, dv)).astype(dtype)
    dout = rng.standard_normal((N, Hh, Tq, dv)).astype(dtype)
    mask = None
    if mask_kind != "none":
        mask = np.ones((N, Tk), dtype=bool)
        mask[-1, Tk // 3 + 1:] = False
        if Tk > 2:
            mask[0, 0] = False  # the first key masked: under a causal mask query 0 sees nothing
        if mask_kind == "all-masked row":
            mask[N // 2] = False
    return q, k, v, dout, mask


def sdpa_run(q, k, v, dout, mask, causal, train=True):
    out, saved = ops.sdpa_forward(q, k, v, mask, causal, train=train)
    return (out, *ops.sdpa_backward(dout, saved)) if train else (out,)


SDPA_VARIANTS = [("none", False), ("padding", False), ("all-masked row", False), ("none", True),
                 ("padding", True)]
# causal attention needs Tq == Tk, so those variants only pair with square shapes
SDPA_CASES = [(m, c, s) for m, c in SDPA_VARIANTS for s in SDPA_SHAPES if not c or s[2] == s[3]]
SDPA_IDS = [f"{m}{'-causal' if c else ''}-{'x'.join(map(str, s))}" for m, c, s in SDPA_CASES]


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mask_kind,causal,shape", SDPA_CASES, ids=SDPA_IDS)
def test_sdpa(backend, dtype, mask_kind, causal, shape):
    q, k, v, dout, mask = sdpa_case(shape, dtype, mask_kind)
    got = on(backend, lambda: sdpa_run(q, k, v, dout, mask, causal))
    want = on("reference", lambda: sdpa_run(q, k, v, dout, mask, causal))
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want):
        close(name, g, w, dtype)
    if mask is not None and mask_kind == "all-masked row":
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
    q, k, v, dout, mask = sdpa_case((2, 3, 13, 7, 8, 3), np.float64, "padding")
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
    hs, hq, dc, m2 = s2s_case((8, 200, 50, 32), np.float32, "padding", seed=4)
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
