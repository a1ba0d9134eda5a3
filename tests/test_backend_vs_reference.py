"""Every usable NumPy backend other than the reference, against the reference, op by op.

Runs through `pyrnn.ops` (what the layers call) with the backend forced, and compares
every forward output and every backward gradient with the reference's.

Tolerances, relative to the largest magnitude of the reference tensor (so a tensor with
small entries next to large ones is not judged elementwise on its tiny entries):
  float32: 1e-5. Both sides accumulate in float32 (unit roundoff 6e-8) but in different
    orders (BLAS blocking vs NumPy's matmul, a fused bias add, another exp/tanh); the
    errors add up over the T steps of the recurrence and over the N*T-row sums of the
    weight gradients. Measured worst case for the cpp backend over these cases: 1.3e-6,
    so 1e-5 leaves an 8x margin while a wrong term in a kernel (an O(1) relative error)
    fails by orders of magnitude.
  float64: 1e-12. The same orders of summation at unit roundoff 1.1e-16; measured worst
    case 1.4e-15.
"""
import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops
from pyrnn._arrays import get_xp

OTHER_BACKENDS = [n for n in backends.NUMPY_ORDER if n != "reference" and backends.backend_status()[n][0]]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}

# op name -> (number of gates, GRU reset_after)
OPS = {"rnn": (1, None), "lstm": (4, None), "gru": (3, False), "gru_reset_after": (3, True)}
# (N, T, D, H): the single-element case, N=1, T=1, sizes that are no multiple of 8 or 16, D != H, a larger one
SHAPES = [(1, 1, 1, 1), (1, 6, 5, 3), (4, 1, 3, 7), (3, 7, 13, 9), (2, 5, 9, 17), (16, 20, 33, 47)]
# (bias, initial state given, final-state gradient given): every flag on and off, pairwise
VARIANTS = [(True, True, True), (False, False, False), (True, False, True), (False, True, False)]

pytestmark = pytest.mark.skipif(not OTHER_BACKENDS, reason="no NumPy backend besides the reference is usable")


def make_case(op, shape, dtype, bias=True, state=True, seed=0):
    """Weights, inputs, initial states and output gradients for one op; states None when not given."""
    gates, reset_after = OPS[op]
    N, T, D, H = shape
    rng = np.random.default_rng(seed)
    scale = 1 / np.sqrt(H)  # keeps the pre-activations O(1): gates neither saturate nor vanish

    def r(*s, k=1.0):
        return (rng.standard_normal(s) * k).astype(dtype)

    b = None
    if bias:
        b = r(2, gates * H, k=0.5) if reset_after else r(gates * H, k=0.5)
    return dict(
        xs=r(N, T, D), Wx=r(D, gates * H, k=scale), Wh=r(H, gates * H, k=scale), b=b,
        h0=r(N, H) if state else None, c0=r(N, H) if state and op == "lstm" else None,
        dhs=r(N, T, H), dhT=r(N, H), dcT=r(N, H), reset_after=reset_after,
    )


def run(op, backend, c, train=True, grads_in=True):
    """Forward then backward through pyrnn.ops on `backend`: (forward outputs, gradients, saved)."""
    dhT = c["dhT"] if grads_in else None
    dcT = c["dcT"] if grads_in else None
    with pyrnn.use_backend(backend):
        if op == "rnn":
            hs, hT, saved = ops.rnn_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], train=train)
            fwd = [hs, hT]
            back = lambda: ops.rnn_backward(c["dhs"], dhT, saved)  # noqa: E731
        elif op == "lstm":
            hs, hT, cT, saved = ops.lstm_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], c["c0"], train=train)
            fwd = [hs, hT, cT]
            back = lambda: ops.lstm_backward(c["dhs"], dhT, dcT, saved)  # noqa: E731
        else:
            hs, hT, saved = ops.gru_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], c["reset_after"], train=train)
            fwd = [hs, hT]
            back = lambda: ops.gru_backward(c["dhs"], dhT, saved)  # noqa: E731
        grads = list(back()) if train else None
    return fwd, grads, saved


FWD_NAMES = {"rnn": ["hs", "hT"], "lstm": ["hs", "hT", "cT"]}
GRAD_NAMES = {"rnn": ["dxs", "dWx", "dWh", "db", "dh0"], "lstm": ["dxs", "dWx", "dWh", "db", "dh0", "dc0"]}


