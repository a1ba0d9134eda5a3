"""One fused gate pass per time step of the tanh RNN, LSTM and GRU (both reset variants), forward and backward.

The host (`pyrnn.backends.numba_cuda.recurrent`) does the input projection of all steps as
one GEMM (``ax = xs @ Wx + b``, batch-major (N, T, G)), the per-step recurrent
GEMM into a scratch ``gh`` before each launch, and the weight gradients after
the loop; a kernel reads ``ax[n, t]`` in place and writes step t's outputs
straight into the batch-major result arrays. Backward kernels write ``dA[:, t]``
(the gradient of step t's pre-activations: the weight-gradient GEMMs use all
steps at once) and a contiguous copy ``dAt`` for the per-step ``dAt @ Wh.T``.

The math is `pyrnn.backends.numba.kernels.recurrent`'s (and so the reference's),
term by term. ``save`` False (inference) skips the writes to the saved arrays. A row of gates
(``gates[n, t]``, ``dA[n, t]``...) holds each gate's H values one after the other: `_gates3` and
`_gates4` read column j of each, the `_set_...` functions write it (device functions: the same PTX as
the indexing written out).
"""
import math

from numba import cuda

from .core import JIT, grid_cell, sigmoid


@cuda.jit(device=True)
def _gates3(a, n, t, H, j):
    # a (N, T, 3H) -> column j of row (n, t)'s three gates
    return a[n, t, j], a[n, t, H + j], a[n, t, 2 * H + j]


@cuda.jit(device=True)
def _set_gates3(a, n, t, H, j, x, y, z):
    # a (N, T, 3H) <- x, y, z in column j of row (n, t)'s three gates
    a[n, t, j] = x
    a[n, t, H + j] = y
    a[n, t, 2 * H + j] = z


@cuda.jit(device=True)
def _set_step_gates3(a, n, H, j, x, y, z):
    # a (N, 3H), one step's copy <- x, y, z in column j of row n's three gates
    a[n, j] = x
    a[n, H + j] = y
    a[n, 2 * H + j] = z


@cuda.jit(device=True)
def _gates4(a, n, t, H, j):
    # a (N, T, 4H) -> column j of row (n, t)'s four gates
    return a[n, t, j], a[n, t, H + j], a[n, t, 2 * H + j], a[n, t, 3 * H + j]


@cuda.jit(device=True)
def _set_gates4(a, n, t, H, j, w, x, y, z):
    # a (N, T, 4H) <- w, x, y, z in column j of row (n, t)'s four gates
    a[n, t, j] = w
    a[n, t, H + j] = x
    a[n, t, 2 * H + j] = y
    a[n, t, 3 * H + j] = z


@cuda.jit(device=True)
def _set_step_gates4(a, n, H, j, w, x, y, z):
    # a (N, 4H), one step's copy <- w, x, y, z in column j of row n's four gates
    a[n, j] = w
    a[n, H + j] = x
    a[n, 2 * H + j] = y
    a[n, 3 * H + j] = z


@cuda.jit(device=True)
def _before_step(s0, ss, n, t, j):
    # the state step t starts from: ss[n, t - 1, j], s0[n, j] at t = 0
    return ss[n, t - 1, j] if t > 0 else s0[n, j]


@cuda.jit(device=True)
def _gru_step_saved(gates, h0, hs, n, t, H, j):
    # what a GRU backward step reads of element (n, j) of step t: its gates z, r, n and h_prev
    z, r, n_gate = _gates3(gates, n, t, H, j)
    return z, r, n_gate, _before_step(h0, hs, n, t, j)


# ---- tanh RNN ------------------------------------------------------------------------------------

@cuda.jit(**JIT)
def rnn_forward_step(ax, gh, t, h, hs):
    # ax (N, T, H), gh (N, H) = h_{t-1} Wh, t step; h (N, H) out: h_t, hs (N, T, H) out: hs[:, t]
    N, H = h.shape
    n, j = grid_cell(N, H)
    if n >= 0:
        v = math.tanh(ax[n, t, j] + gh[n, j])
        h[n, j] = v
        hs[n, t, j] = v


@cuda.jit(**JIT)
def rnn_backward_step(dhs, hs, dh, t, one, dA, dAt):
    # dhs, hs (N, T, H), dh (N, H) gradient from step t+1; dA (N, T, H) out: dA[:, t], dAt (N, H) out: its copy
    N, H = dh.shape
    n, j = grid_cell(N, H)
    if n >= 0:
        y = hs[n, t, j]
        v = (dh[n, j] + dhs[n, t, j]) * (one - y * y)
        dA[n, t, j] = v
        dAt[n, j] = v


