"""NumPy reference of the recurrent ops: tanh RNN, LSTM, GRU (both reset variants).

The oracle every kernel is judged against, so it is written to be read. Each op
comes in two forms:

* whole sequences, batch-major like the book: xs (N, T, D), hs (N, T, H);
* packed sequences of different lengths, as PyTorch's PackedSequence and cuDNN
  hold them: the sequences sorted by length, longest first, and their steps
  stacked time-major, xs (P, D) with P the number of real steps. Step t has
  batch_sizes[t] rows (the sequences longer than t), so they are the first
  batch_sizes[t] sequences, and a finished sequence's state simply stops
  changing. Padded steps cost nothing: they are not there.

The recurrence is written once, for packed sequences; a whole batch of length-T
sequences is the packed batch whose every step has all N rows. Forward keeps what
backward needs in ``saved`` (a dict); backward is backpropagation through time
(BPTT), walking the steps in reverse. Every op follows the same plan (the one the
fast kernels follow too):
  1. the input projection of all steps is one matmul: ``xs @ Wx + b``;
  2. a per-step loop does only ``h @ Wh`` and the gate math;
  3. backward walks the steps in reverse and records ``da``, the gradient of each
     step's pre-activations; the weight gradients are sums over all steps of outer
     products, done after the loop as single matmuls.

Arguments arrive validated by `pyrnn.ops` (shapes, one float dtype, one array
module). All arrays are made with the inputs' array module (``xp``: NumPy or
CuPy) and dtype, so float32 stays float32. Inputs are never modified.
"""
from __future__ import annotations

from .._arrays import get_xp
from .core import sigmoid



# ---- the GEMMs around the time loop ----------------------------------------------------------------
# Public: the numba and numba-cuda backends run the same plan around their fused time loops and use
# these for the "before" and "after" (they return fresh C-contiguous arrays a kernel may write), and
# the GRU helpers below for its two variants' weights and biases.

def rows(a):
    # a (N, T, K) -> (N*T, K), explicit sizes so empty dims reshape too; a view unless a is strided
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


def state_or_zeros(s, N, H, dtype, xp):
    # s (N, H) or None -> a fresh C-contiguous (N, H) array: None means zeros; a copy, so no output
    # aliases an input (the kernels update it in place)
    if s is None:
        return xp.zeros((N, H), dtype=dtype)
    return xp.array(s, dtype=dtype, order="C")


def input_projection(xs, Wx, b):
    # xs (N, T, D), Wx (D, G), b (G,) or None -> (N, T, G): x_t Wx + b for every step in one GEMM
    N, T, _ = xs.shape
    a = (rows(xs) @ Wx).reshape(N, T, Wx.shape[1])
    if b is not None:
        a += b  # a is fresh: adding in place touches no input
    return a


def states_before_each_step(s0, ss):
    # s0 (N, H), ss (N, T, H) -> (N, T, H): the state step t starts from, i.e. s0, s_0, ..., s_{T-2}
    prev = get_xp(ss).empty_like(ss)
    if ss.shape[1]:
        prev[:, 0] = s0
        prev[:, 1:] = ss[:, :-1]
    return prev


def sum_over_steps(a, b):
    # a (N, T, P), b (N, T, Q) -> (P, Q): sum over n and t of outer(a[n, t], b[n, t]), one GEMM
    return rows(a).T @ rows(b)


def input_grads(xs, Wx, dax, has_bias):
    # xs (N, T, D), Wx (D, G), dax (N, T, G) gradient of xs @ Wx + b -> dxs (N, T, D), dWx (D, G), db (G,) or None
    N, T, _ = dax.shape
    dxs = (rows(dax) @ Wx.T).reshape(N, T, Wx.shape[0])
    dWx = sum_over_steps(xs, dax)
    db = dax.sum(axis=(0, 1)) if has_bias else None
    return dxs, dWx, db