def names(op, kind):
    table = FWD_NAMES if kind == "fwd" else GRAD_NAMES
    return table.get(op, table["rnn"])


def assert_close(got, want, dtype, what):
    if want is None:
        assert got is None, f"{what}: expected None, got an array"
        return
    assert isinstance(got, np.ndarray), f"{what}: expected a numpy array, got {type(got).__name__}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != reference {want.shape}"
    assert got.dtype == want.dtype == np.dtype(dtype), f"{what}: dtype {got.dtype}, reference {want.dtype}"
    scale = max(float(np.abs(want).max()) if want.size else 0.0, np.finfo(dtype).tiny)
    err = float(np.abs(got.astype(np.float64) - want).max()) if want.size else 0.0
    assert err <= RTOL[dtype] * scale, f"{what}: max error {err:.3g} > {RTOL[dtype]:.0e} * max|ref| {scale:.3g}"


def compare(op, backend, c, dtype, grads_in=True):
    fwd, grads, saved = run(op, backend, c, grads_in=grads_in)
    assert saved.backend.NAME == backend, f"{op} ran on {saved.backend.NAME}, not {backend}"
    rfwd, rgrads, _ = run(op, "reference", c, grads_in=grads_in)
    for name, got, want in zip(names(op, "fwd"), fwd, rfwd):
        assert_close(got, want, dtype, f"{backend} {op} {name}")
    assert len(grads) == len(rgrads)
    for name, got, want in zip(names(op, "grad"), grads, rgrads):
        assert_close(got, want, dtype, f"{backend} {op} {name}")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "N{}T{}D{}H{}".format(*s))
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "bias{:d}-state{:d}-dhT{:d}".format(*v))
@pytest.mark.parametrize("op", list(OPS))
def test_forward_and_backward_match_reference(op, variant, shape, dtype, backend):
    bias, state, grads_in = variant
    c = make_case(op, shape, dtype, bias=bias, state=state)
    compare(op, backend, c, dtype, grads_in=grads_in)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(OPS))
def test_inference_mode_saves_nothing_and_matches(op, dtype, backend):
    c = make_case(op, (3, 7, 13, 9), dtype)
    fwd, grads, saved = run(op, backend, c, train=False)
    assert saved is None and grads is None
    train_fwd, _, _ = run(op, backend, c, train=True)
    rfwd, _, _ = run(op, "reference", c, train=False)
    for name, got, want, tr in zip(names(op, "fwd"), fwd, rfwd, train_fwd):
        assert_close(got, want, dtype, f"{backend} {op} {name} (train=False)")
        np.testing.assert_array_equal(got, tr, err_msg=f"{op} {name}: train=False differs from train=True")