# ---- LSTM, gates [f, g, i, o] --------------------------------------------------------------------

@cuda.jit(**JIT)
def lstm_forward_step(ax, gh, t, one, save, h, c, hs, cs, gates):
    # ax (N, T, 4H), gh (N, 4H) = h_{t-1} Wh; h, c (N, H) in: step t-1, out: step t; hs (N, T, H) out;
    # saved when `save`: cs (N, T, H), gates (N, T, 4H) activated [f, g, i, o]
    N, H = h.shape
    n, j = grid_cell(N, H)
    if n >= 0:
        f = sigmoid(ax[n, t, j] + gh[n, j], one)
        g = math.tanh(ax[n, t, H + j] + gh[n, H + j])
        i = sigmoid(ax[n, t, 2 * H + j] + gh[n, 2 * H + j], one)
        o = sigmoid(ax[n, t, 3 * H + j] + gh[n, 3 * H + j], one)
        cc = f * c[n, j] + g * i
        hh = o * math.tanh(cc)
        c[n, j] = cc
        h[n, j] = hh
        hs[n, t, j] = hh
        if save:
            cs[n, t, j] = cc
            _set_gates4(gates, n, t, H, j, f, g, i, o)


@cuda.jit(**JIT)
def lstm_backward_step(dhs, c0, cs, gates, t, one, dh, dc, dA, dAt):
    # dhs, cs (N, T, H), c0 (N, H), gates (N, T, 4H); dh (N, H) gradient from step t+1;
    # dc (N, H) in: from step t+1, out: to step t-1; dA (N, T, 4H) out: dA[:, t], dAt (N, 4H) out: its copy
    N, H = dh.shape
    n, j = grid_cell(N, H)
    if n >= 0:
        f, g, i, o = _gates4(gates, n, t, H, j)
        tc = math.tanh(cs[n, t, j])            # recomputed: cheaper than saving it
        c_prev = _before_step(c0, cs, n, t, j)
        dhv = dh[n, j] + dhs[n, t, j]
        dcv = dc[n, j] + dhv * o * (one - tc * tc)
        a_f = dcv * c_prev * f * (one - f)
        a_g = dcv * i * (one - g * g)
        a_i = dcv * g * i * (one - i)
        a_o = dhv * tc * o * (one - o)
        _set_gates4(dA, n, t, H, j, a_f, a_g, a_i, a_o)
        _set_step_gates4(dAt, n, H, j, a_f, a_g, a_i, a_o)
        dc[n, j] = dcv * f


# ---- GRU, reset gate before the recurrent matmul: n = tanh(x Wxn + (r * h) Whn + bn) --------------

@cuda.jit(**JIT)
def gru_reset_before_gates_step(ax, gzr, h, t, one, save, z, rh, gates, rhs):
    # ax (N, T, 3H), gzr (N, 2H) = h_{t-1} Whzr, h (N, H) = h_{t-1}; z (N, H) out, rh (N, H) out: r * h_{t-1}
    # (the host multiplies it by Whn next); saved when `save`: gates[:, t, :2H] [z, r], rhs (N, T, H) = rh
    N, H = h.shape
    n, j = grid_cell(N, H)
    if n >= 0:
        zz = sigmoid(ax[n, t, j] + gzr[n, j], one)
        r = sigmoid(ax[n, t, H + j] + gzr[n, H + j], one)
        v = r * h[n, j]
        z[n, j] = zz
        rh[n, j] = v
        if save:
            gates[n, t, j] = zz
            gates[n, t, H + j] = r
            rhs[n, t, j] = v


@cuda.jit(**JIT)
def gru_reset_before_output_step(ax, ghn, z, t, one, save, h, hs, gates):
    # ax (N, T, 3H), ghn (N, H) = (r * h_{t-1}) Whn, z (N, H); h (N, H) in: h_{t-1}, out: h_t;
    # hs (N, T, H) out; saved when `save`: gates[:, t, 2H:] = n
    N, H = h.shape
    n, j = grid_cell(N, H)
    if n >= 0:
        nn = math.tanh(ax[n, t, 2 * H + j] + ghn[n, j])
        zz = z[n, j]
        hh = (one - zz) * h[n, j] + zz * nn
        h[n, j] = hh
        hs[n, t, j] = hh
        if save:
            gates[n, t, 2 * H + j] = nn


