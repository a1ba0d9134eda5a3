"""Hardening II (issue 18): the bad inputs that still got a wrong answer, a raw traceback or a broken
promise, one section per class, on every usable NumPy backend where a backend is involved:

1. sizes a 32-bit BLAS or kernel index cannot take, for every op that hands sizes to one;
2. zero-width affine (D = 0 or M = 0);
3. NaN/Inf in masked-out attention keys and values;
4. NumPy scalars where a Python number is accepted, and out-of-range numbers;
5. checkpoints that are not what `load_params` expects, and loads that fail half way;
6. the `pyrnn demo` command on bad corpus files and unusable backends (tests/test_cli_errors.py);
7. one layer used from two threads;
8. inf/NaN through the float32 recurrent kernels' fast activations.

docs/bad_input.md lists what a user gets for each class.
"""
import contextvars
import math
import threading
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops

from test_hardening import BACKENDS, CPP, backend  # noqa: F401  (backend: the fixture, each usable backend)

rng = np.random.default_rng(18)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---- 1. sizes beyond a 32-bit BLAS / kernel index: ValueError before anything is allocated ---------

def _huge(*shape):
    """A float32 array of `shape` that costs 4 bytes: every element is the same zero (zero strides)."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape, (0,) * len(shape), writeable=False)


BIG = 2**32 + 16  # the inner size: cast to a 32-bit int it is 16 (a silently wrong sum)
# (op, dims for INT32_SIZES, a call with arrays of those dims, the size named in the message)
HUGE = [
    ("affine", dict(R=2, D=BIG, M=4), lambda: ops.affine_forward(_huge(2, BIG), _huge(BIG, 4), f32(4)),
     rf"D \(x's last axis, the inner size\) = {BIG}"),
    ("affine", dict(R=2, D=2**31 + 16, M=4), lambda: ops.affine_forward(_huge(2, 2**31 + 16), _huge(2**31 + 16, 4)),
     r"D \(x's last axis, the inner size\) = 2147483664"),
    ("affine", dict(R=2**31, D=1, M=3), lambda: ops.affine_forward(_huge(2**16, 2**15, 1), f32(1, 3)),
     r"rows \(the product of x's leading dimensions\) = 2147483648"),
    ("affine", dict(R=1, D=1, M=2**31), lambda: ops.affine_forward(f32(1, 1), _huge(1, 2**31)), r"M \(W's width\)"),
    ("attention", dict(N=1, Te=2**31, Td=1, H=1), lambda: ops.attention_forward(_huge(1, 2**31, 1), f32(1, 1, 1)),
     r"Te \(encoder steps\) = 2147483648"),
    ("attention", dict(N=1, Te=1, Td=1, H=2**31), lambda: ops.attention_forward(_huge(1, 1, 2**31), _huge(1, 1, 2**31)),
     r"H \(state width\)"),
    ("attention_weights", dict(N=1, Te=2, Td=2**31, H=1),
     lambda: ops.attention_weights_forward(f32(1, 2, 1), _huge(1, 2**31, 1)), r"Td \(decoder steps\)"),
    ("weighted_sum", dict(N=1, Te=2**31, Td=1, H=1), lambda: ops.weighted_sum_forward(_huge(1, 2**31, 1),
                                                                                     _huge(1, 1, 2**31)),
     r"Te \(encoder steps\)"),
    ("sdpa", dict(N=1, Hh=1, Tq=1, Tk=1, dk=2**31, dv=1),
     lambda: ops.sdpa_forward(_huge(1, 1, 1, 2**31), _huge(1, 1, 1, 2**31), f32(1, 1, 1, 1)), r"dk \(the key width\)"),
    ("sdpa", dict(N=1, Hh=1, Tq=1, Tk=1, dk=1, dv=2**31),
     lambda: ops.sdpa_forward(f32(1, 1, 1, 1), f32(1, 1, 1, 1), _huge(1, 1, 1, 2**31)), r"dv \(the value width\)"),
]


@pytest.mark.parametrize("op,dims,call,pattern", HUGE,
                         ids=[f"{h[0]}-" + "-".join(f"{k}{v}" for k, v in h[1].items() if v > 2**31 - 1) for h in HUGE])
def test_sizes_beyond_32bit_are_refused_naming_op_size_and_backend(op, dims, call, pattern):
    """The cpp backend's INT32_SIZES name each size it hands to OpenBLAS's int; the op
    refuses it (here, when cpp is usable) before any copy or allocation: the arrays are zero-stride
    views whose contiguous copies would take 8-16 GB."""
    from pyrnn.backends.limits import check_int32_sizes

    with pytest.raises(ValueError, match=rf"^{op}_forward: {pattern}.* the cpp backend's 32-bit BLAS limit"):
        check_int32_sizes(op, "cpp", dims)
    check_int32_sizes(op, "reference", dims)  # NumPy takes any size
    check_int32_sizes(op, "numba", dims)
    if not CPP:
        return
    tracemalloc.start()
    try:
        with pyrnn.use_backend("cpp"), pytest.raises(ValueError, match=rf"^{op}_forward: {pattern}.*cpp.*32-bit"):
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak} bytes allocated before the size check"


def test_every_op_that_reaches_a_32bit_blas_is_in_the_table():
    """cpp and cuda GEMM ops are listed; the ops whose kernels index in 64 bits are not."""
    from pyrnn.backends.limits import check_int32_sizes, int32_table

    INT32_SIZES = int32_table()

    for op in ("rnn", "lstm", "gru", "attention", "attention_weights", "weighted_sum"):
        assert set(INT32_SIZES[op]) == {"cpp", "cuda"}, op
    assert set(INT32_SIZES["affine"]) == {"cpp"} and set(INT32_SIZES["sdpa"]) == {"cpp"}
    # the cuda batch count of the seq2seq attention's strided-batched GEMMs
    with pytest.raises(ValueError, match=r"N \(batch rows, cuBLAS's batch count\) = 2147483648 exceeds the cuda"):
        check_int32_sizes("attention", "cuda", dict(N=2**31, Te=1, Td=1, H=1))
    for op in ("embedding", "softmax_cross_entropy", "layer_norm", "softmax", "dropout"):
        assert op not in INT32_SIZES


# ---- 2. zero-width affine --------------------------------------------------------------------------

def test_zero_width_affine_is_the_bias(backend):
    """x (..., 0) @ W (0, M) + b is b in every row; its gradients are empty or zero (dW) and the row
    sum of dout (db). An affine to M = 0 outputs is empty too. Was a reshape error on cpp."""
    b = f32(4)
    for lead in ((2,), (3, 5), (0,)):
        out, saved = ops.affine_forward(np.ones(lead + (0,), np.float32), np.zeros((0, 4), np.float32), b)
        np.testing.assert_array_equal(out, np.broadcast_to(b, lead + (4,)))
        dout = f32(*lead, 4)
        dx, dW, db = ops.affine_backward(dout, saved)
        assert dx.shape == lead + (0,) and dW.shape == (0, 4)
        np.testing.assert_allclose(db, dout.reshape(-1, 4).sum(axis=0), rtol=1e-6, atol=1e-6)
    out, saved = ops.affine_forward(f32(2, 3, 5), f32(5, 0), np.zeros(0, np.float32))
    dx, dW, db = ops.affine_backward(np.zeros((2, 3, 0), np.float32), saved)
    assert out.shape == (2, 3, 0) and not dx.any() and dx.shape == (2, 3, 5) and dW.shape == (5, 0)
    layer = pyrnn.layers.TimeAffine(np.zeros((0, 4), np.float32), b)
    np.testing.assert_array_equal(layer.forward(np.ones((2, 3, 0), np.float32)), np.broadcast_to(b, (2, 3, 4)))
    assert layer.backward(f32(2, 3, 4)).shape == (2, 3, 0)


# ---- 3. NaN / Inf in masked-out keys and values reach nothing ---------------------------------------

def _padding_mask(N, T):
    """Sequence 0: holes (keys 1 and T-3 masked between kept ones); 1: trailing padding from key T//2;
    2: a hole and trailing padding. Holes are what every backend had to hide; trailing padding only
    the C++ kernels skipped already."""
    mask = np.ones((N, T), dtype=bool)
    mask[0, [1, T - 3]] = False
    mask[1, T // 2:] = False
    mask[2, [0, T - 1]] = False
    return mask


def _poison(x, mask, value=None):
    """x with every masked key's row set to NaN, +inf, -inf in turn (or to `value`); x (N, T, d) or (N, Hh, T, d)."""
    x = x.copy()
    view = x if x.ndim == 3 else x.transpose(0, 2, 1, 3)  # (N, T, ...)
    for i, (n, t) in enumerate(zip(*np.nonzero(~mask))):
        view[n, t] = (np.nan, np.inf, -np.inf)[i % 3] if value is None else value
    return x


