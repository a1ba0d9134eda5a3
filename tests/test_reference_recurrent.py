"""Tests of the NumPy reference recurrent ops (`pyrnn.reference.recurrent`), the oracle of every backend.

1. forward vs a deliberately naive per-step, per-gate implementation of the book's cell formulas;
2. backward vs central finite differences (float64);
3. truncated BPTT: two chunks with the state carried equal one run, forward and backward;
4. dtype kept (float32 in, float32 out);  5. train=False;  6. gate order pinned by hand-computed values;
plus edge cases (T=0, N=0), no input mutation, no overflow in float32.
"""
import warnings

import numpy as np
import pytest

from pyrnn.check.numeric import numerical_gradient, rel_error
from pyrnn.reference import recurrent as R

OPS = ("rnn", "lstm", "gru_before", "gru_after")
GATES = {"rnn": 1, "lstm": 4, "gru_before": 3, "gru_after": 3}


# ---- how to call each op uniformly --------------------------------------------------------------

def make_params(op, N, T, D, H, dtype=np.float64, bias=True, states=True, seed=0, scale=0.5):
    """Random arguments; weights scaled so the gates stay away from saturation (saturation hides bugs)."""
    rng = np.random.default_rng(seed)
    G = GATES[op] * H
    p = {
        "xs": rng.standard_normal((N, T, D)),
        "Wx": scale * rng.standard_normal((D, G)),
        "Wh": scale * rng.standard_normal((H, G)),
        "b": (scale * rng.standard_normal((2, G) if op == "gru_after" else (G,))) if bias else None,
        "h0": rng.standard_normal((N, H)) if states else None,
        "c0": rng.standard_normal((N, H)) if states and op == "lstm" else None,
    }
    return {k: None if v is None else v.astype(dtype) for k, v in p.items()}


def forward(op, p, train=True):
    """-> hs, hT, cT (None unless LSTM), saved."""
    if op == "rnn":
        hs, hT, saved = R.rnn_forward(p["xs"], p["Wx"], p["Wh"], p["b"], p["h0"], train)
        return hs, hT, None, saved
    if op == "lstm":
        return R.lstm_forward(p["xs"], p["Wx"], p["Wh"], p["b"], p["h0"], p["c0"], train)
    hs, hT, saved = R.gru_forward(p["xs"], p["Wx"], p["Wh"], p["b"], p["h0"], op == "gru_after", train)
    return hs, hT, None, saved


def backward(op, dhs, dhT, dcT, saved):
    """-> dict of gradients keyed like the params (c0 only for LSTM)."""
    if op == "lstm":
        dxs, dWx, dWh, db, dh0, dc0 = R.lstm_backward(dhs, dhT, dcT, saved)
        return dict(xs=dxs, Wx=dWx, Wh=dWh, b=db, h0=dh0, c0=dc0)
    back = R.rnn_backward if op == "rnn" else R.gru_backward
    dxs, dWx, dWh, db, dh0 = back(dhs, dhT, saved)
    return dict(xs=dxs, Wx=dWx, Wh=dWh, b=db, h0=dh0)


# ---- 1. forward vs a naive cell -----------------------------------------------------------------

def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def naive(op, xs, Wx, Wh, b, h0, c0):
    """One step at a time, one gate at a time, straight from the formulas; float64. -> hs, hT, cT."""
    xs, Wx, Wh = (a.astype(np.float64) for a in (xs, Wx, Wh))
    N, T, _ = xs.shape
    H = Wh.shape[0]
    G = GATES[op] * H
    b = np.zeros((2, G) if op == "gru_after" else G) if b is None else b.astype(np.float64)
    h = np.zeros((N, H)) if h0 is None else h0.astype(np.float64)
    c = np.zeros((N, H)) if c0 is None else c0.astype(np.float64)

    def W(M, k):  # block k of a gate-stacked weight or bias
        return M[..., k * H:(k + 1) * H]

    hs = np.zeros((N, T, H))
    for t in range(T):
        x = xs[:, t]
        if op == "rnn":
            h = np.tanh(x @ Wx + h @ Wh + b)
        elif op == "lstm":
            f = sig(x @ W(Wx, 0) + h @ W(Wh, 0) + W(b, 0))
            g = np.tanh(x @ W(Wx, 1) + h @ W(Wh, 1) + W(b, 1))
            i = sig(x @ W(Wx, 2) + h @ W(Wh, 2) + W(b, 2))
            o = sig(x @ W(Wx, 3) + h @ W(Wh, 3) + W(b, 3))
            c = f * c + g * i
            h = o * np.tanh(c)
        elif op == "gru_before":
            z = sig(x @ W(Wx, 0) + h @ W(Wh, 0) + W(b, 0))
            r = sig(x @ W(Wx, 1) + h @ W(Wh, 1) + W(b, 1))
            n = np.tanh(x @ W(Wx, 2) + (r * h) @ W(Wh, 2) + W(b, 2))
            h = (1 - z) * h + z * n
        else:  # gru_after
            b0, b1 = b
            z = sig(x @ W(Wx, 0) + W(b0, 0) + h @ W(Wh, 0) + W(b1, 0))
            r = sig(x @ W(Wx, 1) + W(b0, 1) + h @ W(Wh, 1) + W(b1, 1))
            n = np.tanh(x @ W(Wx, 2) + W(b0, 2) + r * (h @ W(Wh, 2) + W(b1, 2)))
            h = (1 - z) * h + z * n
        hs[:, t] = h
    return hs, h, (c if op == "lstm" else None)