@cuda.jit(**JIT)
def gru_reset_before_backward_n_step(dhs, gates, part, gzr, t, one, dhv, dan, dA):
    # dhs (N, T, H), gates (N, T, 3H); part, gzr (N, H): the gradient from step t+1 is part + gzr;
    # dhv (N, H) out: total gradient on h_t, dan (N, H) out: gradient of n's pre-activation
    # (the host multiplies it by Whn.T next), dA (N, T, 3H) out: dA[:, t, 2H:]
    N, H = part.shape
    n, j = grid_cell(N, H)
    if n >= 0:
        zz, _, nn = _gates3(gates, n, t, H, j)
        d = (part[n, j] + gzr[n, j]) + dhs[n, t, j]
        dhv[n, j] = d
        v = d * zz * (one - nn * nn)
        dan[n, j] = v
        dA[n, t, 2 * H + j] = v


@cuda.jit(**JIT)
def gru_reset_before_backward_zr_step(h0, hs, gates, dhv, drh, t, one, dA, dzr, part):
    # h0 (N, H), hs (N, T, H), gates (N, T, 3H), dhv (N, H), drh (N, H) = dan Whn.T (gradient of r * h_prev);
    # dA (N, T, 3H) out: dA[:, t, :2H]; dzr (N, 2H) out: its copy (the host multiplies it by Whzr.T);
    # part (N, H) out: the gradient on h_{t-1} except dzr Whzr.T
    N, H = dhv.shape
    n, j = grid_cell(N, H)
    if n >= 0:
        zz, r, nn, h_prev = _gru_step_saved(gates, h0, hs, n, t, H, j)
        d = dhv[n, j]
        daz = d * (nn - h_prev) * zz * (one - zz)
        dar = drh[n, j] * h_prev * r * (one - r)
        dA[n, t, j] = daz
        dA[n, t, H + j] = dar
        dzr[n, j] = daz
        dzr[n, H + j] = dar
        part[n, j] = d * (one - zz) + drh[n, j] * r


# ---- GRU, reset gate after the recurrent matmul: n = tanh(x Wxn + b0n + r * (h Whn + b1n)) --------

@cuda.jit(**JIT)
def gru_reset_after_forward_step(ax, gh, b_rec, t, one, save, h, hs, gates, hns):
    # ax (N, T, 3H) = xs Wx + b0, gh (N, 3H) = h_{t-1} Wh, b_rec (3H,) recurrent bias (zeros when absent);
    # h (N, H) in: h_{t-1}, out: h_t; hs (N, T, H) out; saved when `save`: gates (N, T, 3H) [z, r, n],
    # hns (N, T, H) = h_{t-1} Whn + b1n
    N, H = h.shape
    n, j = grid_cell(N, H)
    if n >= 0:
        zz = sigmoid(ax[n, t, j] + (gh[n, j] + b_rec[j]), one)
        r = sigmoid(ax[n, t, H + j] + (gh[n, H + j] + b_rec[H + j]), one)
        hn = gh[n, 2 * H + j] + b_rec[2 * H + j]
        nn = math.tanh(ax[n, t, 2 * H + j] + r * hn)
        hh = (one - zz) * h[n, j] + zz * nn
        h[n, j] = hh
        hs[n, t, j] = hh
        if save:
            _set_gates3(gates, n, t, H, j, zz, r, nn)
            hns[n, t, j] = hn


@cuda.jit(**JIT)
def gru_reset_after_backward_step(dhs, h0, hs, gates, hns, gh, t, one, part, dAx, dAh, dAt):
    # dhs, hs, hns (N, T, H), h0 (N, H), gates (N, T, 3H); part, gh (N, H): the gradient from step t+1 is
    # part + gh (gh = dAt_{t+1} Wh.T); part out: dh_t * (1 - z), the part of dh_{t-1} without dAt Wh.T;
    # dAx (N, T, 3H) out: gradient of x Wx + b0, dAh (N, T, 3H) out: of h_prev Wh + b1, dAt (N, 3H) out: dAh[:, t]
    N, H = part.shape
    n, j = grid_cell(N, H)
    if n >= 0:
        zz, r, nn, h_prev = _gru_step_saved(gates, h0, hs, n, t, H, j)
        d = (part[n, j] + gh[n, j]) + dhs[n, t, j]
        dan = d * zz * (one - nn * nn)
        daz = d * (nn - h_prev) * zz * (one - zz)
        dar = dan * hns[n, t, j] * r * (one - r)
        dahn = dan * r
        _set_gates3(dAx, n, t, H, j, daz, dar, dan)
        _set_gates3(dAh, n, t, H, j, daz, dar, dahn)
        _set_step_gates3(dAt, n, H, j, daz, dar, dahn)
        part[n, j] = d * (one - zz)
