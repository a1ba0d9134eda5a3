"""NumPy reference of the recurrent ops: tanh RNN, LSTM, GRU (both reset variants).

The oracle every kernel is judged against, so it is written to be read. Each
op runs a whole sequence, batch-major like the book: xs (N, T, D), hs (N, T, H).
Forward keeps what backward needs in ``saved`` (a dict); backward is
backpropagation through time (BPTT), walking the steps in reverse.

Every op follows the same plan (the one the fast kernels follow too):
  1. the input projection of all steps is one matmul: ``xs @ Wx + b``;
  2. a per-step loop does only ``h @ Wh`` and the gate math;
  3. backward walks t = T-1 ... 0 and records ``da[:, t]``, the gradient of the
     pre-activations of step t; the weight gradients are sums over all steps
     of outer products, done after the loop as single matmuls.

Arguments arrive validated by `pyrnn.ops` (shapes, one float dtype, one array
module). All arrays are made with the inputs' array module (``xp``: NumPy or
CuPy) and dtype, so float32 stays float32. Inputs are never modified.
"""
from __future__ import annotations

from .._arrays import get_xp

__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward"]


# ---- helpers ------------------------------------------------------------------------------------

def _sigmoid(x):
    # x (...) -> (...). exp(-|x|) never overflows, and each branch is accurate in its own tail
    # (the textbook 1 / (1 + exp(-x)) overflows exp for x < -88 in float32).
    xp = get_xp(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _state_or_zeros(xp, s, N, H, dtype):
    # s (N, H) or None -> a fresh (N, H) array: None means zeros; a copy, so no output aliases an input
    if s is None:
        return xp.zeros((N, H), dtype=dtype)
    return s.copy()


def _input_projection(xs, Wx, b):
    # xs (N, T, D), Wx (D, G), b (G,) or None -> (N, T, G): x_t Wx + b for every step in one matmul
    a = xs @ Wx
    if b is not None:
        a = a + b
    return a


def _states_before_each_step(s0, ss):
    # s0 (N, H), ss (N, T, H) -> (N, T, H): the state step t starts from, i.e. s0, s_0, ..., s_{T-2}
    xp = get_xp(ss)
    T = ss.shape[1]
    return xp.concatenate([s0[:, None, :], ss], axis=1)[:, :T]


def _sum_over_steps(a, b):
    # a (N, T, P), b (N, T, Q) -> (P, Q): sum over n and t of outer(a[n, t], b[n, t])
    N, T, P = a.shape
    return a.reshape(N * T, P).T @ b.reshape(N * T, b.shape[2])


def _input_grads(xs, Wx, dax, has_bias):
    # xs (N, T, D), Wx (D, G), dax (N, T, G) gradient of xs @ Wx + b -> dxs (N, T, D), dWx (D, G), db (G,) or None
    dxs = dax @ Wx.T
    dWx = _sum_over_steps(xs, dax)
    db = dax.sum(axis=(0, 1)) if has_bias else None
    return dxs, dWx, db


# ---- tanh RNN -----------------------------------------------------------------------------------

def rnn_forward(xs, Wx, Wh, b, h0, train):
    # xs (N, T, D), Wx (D, H), Wh (H, H), b (H,) or None, h0 (N, H) or None -> hs (N, T, H), hT (N, H), saved
    xp = get_xp(xs)
    N, T, _ = xs.shape
    H = Wh.shape[0]
    h = h_init = _state_or_zeros(xp, h0, N, H, xs.dtype)
    ax = _input_projection(xs, Wx, b)                 # (N, T, H)
    hs = xp.empty((N, T, H), dtype=xs.dtype)
    for t in range(T):
        h = xp.tanh(ax[:, t] + h @ Wh)                # h_t = tanh(x_t Wx + h_{t-1} Wh + b)
        hs[:, t] = h
    if not train:
        return hs, h, None
    saved = dict(xs=xs, Wx=Wx, Wh=Wh, has_bias=b is not None, h0=h_init, hs=hs)
    return hs, h, saved


def rnn_backward(dhs, dhT, saved):
    # dhs (N, T, H), dhT (N, H) or None -> dxs (N, T, D), dWx (D, H), dWh (H, H), db (H,) or None, dh0 (N, H)
    xp = get_xp(dhs)
    xs, Wx, Wh, hs = saved["xs"], saved["Wx"], saved["Wh"], saved["hs"]
    N, T, H = hs.shape
    dh = _state_or_zeros(xp, dhT, N, H, hs.dtype)    # gradient reaching h_t from step t+1 (or the loss on hT)
    da = xp.empty_like(hs)                            # da[:, t]: gradient of step t's pre-activation
    for t in reversed(range(T)):
        dh = dh + dhs[:, t]                           # h_t is both an output and the next step's input
        da[:, t] = dh * (1 - hs[:, t] ** 2)           # tanh' = 1 - tanh^2
        dh = da[:, t] @ Wh.T                          # on to h_{t-1}
    dxs, dWx, db = _input_grads(xs, Wx, da, saved["has_bias"])
    dWh = _sum_over_steps(_states_before_each_step(saved["h0"], hs), da)
    return dxs, dWx, dWh, db, dh


# ---- LSTM, gates [f, g, i, o] -------------------------------------------------------------------

def lstm_forward(xs, Wx, Wh, b, h0, c0, train):
    # xs (N, T, D), Wx (D, 4H), Wh (H, 4H), b (4H,) or None, h0, c0 (N, H) or None
    # -> hs (N, T, H), hT (N, H), cT (N, H), saved
    xp = get_xp(xs)
    N, T, _ = xs.shape
    H = Wh.shape[0]
    h = h_init = _state_or_zeros(xp, h0, N, H, xs.dtype)
    c = c_init = _state_or_zeros(xp, c0, N, H, xs.dtype)
    ax = _input_projection(xs, Wx, b)                 # (N, T, 4H)
    hs = xp.empty((N, T, H), dtype=xs.dtype)
    cs = xp.empty((N, T, H), dtype=xs.dtype)
    gates = xp.empty((N, T, 4 * H), dtype=xs.dtype)   # activated gates [f, g, i, o], kept for backward
    for t in range(T):
        f, g, i, o = xp.split(ax[:, t] + h @ Wh, 4, axis=1)
        f, g, i, o = _sigmoid(f), xp.tanh(g), _sigmoid(i), _sigmoid(o)
        c = f * c + g * i                             # forget part of the old memory, write the new
        h = o * xp.tanh(c)                            # expose part of the memory
        hs[:, t] = h
        cs[:, t] = c
        gates[:, t] = xp.concatenate([f, g, i, o], axis=1)
    if not train:
        return hs, h, c, None
    saved = dict(xs=xs, Wx=Wx, Wh=Wh, has_bias=b is not None, h0=h_init, c0=c_init, hs=hs, cs=cs, gates=gates)
    return hs, h, c, saved


def lstm_backward(dhs, dhT, dcT, saved):
    # dhs (N, T, H), dhT, dcT (N, H) or None
    # -> dxs (N, T, D), dWx (D, 4H), dWh (H, 4H), db (4H,) or None, dh0 (N, H), dc0 (N, H)
    xp = get_xp(dhs)
    xs, Wx, Wh, hs, cs, gates = (saved[k] for k in ("xs", "Wx", "Wh", "hs", "cs", "gates"))
    N, T, H = hs.shape
    c_prevs = _states_before_each_step(saved["c0"], cs)
    dh = _state_or_zeros(xp, dhT, N, H, hs.dtype)    # gradient reaching h_t from step t+1
    dc = _state_or_zeros(xp, dcT, N, H, hs.dtype)    # gradient reaching c_t from step t+1
    da = xp.empty_like(gates)                         # da[:, t]: gradient of step t's pre-activations [f, g, i, o]
    for t in reversed(range(T)):
        f, g, i, o = xp.split(gates[:, t], 4, axis=1)
        tanh_c = xp.tanh(cs[:, t])
        dh = dh + dhs[:, t]
        dc = dc + dh * o * (1 - tanh_c ** 2)          # h = o * tanh(c)
        do = dh * tanh_c
        df = dc * c_prevs[:, t]                       # c = f * c_prev + g * i
        dg = dc * i
        di = dc * g
        # through the activations: sigmoid' = s (1 - s), tanh' = 1 - tanh^2
        da[:, t] = xp.concatenate([df * f * (1 - f), dg * (1 - g ** 2), di * i * (1 - i), do * o * (1 - o)], axis=1)
        dc = dc * f                                   # on to c_{t-1}
        dh = da[:, t] @ Wh.T                          # on to h_{t-1}
    dxs, dWx, db = _input_grads(xs, Wx, da, saved["has_bias"])
    dWh = _sum_over_steps(_states_before_each_step(saved["h0"], hs), da)
    return dxs, dWx, dWh, db, dh, dc


# ---- GRU, gates [z, r, n], h' = (1 - z) * h + z * n ---------------------------------------------
#
# reset_after=False (book, Cho et al.): n = tanh(x Wxn + (r * h) Whn + bn), b (3H,) is all input bias.
# reset_after=True (cuDNN, PyTorch, Keras): n = tanh(x Wxn + b0n + r * (h Whn + b1n)),
#   b (2, 3H): b[0] input bias, b[1] recurrent bias (b0 + b1 adds up for z and r; only n tells them apart).

def _gru_biases(b, reset_after):
    # b (3H,) | (2, 3H) | None -> (input bias (3H,) or None, recurrent bias (3H,) or None)
    if b is None:
        return None, None
    return (b[0], b[1]) if reset_after else (b, None)


def _gru_gates_reset_before(ax_t, h, Wh):
    # ax_t (N, 3H) = x_t Wx + b, h (N, H), Wh (H, 3H) -> z, r, n, hn (each (N, H)); hn = (r * h) Whn
    xp = get_xp(ax_t)
    H = h.shape[1]
    xz, xr, xn = xp.split(ax_t, 3, axis=1)
    hz, hr = xp.split(h @ Wh[:, :2 * H], 2, axis=1)
    z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
    hn = (r * h) @ Wh[:, 2 * H:]                      # r resets h before it meets Whn: this matmul waits for r
    return z, r, xp.tanh(xn + hn), hn


def _gru_gates_reset_after(ax_t, h, Wh, b_rec):
    # ax_t (N, 3H) = x_t Wx + b0, h (N, H), Wh (H, 3H), b_rec (3H,) or None
    # -> z, r, n, hn (each (N, H)); hn = h Whn + b1n
    xp = get_xp(ax_t)
    ah = h @ Wh                                       # one recurrent matmul for all three gates
    if b_rec is not None:
        ah = ah + b_rec
    xz, xr, xn = xp.split(ax_t, 3, axis=1)
    hz, hr, hn = xp.split(ah, 3, axis=1)
    z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
    return z, r, xp.tanh(xn + r * hn), hn             # r scales the recurrent part after the matmul


def gru_forward(xs, Wx, Wh, b, h0, reset_after, train):
    # xs (N, T, D), Wx (D, 3H), Wh (H, 3H), b (3H,) or (2, 3H) with reset_after or None, h0 (N, H) or None
    # -> hs (N, T, H), hT (N, H), saved
    xp = get_xp(xs)
    N, T, _ = xs.shape
    H = Wh.shape[0]
    b_in, b_rec = _gru_biases(b, reset_after)
    h = h_init = _state_or_zeros(xp, h0, N, H, xs.dtype)
    ax = _input_projection(xs, Wx, b_in)              # (N, T, 3H)
    hs = xp.empty((N, T, H), dtype=xs.dtype)
    gates = xp.empty((N, T, 3 * H), dtype=xs.dtype)   # activated gates [z, r, n], kept for backward
    hns = xp.empty((N, T, H), dtype=xs.dtype)         # recurrent part of n's pre-activation (reset_after's dr needs it)
    for t in range(T):
        if reset_after:
            z, r, n, hn = _gru_gates_reset_after(ax[:, t], h, Wh, b_rec)
        else:
            z, r, n, hn = _gru_gates_reset_before(ax[:, t], h, Wh)
        h = (1 - z) * h + z * n                       # z interpolates between keeping h and taking n
        hs[:, t] = h
        gates[:, t] = xp.concatenate([z, r, n], axis=1)
        hns[:, t] = hn
    if not train:
        return hs, h, None
    saved = dict(xs=xs, Wx=Wx, Wh=Wh, has_bias=b is not None, reset_after=reset_after,
                 h0=h_init, hs=hs, gates=gates, hns=hns)
    return hs, h, saved


def _gru_step_backward_reset_before(dh, h_prev, gates_t, Wh):
    # dh (N, H) total gradient on h_t, h_prev (N, H), gates_t (N, 3H) [z, r, n], Wh (H, 3H)
    # -> dh_prev (N, H), da (N, 3H) gradient of the pre-activations [z, r, n] (input and recurrent alike)
    xp = get_xp(dh)
    H = dh.shape[1]
    z, r, n = xp.split(gates_t, 3, axis=1)
    dz = dh * (n - h_prev)                            # h = (1 - z) * h_prev + z * n
    dan = dh * z * (1 - n ** 2)                       # n = tanh(an)
    drh = dan @ Wh[:, 2 * H:].T                       # an = xn + (r * h_prev) Whn: gradient of r * h_prev
    daz = dz * z * (1 - z)
    dar = drh * h_prev * r * (1 - r)
    dh_prev = dh * (1 - z) + drh * r + xp.concatenate([daz, dar], axis=1) @ Wh[:, :2 * H].T
    return dh_prev, xp.concatenate([daz, dar, dan], axis=1)


def _gru_step_backward_reset_after(dh, h_prev, gates_t, hn, Wh):
    # dh (N, H) total gradient on h_t, h_prev (N, H), gates_t (N, 3H) [z, r, n], hn (N, H) = h_prev Whn + b1n,
    # Wh (H, 3H)
    # -> dh_prev (N, H), dax (N, 3H) gradient of x Wx + b0, dah (N, 3H) gradient of h_prev Wh + b1
    xp = get_xp(dh)
    z, r, n = xp.split(gates_t, 3, axis=1)
    dz = dh * (n - h_prev)                            # h = (1 - z) * h_prev + z * n
    dan = dh * z * (1 - n ** 2)                       # n = tanh(xn + r * hn)
    daz = dz * z * (1 - z)
    dar = dan * hn * r * (1 - r)
    dax = xp.concatenate([daz, dar, dan], axis=1)
    dah = xp.concatenate([daz, dar, dan * r], axis=1)  # z and r see x and h alike; n sees h through r
    dh_prev = dh * (1 - z) + dah @ Wh.T
    return dh_prev, dax, dah


def gru_backward(dhs, dhT, saved):
    # dhs (N, T, H), dhT (N, H) or None
    # -> dxs (N, T, D), dWx (D, 3H), dWh (H, 3H), db (3H,) or (2, 3H) or None, dh0 (N, H)
    xp = get_xp(dhs)
    xs, Wx, Wh, hs, gates, hns = (saved[k] for k in ("xs", "Wx", "Wh", "hs", "gates", "hns"))
    reset_after, has_bias = saved["reset_after"], saved["has_bias"]
    N, T, H = hs.shape
    h_prevs = _states_before_each_step(saved["h0"], hs)
    dh = _state_or_zeros(xp, dhT, N, H, hs.dtype)    # gradient reaching h_t from step t+1
    dax = xp.empty_like(gates)                        # dax[:, t]: gradient of x_t Wx + b_in
    dah = xp.empty_like(gates)                        # dah[:, t]: gradient of what multiplies Wh (reset_after)
    for t in reversed(range(T)):
        dh = dh + dhs[:, t]
        if reset_after:
            dh, dax[:, t], dah[:, t] = _gru_step_backward_reset_after(dh, h_prevs[:, t], gates[:, t], hns[:, t], Wh)
        else:
            dh, dax[:, t] = _gru_step_backward_reset_before(dh, h_prevs[:, t], gates[:, t], Wh)
    dxs, dWx, db = _input_grads(xs, Wx, dax, has_bias)
    if reset_after:
        dWh = _sum_over_steps(h_prevs, dah)
        if has_bias:
            db = xp.stack([db, dah.sum(axis=(0, 1))])  # (2, 3H): [input bias, recurrent bias]
    else:
        # z and r multiply h_prev by Wh; n multiplies r * h_prev by Whn
        r = gates[:, :, H:2 * H]
        dWh = xp.concatenate([_sum_over_steps(h_prevs, dax[:, :, :2 * H]),
                              _sum_over_steps(r * h_prevs, dax[:, :, 2 * H:])], axis=1)
    return dxs, dWx, dWh, db, dh
