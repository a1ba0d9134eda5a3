"""The Numba backend (`pyrnn.backends.numba`) against the NumPy reference, op by op.

Tolerances are normwise relative errors ||numba - reference|| / ||reference||:
float64 1e-12 (both sides round each op to 1e-16; BLAS summation order and libm
differ, and T steps and H-term dot products add those up to well below 1e-13);
float32 1e-5 (the same differences at float32's 6e-8 rounding, grown over up
to 20 steps: measured <= 2e-6). Weights are scaled by 1/sqrt(fan-in) so the
recurrences are contractive, as trained networks are; in a chaotic recurrence
any rounding difference grows exponentially whatever the kernel.
"""
import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops

if not backends.backend_status()["numba"][0]:
    pytest.skip(f"numba backend unusable: {backends.backend_status()['numba'][1]}", allow_module_level=True)

from pyrnn.backends.numba.kernels import core as scalar  # noqa: E402

TOL = {np.float64: 1e-12, np.float32: 1e-5}
OPS = ("rnn", "lstm", "gru_before", "gru_after")
GATES = {"rnn": 1, "lstm": 4, "gru_before": 3, "gru_after": 3}
SHAPES = [(1, 1, 3, 2), (1, 6, 4, 3), (3, 1, 4, 3), (2, 3, 4, 3), (4, 7, 5, 9), (16, 20, 33, 47)]


def params(op, N, T, D, H, dtype, bias=True, states=True, seed=0):
    rng = np.random.default_rng(seed)
    G = GATES[op] * H
    p = dict(
        xs=rng.standard_normal((N, T, D)),
        Wx=rng.standard_normal((D, G)) / np.sqrt(D),
        Wh=rng.standard_normal((H, G)) / np.sqrt(H),
        b=(0.5 * rng.standard_normal((2, G) if op == "gru_after" else (G,))) if bias else None,
        h0=rng.standard_normal((N, H)) if states else None,
        c0=rng.standard_normal((N, H)) if states and op == "lstm" else None,
        dhs=rng.standard_normal((N, T, H)),
        dhT=rng.standard_normal((N, H)) if states else None,
        dcT=rng.standard_normal((N, H)) if states and op == "lstm" else None,
    )
    return {k: None if v is None else v.astype(dtype) for k, v in p.items()}


def forward(op, p, train=True):
    """-> (outputs tuple, saved) through pyrnn.ops on the current backend."""
    if op == "rnn":
        hs, hT, s = ops.rnn_forward(p["xs"], p["Wx"], p["Wh"], p["b"], p["h0"], train)
        return (hs, hT), s
    if op == "lstm":
        hs, hT, cT, s = ops.lstm_forward(p["xs"], p["Wx"], p["Wh"], p["b"], p["h0"], p["c0"], train)
        return (hs, hT, cT), s
    hs, hT, s = ops.gru_forward(p["xs"], p["Wx"], p["Wh"], p["b"], p["h0"], op == "gru_after", train)
    return (hs, hT), s


def backward(op, p, s):
    if op == "lstm":
        return ops.lstm_backward(p["dhs"], p["dhT"], p["dcT"], s)
    return (ops.rnn_backward if op == "rnn" else ops.gru_backward)(p["dhs"], p["dhT"], s)


def run(op, p, backend):
    with pyrnn.use_backend(backend):
        outs, s = forward(op, p)
        return tuple(outs) + tuple(backward(op, p, s))


def assert_close(ref, got, dtype, what=""):
    assert len(ref) == len(got)
    for k, (r, g) in enumerate(zip(ref, got)):
        if r is None:
            assert g is None, f"{what} output {k}: expected None"
            continue
        assert isinstance(g, np.ndarray) and g.dtype == dtype and g.shape == r.shape, f"{what} output {k}"
        denom = max(np.linalg.norm(r.astype(np.float64)), 1e-30)
        err = np.linalg.norm(r.astype(np.float64) - g) / denom
        assert err < TOL[dtype], f"{what} output {k}: normwise error {err:.2e}"


# ---- recurrent ops ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "N%dT%dD%dH%d" % s)
@pytest.mark.parametrize("op", OPS)
def test_recurrent_matches_reference(op, shape, dtype):
    for bias in (True, False):
        for states in (True, False):
            p = params(op, *shape, dtype, bias=bias, states=states)
            assert_close(run(op, p, "reference"), run(op, p, "numba"), dtype, f"{op} bias={bias} states={states}")