def _strided(a, order):
    """The same values as `a`, laid out as a non-contiguous view or in Fortran order."""
    if order == "F":
        out = np.asfortranarray(a)
        if a.ndim > 1:
            assert not out.flags.c_contiguous
        return out
    big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    assert not view.flags.c_contiguous
    return view


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("order", ["F", "strided"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(OPS))
def test_non_contiguous_and_fortran_inputs(op, dtype, order, backend):
    c = make_case(op, (4, 6, 11, 5), dtype)
    odd = {k: (_strided(v, order) if isinstance(v, np.ndarray) else v) for k, v in c.items()}
    before = {k: v.copy() for k, v in odd.items() if isinstance(v, np.ndarray)}
    fwd, grads, _ = run(op, backend, odd)
    rfwd, rgrads, _ = run(op, "reference", c)
    for name, got, want in zip(names(op, "fwd") + names(op, "grad"), fwd + grads, rfwd + rgrads):
        assert_close(got, want, dtype, f"{backend} {op} {name} ({order} inputs)")
    for k, v in before.items():
        np.testing.assert_array_equal(odd[k], v, err_msg=f"{op}: input {k} was modified")


def _concat_chunks(op, backend, c, split):
    """Forward over xs[:, :split] then xs[:, split:] carrying the state; backward in reverse,
    carrying dh0 (and dc0) of the second chunk into the first as its dhT (dcT). NumPy or CuPy
    arrays in, the same kind out (tests/test_cuda_backend.py runs it on the GPU)."""
    xp = get_xp(c["xs"])
    first = dict(c, xs=c["xs"][:, :split], dhs=c["dhs"][:, :split])
    second = dict(c, xs=c["xs"][:, split:], dhs=c["dhs"][:, split:])
    with pyrnn.use_backend(backend):
        if op == "lstm":
            hs1, h1, c1, s1 = ops.lstm_forward(first["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], c["c0"])
            hs2, h2, c2, s2 = ops.lstm_forward(second["xs"], c["Wx"], c["Wh"], c["b"], h1, c1)
            g2 = ops.lstm_backward(second["dhs"], c["dhT"], c["dcT"], s2)
            g1 = ops.lstm_backward(first["dhs"], g2[4], g2[5], s1)
            fwd = [xp.concatenate([hs1, hs2], axis=1), h2, c2]
        elif op == "rnn":
            hs1, h1, s1 = ops.rnn_forward(first["xs"], c["Wx"], c["Wh"], c["b"], c["h0"])
            hs2, h2, s2 = ops.rnn_forward(second["xs"], c["Wx"], c["Wh"], c["b"], h1)
            g2 = ops.rnn_backward(second["dhs"], c["dhT"], s2)
            g1 = ops.rnn_backward(first["dhs"], g2[4], s1)
            fwd = [xp.concatenate([hs1, hs2], axis=1), h2]
        else:
            ra = c["reset_after"]
            hs1, h1, s1 = ops.gru_forward(first["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], ra)
            hs2, h2, s2 = ops.gru_forward(second["xs"], c["Wx"], c["Wh"], c["b"], h1, ra)
            g2 = ops.gru_backward(second["dhs"], c["dhT"], s2)
            g1 = ops.gru_backward(first["dhs"], g2[4], s1)
            fwd = [xp.concatenate([hs1, hs2], axis=1), h2]
    grads = [xp.concatenate([g1[0], g2[0]], axis=1)]  # dxs
    grads += [a + b if a is not None else None for a, b in zip(g1[1:4], g2[1:4])]  # dWx, dWh, db summed
    grads += list(g1[4:])  # dh0 (dc0) of the whole sequence
    return fwd, grads


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(OPS))
def test_stateful_chunks_equal_one_run(op, dtype, backend):
    """Two chunks with the state carried forward (and dh0/dc0 carried back) equal one run."""
    c = make_case(op, (3, 9, 6, 5), dtype)
    fwd, grads = _concat_chunks(op, backend, c, split=4)
    wfwd, wgrads, _ = run(op, backend, c)
    for name, got, want in zip(names(op, "fwd") + names(op, "grad"), fwd + grads, wfwd + wgrads):
        assert_close(got, want, dtype, f"{backend} {op} {name} (chunked vs whole)")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("op", list(OPS))
def test_deterministic(op, backend):
    """Same inputs, same thread count: bitwise identical outputs and gradients."""
    c = make_case(op, (16, 20, 33, 47), np.float32)
    fwd1, grads1, _ = run(op, backend, c)
    fwd2, grads2, _ = run(op, backend, c)
    for name, a, b in zip(names(op, "fwd") + names(op, "grad"), fwd1 + grads1, fwd2 + grads2):
        if a is None:
            assert b is None
        else:
            assert np.array_equal(a, b), f"{backend} {op} {name}: two runs differ"


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_outputs_never_alias_inputs(backend):
    c = make_case("lstm", (2, 3, 4, 5), np.float32)
    fwd, grads, _ = run("lstm", backend, c)
    for out in fwd + [g for g in grads if g is not None]:
        for k in ("xs", "Wx", "Wh", "b", "h0", "c0", "dhs", "dhT", "dcT"):
            assert not np.shares_memory(out, c[k]), f"an output shares memory with input {k}"


# ---- softmax cross-entropy over time and embedding ---------------------------------------------------
# Same tolerances as above (relative to the reference tensor's largest magnitude). The loss is a mean of
# per-row -log softmax terms; both sides compute each row in the input dtype from the max-shifted
# scores, so the float32 error is a few ulp of log(V) plus the rounding of the sum.

def _word_op(op, backend, case):
    """Forward and backward of a word-level op through pyrnn.ops on `backend`: (outputs, saved)."""
    with pyrnn.use_backend(backend):
        if op == "xent":
            loss, saved = ops.softmax_cross_entropy_forward(case["xs"], case["ts"], case["ignore"])
            dxs = ops.softmax_cross_entropy_backward(case["dloss"], saved)
            return [loss, dxs], saved
        out, saved = ops.embedding_forward(case["W"], case["idx"])
        dW = ops.embedding_backward(case["dout"], saved)
        return [out, dW], saved


def _xent_case(shape, dtype, ignore="some", label_dtype=np.int64, ignore_label=-1, scale=3.0, seed=0):
    """Scores (shape) and labels (shape[:-1]); ignore: 'none', 'some' (about a third) or 'all'."""
    rng = np.random.default_rng(seed)
    V = shape[-1]
    xs = (rng.standard_normal(shape) * scale).astype(dtype)
    ts = rng.integers(0, V, shape[:-1]) if V else np.full(shape[:-1], ignore_label)
    if ignore != "none" and ignore_label is not None:
        drop = rng.random(shape[:-1]) < 0.35 if ignore == "some" else np.ones(shape[:-1], bool)
        ts = np.where(drop, ignore_label, ts)
    return dict(xs=xs, ts=np.asarray(ts).astype(label_dtype), ignore=ignore_label,
                dloss=np.asarray(1.7, dtype=dtype))


XENT_SHAPES = [(1, 1, 1), (2, 3, 7), (4, 35, 100), (3, 5, 1000), (6, 13), (17,), (0, 4, 5)]


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("ignore", ["none", "some", "all"])
@pytest.mark.parametrize("shape", XENT_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_softmax_cross_entropy_matches_reference(shape, ignore, dtype, backend):
    c = _xent_case(shape, dtype, ignore=ignore)
    got, saved = _word_op("xent", backend, c)
    assert saved.backend.NAME in (backend, "reference")
    want, _ = _word_op("xent", "reference", c)
    assert got[0].shape == () and got[0].dtype == np.dtype(dtype)
    for name, g, w in zip(["loss", "dxs"], got, want):
        assert_close(g, w, dtype, f"{backend} softmax_cross_entropy {name} ({ignore} ignored)")
    if ignore == "all":
        assert float(got[0]) == 0.0 and not np.any(got[1]), "every label ignored: loss and gradient must be 0"


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("label_dtype,ignore_label", [(np.int8, -1), (np.int32, -100), (np.uint16, None),
                                                      (np.int64, 0), (np.uint8, 3)])
def test_softmax_cross_entropy_label_dtypes_and_ignore_values(label_dtype, ignore_label, dtype, backend):
    """Any integer label dtype; ignore_label None (nothing ignored), negative, or a real class (0, 3)."""
    c = _xent_case((5, 9, 12), dtype, label_dtype=label_dtype, ignore_label=ignore_label,
                   ignore="some" if ignore_label is not None else "none")
    got, _ = _word_op("xent", backend, c)
    want, _ = _word_op("xent", "reference", c)
    for name, g, w in zip(["loss", "dxs"], got, want):
        assert_close(g, w, dtype, f"{backend} softmax_cross_entropy {name} (labels {np.dtype(label_dtype)})")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_softmax_cross_entropy_is_stable_for_huge_scores(dtype, backend):
    """Scores of +-1e4 (exp overflows in float32 and float64): finite loss and gradient, equal to the reference."""
    c = _xent_case((4, 6, 50), dtype, scale=1e4)
    got, _ = _word_op("xent", backend, c)
    want, _ = _word_op("xent", "reference", c)
    assert np.isfinite(got[0]) and np.isfinite(got[1]).all()
    for name, g, w in zip(["loss", "dxs"], got, want):
        assert_close(g, w, dtype, f"{backend} softmax_cross_entropy {name} (huge scores)")


def _embedding_case(V, D, idx_shape, dtype, idx_dtype=np.int64, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, V, idx_shape).astype(idx_dtype)  # V << idx.size: many repeated indices
    return dict(W=rng.standard_normal((V, D)).astype(dtype), idx=idx,
                dout=rng.standard_normal(tuple(idx_shape) + (D,)).astype(dtype))


EMBED_CASES = [  # (V, D, idx shape, idx dtype)
    (1, 1, (1,), np.int64), (7, 5, (3, 4), np.int32), (5, 3, (), np.int64), (10, 4, (2, 0), np.int64),
    (3, 33, (20, 35), np.uint8), (50, 17, (4, 9, 3), np.int16), (1000, 64, (64, 35), np.int64),
    (20, 200, (512, 16), np.uint32),
]


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", EMBED_CASES, ids=lambda c: f"V{c[0]}D{c[1]}idx{'x'.join(map(str, c[2]))}")
def test_embedding_matches_reference(case, dtype, backend):
    V, D, shape, idx_dtype = case
    c = _embedding_case(V, D, shape, dtype, idx_dtype)
    got, saved = _word_op("embedding", backend, c)
    want, _ = _word_op("embedding", "reference", c)
    assert got[0].shape == tuple(shape) + (D,) and got[1].shape == (V, D)
    assert not np.shares_memory(got[0], c["W"]), "embedding output aliases W"
    for name, g, w in zip(["out", "dW"], got, want):
        assert_close(g, w, dtype, f"{backend} embedding {name}")
    np.testing.assert_array_equal(got[0], want[0], err_msg="a lookup must copy W's rows exactly")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("order", ["F", "strided"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_word_ops_non_contiguous_inputs(order, dtype, backend):
    x = _xent_case((4, 7, 13), dtype)
    e = _embedding_case(11, 6, (5, 8), dtype)
    for op, c in (("xent", x), ("embedding", e)):
        odd = {k: (_strided(v, order) if isinstance(v, np.ndarray) and v.ndim else v) for k, v in c.items()}
        before = {k: v.copy() for k, v in odd.items() if isinstance(v, np.ndarray)}
        got, _ = _word_op(op, backend, odd)
        want, _ = _word_op(op, "reference", c)
        for g, w in zip(got, want):
            assert_close(g, w, dtype, f"{backend} {op} ({order} inputs)")
        for k, v in before.items():
            np.testing.assert_array_equal(odd[k], v, err_msg=f"{op}: input {k} was modified")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_word_ops_deterministic(backend):
    """Large enough to run threaded: two runs are bitwise identical (loss, dxs, out, dW)."""
    x = _xent_case((64, 35, 2000), np.float32)
    e = _embedding_case(100, 256, (64, 35), np.float32)  # ~22 repeats of every row
    for op, c in (("xent", x), ("embedding", e)):
        a, _ = _word_op(op, backend, c)
        b, _ = _word_op(op, backend, c)
        for u, v in zip(a, b):
            assert np.array_equal(u, v), f"{backend} {op}: two runs differ"


# ---- affine over time ---------------------------------------------------------------------------

def _affine(backend, x, W, b, dout):
    with pyrnn.use_backend(backend):
        out, saved = ops.affine_forward(x, W, b)
        return (out, *ops.affine_backward(dout, saved)), saved


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lead,D,M,bias,order", [
    ((1,), 1, 1, True, "C"), ((3, 7), 13, 9, True, "C"), ((128, 11), 512, 59, True, "C"),
    ((4, 5), 6, 7, False, "C"), ((4, 5), 6, 7, True, "F"), ((200,), 64, 300, True, "strided")])
def test_affine_matches_reference(lead, D, M, bias, order, dtype, backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(lead + (D,)).astype(dtype)
    if order == "F":
        x = np.asfortranarray(x)
    elif order == "strided":
        x = rng.standard_normal(lead + (2 * D,)).astype(dtype)[..., ::2]
    W = rng.standard_normal((D, M)).astype(dtype)
    b = rng.standard_normal(M).astype(dtype) if bias else None
    dout = rng.standard_normal(lead + (M,)).astype(dtype)
    x_before = x.copy()
    got, saved = _affine(backend, x, W, b, dout)
    want, _ = _affine("reference", x, W, b, dout)
    for name, g, w in zip(("out", "dx", "dW", "db"), got, want):
        assert_close(g, w, dtype, f"affine {name}")
    np.testing.assert_array_equal(x, x_before)
    again, _ = _affine(backend, x, W, b, dout)
    for g, a in zip(got, again):
        if g is not None:
            np.testing.assert_array_equal(g, a)  # deterministic
