"""The one-step API (pyrnn.ops.rnn_step / lstm_step / gru_step), on every usable NumPy backend.

Oracles: a step is the whole-sequence op on a one-step sequence, so it must equal the op's T = 1 result
bitwise on the same backend; T steps fed back one at a time must equal one T-step call of the op
(within float tolerance: the whole-sequence call may run its per-step products on the prepared step
kernel, the steps on plain BLAS: float32 1e-5, float64 1e-12 of each tensor's largest magnitude, the
tolerances of the backend-vs-reference suite); and every backend's steps equal the reference's.
"""
import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops

BACKENDS = [n for n in backends.NUMPY_ORDER if backends.backend_status()[n][0]]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
OPS = ["rnn", "lstm", "gru", "gru_reset_after"]


def _case(op, N, T, D, H, dtype, seed=0):
    gates = {"rnn": 1, "lstm": 4}.get(op, 3)
    rng = np.random.default_rng(seed)
    Wx = (rng.standard_normal((D, gates * H)) / np.sqrt(D)).astype(dtype)
    Wh = (rng.standard_normal((H, gates * H)) / np.sqrt(H)).astype(dtype)
    b = rng.standard_normal((2, 3 * H) if op == "gru_reset_after" else gates * H).astype(dtype)
    xs = rng.standard_normal((N, T, D)).astype(dtype)
    states = [rng.standard_normal((N, H)).astype(dtype) for _ in range(2 if op == "lstm" else 1)]
    return xs, Wx, Wh, b, states


def _steps(op, xs, Wx, Wh, b, states):
    """Feed xs one step at a time -> (hs (N, T, H), final states)."""
    hs = []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        if op == "lstm":
            states = list(ops.lstm_step(x, *states, Wx, Wh, b))
        elif op == "rnn":
            states = [ops.rnn_step(x, states[0], Wx, Wh, b)]
        else:
            states = [ops.gru_step(x, states[0], Wx, Wh, b, reset_after=op == "gru_reset_after")]
        hs.append(states[0])
    return np.stack(hs, axis=1), states


def _whole(op, xs, Wx, Wh, b, states):
    if op == "lstm":
        hs, h, c, _ = ops.lstm_forward(xs, Wx, Wh, b, *states, train=False)
        return hs, [h, c]
    if op == "rnn":
        hs, h, _ = ops.rnn_forward(xs, Wx, Wh, b, states[0], train=False)
    else:
        hs, h, _ = ops.gru_forward(xs, Wx, Wh, b, states[0], reset_after=op == "gru_reset_after", train=False)
    return hs, [h]


def _close(got, want, dtype, what):
    scale = max(float(np.abs(want).max()), 1e-30)
    err = float(np.abs(got - want).max()) / scale
    assert err <= RTOL[dtype], f"{what}: relative error {err:.2e} > {RTOL[dtype]:.0e}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 7, 5, 6), (3, 6, 16, 48), (33, 5, 40, 64)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_steps_equal_the_whole_sequence(backend, op, shape, dtype):
    xs, Wx, Wh, b, states = _case(op, *shape, dtype)
    with pyrnn.use_backend(backend):
        hs, finals = _steps(op, xs, Wx, Wh, b, states)
        whole_hs, whole_finals = _whole(op, xs, Wx, Wh, b, states)
        one_hs, one_finals = _whole(op, xs[:, :1], Wx, Wh, b, states)
        first_hs, first_finals = _steps(op, xs[:, :1], Wx, Wh, b, states)
    with pyrnn.use_backend("reference"):
        ref_hs, ref_finals = _steps(op, xs, Wx, Wh, b, states)
    np.testing.assert_array_equal(first_hs, one_hs)  # a step is the op's T = 1 call, bitwise
    for a, w in zip(first_finals, one_finals):
        np.testing.assert_array_equal(a, w)
    _close(hs, whole_hs, dtype, f"{backend} {op} hs")
    _close(hs, ref_hs, dtype, f"{backend} {op} hs vs reference")
    for k, (a, w, r) in enumerate(zip(finals, whole_finals, ref_finals)):
        _close(a, w, dtype, f"{backend} {op} final state {k}")
        _close(a, r, dtype, f"{backend} {op} final state {k} vs reference")
    assert hs.dtype == dtype and all(s.dtype == dtype for s in finals)


def test_steps_from_zero_states_and_bad_input():
    xs, Wx, Wh, b, (h, c) = _case("lstm", 2, 1, 5, 6, np.float32)
    h1, c1 = ops.lstm_step(xs[:, 0], None, None, Wx, Wh, b)
    want = ops.lstm_forward(xs, Wx, Wh, b, train=False)
    np.testing.assert_array_equal(h1, want[1])
    np.testing.assert_array_equal(c1, want[2])
    with pytest.raises(ValueError, match=r"x: expected shape \(N, 5\)"):
        ops.lstm_step(xs, h, c, Wx, Wh, b)  # (N, T, D): a sequence, not a step
    with pytest.raises(ValueError, match=r"h: expected shape \(2, 6\)"):
        ops.lstm_step(xs[:, 0], h[:1], c, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"c: expected shape \(2, 6\)"):
        ops.lstm_step(xs[:, 0], h, c.T, Wx, Wh, b)
    with pytest.raises(TypeError, match="h: dtype float64 does not match"):
        ops.gru_step(xs[:, 0], h.astype(np.float64), Wx[:, :18], Wh[:, :18], None)
    with pytest.raises(TypeError, match="reset_after"):
        ops.gru_step(xs[:, 0], h, Wx[:, :18], Wh[:, :18], None, reset_after="yes")