def grads_after_loop(xs, Wx, h0, hs, da, has_bias):
    # da (N, T, G) gradient of every step's pre-activations x_t Wx + h_{t-1} Wh + b, h0 (N, H), hs (N, T, H)
    # -> dxs (N, T, D), dWx (D, G), dWh (H, G), db (G,) or None: the GEMMs after the backward time loop
    dxs, dWx, db = input_grads(xs, Wx, da, has_bias)
    return dxs, dWx, sum_over_steps(states_before_each_step(h0, hs), da), db


# ---- packed sequences ------------------------------------------------------------------------------

def packed_steps(batch_sizes):
    # batch_sizes (T,) -> [(first row, rows)] of each step in the packed data
    out, start = [], 0
    for n in batch_sizes:
        out.append((start, int(n)))
        start += int(n)
    return out


def packed_previous_states(s0, ss, batch_sizes):
    # s0 (N, H), ss (P, H) packed states -> (P, H): the state each row's step starts from (s0's rows for
    # step 0, else the same sequence's row of the step before: the first rows of that step, as sorted)
    prev = get_xp(ss).empty_like(ss)
    steps = packed_steps(batch_sizes)
    for t, (start, n) in enumerate(steps):
        prev[start:start + n] = s0[:n] if t == 0 else ss[steps[t - 1][0]:steps[t - 1][0] + n]
    return prev


def _packed_batch(batch_sizes, s0):
    # the number of sequences a packed batch holds: those of its first step (s0's rows when it has none)
    if s0 is not None:
        return s0.shape[0]
    return int(batch_sizes[0]) if len(batch_sizes) else 0


def _packed_projection(xs, Wx, b):
    # xs (P, D) @ Wx (D, G) + b -> (P, G): the input projection of every step in one GEMM
    a = xs @ Wx
    if b is not None:
        a += b  # a is fresh: adding in place touches no input
    return a


def _packed_input_grads(xs, Wx, da, has_bias):
    # xs (P, D), Wx (D, G), da (P, G) gradient of xs @ Wx + b -> dxs (P, D), dWx (D, G), db (G,) or None
    return da @ Wx.T, xs.T @ da, (da.sum(axis=0) if has_bias else None)


# whole sequences are packed ones whose every step has all N rows: (N, T, K) <-> (T*N, K)

def _time_major(a):
    # a (N, T, K) -> (T*N, K): step 0's rows, then step 1's, ...
    N, T, K = a.shape
    return get_xp(a).ascontiguousarray(a.transpose(1, 0, 2)).reshape(T * N, K)


def _batch_major(a, N, T):
    # a (T*N, K) -> (N, T, K), C-contiguous
    return get_xp(a).ascontiguousarray(a.reshape(T, N, a.shape[1]).transpose(1, 0, 2))


def _full_batch_sizes(N, T):
    return [N] * T


def _whole(packed_forward, xs, *args):
    # a whole-sequence forward through its packed form: hs (N, T, H), the final states, saved
    N, T, _ = xs.shape
    hs, *rest, saved = packed_forward(_time_major(xs), _full_batch_sizes(N, T), *args)
    return (_batch_major(hs, N, T), *rest, None if saved is None else dict(saved, whole=(N, T)))


def _whole_backward(packed_backward, dhs, *grads, saved):
    # a whole-sequence backward through its packed form: dxs (N, T, D), then the other gradients
    N, T = saved["whole"]
    dxs, *rest = packed_backward(_time_major(dhs), *grads, saved)
    return (_batch_major(dxs, N, T), *rest)


# ---- tanh RNN -----------------------------------------------------------------------------------