SHAPES = [(1, 1, 1, 1), (1, 1, 3, 5), (1, 6, 4, 3), (3, 4, 5, 7), (4, 3, 2, 9), (2, 5, 7, 13)]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "N{}T{}D{}H{}".format(*s))
@pytest.mark.parametrize("bias,states", [(True, True), (False, False), (True, False), (False, True)])
def test_forward_matches_naive_cell(op, dtype, shape, bias, states):
    p = make_params(op, *shape, dtype=dtype, bias=bias, states=states, seed=sum(shape))
    hs, hT, cT, _ = forward(op, p)
    want_hs, want_hT, want_cT = naive(op, *(p[k] for k in ("xs", "Wx", "Wh", "b", "h0", "c0")))
    # float64: the same operations, only grouped differently (one matmul for all gates/steps), so
    # they agree to a few ulps; 1e-12 leaves room for that and still catches any formula slip.
    # float32 vs the float64 naive on the same float32 inputs: eps32 = 6e-8 times a few dozen
    # operations per step, kept bounded by the contracting tanh/sigmoid -> 1e-5 (rel) with margin.
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hs, want_hs, **tol)
    np.testing.assert_allclose(hT, want_hT, **tol)
    np.testing.assert_allclose(hT, hs[:, -1], rtol=0, atol=0)
    if op == "lstm":
        np.testing.assert_allclose(cT, want_cT, **tol)


# ---- 2. backward vs finite differences ----------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("states", [True, False], ids=["h0", "noh0"])
@pytest.mark.parametrize("final_grad", [True, False], ids=["dhT", "nodhT"])
def test_backward_matches_finite_differences(op, bias, states, final_grad):
    N, T, D, H = 2, 3, 4, 3
    p = make_params(op, N, T, D, H, bias=bias, states=states, seed=7)
    rng = np.random.default_rng(1)
    R1, R2, R3 = rng.standard_normal((N, T, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))

    def loss():
        hs, hT, cT, _ = forward(op, p, train=False)
        out = np.sum(hs * R1)
        if final_grad:
            out += np.sum(hT * R2) + (np.sum(cT * R3) if op == "lstm" else 0.0)
        return out

    _, _, _, saved = forward(op, p)
    dhT = R2 if final_grad else None
    dcT = R3 if final_grad and op == "lstm" else None
    grads = backward(op, R1, dhT, dcT, saved)

    # an absent h0/c0 means zeros; its gradient is still returned, so check it at explicit zeros
    for k in ("h0", "c0"):
        if k in grads and p[k] is None:
            p[k] = np.zeros((N, H))
    if not bias:
        assert grads["b"] is None
    # Central differences with eps=1e-6 are accurate to ~1e-10 relative to the gradient's scale
    # (O(eps^2) truncation + O(u/eps) rounding), so 1e-7 normwise has a 1000x margin, while a wrong
    # term of the gradient's own size shows as O(1e-2 .. 1).
    for k, g in grads.items():
        if g is None:
            continue
        num = numerical_gradient(loss, p[k])
        assert g.shape == p[k].shape, k
        assert np.abs(num).max() > 1e-3, f"{k}: the check is vacuous (zero gradient)"
        err = rel_error(g, num)
        assert err < 1e-7, f"d{k}: rel_error {err:.2e}"


# ---- 3. truncated BPTT: chunks with the state carried = one run ---------------------------------