@pytest.mark.parametrize("op", OPS)
def test_recurrent_train_false_saves_nothing(op):
    p = params(op, 3, 5, 4, 6, np.float32)
    with pyrnn.use_backend("numba"):
        outs, s = forward(op, p, train=True)
        outs_inf, s_inf = forward(op, p, train=False)
    assert s_inf is None
    for a, b in zip(outs, outs_inf):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("op", OPS)
def test_recurrent_deterministic_and_inputs_untouched(op):
    p = params(op, 5, 9, 7, 11, np.float32)
    before = {k: None if v is None else v.copy() for k, v in p.items()}
    first, second = run(op, p, "numba"), run(op, p, "numba")
    for a, b in zip(first, second):
        if a is not None:
            np.testing.assert_array_equal(a, b)  # bitwise
    for k, v in p.items():
        if v is not None:
            np.testing.assert_array_equal(v, before[k], err_msg=f"{k} was modified")


def _strided(a):
    """The same values as a non-contiguous view (every other element of a bigger array)."""
    if a is None:
        return None
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    big[..., ::2] = a
    v = big[..., ::2]
    assert not v.flags.c_contiguous or v.size <= 1
    return v


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("op", OPS)
def test_recurrent_non_contiguous_inputs(op, dtype):
    p = params(op, 4, 6, 5, 7, dtype)
    q = {k: _strided(v) for k, v in p.items()}
    q["Wx"] = np.asfortranarray(p["Wx"])
    assert_close(run(op, p, "reference"), run(op, q, "numba"), dtype, op)


@pytest.mark.parametrize("op", OPS)
def test_recurrent_stateful_chunks(op):
    """Two chunks with the state carried give the forward of one run (truncated BPTT's forward)."""
    dtype = np.float64
    p = params(op, 3, 8, 4, 5, dtype)
    with pyrnn.use_backend("numba"):
        full, _ = forward(op, p)
        a = dict(p, xs=p["xs"][:, :5])
        outs_a, _ = forward(op, a)
        b = dict(p, xs=p["xs"][:, 5:], h0=outs_a[1], c0=outs_a[2] if op == "lstm" else None)
        outs_b, _ = forward(op, b)
    np.testing.assert_allclose(np.concatenate([outs_a[0], outs_b[0]], axis=1), full[0], rtol=1e-12, atol=1e-14)
    for x, y in zip(outs_b[1:], full[1:]):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("op", OPS)
def test_recurrent_empty(op):
    for shape in [(0, 3, 4, 3), (2, 0, 4, 3)]:
        p = params(op, *shape, np.float64)
        assert_close(run(op, p, "reference"), run(op, p, "numba"), np.float64, f"{op} {shape}")


def test_gru_reset_after_bias_parts():
    """Input and recurrent bias differ only in n: check both parts of db separately."""
    p = params("gru_after", 3, 4, 5, 6, np.float64)
    ref, got = run("gru_after", p, "reference"), run("gru_after", p, "numba")
    db_ref, db_got = ref[5], got[5]
    assert db_got.shape == (2, 18)
    np.testing.assert_allclose(db_got, db_ref, rtol=1e-12, atol=1e-14)


# ---- the scalar tanh used by every kernel -------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_scalar_tanh_within_3_ulp(dtype):
    x = np.concatenate([np.linspace(-1, 1, 200001), np.linspace(-30, 30, 20001), np.geomspace(1e-30, 0.3, 2001),
                        -np.geomspace(1e-30, 0.3, 2001), [0.0, np.inf, -np.inf]]).astype(dtype)
    got = np.empty_like(x)
    scalar.tanh_array(x, got)
    ref = np.tanh(x.astype(np.longdouble))
    ulp = np.spacing(np.abs(ref.astype(dtype))).astype(np.longdouble)
    assert (np.abs(got - ref) / ulp).max() < 3
    nan = np.array([np.nan], dtype=dtype)
    scalar.tanh_array(nan, nan)
    assert np.isnan(nan[0])