def rnn_packed_forward(xs, batch_sizes, Wx, Wh, b, h0, train):
    # xs (P, D) packed, batch_sizes (T,), Wx (D, H), Wh (H, H), b (H,) or None, h0 (N, H) or None
    # -> hs (P, H), hT (N, H), saved
    xp = get_xp(xs)
    N, H = _packed_batch(batch_sizes, h0), Wh.shape[0]
    h_init = state_or_zeros(h0, N, H, xs.dtype, xp)
    h = h_init.copy()                                 # row n: sequence n's latest state
    ax = _packed_projection(xs, Wx, b)               # (P, H)
    hs = xp.empty_like(ax)
    for start, n in packed_steps(batch_sizes):
        rows = slice(start, start + n)
        h[:n] = xp.tanh(ax[rows] + h[:n] @ Wh)        # h_t = tanh(x_t Wx + h_{t-1} Wh + b)
        hs[rows] = h[:n]
    if not train:
        return hs, h, None
    saved = dict(xs=xs, batch_sizes=list(batch_sizes), Wx=Wx, Wh=Wh, has_bias=b is not None, h0=h_init, hs=hs)
    return hs, h, saved


def rnn_packed_backward(dhs, dhT, saved):
    # dhs (P, H), dhT (N, H) or None -> dxs (P, D), dWx (D, H), dWh (H, H), db (H,) or None, dh0 (N, H)
    xp = get_xp(dhs)
    xs, Wx, Wh, hs, batch_sizes = (saved[k] for k in ("xs", "Wx", "Wh", "hs", "batch_sizes"))
    N, H = saved["h0"].shape
    dh = state_or_zeros(dhT, N, H, hs.dtype, xp)    # row n: gradient reaching sequence n's latest state
    da = xp.empty_like(hs)                            # da[rows of t]: gradient of step t's pre-activation
    for start, n in reversed(packed_steps(batch_sizes)):
        rows = slice(start, start + n)
        dh_t = dh[:n] + dhs[rows]                     # h_t is both an output and the next step's input
        da[rows] = dh_t * (1 - hs[rows] ** 2)         # tanh' = 1 - tanh^2
        dh[:n] = da[rows] @ Wh.T                      # on to h_{t-1}
    dxs, dWx, db = _packed_input_grads(xs, Wx, da, saved["has_bias"])
    dWh = packed_previous_states(saved["h0"], hs, batch_sizes).T @ da
    return dxs, dWx, dWh, db, dh


def rnn_forward(xs, Wx, Wh, b, h0, train):
    # xs (N, T, D), Wx (D, H), Wh (H, H), b (H,) or None, h0 (N, H) or None -> hs (N, T, H), hT (N, H), saved
    return _whole(rnn_packed_forward, xs, Wx, Wh, b, _or_empty(h0, xs, Wh), train)


def rnn_backward(dhs, dhT, saved):
    # dhs (N, T, H), dhT (N, H) or None -> dxs (N, T, D), dWx (D, H), dWh (H, H), db (H,) or None, dh0 (N, H)
    return _whole_backward(rnn_packed_backward, dhs, dhT, saved=saved)


# ---- LSTM, gates [f, g, i, o] -------------------------------------------------------------------

def lstm_packed_forward(xs, batch_sizes, Wx, Wh, b, h0, c0, train):
    # xs (P, D) packed, batch_sizes (T,), Wx (D, 4H), Wh (H, 4H), b (4H,) or None, h0, c0 (N, H) or None
    # -> hs (P, H), hT (N, H), cT (N, H), saved
    xp = get_xp(xs)
    N, H = _packed_batch(batch_sizes, h0), Wh.shape[0]
    h_init = state_or_zeros(h0, N, H, xs.dtype, xp)
    c_init = state_or_zeros(c0, N, H, xs.dtype, xp)
    h, c = h_init.copy(), c_init.copy()               # row n: sequence n's latest states
    ax = _packed_projection(xs, Wx, b)               # (P, 4H)
    hs = xp.empty((len(xs), H), dtype=xs.dtype)
    cs = xp.empty_like(hs)
    gates = xp.empty_like(ax)                         # activated gates [f, g, i, o], kept for backward
    for start, n in packed_steps(batch_sizes):
        rows = slice(start, start + n)
        f, g, i, o = xp.split(ax[rows] + h[:n] @ Wh, 4, axis=1)
        f, g, i, o = sigmoid(f), xp.tanh(g), sigmoid(i), sigmoid(o)
        c[:n] = f * c[:n] + g * i                     # forget part of the old memory, write the new
        h[:n] = o * xp.tanh(c[:n])                    # expose part of the memory
        hs[rows], cs[rows] = h[:n], c[:n]
        gates[rows] = xp.concatenate([f, g, i, o], axis=1)
    if not train:
        return hs, h, c, None
    saved = dict(xs=xs, batch_sizes=list(batch_sizes), Wx=Wx, Wh=Wh, has_bias=b is not None, h0=h_init,
                 c0=c_init, hs=hs, cs=cs, gates=gates)
    return hs, h, c, saved


