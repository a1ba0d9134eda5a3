"""Hardening of the public boundary beyond tests/test_bad_input.py, on every usable NumPy backend:
empty batches and sequences, axes whose emptiness makes an op meaningless, sizes a 32-bit BLAS
cannot index, token ids and labels, backward before forward for every layer, array types on the
wrong path, memory layouts, and NaN/Inf (propagation by default, `pyrnn.check_finite` on demand).
The table in docs/bad_input.md summarises what a user gets for each class."""
import tracemalloc

import numpy as np
import pytest

import pyrnn
from pyrnn import backends, layers, ops
from pyrnn.layers import (Embedding, SigmoidWithLoss, SoftmaxWithLoss, TimeEmbedding, TimeLSTM,
                          TimeSigmoidWithLoss, TimeSoftmaxWithLoss)

BACKENDS = [n for n in backends.NUMPY_ORDER if backends.backend_status()[n][0]]
CPP = backends.backend_status()["cpp"][0]
rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(params=BACKENDS)
def backend(request):
    with pyrnn.use_backend(request.param):
        yield request.param


# ---- empty batches and sequences: the correct (empty) answer ---------------------------------------

@pytest.mark.parametrize("N,T", [(0, 3), (2, 0), (0, 0)])
@pytest.mark.parametrize("op", ["rnn", "lstm", "gru", "gru_reset_after"])
def test_recurrent_empty_batch_or_sequence(backend, op, N, T):
    D, H = 4, 5
    G = {"rnn": 1, "lstm": 4}.get(op, 3) * H
    b = f32(2, G) if op == "gru_reset_after" else f32(G)
    xs, Wx, Wh, h0, c0, dhs, dhT, dcT = f32(N, T, D), f32(D, G), f32(H, G), f32(N, H), f32(N, H), \
        f32(N, T, H), f32(N, H), f32(N, H)
    if op == "lstm":
        hs, hT, cT, saved = ops.lstm_forward(xs, Wx, Wh, b, h0, c0)
        dxs, dWx, dWh, db, dh0, dc0 = ops.lstm_backward(dhs, dhT, dcT, saved)
    else:
        fwd = ops.rnn_forward(xs, Wx, Wh, b, h0) if op == "rnn" else \
            ops.gru_forward(xs, Wx, Wh, b, h0, op == "gru_reset_after")
        hs, hT, saved = fwd
        bwd = ops.rnn_backward if op == "rnn" else ops.gru_backward
        dxs, dWx, dWh, db, dh0 = bwd(dhs, dhT, saved)
    assert hs.shape == (N, T, H) and dxs.shape == (N, T, D)
    if T == 0:  # no step: the state passes through, and so does its gradient
        np.testing.assert_array_equal(hT, h0)
        np.testing.assert_array_equal(dh0, dhT)
        if op == "lstm":
            np.testing.assert_array_equal(cT, c0)
            np.testing.assert_array_equal(dc0, dcT)
    assert hT.shape == dh0.shape == (N, H)
    for g, W in ((dWx, Wx), (dWh, Wh), (db, b)):  # no step, or no batch row: zero weight gradients
        assert g.shape == W.shape and g.dtype == W.dtype and not g.any()


def test_word_level_ops_on_empty_batches(backend):
    W = f32(6, 4)
    out, saved = ops.embedding_forward(W, np.zeros((0, 3), np.int64))
    assert out.shape == (0, 3, 4)
    dW = ops.embedding_backward(f32(0, 3, 4), saved)
    assert dW.shape == (6, 4) and not dW.any()
    loss, saved = ops.softmax_cross_entropy_forward(f32(0, 3, 6), np.zeros((0, 3), np.int64))
    assert loss.shape == () and loss.dtype == np.float32 and float(loss) == 0.0  # mean over no labels: 0
    assert ops.softmax_cross_entropy_backward(1.0, saved).shape == (0, 3, 6)
    loss, saved = ops.sigmoid_cross_entropy_forward(f32(0, 3), np.zeros((0, 3), np.int64))
    assert float(loss) == 0.0 and ops.sigmoid_cross_entropy_backward(1.0, saved).shape == (0, 3)
    y, saved = ops.layer_norm_forward(f32(0, 5), f32(5), f32(5))
    dx, dg, dbeta = ops.layer_norm_backward(f32(0, 5), saved)
    assert y.shape == dx.shape == (0, 5) and not dg.any() and not dbeta.any()
    out, saved = ops.affine_forward(f32(0, 3, 4), f32(4, 5), f32(5))
    dx, dW, db = ops.affine_backward(f32(0, 3, 5), saved)
    assert out.shape == (0, 3, 5) and dx.shape == (0, 3, 4) and not dW.any() and not db.any()