def _s2s(hs, hq, dc, da, mask):
    c, a, saved = ops.attention_forward(hs, hq, mask)
    aw, saved_w = ops.attention_weights_forward(hs, hq, mask)
    return [c, a, *ops.attention_backward(dc, saved), aw, *ops.attention_weights_backward(da, saved_w)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_in_masked_keys_and_values_reaches_nothing_seq2seq(backend, dtype):
    """Seq2seq attention (and attention_weights on its own): NaN/Inf in the masked rows of hs (the
    keys and the values) leave c, a and every gradient exactly as zeros there would, on every backend:
    the masked rows are read as zeros (a zero weight alone gives 0 * NaN = NaN), and their gradient
    rows are exactly 0."""
    N, Te, Td, H = 3, 9, 4, 5
    mask = _padding_mask(N, Te)
    hs, hq, dc, da = (f32(*s).astype(dtype) for s in ((N, Te, H), (N, Td, H), (N, Td, H), (N, Td, Te)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # not even an invalid-value note
        got = _s2s(_poison(hs, mask), hq, dc, da, mask)
    want = _s2s(_poison(hs, mask, 0.0), hq, dc, da, mask)
    names = ("c", "a", "dhs", "dhq", "a (weights op)", "dhs (weights op)", "dhq (weights op)")
    for name, g, w in zip(names, got, want):
        assert np.isfinite(g).all(), f"{name}: a NaN/Inf of a masked key got through"
        np.testing.assert_array_equal(g, w, err_msg=name)
    for dhs in (got[2], got[5]):
        assert not dhs[~mask].any()
    with pyrnn.use_backend("reference"):  # and the answer is the reference's (float32: 1e-5 of the scale)
        ref = _s2s(_poison(hs, mask, 0.0), hq, dc, da, mask)
    for name, g, r in zip(names, got, ref):
        np.testing.assert_allclose(g, r, rtol=0, atol=1e-5 * max(1.0, float(np.abs(r).max())), err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True])
def test_nan_in_masked_keys_and_values_reaches_nothing_sdpa(backend, causal, dtype):
    N, Hh, T, dk, dv = 3, 2, 9, 3, 4
    mask = _padding_mask(N, T)
    q, k, v, dout = (f32(*s).astype(dtype) for s in ((N, Hh, T, dk), (N, Hh, T, dk), (N, Hh, T, dv), (N, Hh, T, dv)))

    def run(k, v):
        out, saved = ops.sdpa_forward(q, k, v, mask, causal)
        return [out, *ops.sdpa_backward(dout, saved)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = run(_poison(k, mask), _poison(v, mask))
    want = run(_poison(k, mask, 0.0), _poison(v, mask, 0.0))
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want):
        # causal: query 0 of sequence 2 sees only key 0, which is masked: a zero row, as documented
        assert np.isfinite(g).all(), f"{name}: a NaN/Inf of a masked key got through"
        np.testing.assert_array_equal(g, w, err_msg=name)
    for g in got[2:]:
        assert not g.transpose(0, 2, 1, 3)[~mask].any()


def test_nan_in_kept_keys_still_propagates_like_numpy(backend):
    """Only masked keys are hidden: a NaN in a kept key's value makes every output of its sequence NaN
    (every query gives it a nonzero weight) and no other, as in the reference; with no mask at all too."""
    N, Te, Td, H = 3, 9, 4, 5
    mask = _padding_mask(N, Te)
    hs, hq = f32(N, Te, H), f32(N, Td, H)
    hs[1, 0, 2] = np.nan  # kept
    for m in (mask, None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            c = ops.attention_forward(hs, hq, m)[0]
        assert np.isnan(c[1]).all() and np.isfinite(c[[0, 2]]).all()
    q, k, v = f32(N, 2, 4, 3), f32(N, 2, Te, 3), f32(N, 2, Te, 4)
    v[0, 1, 2, 0] = np.inf  # a kept key of sequence 0, head 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = ops.sdpa_forward(q, k, v, mask)[0]
    assert np.isinf(out[0, 1, :, 0]).all() and np.isfinite(out[0, 1, :, 1:]).all()
    assert np.isfinite(out[0, 0]).all() and np.isfinite(out[1:]).all()


def test_layers_ignore_nan_in_padded_positions(backend):
    """TimeAttention and MultiHeadAttention over a batch whose padded positions hold NaN: the outputs
    at real positions are those of the same batch with zeros in the padding, exactly."""
    N, T, Dm = 3, 9, 8
    mask = _padding_mask(N, T)
    x = f32(N, T, Dm)
    mha = pyrnn.layers.MultiHeadAttention(*[f32(Dm, Dm) * 0.3, f32(Dm)] * 4, num_heads=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the padded queries themselves are NaN: fine
        got = mha.forward(_poison(x, mask), mask=mask)
    want = mha.forward(_poison(x, mask, 0.0), mask=mask)
    np.testing.assert_array_equal(got[mask], want[mask])
    att = pyrnn.layers.TimeAttention()
    hq = f32(N, 4, Dm)
    np.testing.assert_array_equal(att.forward(_poison(x, mask), hq, mask), att.forward(_poison(x, mask, 0.0), hq, mask))


# ---- 4. NumPy scalars where a Python number is accepted; out-of-range numbers name the argument ----

LOSSES = [("TimeSoftmaxWithLoss", lambda dt: (f32(2, 3, 5).astype(dt), rng.integers(-1, 5, (2, 3)))),
          ("SoftmaxWithLoss", lambda dt: (f32(4, 5).astype(dt), rng.integers(0, 5, 4))),
          ("TimeSigmoidWithLoss", lambda dt: (f32(2, 3).astype(dt), rng.integers(0, 2, (2, 3)))),
          ("SigmoidWithLoss", lambda dt: (f32(4).astype(dt), rng.random(4).astype(dt)))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,data", LOSSES, ids=[c[0] for c in LOSSES])
def test_loss_backward_takes_the_numpy_scalar_its_forward_returned(backend, name, data, dtype):
    """backward(loss) with the loss the forward returned (a NumPy scalar of the layer's dtype), and any
    NumPy or Python number, is backward(1) scaled by that number, exactly (one multiply by a power of
    two or by the value itself, the same rounding on both sides)."""
    layer = getattr(pyrnn.layers, name)()
    xs, ts = data(dtype)
    loss = layer.forward(xs, ts)
    assert isinstance(loss, dtype)
    unit = layer.backward()
    np.testing.assert_array_equal(layer.backward(loss), layer.backward(np.asarray(loss)))
    for d, factor in ((np.float64(1), 1), (np.float32(1), 1), (np.int64(2), 2), (np.uint8(4), 4), (2.0, 2),
                      (np.array(0.5), 0.5), (np.array(2, np.int32), 2)):
        got = layer.backward(d)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, unit * dtype(factor), err_msg=f"backward({d!r})")


def test_scalar_gradients_out_of_range_or_not_numbers_name_dloss(backend):
    loss, saved = ops.softmax_cross_entropy_forward(f32(2, 5), np.array([0, 1]))
    for bad, exc, pattern in ((10**400, ValueError, r"dloss: .*beyond float64"),
                              (np.float64(1e300), ValueError, r"dloss: 1e\+300 is beyond float32's range"),
                              ("1", TypeError, r"dloss: expected a number .*got str"),
                              (True, TypeError, r"dloss: expected a number .*got a bool"),
                              (None, TypeError, r"dloss: expected a number")):
        with pytest.raises(exc, match=pattern):
            ops.softmax_cross_entropy_backward(bad, saved)
    # NaN and Inf are numbers: they propagate, as every NaN does by default
    assert np.isnan(ops.softmax_cross_entropy_backward(np.float32("nan"), saved)).all()


def test_num_heads_takes_numpy_integers_and_names_itself(backend):
    ws = [f32(8, 8), f32(8)] * 4
    x = f32(2, 3, 8)
    want = pyrnn.layers.MultiHeadAttention(*ws, num_heads=2).forward(x)
    for heads in (np.int64(2), np.int32(2), np.uint8(2), np.array(2)):
        mha = pyrnn.layers.MultiHeadAttention(*ws, num_heads=heads)
        assert type(mha.num_heads) is int
        np.testing.assert_array_equal(mha.forward(x), want)
    for heads, exc, pattern in ((np.int64(3), ValueError, r"num_heads: expected a positive int dividing the model "
                                                          r"width 8, got 3"),
                                (0, ValueError, r"num_heads: .* got 0"), (2.0, TypeError, r"num_heads: .*got 2\.0"),
                                (True, TypeError, r"num_heads: .*got a bool"), ("2", TypeError, r"num_heads: .*str")):
        with pytest.raises(exc, match=pattern):
            pyrnn.layers.MultiHeadAttention(*ws, num_heads=heads)


def test_ignore_label_numpy_integers_and_int64_range(backend):
    xs = f32(2, 3, 6)
    ts = np.array([[0, 9, 5], [9, 2, 3]])
    want, _ = ops.softmax_cross_entropy_forward(xs, ts, 9)
    for ignore in (np.int64(9), np.uint64(9), np.int8(9), np.array(9)):
        assert ops.softmax_cross_entropy_forward(xs, ts, ignore)[0] == want
    for ignore in (2**63, -2**63 - 1, np.uint64(2**64 - 1), 2**70):
        with pytest.raises(ValueError, match=r"ignore_label: expected an int or None \(in int64's range"):
            ops.softmax_cross_entropy_forward(xs, ts, ignore)
    assert ops.softmax_cross_entropy_forward(xs, np.where(ts == 9, 2**63 - 1, ts), 2**63 - 1)[0] == want
    layer = pyrnn.layers.TimeSoftmaxWithLoss()
    layer.ignore_label = 2**64
    with pytest.raises(ValueError, match=r"ignore_label: .*got 18446744073709551616"):
        layer.forward(xs, ts)


def test_rate_and_eps_take_numpy_numbers_and_refuse_strings(backend):
    x = f32(2, 3, 4)
    np.random.seed(0)
    want = pyrnn.layers.TimeDropout(0.5).forward(x)
    np.random.seed(0)
    np.testing.assert_array_equal(pyrnn.layers.TimeDropout(np.float32(0.5)).forward(x), want)
    y = ops.layer_norm_forward(x, f32(4), f32(4), eps=np.float32(1e-5))[0]
    assert y.shape == x.shape
    for call, pattern in ((lambda: ops.dropout_forward(x, "0.5"), r"ratio: expected a drop probability .*got str"),
                          (lambda: ops.dropout_forward(x, None), r"ratio: expected a drop probability .*NoneType"),
                          (lambda: ops.layer_norm_forward(x, f32(4), f32(4), eps="1e-5"), r"eps: expected a positive")):
        with pytest.raises(TypeError, match=pattern):
            call()
    with pytest.raises(ValueError, match=r"ratio: expected a drop probability in \[0, 1\), got nan"):
        ops.dropout_forward(x, np.float32("nan"))


# ---- 5. checkpoints: everything validated before anything is written; errors name file and parameter -

def _model_and_checkpoint(tmp_path):
    from pyrnn.models import Seq2seq

    m = Seq2seq(13, 4, 5, seed=0)
    return m, m.save_params(tmp_path / "m.npz")


def _assert_unchanged(model, before):
    for a, b in zip(before, model.params):
        np.testing.assert_array_equal(a, b)


def _bad_checkpoints(tmp_path, good):
    """(name, path, the reason the message must give) for files load_params must refuse."""
    with np.load(good) as f:
        arrays = {k: f[k] for k in f.files}
    np.save(tmp_path / "one.npy", arrays["encoder.embed.W"])
    (tmp_path / "text.npz").write_text("encoder.embed.W = 1, 2, 3\n")
    with zipfile.ZipFile(tmp_path / "raw.npz", "w") as z:  # a member without .npy: np.load gives its bytes
        for k, a in arrays.items():
            z.writestr(k, a.tobytes())
    np.savez(tmp_path / "objects.npz", **dict(arrays, **{"encoder.embed.W": np.array([None, 1], dtype=object)}))
    data = open(good, "rb").read()
    (tmp_path / "cut.npz").write_bytes(data[:len(data) * 2 // 3])
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF  # inside a member's stored data: its CRC no longer matches
    (tmp_path / "crc.npz").write_bytes(bytes(flipped))
    return [("a .npy", tmp_path / "one.npy", r"a \.npy array \(np\.save\), not an \.npz archive"),
            ("a text file", tmp_path / "text.npz", r"not an \.npz archive"),
            ("members without .npy", tmp_path / "raw.npz", r"encoder\.embed\.W: not a \.npy array"),
            ("an object array", tmp_path / "objects.npz", r"encoder\.embed\.W: not a plain numeric array"),
            ("a truncated archive", tmp_path / "cut.npz", r"a damaged \.npz archive \(truncated"),
            ("a corrupt member", tmp_path / "crc.npz", r"a damaged \.npz archive \(BadZipFile: Bad CRC-32")]


def test_load_refuses_files_that_are_not_checkpoints_naming_file_and_member(tmp_path):
    m, good = _model_and_checkpoint(tmp_path)
    before = [p.copy() for p in m.params]
    for what, path, reason in _bad_checkpoints(tmp_path, good):
        with pytest.raises(ValueError, match=rf"^{path}: cannot load parameters: .*{reason}") as e:
            m.load_params(path)
        assert "allow_pickle" not in str(e.value) or "pickled" in str(e.value), what
        _assert_unchanged(m, before)


def test_load_into_a_read_only_parameter_changes_nothing_and_names_it(tmp_path):
    from pyrnn.models import Seq2seq

    _, good = _model_and_checkpoint(tmp_path)
    m = Seq2seq(13, 4, 5, seed=7)
    before = [p.copy() for p in m.params]
    names = [n for n, _ in pyrnn.train.named_params(m)]
    ro = dict(pyrnn.train.named_params(m))[names[3]]  # a parameter after others that would be written first
    ro.setflags(write=False)
    with pytest.raises(ValueError, match=rf"^{good}: cannot load parameters: {names[3]}: read-only in the model"):
        m.load_params(good)
    _assert_unchanged(m, before)
    ro.setflags(write=True)
    m.load_params(good)  # writable again: it loads
    assert not np.array_equal(m.params[0], before[0])


# ---- 7. one layer, two threads: detected, RuntimeError naming the layer and both threads -----------

def _lstm(stateful):
    D, H = 3, 4
    return pyrnn.layers.TimeLSTM(f32(D, 4 * H), f32(H, 4 * H), f32(4 * H), stateful=stateful)


def _in_thread(name, fn):
    """Run fn in a thread named `name`, under the caller's context (its forced backend: a context
    variable, which a new thread would not inherit); -> a function that joins it and returns
    (result, exception)."""
    box = {}
    ctx = contextvars.copy_context()

    def target():
        try:
            box["out"] = ctx.run(fn)
        except Exception as e:  # handed back to the test
            box["err"] = e
    t = threading.Thread(target=target, name=name)
    t.start()

    def join():
        t.join(30)
        assert not t.is_alive(), f"thread {name} hung"
        return box.get("out"), box.get("err")
    return join


def test_backward_in_another_thread_than_its_forward_raises(backend):
    """A forward in thread B between thread A's forward and backward: A's backward would use B's
    activations (what the issue saw in ~1% of backward passes); it raises instead, every time (the
    barriers fix the order). B's own backward is fine."""
    layer = _lstm(stateful=False)
    xa, xb, dhs = f32(2, 5, 3), f32(2, 5, 3), f32(2, 5, 4)
    order = [threading.Barrier(2) for _ in range(3)]

    def a():
        layer.forward(xa)
        order[0].wait()  # B forwards now
        order[1].wait()  # B has finished forward and backward
        try:
            layer.backward(dhs)
        finally:
            order[2].wait()

    def b():
        order[0].wait()
        try:
            layer.forward(xb)
            return layer.backward(dhs)
        finally:
            order[1].wait()
            order[2].wait()
    join_a, join_b = _in_thread("A", a), _in_thread("B", b)
    (_, err_a), (dxs_b, err_b) = join_a(), join_b()
    assert err_b is None and dxs_b.shape == (2, 5, 3)
    assert isinstance(err_a, RuntimeError) and str(err_a).startswith(
        "TimeLSTM.backward called in thread 'A', but the forward it would differentiate ran in thread 'B'")
    # the gradients B left are B's own
    ref = pyrnn.layers.TimeLSTM(*layer.params)
    ref.forward(xb)
    np.testing.assert_allclose(dxs_b, ref.backward(dhs), rtol=1e-5, atol=1e-6)


def test_stateful_forward_continuing_another_threads_state_raises_until_taken_over(backend):
    layer = _lstm(stateful=True)
    x = f32(2, 5, 3)
    layer.forward(x)  # the main thread's state
    out, err = _in_thread("worker", lambda: layer.forward(x))()
    assert isinstance(err, RuntimeError) and str(err).startswith(
        "TimeLSTM.forward (stateful) called in thread 'worker' would continue the state thread 'MainThread' carried")

    def take_over():
        layer.reset_state()
        return layer.forward(x)
    out, err = _in_thread("worker", take_over)()
    assert err is None
    np.testing.assert_array_equal(out, _lstm_like(layer).forward(x))  # started from zeros, like a fresh layer
    with pytest.raises(RuntimeError, match=r"continue the state thread 'worker' carried"):
        layer.forward(x)  # now the worker's state
    layer.set_state(np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32))
    layer.forward(x)  # taken back explicitly


def _lstm_like(layer):
    return pyrnn.layers.TimeLSTM(*layer.params, stateful=True)


def test_a_call_while_another_thread_is_inside_the_layer_raises(backend, monkeypatch):
    layer = _lstm(stateful=False)
    x = f32(2, 5, 3)
    inside, release = threading.Event(), threading.Event()
    real = ops.lstm_forward

    def slow(*args, **kwargs):  # the first call waits inside the layer until released
        if not inside.is_set():
            inside.set()
            assert release.wait(30)
        return real(*args, **kwargs)
    monkeypatch.setattr(ops, "lstm_forward", slow)
    join = _in_thread("A", lambda: layer.forward(x))
    assert inside.wait(30)
    try:
        with pytest.raises(RuntimeError, match=r"^TimeLSTM\.forward called in thread 'MainThread' while thread 'A' "
                                               r"is inside TimeLSTM"):
            layer.forward(x)
        with pytest.raises(RuntimeError, match=r"^TimeLSTM\.backward called in thread 'MainThread' while thread 'A'"):
            layer.backward(f32(2, 5, 4))
    finally:
        release.set()
    out, err = join()
    assert err is None and out.shape == (2, 5, 4)


def test_handing_a_layer_to_another_thread_between_calls_is_fine(backend):
    layer = _lstm(stateful=False)
    x, dhs = f32(2, 5, 3), f32(2, 5, 4)
    want = [layer.forward(x), layer.backward(dhs)]
    got, err = _in_thread("B", lambda: [layer.forward(x), layer.backward(dhs)])()
    assert err is None
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


# ---- 8. inf / NaN through the recurrent kernels: the reference's pattern, on every backend ------------

def _recurrent(op, xs, Wx, Wh, b, h0, c0):
    """Every output and gradient (dhs = 1) of one recurrent op, as a list."""
    if op == "lstm":
        hs, hT, cT, s = ops.lstm_forward(xs, Wx, Wh, b, h0, c0)
        return [hs, hT, cT, *ops.lstm_backward(np.ones_like(hs), None, None, s)]
    if op == "rnn":
        hs, hT, s = ops.rnn_forward(xs, Wx, Wh, b, h0)
        return [hs, hT, *ops.rnn_backward(np.ones_like(hs), None, s)]
    hs, hT, s = ops.gru_forward(xs, Wx, Wh, b, h0, op == "gru_reset_after")
    return [hs, hT, *ops.gru_backward(np.ones_like(hs), None, s)]


NONFINITE = [np.inf, -np.inf, np.nan, 1e30, -1e30]  # and finite values past float32 exp's range


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["rnn", "lstm", "gru", "gru_reset_after"])
def test_nonfinite_inputs_give_the_references_nan_inf_pattern(backend, op, dtype):
    """One non-finite value at a time in xs, h0, c0, b or Wh (4 places each, 5 values): every output and
    gradient has NaN and +-inf exactly where the reference has them. float32 went through the fast
    activations, whose clamped exp gave sigmoid(-inf) = 6e-39 instead of 0 (and exp(+inf) = 1.7e38):
    GRU and LSTM outputs finite where the reference's were NaN. Finite values are not compared here
    (tests/test_recurrent_backends.py does that)."""
    N, T, D, H = 2, 3, 2, 3
    G = {"rnn": 1, "lstm": 4}.get(op, 3) * H
    mismatches = []
    for seed in range(4):
        for where in ("xs", "h0", "c0", "b", "Wh"):
            for value in NONFINITE:
                r = np.random.default_rng(seed)
                args = dict(xs=r.standard_normal((N, T, D)), Wx=r.standard_normal((D, G)),
                            Wh=r.standard_normal((H, G)),
                            b=r.standard_normal((2, G) if op == "gru_reset_after" else (G,)),
                            h0=r.standard_normal((N, H)), c0=r.standard_normal((N, H)))
                args = {k: a.astype(dtype) for k, a in args.items()}
                a = args[where]
                a[tuple(int(r.integers(0, s)) for s in a.shape)] = value
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow / invalid-value notes
                    with pyrnn.use_backend("reference"):
                        want = _recurrent(op, **args)
                    got = _recurrent(op, **args)
                for i, (g, w) in enumerate(zip(got, want)):
                    if g is None:
                        continue
                    if not (np.array_equal(np.isnan(g), np.isnan(w)) and np.array_equal(np.isinf(g), np.isinf(w))
                            and np.array_equal(g[np.isinf(g)], w[np.isinf(w)])):
                        mismatches.append(f"seed {seed}, {value} in {where}: output {i} "
                                          f"(NaN {np.isnan(g).sum()} vs {np.isnan(w).sum()}, "
                                          f"inf {np.isinf(g).sum()} vs {np.isinf(w).sum()})")
    assert not mismatches, f"{len(mismatches)} differ from the reference: " + "; ".join(mismatches[:6])


def test_fast_float32_sigmoid_and_tanh_ends():
    """The numba kernels' float32 sigmoid and tanh (the C++ ones are the same arithmetic, exercised above):
    sigmoid(-inf) = 0, sigmoid(+inf) = 1, NaN -> NaN, and 0 below -88.4 (NumPy: below -88.72, where
    float32's exp(-x) overflows; between them both are under 1e-38); tanh(+-inf) = +-1; finite values as
    the reference's to float32 rounding."""
    pytest.importorskip("numba")
    from pyrnn.backends.numba.kernels import core as scalar
    from pyrnn.reference.core import sigmoid as _sigmoid

    x = np.array([-np.inf, np.inf, np.nan, -1e30, -100.0, -88.8, 88.8, -80.0, -5.0, 0.0, 3.0, 1e30], np.float32)
    s = np.empty_like(x)
    scalar.sigmoid_array(x, s)
    np.testing.assert_array_equal(s[:7], np.array([0, 1, np.nan, 0, 0, 0, 1], np.float32))
    # the fast exp is within 2 ulp, the division rounds once more: 3 ulp of float32 is 3.6e-7
    np.testing.assert_allclose(s[7:], _sigmoid(x[7:].astype(np.float64)), rtol=3.6e-7)
    t = np.empty_like(x)
    scalar.tanh_array(x, t)
    np.testing.assert_array_equal(t[:3], np.array([-1, 1, np.nan], np.float32))