def lstm_packed_backward(dhs, dhT, dcT, saved):
    # dhs (P, H), dhT, dcT (N, H) or None
    # -> dxs (P, D), dWx (D, 4H), dWh (H, 4H), db (4H,) or None, dh0 (N, H), dc0 (N, H)
    xp = get_xp(dhs)
    xs, Wx, Wh, hs, cs, gates = (saved[k] for k in ("xs", "Wx", "Wh", "hs", "cs", "gates"))
    batch_sizes = saved["batch_sizes"]
    N, H = saved["h0"].shape
    c_prevs = packed_previous_states(saved["c0"], cs, batch_sizes)
    dh = state_or_zeros(dhT, N, H, hs.dtype, xp)    # row n: gradient reaching sequence n's latest h
    dc = state_or_zeros(dcT, N, H, hs.dtype, xp)    # ... and its latest c
    da = xp.empty_like(gates)                         # gradient of each step's pre-activations [f, g, i, o]
    for start, n in reversed(packed_steps(batch_sizes)):
        rows = slice(start, start + n)
        f, g, i, o = xp.split(gates[rows], 4, axis=1)
        tanh_c = xp.tanh(cs[rows])
        dh_t = dh[:n] + dhs[rows]
        dc_t = dc[:n] + dh_t * o * (1 - tanh_c ** 2)  # h = o * tanh(c)
        do = dh_t * tanh_c
        df = dc_t * c_prevs[rows]                     # c = f * c_prev + g * i
        dg = dc_t * i
        di = dc_t * g
        # through the activations: sigmoid' = s (1 - s), tanh' = 1 - tanh^2
        da[rows] = xp.concatenate([df * f * (1 - f), dg * (1 - g ** 2), di * i * (1 - i), do * o * (1 - o)], axis=1)
        dc[:n] = dc_t * f                             # on to c_{t-1}
        dh[:n] = da[rows] @ Wh.T                      # on to h_{t-1}
    dxs, dWx, db = _packed_input_grads(xs, Wx, da, saved["has_bias"])
    dWh = packed_previous_states(saved["h0"], hs, batch_sizes).T @ da
    return dxs, dWx, dWh, db, dh, dc


def lstm_forward(xs, Wx, Wh, b, h0, c0, train):
    # xs (N, T, D), Wx (D, 4H), Wh (H, 4H), b (4H,) or None, h0, c0 (N, H) or None
    # -> hs (N, T, H), hT (N, H), cT (N, H), saved
    return _whole(lstm_packed_forward, xs, Wx, Wh, b, _or_empty(h0, xs, Wh), _or_empty(c0, xs, Wh), train)


def lstm_backward(dhs, dhT, dcT, saved):
    # dhs (N, T, H), dhT, dcT (N, H) or None
    # -> dxs (N, T, D), dWx (D, 4H), dWh (H, 4H), db (4H,) or None, dh0 (N, H), dc0 (N, H)
    return _whole_backward(lstm_packed_backward, dhs, dhT, dcT, saved=saved)


def _or_empty(s, xs, Wh):
    # a whole batch with no steps (T = 0) or no rows has no first step to size its packed batch by:
    # its initial state, zeros (N, H) when there is none
    N, T, _ = xs.shape
    if s is None and (N == 0 or T == 0):
        return get_xp(xs).zeros((N, Wh.shape[0]), dtype=xs.dtype)
    return s