def test_attention_with_no_decoder_steps(backend):
    c, a, saved = ops.attention_forward(f32(2, 3, 4), f32(2, 0, 4))
    dhs, dhq = ops.attention_backward(f32(2, 0, 4), saved)
    assert c.shape == (2, 0, 4) and a.shape == (2, 0, 3) and not dhs.any() and dhq.shape == (2, 0, 4)


def test_layers_on_empty_sequences(backend):
    """The book's LM stack on a (N, 0) batch: empty outputs, zero gradients, loss 0."""
    V, D, H, N = 7, 4, 5, 3
    embed = TimeEmbedding(f32(V, D))
    lstm = TimeLSTM(f32(D, 4 * H), f32(H, 4 * H), f32(4 * H), stateful=True)
    loss_layer = TimeSoftmaxWithLoss()
    hs = lstm.forward(embed.forward(np.zeros((N, 0), np.int64)))
    assert hs.shape == (N, 0, H)
    loss = loss_layer.forward(f32(N, 0, V), np.zeros((N, 0), np.int64))
    assert loss == 0.0 and loss_layer.backward().shape == (N, 0, V)
    embed.backward(lstm.backward(f32(N, 0, H)))
    assert not any(g.any() for g in lstm.grads + embed.grads)


# ---- empty axes where the result is undefined: ValueError ------------------------------------------

EMPTY_AXIS = [
    ("softmax over 0 classes", lambda: ops.softmax_forward(f32(3, 0)), r"x: the softmax axis \(the last\) must be >= 1"),
    ("cross-entropy with V=0", lambda: ops.softmax_cross_entropy_forward(f32(2, 3, 0), np.full((2, 3), -1)),
     r"xs: V \(the number of classes"),
    ("layer norm over D=0", lambda: ops.layer_norm_forward(f32(3, 0), f32(0), f32(0)), r"x: D \(the normalised axis"),
    ("attention over Te=0", lambda: ops.attention_forward(f32(2, 0, 4), f32(2, 3, 4)), r"hs: Te \(the number of encoder"),
    ("book Attention over T=0", lambda: layers.Attention().forward(f32(2, 0, 4), f32(2, 4)), r"hs: Te"),
    ("sdpa over Tk=0", lambda: ops.sdpa_forward(f32(1, 2, 3, 4), f32(1, 2, 0, 4), f32(1, 2, 0, 4)), r"k: Tk"),
    ("sdpa with dk=0", lambda: ops.sdpa_forward(f32(1, 2, 3, 0), f32(1, 2, 3, 0), f32(1, 2, 3, 4)), r"q: dk"),
    ("recurrent H=0", lambda: ops.lstm_forward(f32(2, 3, 4), f32(4, 0), f32(0, 0)), r"Wx: .* with H >= 1"),
]