@pytest.mark.parametrize("op", OPS)
def test_chunks_with_carried_state_equal_one_run(op):
    N, T, D, H, T1 = 3, 7, 4, 5, 3
    p = make_params(op, N, T, D, H, seed=3)
    rng = np.random.default_rng(4)
    dhs, dhT, dcT = rng.standard_normal((N, T, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    if op != "lstm":
        dcT = None

    hs, hT, cT, saved = forward(op, p)
    full = backward(op, dhs, dhT, dcT, saved)

    p1 = dict(p, xs=p["xs"][:, :T1])
    hs1, hT1, cT1, saved1 = forward(op, p1)
    p2 = dict(p, xs=p["xs"][:, T1:], h0=hT1, c0=cT1)
    hs2, hT2, cT2, saved2 = forward(op, p2)
    # forward: the same operations on the same numbers, up to matmul grouping -> ulps
    tol = dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.concatenate([hs1, hs2], axis=1), hs, **tol)
    np.testing.assert_allclose(hT2, hT, **tol)
    if op == "lstm":
        np.testing.assert_allclose(cT2, cT, **tol)

    # backward: the second chunk's dh0 (dc0) is the first chunk's dhT (dcT); weight grads add up
    g2 = backward(op, dhs[:, T1:], dhT, dcT, saved2)
    g1 = backward(op, dhs[:, :T1], g2["h0"], g2.get("c0"), saved1)
    np.testing.assert_allclose(np.concatenate([g1["xs"], g2["xs"]], axis=1), full["xs"], **tol)
    for k in ("Wx", "Wh", "b"):
        np.testing.assert_allclose(g1[k] + g2[k], full[k], **tol)
    np.testing.assert_allclose(g1["h0"], full["h0"], **tol)
    if op == "lstm":
        np.testing.assert_allclose(g1["c0"], full["c0"], **tol)


# ---- 4. dtype kept; 5. train=False --------------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("bias,states", [(True, True), (False, False)])
def test_float32_stays_float32(op, bias, states):
    N, T, D, H = 2, 3, 4, 5
    p = make_params(op, N, T, D, H, dtype=np.float32, bias=bias, states=states)
    hs, hT, cT, saved = forward(op, p)
    outs = [hs, hT] + ([cT] if op == "lstm" else [])
    dhs = np.ones((N, T, H), np.float32)
    for dhT in (None, np.ones((N, H), np.float32)):
        grads = backward(op, dhs, dhT, dhT if op == "lstm" else None, saved)
        assert (grads["b"] is None) == (not bias)
        outs += [g for g in grads.values() if g is not None]
    for a in outs:
        assert isinstance(a, np.ndarray) and a.dtype == np.float32, (a.dtype, a.shape)


@pytest.mark.parametrize("op", OPS)
def test_train_false_saves_nothing_and_computes_the_same(op):
    p = make_params(op, 2, 4, 3, 5)
    hs, hT, cT, saved = forward(op, p, train=True)
    hs0, hT0, cT0, saved0 = forward(op, p, train=False)
    assert saved is not None and saved0 is None
    np.testing.assert_array_equal(hs0, hs)
    np.testing.assert_array_equal(hT0, hT)
    if op == "lstm":
        np.testing.assert_array_equal(cT0, cT)


# ---- 6. gate order, pinned by hand-computed values ----------------------------------------------
# With Wx = 0 each gate sees only its bias. +-40 saturates a sigmoid (sigmoid(40) == 1.0 in float64,
# sigmoid(-40) = 4e-18), so each case opens or shuts one gate; any permutation of the gate blocks
# gives a different result.

ATANH_QUARTER = np.arctanh(0.25)  # tanh of it is exactly the 0.25 we want in the g / n gate


def _lstm_with_bias(bf, bg, bi, bo, c0):
    N, T, D, H = 1, 2, 2, 3
    b = np.repeat(np.array([bf, bg, bi, bo], dtype=np.float64), H)   # blocks [f | g | i | o]
    xs = np.random.default_rng(0).standard_normal((N, T, D))          # ignored: Wx = 0
    return R.lstm_forward(xs, np.zeros((D, 4 * H)), np.zeros((H, 4 * H)), b, None, np.full((N, H), c0), False)


def test_lstm_gate_order_forget_open_input_shut():
    # f = 1 keeps c0, i = 0 writes nothing, o = 1/2: c stays 2, h = tanh(2) / 2 at every step
    hs, hT, cT, _ = _lstm_with_bias(40.0, ATANH_QUARTER, -40.0, 0.0, c0=2.0)
    np.testing.assert_allclose(cT, 2.0, rtol=1e-12)
    np.testing.assert_allclose(hs, 0.5 * np.tanh(2.0), rtol=1e-12)


def test_lstm_gate_order_forget_shut_input_open():
    # f = 0 drops c0, i = 1 writes g = 1/4, o = 1/2: c = 1/4, h = tanh(1/4) / 2 at every step
    hs, hT, cT, _ = _lstm_with_bias(-40.0, ATANH_QUARTER, 40.0, 0.0, c0=2.0)
    np.testing.assert_allclose(cT, 0.25, rtol=1e-12)
    np.testing.assert_allclose(hs, 0.5 * np.tanh(0.25), rtol=1e-12)


def test_lstm_gate_order_output_gate():
    # f = 1, i = 0 as above, o = sigmoid(-40) ~ 0: the memory is kept but hidden
    hs, hT, cT, _ = _lstm_with_bias(40.0, ATANH_QUARTER, -40.0, -40.0, c0=2.0)
    np.testing.assert_allclose(cT, 2.0, rtol=1e-12)
    np.testing.assert_allclose(hs, 0.0, atol=1e-15)


H0 = np.array([[0.3, -0.6, 0.9]])


def _gru_with_bias(bz, br, bn, reset_after, b1n=0.0):
    """Wx = 0, Whz = Whr = 0, Whn = I, so n = tanh(bn + r * h) (both variants) and z, r are their biases."""
    N, T, D, H = 1, 1, 2, 3
    Wh = np.concatenate([np.zeros((H, 2 * H)), np.eye(H)], axis=1)
    b = np.repeat(np.array([bz, br, bn], dtype=np.float64), H)   # blocks [z | r | n]
    if reset_after:
        b = np.stack([b, np.repeat(np.array([0.0, 0.0, b1n]), H)])
    xs = np.random.default_rng(0).standard_normal((N, T, D))
    hs, hT, _ = R.gru_forward(xs, np.zeros((D, 3 * H)), Wh, b, H0.copy(), reset_after, False)
    return hT


@pytest.mark.parametrize("reset_after", [False, True], ids=["reset_before", "reset_after"])
def test_gru_gate_order(reset_after):
    # z = 0: the state is kept whatever r and n are
    np.testing.assert_allclose(_gru_with_bias(-40.0, 40.0, 5.0, reset_after), H0, rtol=1e-12)
    # z = 1, r = 0: h is reset, so h' = n = tanh(bn) = 1/4
    np.testing.assert_allclose(_gru_with_bias(40.0, -40.0, ATANH_QUARTER, reset_after), 0.25, rtol=1e-12)
    # z = 1, r = 1, bn = 0: h' = n = tanh(h)
    np.testing.assert_allclose(_gru_with_bias(40.0, 40.0, 0.0, reset_after), np.tanh(H0), rtol=1e-12)


def test_gru_reset_after_recurrent_bias_is_behind_the_reset_gate():
    # reset_after: n = tanh(b0n + r * (h Whn + b1n)). With r = 0 the recurrent bias b1n must vanish,
    # with r = 1 it must count; z = 1 so h' = n.
    np.testing.assert_allclose(_gru_with_bias(40.0, -40.0, ATANH_QUARTER, True, b1n=3.0), 0.25, rtol=1e-12)
    np.testing.assert_allclose(_gru_with_bias(40.0, 40.0, 0.0, True, b1n=0.5), np.tanh(H0 + 0.5), rtol=1e-12)


def test_rnn_known_value():
    # one unit: h1 = tanh(x wx + h0 wh + b) = tanh(0.5 * 2 + 0.25 * (-1) + 0.1)
    xs, Wx, Wh, b, h0 = (np.array(v, dtype=np.float64) for v in ([[[0.5]]], [[2.0]], [[-1.0]], [0.1], [[0.25]]))
    hs, hT, _ = R.rnn_forward(xs, Wx, Wh, b, h0, False)
    np.testing.assert_allclose(hT, [[np.tanh(0.85)]], rtol=1e-14)


# ---- edge cases -----------------------------------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("states", [True, False], ids=["h0", "noh0"])
def test_empty_sequence(op, states):
    N, D, H = 2, 3, 4
    p = make_params(op, N, 0, D, H, states=states)
    hs, hT, cT, saved = forward(op, p)
    assert hs.shape == (N, 0, H)
    np.testing.assert_array_equal(hT, p["h0"] if states else np.zeros((N, H)))
    assert hT is not p["h0"]  # a fresh array: the caller's h0 is not handed back to be aliased
    if op == "lstm":
        np.testing.assert_array_equal(cT, p["c0"] if states else np.zeros((N, H)))
    dhT = np.arange(N * H, dtype=np.float64).reshape(N, H)
    for dT in (None, dhT):
        g = backward(op, np.zeros((N, 0, H)), dT, dT if op == "lstm" else None, saved)
        assert g["xs"].shape == (N, 0, D)
        for k in ("Wx", "Wh", "b"):
            np.testing.assert_array_equal(g[k], np.zeros_like(p[k]))
        for k in ("h0", "c0") if op == "lstm" else ("h0",):
            np.testing.assert_array_equal(g[k], np.zeros((N, H)) if dT is None else dhT)


@pytest.mark.parametrize("op", OPS)
def test_empty_batch(op):
    T, D, H = 3, 2, 4
    p = make_params(op, 0, T, D, H)
    hs, hT, cT, saved = forward(op, p)
    assert hs.shape == (0, T, H) and hT.shape == (0, H)
    g = backward(op, np.zeros((0, T, H)), None, None, saved)
    assert g["xs"].shape == (0, T, D) and g["h0"].shape == (0, H)
    for k in ("Wx", "Wh", "b"):
        np.testing.assert_array_equal(g[k], np.zeros_like(p[k]))


@pytest.mark.parametrize("op", OPS)
def test_inputs_not_modified(op):
    N, T, D, H = 2, 3, 4, 5
    p = make_params(op, N, T, D, H)
    rng = np.random.default_rng(2)
    dhs, dhT, dcT = rng.standard_normal((N, T, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    before = {k: v.copy() for k, v in p.items() if v is not None}
    dbefore = [dhs.copy(), dhT.copy(), dcT.copy()]
    _, _, _, saved = forward(op, p)
    backward(op, dhs, dhT, dcT if op == "lstm" else None, saved)
    for k, v in before.items():
        np.testing.assert_array_equal(p[k], v, err_msg=k)
    for a, b in zip((dhs, dhT, dcT), dbefore):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("op", OPS)
def test_float32_saturation_without_overflow(op):
    # pre-activations of +-1e4: exp(1e4) overflows float32; the reference must stay finite and silent
    p = make_params(op, 2, 3, 4, 5, dtype=np.float32, scale=3e3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
            hs, hT, cT, saved = forward(op, p)
            g = backward(op, np.ones_like(hs), None, None, saved)
    bound = max(1.0, float(np.abs(p["h0"]).max()))  # |h| <= 1 (RNN, LSTM); GRU mixes h0 in convexly
    assert np.isfinite(hs).all() and np.abs(hs).max() <= bound * (1 + 1e-6)
    assert all(np.isfinite(v).all() for v in g.values() if v is not None)


def test_sigmoid_is_accurate_in_both_tails():
    x = np.array([-700.0, -40.0, -20.0, -1.0, 0.0, 1.0, 20.0, 40.0, 745.0])
    s = R.sigmoid(x)
    # in float64 the textbook form is exact enough here (exp(700) is still finite)
    with np.errstate(over="ignore"):
        want = 1.0 / (1.0 + np.exp(-x))
    np.testing.assert_allclose(s, want, rtol=1e-15, atol=0)
    s32 = R.sigmoid(np.float32(-50.0) * np.ones(1, np.float32))
    assert s32.dtype == np.float32 and 0 < s32[0] < 1e-21  # tiny but not flushed to 0 by 1 + tanh


# ---- CuPy: the same code on the GPU ---------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("op", OPS)
def test_runs_on_cupy_and_matches_numpy(op):
    cp = pytest.importorskip("cupy")
    try:
        cp.cuda.runtime.getDeviceCount()
    except Exception:
        pytest.skip("no CUDA device")
    N, T, D, H = 2, 4, 3, 5
    p = make_params(op, N, T, D, H)
    dhs = np.random.default_rng(5).standard_normal((N, T, H))
    hs, hT, cT, saved = forward(op, p)
    g = backward(op, dhs, None, None, saved)
    pg = {k: None if v is None else cp.asarray(v) for k, v in p.items()}
    hs_g, hT_g, cT_g, saved_g = forward(op, pg)
    g_g = backward(op, cp.asarray(dhs), None, None, saved_g)
    assert isinstance(hs_g, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(hs_g), hs, rtol=1e-12, atol=1e-12)
    for k, v in g.items():
        assert isinstance(g_g[k], cp.ndarray), k
        np.testing.assert_allclose(cp.asnumpy(g_g[k]), v, rtol=1e-11, atol=1e-12, err_msg=k)
