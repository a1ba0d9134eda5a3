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
    carrying dh0 (and dc0) of the second chunk into the first as its dhT (dcT)."""
    first = dict(c, xs=c["xs"][:, :split], dhs=c["dhs"][:, :split])
    second = dict(c, xs=c["xs"][:, split:], dhs=c["dhs"][:, split:])
    with pyrnn.use_backend(backend):
        if op == "lstm":
            hs1, h1, c1, s1 = ops.lstm_forward(first["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], c["c0"])
            hs2, h2, c2, s2 = ops.lstm_forward(second["xs"], c["Wx"], c["Wh"], c["b"], h1, c1)
            g2 = ops.lstm_backward(second["dhs"], c["dhT"], c["dcT"], s2)
            g1 = ops.lstm_backward(first["dhs"], g2[4], g2[5], s1)
            fwd = [np.concatenate([hs1, hs2], axis=1), h2, c2]
        elif op == "rnn":
            hs1, h1, s1 = ops.rnn_forward(first["xs"], c["Wx"], c["Wh"], c["b"], c["h0"])
            hs2, h2, s2 = ops.rnn_forward(second["xs"], c["Wx"], c["Wh"], c["b"], h1)
            g2 = ops.rnn_backward(second["dhs"], c["dhT"], s2)
            g1 = ops.rnn_backward(first["dhs"], g2[4], s1)
            fwd = [np.concatenate([hs1, hs2], axis=1), h2]
        else:
            ra = c["reset_after"]
            hs1, h1, s1 = ops.gru_forward(first["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], ra)
            hs2, h2, s2 = ops.gru_forward(second["xs"], c["Wx"], c["Wh"], c["b"], h1, ra)
            g2 = ops.gru_backward(second["dhs"], c["dhT"], s2)
            g1 = ops.gru_backward(first["dhs"], g2[4], s1)
            fwd = [np.concatenate([hs1, hs2], axis=1), h2]
    grads = [np.concatenate([g1[0], g2[0]], axis=1)]  # dxs
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