@pytest.mark.parametrize("call,pattern", [c[1:] for c in EMPTY_AXIS], ids=[c[0] for c in EMPTY_AXIS])
def test_meaningless_empty_axis_raises(backend, call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


# ---- sizes a 32-bit BLAS cannot index: ValueError before anything is allocated ----------------------

def _huge(shape):
    """A float32 array of `shape` that costs 4 bytes: every element is the same one (zero strides)."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape, (0,) * len(shape), writeable=False)


HUGE = [
    ("N*T rows", lambda: ops.lstm_forward(_huge((2, 2**30, 1)), f32(1, 4), f32(1, 4)), r"N\*T .* = 2147483648"),
    ("T*4H leading dim", lambda: ops.lstm_forward(_huge((1, 2**27, 1)), f32(1, 64), f32(16, 64)),
     r"T\*G .* = 8589934592"),
    ("D input width", lambda: ops.rnn_forward(_huge((1, 1, 2**31)), _huge((2**31, 2)), f32(2, 2)), r"D \(input width\)"),
    ("GRU T*3H", lambda: ops.gru_forward(_huge((1, 2**29, 1)), f32(1, 6), f32(2, 6)), r"T\*G"),
]


@pytest.mark.skipif(not CPP, reason="the cpp backend (32-bit BLAS) is not usable")
@pytest.mark.parametrize("call,pattern", [c[1:] for c in HUGE], ids=[c[0] for c in HUGE])
def test_sizes_beyond_32bit_blas_are_rejected_without_allocating(call, pattern):
    tracemalloc.start()
    try:
        with pyrnn.use_backend("cpp"), pytest.raises(ValueError, match=pattern + r".*32-bit BLAS limit"):
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak} bytes allocated before the size check"


# ---- token ids and labels ----------------------------------------------------------------------------

def test_ids_out_of_range_name_the_first_bad_index(backend):
    ids = np.array([[0, 1], [6, -2]])
    with pytest.raises(ValueError, match=r"idx: values must be in \[0, 6\); got min -2, max 6 "
                                         r"\(first bad value 6 at index \(1, 0\)\)"):
        Embedding(f32(6, 3)).forward(ids)
    with pytest.raises(ValueError, match=r"xs: values must be in \[0, 6\)"):
        TimeEmbedding(f32(6, 3)).forward(ids)
    with pytest.raises(ValueError, match=r"idx: values must be in \[0, 6\)"):
        ops.embedding_forward(f32(6, 3), np.array([2**40]))
    with pytest.raises(ValueError, match=r"idx: values must be in \[0, 6\)"):
        ops.embedding_forward(f32(6, 3), np.array([2**64 - 1], np.uint64))
    with pytest.raises(TypeError, match=r"idx: expected an integer dtype"):
        ops.embedding_forward(f32(6, 3), np.array([True, False]))


@pytest.mark.parametrize("ignore_label", [-1, -100, 6, 1000])
def test_ignore_label_anywhere_outside_or_inside_the_class_range(backend, ignore_label):
    """The ignore label may be negative or >= V (a padding id); every other label must be in [0, V)."""
    xs = f32(2, 3, 6)
    ts = np.array([[0, ignore_label, 5], [ignore_label, 2, 3]])
    loss, saved = ops.softmax_cross_entropy_forward(xs, ts, ignore_label)
    dxs = ops.softmax_cross_entropy_backward(1.0, saved)
    with pyrnn.use_backend("reference"):
        keep = ts != ignore_label
        want, _ = ops.softmax_cross_entropy_forward(xs[keep], ts[keep])
    np.testing.assert_allclose(loss, want, rtol=1e-6)
    assert not dxs[~keep].any()
    bad = ts.copy()
    bad[0, 0] = -3 if ignore_label != -3 else -4
    with pytest.raises(ValueError, match=rf"ts: values must be in \[0, 6\) or {ignore_label} \(ignored\)"):
        ops.softmax_cross_entropy_forward(xs, bad, ignore_label)


def test_labels_of_the_wrong_shape_or_kind(backend):
    N, T, V = 2, 3, 6
    cases = [
        (lambda: TimeSoftmaxWithLoss().forward(f32(N, T, V), np.zeros((N,), np.int64)), ValueError,
         r"ts: expected shape \(2, 3\) \(2-D\), got shape \(2,\)"),
        (lambda: TimeSoftmaxWithLoss().forward(f32(N, T, V), np.zeros((N, T, V + 1), np.int64)), ValueError,
         r"ts: expected shape \(2, 3\) \(2-D\), got shape \(2, 3, 7\)"),
        (lambda: SoftmaxWithLoss().forward(f32(N, V), np.zeros((N, 1), np.int64)), ValueError,
         r"ts: expected shape \(2,\)"),
        (lambda: SoftmaxWithLoss().forward(f32(N, V), [0, 1]), TypeError, r"ts: expected an integer array"),
        (lambda: SoftmaxWithLoss().forward([[0.0] * V] * N, np.zeros(N, np.int64)), TypeError,
         r"xs: expected a numpy or cupy float32/float64 array"),
        (lambda: SigmoidWithLoss().forward(f32(N, T), [[0] * T] * N), TypeError, r"ts: expected an array of 0/1"),
        (lambda: ops.softmax_cross_entropy_forward(f32(N, V), np.zeros(N, np.int64), ignore_label=0.5), TypeError,
         r"ignore_label: expected an int or None"),
        (lambda: TimeSigmoidWithLoss().forward(f32(N, T), np.zeros((N, T + 1))), ValueError,
         r"ts: expected shape \(2, 3\) \(that of xs\)"),
        (lambda: SigmoidWithLoss().forward(f32(N, T), np.full((N, T), 2.0)), ValueError,
         r"ts: targets must be in \[0, 1\]; got min 2.0"),
        (lambda: SigmoidWithLoss().forward(f32(N, T), np.full((N, T), np.nan)), ValueError,
         r"ts: targets must be in \[0, 1\]"),
        (lambda: SigmoidWithLoss().forward(f32(N, T), np.ones((N, T), bool)), TypeError, r"ts: .*dtype bool"),
    ]
    for call, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            call()


def test_book_one_hot_labels_still_work(backend):
    xs = f32(2, 3, 6)
    ts = rng.integers(0, 6, (2, 3))
    one_hot = np.eye(6, dtype=np.int64)[ts]
    assert TimeSoftmaxWithLoss().forward(xs, one_hot) == TimeSoftmaxWithLoss().forward(xs, ts)


# ---- backward before forward: RuntimeError naming the layer, for every layer --------------------------

# the layer classes (layers.__all__ also exports helper functions such as reverse_padded)
LAYER_CLASSES = [n for n in layers.__all__ if isinstance(getattr(layers, n), type)]

def _construct(name):
    D, H, V, Dm = 4, 3, 5, 4
    W = {
        "RNN": lambda: layers.RNN(f32(D, H), f32(H, H), f32(H)),
        "LSTM": lambda: layers.LSTM(f32(D, 4 * H), f32(H, 4 * H), f32(4 * H)),
        "GRU": lambda: layers.GRU(f32(D, 3 * H), f32(H, 3 * H)),
        "TimeRNN": lambda: layers.TimeRNN(f32(D, H), f32(H, H), f32(H)),
        "TimeLSTM": lambda: layers.TimeLSTM(f32(D, 4 * H), f32(H, 4 * H), f32(4 * H)),
        "TimeGRU": lambda: layers.TimeGRU(f32(D, 3 * H), f32(H, 3 * H)),
        "TimeBiLSTM": lambda: layers.TimeBiLSTM(*(f32(D, 4 * H), f32(H, 4 * H), f32(4 * H)) * 2),
        "TimeBidirectional": lambda: layers.TimeBidirectional(
            layers.TimeGRU(f32(D, 3 * H), f32(H, 3 * H)), layers.TimeRNN(f32(D, H), f32(H, H), f32(H))),
        "TimeStacked": lambda: layers.TimeStacked(
            [layers.TimeLSTM(f32(D, 4 * H), f32(H, 4 * H), f32(4 * H)), layers.TimeRNN(f32(H, H), f32(H, H), f32(H))],
            dropout=0.5, residual=True),
        "Embedding": lambda: layers.Embedding(f32(V, D)),
        "TimeEmbedding": lambda: layers.TimeEmbedding(f32(V, D)),
        "Affine": lambda: layers.Affine(f32(D, V), f32(V)),
        "TimeAffine": lambda: layers.TimeAffine(f32(D, V), f32(V)),
        "MultiHeadAttention": lambda: layers.MultiHeadAttention(*[f32(Dm, Dm), f32(Dm)] * 4, num_heads=2),
        "LayerNorm": lambda: layers.LayerNorm(f32(D), f32(D)),
        "TimeDropout": lambda: layers.TimeDropout(0.5),
        "TransformerEncoderLayer": lambda: layers.TransformerEncoderLayer(
            *[f32(Dm, Dm), f32(Dm)] * 4, f32(Dm), f32(Dm), f32(Dm, 6), f32(6), f32(6, Dm), f32(Dm), f32(Dm), f32(Dm),
            num_heads=2),
    }
    return W[name]() if name in W else getattr(layers, name)()


# backward arguments of the book's signatures (shapes do not matter: the order check comes first)
_BACKWARD_ARGS = {"LSTM": 2, "SoftmaxWithLoss": 0, "SigmoidWithLoss": 0, "TimeSoftmaxWithLoss": 0,
                  "TimeSigmoidWithLoss": 0}


@pytest.mark.parametrize("name", LAYER_CLASSES)
def test_backward_before_forward_names_the_layer(name):
    layer = _construct(name)
    args = [f32(2, 3, 6)] * _BACKWARD_ARGS.get(name, 1)
    with pytest.raises(RuntimeError, match=rf"^{name}\.backward called before forward"):
        layer.backward(*args)


# ---- arrays on the wrong path -------------------------------------------------------------------------

def test_cupy_arrays_on_a_forced_cpu_backend_name_the_fix():
    with pyrnn.use_backend(BACKENDS[0]), pytest.raises(
            TypeError, match=r"runs on numpy arrays, but lstm_forward got cupy arrays: move them to the host "
                             r"with cupy.asnumpy\(...\), or force a backend for cupy arrays \(cuda, numba-cuda, "
                             r"reference\)"):
        backends.select("lstm_forward", on_gpu=True)


def test_numpy_arrays_on_a_forced_gpu_backend_name_the_fix(monkeypatch):
    """The CUDA backend needs a GPU; a stand-in GPU-only backend checks the dispatcher's message."""
    import types

    fake = types.SimpleNamespace(ARRAYS={"cupy"}, NAME="fake-gpu", probe=lambda: None)
    monkeypatch.setitem(backends._MODULES, "fake-gpu", "unused")
    monkeypatch.setitem(backends._loaded, "fake-gpu", fake)
    with pyrnn.use_backend("fake-gpu"), pytest.raises(
            TypeError, match=r"backend 'fake-gpu' runs on cupy arrays, but lstm_forward got numpy arrays: move "
                             r"them to the GPU with cupy.asarray\(...\), or force a backend for numpy arrays"):
        ops.lstm_forward(f32(2, 3, 4), f32(4, 8), f32(2, 8))


def test_unusable_forced_backend_says_why():
    status = backends.backend_status()
    down = [n for n, (ok, _) in status.items() if not ok]
    if not down:
        pytest.skip("every backend is usable here")
    with pytest.raises(pyrnn.BackendUnavailable, match=re_escape(status[down[0]][1])):
        with pyrnn.use_backend(down[0]):
            pass


def re_escape(s):
    import re
    return re.escape(s)


# ---- layouts: Fortran, strided, negative strides, read-only, int32 ids: simply work -------------------

def _variants(a):
    ro = a.copy()
    ro.setflags(write=False)
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return {"F": np.asfortranarray(a), "strided": wide[..., ::2], "reversed": np.flip(np.flip(a, 0).copy(), 0),
            "readonly": ro}


@pytest.mark.parametrize("kind", ["F", "strided", "reversed", "readonly"])
def test_layouts_of_weights_inputs_and_grads_just_work(backend, kind):
    D, H, V, N, T = 4, 5, 7, 3, 6
    Wx, Wh, b, xs, dhs = f32(D, 4 * H), f32(H, 4 * H), f32(4 * H), f32(N, T, D), f32(N, T, H)
    W, ids, ts, scores = f32(V, D), rng.integers(0, V, (N, T)), rng.integers(-1, V, (N, T)), f32(N, T, V)

    def run(conv, conv_i):
        lstm = TimeLSTM(conv(Wx), conv(Wh), conv(b))
        embed = TimeEmbedding(conv(W))
        loss_layer = TimeSoftmaxWithLoss()
        out = [lstm.forward(conv(xs)), lstm.backward(conv(dhs)), *[g.copy() for g in lstm.grads]]
        out += [embed.forward(conv_i(ids)), loss_layer.forward(conv(scores), conv_i(ts)), loss_layer.backward()]
        embed.backward(conv(f32(N, T, D) * 0 + 1))
        return out + [embed.grads[0].copy()]

    want = run(lambda a: a, lambda a: a)
    got = run(lambda a: _variants(a)[kind], lambda a: _variants(a.astype(np.int32))[kind])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


# ---- NaN / Inf -----------------------------------------------------------------------------------------

def _nan_case():
    xs = f32(2, 4, 3)
    xs[0, 1, 2] = np.nan
    return xs, f32(3, 20), f32(5, 20), f32(20)


def test_nan_propagates_like_numpy_by_default(backend):
    """A NaN in xs[0, 1] makes hs[0, 1:] NaN (every later step of that row) and no other row."""
    xs, Wx, Wh, b = _nan_case()
    hs, hT, cT, saved = ops.lstm_forward(xs, Wx, Wh, b)
    assert np.isnan(hs[0, 1:]).all() and not np.isnan(hs[0, 0]).any() and not np.isnan(hs[1]).any()
    dxs, dWx, *_ = ops.lstm_backward(np.ones_like(hs), None, None, saved)
    assert np.isnan(dWx).any()


def test_nan_propagates_in_float64_and_in_losses(backend):
    xs, Wx, Wh, b = (a.astype(np.float64) for a in _nan_case())
    hs = ops.lstm_forward(xs, Wx, Wh, b)[0]
    assert np.isnan(hs[0, 1:]).all() and not np.isnan(hs[1]).any()
    scores = f32(2, 3, 5)
    scores[1, 2, 0] = np.nan
    loss, saved = ops.softmax_cross_entropy_forward(scores, np.zeros((2, 3), np.int64))
    assert np.isnan(loss)
    scores[1, 2, 0] = np.inf
    assert np.isnan(ops.softmax_cross_entropy_forward(scores, np.zeros((2, 3), np.int64))[0])


def test_check_finite_names_op_argument_and_index(backend):
    xs, Wx, Wh, b = _nan_case()
    with pyrnn.check_finite(), pytest.raises(pyrnn.NonFiniteError) as e:
        ops.lstm_forward(xs, Wx, Wh, b)
    assert (e.value.op, e.value.argument, e.value.index) == ("lstm_forward", "xs", (0, 1, 2))
    assert "lstm_forward: non-finite input xs[0, 1, 2] = nan" in str(e.value)
    assert isinstance(e.value, FloatingPointError)
    Wh[3, 7] = -np.inf
    with pyrnn.check_finite(), pytest.raises(pyrnn.NonFiniteError, match=r"non-finite input Wh\[3, 7\] = -inf"):
        ops.lstm_forward(np.nan_to_num(xs), Wx, Wh, b)


def test_check_finite_catches_outputs_and_backward(backend):
    big = np.full((2, 3), 3e38, np.float32)  # finite inputs whose product overflows float32
    with pyrnn.check_finite(), pytest.raises(pyrnn.NonFiniteError, match=r"affine_forward: non-finite output out\["):
        ops.affine_forward(big, np.full((3, 4), 10, np.float32))
    xs, Wx, Wh, b = _nan_case()
    xs = np.nan_to_num(xs)
    with pyrnn.check_finite():
        hs, hT, cT, saved = ops.lstm_forward(xs, Wx, Wh, b)
        dhs = np.ones_like(hs)
        dhs[1, 3, 4] = np.inf
        with pytest.raises(pyrnn.NonFiniteError, match=r"lstm_backward: non-finite input dhs\[1, 3, 4\] = inf"):
            ops.lstm_backward(dhs, None, None, saved)
        ops.lstm_backward(np.ones_like(hs), None, None, saved)  # finite: passes


def test_check_finite_via_environment_and_layers(backend, monkeypatch):
    xs, Wx, Wh, b = _nan_case()
    layer = TimeLSTM(Wx, Wh, b)
    layer.forward(xs)  # off by default: NaN propagates
    monkeypatch.setenv("PYRNN_CHECK_FINITE", "1")
    with pytest.raises(pyrnn.NonFiniteError, match=r"lstm_forward: non-finite input xs\[0, 1, 2\]"):
        layer.forward(xs)
    with pyrnn.check_finite(False):  # the context manager overrides the environment
        layer.forward(xs)
    monkeypatch.setenv("PYRNN_CHECK_FINITE", "0")
    layer.forward(xs)


# ---- junk into every layer: TypeError/ValueError naming an argument, never another exception ----------

def _valid_forward_args(name):
    N, T, D, H, V, Dm = 2, 3, 4, 3, 5, 4
    return {
        "RNN": (f32(N, D), f32(N, H)), "LSTM": (f32(N, D), f32(N, H), f32(N, H)), "GRU": (f32(N, D), f32(N, H)),
        "TimeRNN": (f32(N, T, D),), "TimeLSTM": (f32(N, T, D),), "TimeGRU": (f32(N, T, D),),
        "TimeBiLSTM": (f32(N, T, D),), "TimeBidirectional": (f32(N, T, D), np.array([3, 1])),
        "TimeStacked": (f32(N, T, D), np.array([2, 3])), "Embedding": (np.zeros(N, np.int64),),
        "TimeEmbedding": (np.zeros((N, T), np.int64),), "Affine": (f32(N, D),), "TimeAffine": (f32(N, T, D),),
        "Softmax": (f32(N, V),), "SoftmaxWithLoss": (f32(N, V), np.zeros(N, np.int64)),
        "TimeSoftmaxWithLoss": (f32(N, T, V), np.zeros((N, T), np.int64)),
        "SigmoidWithLoss": (f32(N), np.zeros(N)), "TimeSigmoidWithLoss": (f32(N, T), np.zeros((N, T))),
        "TimeDropout": (f32(N, T, D),), "AttentionWeight": (f32(N, T, H), f32(N, H)),
        "WeightSum": (f32(N, T, H), f32(N, T)), "Attention": (f32(N, T, H), f32(N, H)),
        "TimeAttention": (f32(N, T, H), f32(N, 2, H)), "MultiHeadAttention": (f32(N, T, Dm),),
        "LayerNorm": (f32(N, T, D),), "TransformerEncoderLayer": (f32(N, T, Dm),),
    }[name]


JUNK = {"list": lambda a: a.tolist(), "1-D": lambda a: a.reshape(-1), "0-d": lambda a: a.reshape(-1)[:1].reshape(()),
        "int": lambda a: a.astype(np.int64) if a.dtype.kind == "f" else a.astype(np.float32),
        "float16": lambda a: a.astype(np.float16), "None": lambda a: None, "extra dim": lambda a: a[None]}


@pytest.mark.parametrize("junk", list(JUNK))
@pytest.mark.parametrize("name", LAYER_CLASSES)
def test_junk_arguments_raise_type_or_value_errors(backend, name, junk):
    args = _valid_forward_args(name)
    for i in range(len(args)):
        bad = list(args)
        bad[i] = JUNK[junk](args[i])
        try:
            _construct(name).forward(*bad)
        except (TypeError, ValueError) as e:
            assert ":" in str(e), f"{name}.forward argument {i} ({junk}): message names nothing: {e}"
        # some junk is legal: a 0-d or 1-D id array for Embedding, int/bool 0/1 targets, ...
    layer = _construct(name)
    out = layer.forward(*args)
    n_grads = _BACKWARD_ARGS.get(name, 1)
    if n_grads == 0:
        return
    grads = [out] if n_grads == 1 else list(out)
    if name == "TimeEmbedding" or name == "Embedding":
        grads = [out]
    for i in range(len(grads)):
        bad = [np.ones_like(g) for g in grads]
        bad[i] = JUNK[junk](bad[i])
        try:
            layer.backward(*bad)
        except (TypeError, ValueError) as e:
            assert ":" in str(e), f"{name}.backward argument {i} ({junk}): message names nothing: {e}"