def test_scalar_exp_float32_within_2_ulp():
    """The vectorizable float32 exp (Cephes' expf) behind every float32 gate."""
    x = np.concatenate([np.linspace(-87, 88, 400001), np.geomspace(1e-30, 1, 2001), -np.geomspace(1e-30, 1, 2001),
                        [0.0]]).astype(np.float32)
    got = np.empty_like(x)
    scalar.exp_array(x, got)
    ref = np.exp(x.astype(np.longdouble))
    ulp = np.spacing(ref.astype(np.float32)).astype(np.longdouble)
    assert (np.abs(got - ref) / ulp).max() <= 2
    edge = np.array([np.nan, np.inf, -np.inf, 100.0, -100.0], dtype=np.float32)
    scalar.exp_array(edge, edge)
    assert np.isnan(edge[0]) and np.isfinite(edge[1:]).all() and (edge[1:] >= 0).all()  # clamped, never inf


# ---- word-level ops ---------------------------------------------------------------------------------

def _both(f):
    with pyrnn.use_backend("reference"):
        r = f()
    with pyrnn.use_backend("numba"):
        m = f()
    return r, m


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("idx_shape", [(6,), (3, 5), (0,), (2, 40)])
def test_embedding_bitwise_equal(dtype, idx_shape):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((7, 5)).astype(dtype)
    idx = rng.integers(0, 7, idx_shape).astype(np.int32)  # repeated indices, non-intp dtype
    dout = rng.standard_normal(idx_shape + (5,)).astype(dtype)

    def f():
        out, s = ops.embedding_forward(W, idx)
        return out, ops.embedding_backward(dout, s)
    (o_r, dW_r), (o_m, dW_m) = _both(f)
    np.testing.assert_array_equal(o_m, o_r)
    np.testing.assert_array_equal(dW_m, dW_r)  # same sequential order of additions as np.add.at
    assert dW_m.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("ignore", [-1, None, 1])
@pytest.mark.parametrize("shape", [(1, 2), (4, 11), (3, 5, 17), (2, 0, 4)])
def test_softmax_cross_entropy(dtype, ignore, shape):
    rng = np.random.default_rng(1)
    xs = (3 * rng.standard_normal(shape)).astype(dtype)
    ts = rng.integers(0, shape[-1], shape[:-1])
    if ignore is not None:
        ts.reshape(-1)[::3] = ignore

    def f():
        loss, s = ops.softmax_cross_entropy_forward(xs, ts, ignore)
        return loss, ops.softmax_cross_entropy_backward(np.asarray(0.7, dtype=dtype), s)
    r, m = _both(f)
    assert m[0].shape == () and m[0].dtype == dtype and m[1].dtype == dtype
    assert_close(r, m, dtype, "softmax_cross_entropy")


def test_softmax_cross_entropy_all_ignored_is_zero():
    xs = np.ones((2, 3, 4), np.float32)
    with pyrnn.use_backend("numba"):
        loss, s = ops.softmax_cross_entropy_forward(xs, np.full((2, 3), -1), -1)
        dx = ops.softmax_cross_entropy_backward(1.0, s)
    assert loss == 0 and not dx.any() and dx.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(5,), (3, 8), (2, 4, 33), (0, 6)])
def test_layer_norm(dtype, shape):
    rng = np.random.default_rng(2)
    x = (2 * rng.standard_normal(shape) + 1).astype(dtype)
    x = _strided(x)
    gamma, beta = (rng.standard_normal(shape[-1]).astype(dtype) for _ in range(2))
    dy = rng.standard_normal(shape).astype(dtype)

    def f():
        y, s = ops.layer_norm_forward(x, gamma, beta, 1e-5)
        return (y,) + tuple(ops.layer_norm_backward(dy, s))
    r, m = _both(f)
    assert_close(r, m, dtype, "layer_norm")


def test_word_ops_deterministic():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 50)).astype(np.float32)
    ts = rng.integers(0, 50, 64)
    g, b = np.ones(50, np.float32), np.zeros(50, np.float32)
    runs = []
    for _ in range(2):
        with pyrnn.use_backend("numba"):
            loss, s = ops.softmax_cross_entropy_forward(x, ts)
            y, s2 = ops.layer_norm_forward(x, g, b)
            runs.append((loss, ops.softmax_cross_entropy_backward(1.0, s), y, *ops.layer_norm_backward(x, s2)))
    for a, c in zip(*runs):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(6,), (3, 4, 7), (), (0, 3)])