# ---- GRU, gates [z, r, n], h' = (1 - z) * h + z * n ---------------------------------------------
#
# reset_after=False (book, Cho et al.): n = tanh(x Wxn + (r * h) Whn + bn), b (3H,) is all input bias.
# reset_after=True (cuDNN, PyTorch, Keras): n = tanh(x Wxn + b0n + r * (h Whn + b1n)),
#   b (2, 3H): b[0] input bias, b[1] recurrent bias (b0 + b1 adds up for z and r; only n tells them apart).

def gru_biases(b, reset_after):
    # b (3H,) | (2, 3H) | None -> (input bias (3H,) or None, recurrent bias (3H,) or None)
    if b is None:
        return None, None
    return (b[0], b[1]) if reset_after else (b, None)


def gru_reset_before_weights(Wh):
    # Wh (H, 3H) -> Whzr (H, 2H), Whn (H, H), C-contiguous: with the reset gate before the matmul, z and r
    # multiply h_prev by Whzr, and n multiplies r * h_prev by Whn (one matmul each, the second waits for r)
    xp = get_xp(Wh)
    H = Wh.shape[0]
    return xp.ascontiguousarray(Wh[:, :2 * H]), xp.ascontiguousarray(Wh[:, 2 * H:])


def gru_grads_after_loop(xs, Wx, h_prevs, dax, has_bias, dah=None, rh=None):
    # The GEMMs after the GRU backward time loop. h_prevs (N, T, H) the state each step starts from,
    # dax (N, T, 3H) the gradient of x Wx + b_in. reset_after: dah (N, T, 3H), the gradient of
    # h_prev Wh + b_rec (db (2, 3H): [input bias, recurrent bias]); reset_before (dah None): rh (N, T, H)
    # = r * h_prev, what Whn multiplies (z and r multiply h_prev).
    # -> dxs (N, T, D), dWx (D, 3H), dWh (H, 3H), db (3H,) or (2, 3H) or None
    xp = get_xp(dax)
    dxs, dWx, db = input_grads(xs, Wx, dax, has_bias)
    if dah is not None:
        dWh = sum_over_steps(h_prevs, dah)
        if has_bias:
            db = xp.stack([db, dah.sum(axis=(0, 1))])
    else:
        H = h_prevs.shape[2]
        dWh = xp.concatenate([sum_over_steps(h_prevs, dax[:, :, :2 * H]), sum_over_steps(rh, dax[:, :, 2 * H:])],
                             axis=1)
    return dxs, dWx, dWh, db


def _gru_gates_reset_before(ax_t, h, Wh):
    # ax_t (N, 3H) = x_t Wx + b, h (N, H), Wh (H, 3H) -> z, r, n, hn (each (N, H)); hn = (r * h) Whn
    xp = get_xp(ax_t)
    H = h.shape[1]
    xz, xr, xn = xp.split(ax_t, 3, axis=1)
    hz, hr = xp.split(h @ Wh[:, :2 * H], 2, axis=1)
    z, r = sigmoid(xz + hz), sigmoid(xr + hr)
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
    z, r = sigmoid(xz + hz), sigmoid(xr + hr)
    return z, r, xp.tanh(xn + r * hn), hn             # r scales the recurrent part after the matmul


