"""Property-based tests (hypothesis): every usable NumPy backend equals the reference.

Random shapes (empty batches and sequences, 1s, odd sizes), dtypes (float32/float64), layouts
of every argument (C, Fortran, strided, negative strides, read-only) and seeds; for each op a
backend implements (`rnn`, `lstm`, `gru` in both variants, `embedding`, `softmax_cross_entropy`,
`layer_norm`), forward outputs and backward gradients are compared with the reference's, and
the dtype of every result must be the inputs' dtype.

Tolerances, relative to the largest magnitude of the reference tensor, as in
tests/cases/core.py: float32 1e-5, float64 1e-12 (sequences here are short, T <= 7).
Random float32 cases are sometimes ill-conditioned (a saturated tanh makes a gradient the
difference of nearly equal numbers), so float32 results are judged against the reference run in
float64 on the same values: a backend passes when its error is within 1e-4 or within 10x the
float32 reference's own error (float32 kernels may use a 2-ulp exp and another summation order;
over thousands of random cases the worst seen was 2.4e-5, on a weight gradient that is a sum of
terms of mixed signs; a wrong term in a kernel is an O(1) error).

``PYRNN_TEST_BACKENDS=cpp`` (a comma list) restricts the backends (the sanitizer job, .ci/sanitize).
The whole file runs in a few seconds: max_examples is kept small per test, and there are many tests.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyrnn
from pyrnn import backends, ops

_only = [b for b in os.environ.get("PYRNN_TEST_BACKENDS", "").split(",") if b]
BACKENDS = [n for n in backends.NUMPY_ORDER
            if n != "reference" and backends.backend_status()[n][0] and (not _only or n in _only)]
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no NumPy backend besides the reference is usable")

# float64: random weights saturate tanh/sigmoid, and their derivatives (1 - h^2, s (1 - s)) cancel
# there, amplifying rounding by 1 / (1 - h^2): a state at h = 0.99998 turns 1e-16 into ~2e-12 in
# dh0 (hypothesis found exactly that). 1e-10 covers 1 - h^2 down to ~1e-6; a real bug is O(1).
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
RTOL32_VS_64 = 1e-4
LAYOUTS = ("C", "F", "strided", "reversed", "readonly")
SETTINGS = settings(max_examples=int(os.environ.get("PYRNN_PROPERTY_EXAMPLES", "50")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**32 - 1)
layouts = st.sampled_from(LAYOUTS)


def layout(a, kind):
    """The values of `a` in the memory layout `kind` (a copy or a view; same values)."""
    if a is None or a.ndim == 0:
        return a
    if kind == "C":
        return np.ascontiguousarray(a)
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "strided":  # every other element of the last axis of a bigger buffer
        buf = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        buf[..., ::2] = a
        return buf[..., ::2]
    if kind == "reversed":  # negative strides on the first axis
        return np.flip(np.flip(a, 0).copy(), 0)
    if kind == "readonly":
        r = a.copy()
        r.setflags(write=False)
        return r
    raise ValueError(kind)


def _err(a, b, scale):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) / scale


def assert_close(got, want, what, want64=None, floor=0.0):
    if want is None:
        assert got is None, f"{what}: expected None, got an array"
        return
    assert got is not None, f"{what}: expected an array, got None"
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.size == 0:
        return
    tol = RTOL[want.dtype]
    if want64 is None:
        scale = max(float(np.max(np.abs(want))), floor, np.finfo(want.dtype).tiny)
        err = _err(got, want, scale)
        assert err <= tol, f"{what}: max relative error {err:.3g} > {tol:g}"
        return
    tol = RTOL32_VS_64
    scale = max(float(np.max(np.abs(want64))), floor, np.finfo(want.dtype).tiny)
    err, ref_err = _err(got, want64, scale), _err(want, want64, scale)
    assert err <= max(tol, 10 * ref_err), (
        f"{what}: max relative error vs float64 {err:.3g} > max({tol:g}, 10 x the float32 reference's {ref_err:.3g})")


def _as64(v):
    if isinstance(v, np.ndarray) and v.dtype == np.float32:
        return v.astype(np.float64)
    return v


def run_both(backend, fn, case):
    """fn(case) on `backend`, on the reference, and (float32 cases) on the reference in float64:
    (backend results, reference results, float64 reference results or None)."""
    with pyrnn.use_backend(backend):
        got = fn(case)
    with pyrnn.use_backend("reference"):
        want = fn(case)
        is32 = any(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in case.values())
        want64 = fn({k: _as64(v) for k, v in case.items()}) if is32 else None
    return got, want, want64


def compare(got, want, want64, names, floors=None):
    """`floors`: name -> the natural magnitude of that result, used as the scale when the result is
    much smaller (a softmax gradient 1 - p where p is 1 to within 1e-26 is pure cancellation)."""
    for i, (name, g, w) in enumerate(zip(names, got, want)):
        assert_close(g, w, name, None if want64 is None else want64[i], (floors or {}).get(name, 0.0))


# ---- recurrent ops ---------------------------------------------------------------------------------

RECURRENT = {"rnn": 1, "lstm": 4, "gru": 3, "gru_reset_after": 3}


@st.composite
def recurrent_case(draw, op):
    gates = RECURRENT[op]
    dtype = draw(dtypes)
    N, T = draw(st.integers(0, 5)), draw(st.integers(0, 7))
    D, H = draw(st.integers(0, 9)), draw(st.integers(1, 9))
    rng = np.random.default_rng(draw(seeds))

    def r(*s, k=1.0):
        return (rng.standard_normal(s) * k).astype(dtype)

    bias, state, grads_in = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    b_shape = (2, gates * H) if op == "gru_reset_after" else (gates * H,)
    # weights scaled so that pre-activations are O(1): gates neither saturate nor vanish, mostly
    arrays = dict(xs=r(N, T, D), Wx=r(D, gates * H, k=1 / np.sqrt(max(D, 1))), Wh=r(H, gates * H, k=1 / np.sqrt(H)),
                  b=r(*b_shape, k=0.5) if bias else None,
                  h0=r(N, H) if state else None, c0=r(N, H) if state and op == "lstm" else None,
                  dhs=r(N, T, H), dhT=r(N, H) if grads_in else None, dcT=r(N, H) if grads_in else None)
    return {name: layout(a, draw(layouts)) for name, a in arrays.items()}


def run_recurrent(op, c):
    if op == "rnn":
        hs, hT, saved = ops.rnn_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"])
        return [hs, hT, *ops.rnn_backward(c["dhs"], c["dhT"], saved)]
    if op == "lstm":
        hs, hT, cT, saved = ops.lstm_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], c["c0"])
        return [hs, hT, cT, *ops.lstm_backward(c["dhs"], c["dhT"], c["dcT"], saved)]
    hs, hT, saved = ops.gru_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], op == "gru_reset_after")
    return [hs, hT, *ops.gru_backward(c["dhs"], c["dhT"], saved)]


NAMES = {"rnn": ["hs", "hT", "dxs", "dWx", "dWh", "db", "dh0"],
         "lstm": ["hs", "hT", "cT", "dxs", "dWx", "dWh", "db", "dh0", "dc0"]}
NAMES["gru"] = NAMES["gru_reset_after"] = NAMES["rnn"]


def _recurrent_test(op):
    @pytest.mark.parametrize("backend", BACKENDS)
    @SETTINGS
    @given(c=recurrent_case(op))
    def test(backend, c):
        compare(*run_both(backend, lambda case: run_recurrent(op, case), c), NAMES[op])

    test.__name__ = f"test_{op}_equals_reference"
    return test


test_rnn_equals_reference = _recurrent_test("rnn")
test_lstm_equals_reference = _recurrent_test("lstm")
test_gru_equals_reference = _recurrent_test("gru")
test_gru_reset_after_equals_reference = _recurrent_test("gru_reset_after")


# ---- embedding, softmax cross-entropy, layer norm -----------------------------------------------------

int_dtypes = st.sampled_from([np.int64, np.int32, np.uint8, np.int16])


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(dtype=dtypes, idt=int_dtypes, N=st.integers(0, 5), T=st.integers(0, 7), V=st.integers(1, 12),
       D=st.integers(0, 9), seed=seeds, lw=layouts, li=layouts, ld=layouts, extra_dim=st.booleans())
def test_embedding_equals_reference(backend, dtype, idt, N, T, V, D, seed, lw, li, ld, extra_dim):
    rng = np.random.default_rng(seed)
    shape = (N, T, 2) if extra_dim else (N, T)
    W = layout(rng.standard_normal((V, D)).astype(dtype), lw)
    idx = layout(rng.integers(0, V, shape).astype(idt), li)  # repeated ids: the scatter-add must sum them
    dout = layout(rng.standard_normal(shape + (D,)).astype(dtype), ld)

    def fn(c):
        out, saved = ops.embedding_forward(c["W"], c["idx"])
        return [out, ops.embedding_backward(c["dout"], saved)]

    compare(*run_both(backend, fn, dict(W=W, idx=idx, dout=dout)), ["out", "dW"])


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(dtype=dtypes, N=st.integers(0, 5), T=st.integers(0, 7), V=st.integers(1, 13), seed=seeds,
       lx=layouts, lt=layouts, idt=st.sampled_from([np.int64, np.int32]), p_ignore=st.sampled_from([0.0, 0.3, 1.0]),
       ignore_label=st.sampled_from([-1, -100, None]), scale=st.sampled_from([1.0, 30.0]),
       dloss=st.one_of(st.just(0.0), st.floats(0.01, 3), st.floats(-3, -0.01)))
def test_softmax_cross_entropy_equals_reference(backend, dtype, N, T, V, seed, lx, lt, idt, p_ignore,
                                                ignore_label, scale, dloss):
    rng = np.random.default_rng(seed)
    xs = layout((rng.standard_normal((N, T, V)) * scale).astype(dtype), lx)
    ts = rng.integers(0, V, (N, T))
    if ignore_label is not None:
        ts[rng.random((N, T)) < p_ignore] = ignore_label
    ts = layout(ts.astype(idt), lt)

    def fn(c):
        loss, saved = ops.softmax_cross_entropy_forward(c["xs"], c["ts"], ignore_label)
        return [loss, ops.softmax_cross_entropy_backward(dloss, saved)]

    n_valid = int((ts != ignore_label).sum()) if ignore_label is not None else ts.size
    compare(*run_both(backend, fn, dict(xs=xs, ts=ts)), ["loss", "dxs"],
            floors={"dxs": abs(dloss) / max(n_valid, 1)})


@pytest.mark.parametrize("backend", [b for b in BACKENDS if hasattr(backends.get(b), "layer_norm_forward")])
@SETTINGS
@given(dtype=dtypes, N=st.integers(0, 5), T=st.integers(1, 7), D=st.integers(1, 17), seed=seeds,
       lx=layouts, lg=layouts, ly=layouts)
def test_layer_norm_equals_reference(backend, dtype, N, T, D, seed, lx, lg, ly):
    rng = np.random.default_rng(seed)
    x = layout((rng.standard_normal((N, T, D)) * 3 + 1).astype(dtype), lx)
    gamma = layout(rng.standard_normal(D).astype(dtype), lg)
    beta = rng.standard_normal(D).astype(dtype)
    dy = layout(rng.standard_normal((N, T, D)).astype(dtype), ly)

    def fn(c):
        y, saved = ops.layer_norm_forward(c["x"], c["gamma"], c["beta"])
        return [y, *ops.layer_norm_backward(c["dy"], saved)]

    compare(*run_both(backend, fn, dict(x=x, gamma=gamma, beta=beta, dy=dy)), ["y", "dx", "dgamma", "dbeta"])


# ---- layers: the same through the book-style API, stateful chunks (truncated BPTT) ----------------------

@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(dtype=dtypes, N=st.integers(1, 4), T=st.integers(1, 5), D=st.integers(1, 6), H=st.integers(1, 6),
       V=st.integers(2, 9), seed=seeds, chunks=st.integers(1, 3))
def test_language_model_layers_equal_reference(backend, dtype, N, T, D, H, V, seed, chunks):
    """TimeEmbedding -> stateful TimeLSTM -> TimeAffine -> TimeSoftmaxWithLoss over `chunks`
    consecutive chunks (state carried), forward and backward, every gradient compared."""
    from pyrnn.layers import TimeAffine, TimeEmbedding, TimeLSTM, TimeSoftmaxWithLoss

    rng = np.random.default_rng(seed)

    def r(*s, k=1.0):
        return (rng.standard_normal(s) * k).astype(dtype)

    weights = [r(V, D), r(D, 4 * H, k=1 / np.sqrt(D)), r(H, 4 * H, k=1 / np.sqrt(H)), r(4 * H), r(H, V), r(V)]
    data = [(rng.integers(0, V, (N, T)), rng.integers(-1, V, (N, T))) for _ in range(chunks)]

    def fn(c):
        W = [c[f"w{i}"].copy() for i in range(len(weights))]
        embed, lstm = TimeEmbedding(W[0]), TimeLSTM(W[1], W[2], W[3], stateful=True)
        affine, loss_layer = TimeAffine(W[4], W[5]), TimeSoftmaxWithLoss()
        out = []
        for xs, ts in data:
            out.append(loss_layer.forward(affine.forward(lstm.forward(embed.forward(xs))), ts))
            embed.backward(lstm.backward(affine.backward(loss_layer.backward())))
            out += [g.copy() for layer in (embed, lstm, affine) for g in layer.grads] + [lstm.h, lstm.c]
        return out

    got, want, want64 = run_both(backend, fn, {f"w{i}": w for i, w in enumerate(weights)})
    compare(got, want, want64, [f"result {i}" for i in range(len(want))])
