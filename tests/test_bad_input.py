"""Bad arguments to layers and ops raise TypeError/ValueError naming the argument and
what was expected; nothing crashes, hangs or silently casts."""
import numpy as np
import pytest

from pyrnn import ops
from pyrnn.layers import (Affine, Embedding, LayerNorm, MultiHeadAttention, SoftmaxWithLoss, TimeAffine,
                          TimeAttention, TimeBiLSTM, TimeDropout, TimeEmbedding, TimeGRU, TimeLSTM,
                          TimeRNN, TimeSoftmaxWithLoss)

N, T, D, H, V = 2, 3, 4, 5, 6
rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def lstm():
    return TimeLSTM(f32(D, 4 * H), f32(H, 4 * H), f32(4 * H))


def stateful_lstm_with_state(n):
    layer = TimeLSTM(f32(D, 4 * H), f32(H, 4 * H), f32(4 * H), stateful=True)
    layer.set_state(f32(n, H))
    return layer


def mha():
    ws = []
    for _ in range(4):
        ws += [f32(8, 8), f32(8)]
    return MultiHeadAttention(*ws, num_heads=2)


# (id, call, exception, regex that must appear in the message)
CASES = [
    ("xs 2-D", lambda: lstm().forward(f32(N, D)), ValueError, r"xs: expected shape \(N, T, 4\)"),
    ("xs wrong D", lambda: lstm().forward(f32(N, T, D + 1)), ValueError, r"xs: expected shape \(N, T, 4\)"),
    ("xs int", lambda: lstm().forward(np.ones((N, T, D), np.int64)), TypeError, r"xs: expected dtype float32 or float64"),
    ("xs float16", lambda: lstm().forward(f32(N, T, D).astype(np.float16)), TypeError, r"xs: .*float16"),
    ("xs float64 vs float32 weights", lambda: lstm().forward(f32(N, T, D).astype(np.float64)), TypeError,
     r"xs: dtype float64 does not match the weights' dtype float32"),
    ("xs list", lambda: lstm().forward([[[0.0] * D] * T] * N), TypeError, r"xs: expected a numpy or cupy"),
    ("Wx width not 4H", lambda: TimeLSTM(f32(D, 10), f32(H, 4 * H), f32(4 * H)), ValueError,
     r"Wx: expected shape \(D, 4H\)"),
    ("Wh wrong", lambda: TimeLSTM(f32(D, 4 * H), f32(H + 1, 4 * H), f32(4 * H)), ValueError,
     r"Wh: expected shape \(5, 20\)"),
    ("b wrong", lambda: TimeRNN(f32(D, H), f32(H, H), f32(H + 1)), ValueError, r"b: expected shape \(5,\)"),
    ("b mixed dtype", lambda: TimeRNN(f32(D, H), f32(H, H), np.zeros(H)), TypeError, r"b: dtype float64"),
    ("gru reset_after bias (3H,)", lambda: TimeGRU(f32(D, 3 * H), f32(H, 3 * H), f32(3 * H), reset_after=True),
     ValueError, r"b: expected shape \(2, 15\)"),
    ("gru bias (2,3H) without reset_after", lambda: TimeGRU(f32(D, 3 * H), f32(H, 3 * H), f32(2, 3 * H)),
     ValueError, r"b: expected shape \(15,\)"),
    ("state batch mismatch", lambda: stateful_lstm_with_state(N + 1).forward(f32(N, T, D)), ValueError,
     r"h0: expected shape \(2, 5\)"),
    ("bilstm xs 2-D", lambda: TimeBiLSTM(*(f32(D, 4 * H), f32(H, 4 * H), f32(4 * H)) * 2).forward(f32(N, D)),
     ValueError, r"xs: expected shape"),
    ("embedding float ids", lambda: TimeEmbedding(f32(V, D)).forward(np.zeros((N, T))), TypeError,
     r"xs: expected an integer dtype"),
    ("embedding id out of range", lambda: TimeEmbedding(f32(V, D)).forward(np.full((N, T), V)), ValueError,
     r"xs: values must be in \[0, 6\)"),
    ("embedding negative id", lambda: Embedding(f32(V, D)).forward(np.array([-1, 0])), ValueError,
     r"idx: values must be in \[0, 6\)"),
    ("embedding ids 1-D", lambda: TimeEmbedding(f32(V, D)).forward(np.zeros(N, int)), ValueError,
     r"xs: expected shape \(N, T\)"),
    ("affine x wrong D", lambda: TimeAffine(f32(D, V), f32(V)).forward(f32(N, T, D + 1)), ValueError,
     r"W: expected shape \(5, M\)"),
    ("affine b wrong", lambda: Affine(f32(D, V), f32(V + 1)).forward(f32(N, D)), ValueError, r"b: expected shape \(6,\)"),
    ("softmax labels out of range", lambda: TimeSoftmaxWithLoss().forward(f32(N, T, V), np.full((N, T), V)),
     ValueError, r"ts: values must be in \[0, 6\) or -1 \(ignored\)"),
    ("softmax labels wrong shape", lambda: TimeSoftmaxWithLoss().forward(f32(N, T, V), np.zeros((N, T + 1), int)),
     ValueError, r"ts: expected shape \(2, 3\)"),
    ("softmax float labels", lambda: SoftmaxWithLoss().forward(f32(N, V), np.zeros(N)), TypeError,
     r"ts: expected an integer dtype"),
    ("dropout ratio 1", lambda: TimeDropout(1.0).forward(f32(N, T, D)), ValueError, r"ratio: expected a drop probability"),
    ("attention H mismatch", lambda: TimeAttention().forward(f32(N, T, H), f32(N, 2, H + 1)), ValueError,
     r"hs_dec: expected shape \(2, Td, 5\)"),
    ("attention N mismatch", lambda: TimeAttention().forward(f32(N, T, H), f32(N + 1, 2, H)), ValueError,
     r"hs_dec: expected shape \(2, Td, 5\)"),
    ("attention mask not bool", lambda: TimeAttention().forward(f32(N, T, H), f32(N, 2, H), np.ones((N, T))),
     TypeError, r"mask: expected dtype bool"),
    ("attention mask shape", lambda: TimeAttention().forward(f32(N, T, H), f32(N, 2, H), np.ones((N, T + 1), bool)),
     ValueError, r"mask: expected shape \(2, 3\)"),
    ("mha x width", lambda: mha().forward(f32(N, T, 9)), ValueError, r"x: expected shape \(N, Tq, 8\)"),
    ("mha mask shape", lambda: mha().forward(f32(N, T, 8), None, np.ones((N, T + 1), bool)), ValueError,
     r"mask: expected shape \(2, 3\)"),
    ("layernorm gamma", lambda: LayerNorm(f32(D + 1), f32(D)).forward(f32(N, D)), ValueError,
     r"gamma: expected shape \(4,\)"),
    ("op lstm dhs shape", lambda: ops.lstm_backward(f32(N, T, H + 1), None, None,
                                                    ops.lstm_forward(f32(N, T, D), f32(D, 4 * H), f32(H, 4 * H))[3]),
     ValueError, r"dhs: expected shape \(2, 3, 5\)"),
    ("op backward after train=False", lambda: ops.rnn_backward(
        f32(N, T, H), None, ops.rnn_forward(f32(N, T, D), f32(D, H), f32(H, H), train=False)[2]),
     ValueError, r"train=False"),
    ("op wrong saved", lambda: ops.rnn_backward(f32(N, T, H), None, ops.affine_forward(f32(N, D), f32(D, H))[1]),
     TypeError, r"saved must come from rnn_forward"),
    ("sdpa causal Tq != Tk", lambda: ops.sdpa_forward(f32(1, 1, 2, 4), f32(1, 1, 3, 4), f32(1, 1, 3, 4),
                                                      causal=True), ValueError, r"causal: needs Tq == Tk"),
]


@pytest.mark.parametrize("call,exc,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_clear_error(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_non_contiguous_and_fortran_inputs_just_work():
    layer = lstm()
    xs = f32(N, T, D)
    ref = layer.forward(xs)
    np.testing.assert_allclose(layer.forward(np.asfortranarray(xs)), ref, rtol=1e-6)
    wide = f32(N, 2 * T, D)
    wide[:, ::2] = xs
    np.testing.assert_allclose(layer.forward(wide[:, ::2]), ref, rtol=1e-6)
    ro = xs.copy()
    ro.setflags(write=False)
    np.testing.assert_allclose(layer.forward(ro), ref, rtol=1e-6)