def gru_packed_forward(xs, batch_sizes, Wx, Wh, b, h0, reset_after, train):
    # xs (P, D) packed, batch_sizes (T,), Wx (D, 3H), Wh (H, 3H), b (3H,) or (2, 3H) with reset_after or None,
    # h0 (N, H) or None -> hs (P, H), hT (N, H), saved
    xp = get_xp(xs)
    N, H = _packed_batch(batch_sizes, h0), Wh.shape[0]
    b_in, b_rec = gru_biases(b, reset_after)
    h_init = state_or_zeros(h0, N, H, xs.dtype, xp)
    h = h_init.copy()                                 # row n: sequence n's latest state
    ax = _packed_projection(xs, Wx, b_in)            # (P, 3H)
    hs = xp.empty((len(xs), H), dtype=xs.dtype)
    gates = xp.empty_like(ax)                         # activated gates [z, r, n], kept for backward
    hns = xp.empty_like(hs)                           # recurrent part of n's pre-activation (reset_after's dr needs it)
    for start, n in packed_steps(batch_sizes):
        rows = slice(start, start + n)
        if reset_after:
            z, r, nt, hn = _gru_gates_reset_after(ax[rows], h[:n], Wh, b_rec)
        else:
            z, r, nt, hn = _gru_gates_reset_before(ax[rows], h[:n], Wh)
        h[:n] = (1 - z) * h[:n] + z * nt              # z interpolates between keeping h and taking n
        hs[rows] = h[:n]
        gates[rows] = xp.concatenate([z, r, nt], axis=1)
        hns[rows] = hn
    if not train:
        return hs, h, None
    saved = dict(xs=xs, batch_sizes=list(batch_sizes), Wx=Wx, Wh=Wh, has_bias=b is not None,
                 reset_after=reset_after, h0=h_init, hs=hs, gates=gates, hns=hns)
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


def gru_packed_backward(dhs, dhT, saved):
    # dhs (P, H), dhT (N, H) or None
    # -> dxs (P, D), dWx (D, 3H), dWh (H, 3H), db (3H,) or (2, 3H) or None, dh0 (N, H)
    xp = get_xp(dhs)
    xs, Wx, Wh, hs, gates, hns = (saved[k] for k in ("xs", "Wx", "Wh", "hs", "gates", "hns"))
    reset_after, has_bias, batch_sizes = saved["reset_after"], saved["has_bias"], saved["batch_sizes"]
    N, H = saved["h0"].shape
    h_prevs = packed_previous_states(saved["h0"], hs, batch_sizes)
    dh = state_or_zeros(dhT, N, H, hs.dtype, xp)    # row n: gradient reaching sequence n's latest state
    dax = xp.empty_like(gates)                        # gradient of each step's x_t Wx + b_in
    dah = xp.empty_like(gates)                        # gradient of what multiplies Wh (reset_after)
    for start, n in reversed(packed_steps(batch_sizes)):
        rows = slice(start, start + n)
        dh_t = dh[:n] + dhs[rows]
        if reset_after:
            dh[:n], dax[rows], dah[rows] = _gru_step_backward_reset_after(dh_t, h_prevs[rows], gates[rows],
                                                                          hns[rows], Wh)
        else:
            dh[:n], dax[rows] = _gru_step_backward_reset_before(dh_t, h_prevs[rows], gates[rows], Wh)
    dxs, dWx, db = _packed_input_grads(xs, Wx, dax, has_bias)
    if reset_after:
        dWh = h_prevs.T @ dah
        if has_bias:
            db = xp.stack([db, dah.sum(axis=0)])     # (2, 3H): [input bias, recurrent bias]
    else:
        # z and r multiply h_prev by Wh; n multiplies r * h_prev by Whn
        r = gates[:, H:2 * H]
        dWh = xp.concatenate([h_prevs.T @ dax[:, :2 * H], (r * h_prevs).T @ dax[:, 2 * H:]], axis=1)
    return dxs, dWx, dWh, db, dh


def gru_forward(xs, Wx, Wh, b, h0, reset_after, train):
    # xs (N, T, D), Wx (D, 3H), Wh (H, 3H), b (3H,) or (2, 3H) with reset_after or None, h0 (N, H) or None
    # -> hs (N, T, H), hT (N, H), saved
    return _whole(gru_packed_forward, xs, Wx, Wh, b, _or_empty(h0, xs, Wh), reset_after, train)


def gru_backward(dhs, dhT, saved):
    # dhs (N, T, H), dhT (N, H) or None
    # -> dxs (N, T, D), dWx (D, 3H), dWh (H, 3H), db (3H,) or (2, 3H) or None, dh0 (N, H)
    return _whole_backward(gru_packed_backward, dhs, dhT, saved=saved)