@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.9])
def test_dropout_same_mask_as_reference(dtype, shape, ratio):
    """Given the same seed, the book's global-RNG draw and a Generator both give the reference's mask:
    y and dx are bitwise the reference's."""
    rng = np.random.default_rng(4)
    x = _strided(rng.standard_normal(shape).astype(dtype)) if shape else np.asarray(1.5, dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    for use_generator in (False, True):
        runs = []
        for backend in ("reference", "numba"):
            np.random.seed(7)
            gen = np.random.default_rng(7) if use_generator else None
            with pyrnn.use_backend(backend):
                y, s = ops.dropout_forward(x, ratio, rng=gen)
                runs.append((y, ops.dropout_backward(dy, s)))
        (y_r, dx_r), (y_m, dx_m) = runs
        assert y_m.dtype == dtype and y_m.shape == x.shape and dx_m.dtype == dtype
        np.testing.assert_array_equal(y_m, y_r)
        np.testing.assert_array_equal(dx_m, dx_r)
        if x.size >= 20 and ratio > 0:
            assert np.count_nonzero(y_m) < x.size  # a real mask: something was dropped


def test_dropout_keeps_the_expected_fraction_and_scale():
    x = np.ones((200, 500), np.float32)
    with pyrnn.use_backend("numba"):
        y, s = ops.dropout_forward(x, 0.3, rng=np.random.default_rng(0))
        y_inf, s_inf = ops.dropout_forward(x, 0.3, train=False)
        dx_inf = ops.dropout_backward(x, s_inf)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_array_equal(y[kept], np.float32(1 / 0.7))
    assert y_inf is x and dx_inf is x  # inference: the identity, as the reference


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("x_shape,bias", [((5, 7), True), ((3, 4, 7), False), ((2, 0, 7), True), ((7,), True)])
def test_affine(dtype, x_shape, bias):
    rng = np.random.default_rng(5)
    x = _strided(rng.standard_normal(x_shape).astype(dtype))
    W = np.asfortranarray(rng.standard_normal((7, 9)).astype(dtype))
    b = rng.standard_normal(9).astype(dtype) if bias else None
    dout = rng.standard_normal(x_shape[:-1] + (9,)).astype(dtype)

    def f():
        out, s = ops.affine_forward(x, W, b)
        return (out,) + tuple(ops.affine_backward(dout, s))
    r, m = _both(f)
    assert_close(r, m, dtype, "affine")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(1,), (4, 11), (3, 5, 17), (2, 0, 4), (2, 3000)])
def test_softmax(dtype, shape):
    rng = np.random.default_rng(6)
    x = _strided((4 * rng.standard_normal(shape)).astype(dtype))
    dy = rng.standard_normal(shape).astype(dtype)

    def f():
        y, s = ops.softmax_forward(x)
        return y, ops.softmax_backward(dy, s)
    r, m = _both(f)
    assert_close(r, m, dtype, "softmax")
    if m[0].size:
        np.testing.assert_allclose(m[0].sum(axis=-1), 1, rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(1,), (4, 11), (3, 5, 17), (0, 4), (300, 700)])
@pytest.mark.parametrize("targets", ["int", "float"])
def test_sigmoid_cross_entropy(dtype, shape, targets):
    rng = np.random.default_rng(7)
    xs = _strided((5 * rng.standard_normal(shape)).astype(dtype))
    ts = rng.integers(0, 2, shape) if targets == "int" else rng.random(shape).astype(dtype)

    def f():
        loss, s = ops.sigmoid_cross_entropy_forward(xs, ts)
        return loss, ops.sigmoid_cross_entropy_backward(np.asarray(0.7, dtype=dtype), s)
    r, m = _both(f)
    assert m[0].shape == () and m[0].dtype == dtype and m[1].dtype == dtype
    assert_close(r, m, dtype, "sigmoid_cross_entropy")


# ---- backend plumbing --------------------------------------------------------------------------------

def test_describe_and_selection():
    mod = backends.get("numba")
    assert mod.NAME == "numba" and mod.ARRAYS == {"numpy"}
    assert "Numba" in mod.describe()
    with pyrnn.use_backend("numba"):
        for op in ("rnn", "lstm", "gru", "embedding", "affine", "softmax", "softmax_cross_entropy",
                   "sigmoid_cross_entropy", "dropout", "layer_norm", "attention", "sdpa"):
            for d in ("forward", "backward"):
                assert backends.select(f"{op}_{d}", False) is mod, f"{op}_{d} does not run on numba"
