"""Whole-sequence time loops of the tanh RNN, LSTM and GRU (both reset variants).

The caller (`pyrnn.backends.numba`) does the input projection of all steps as
one GEMM before the loop (``ax = xs @ Wx + b``, batch-major (N, T, G)) and the
weight gradients as GEMMs after it. Inside a loop, per step: one ``np.dot``
(BLAS) for the recurrent matmul into a contiguous scratch buffer, then one fused
elementwise pass over (n, j) that reads ``ax[n, t]`` in place and writes the
outputs for step t directly into the batch-major result arrays.

Backward loops walk t = T-1 ... 0 and write ``dA[:, t]``, the gradient of the
pre-activations of step t, into one (N, T, G) buffer (for the weight-gradient
GEMMs) and into a contiguous (N, G) scratch for the per-step ``dA_t @ Wh.T``.

Expression order follows `pyrnn.reference.recurrent` term by term (no
fastmath), so results differ from it only by BLAS summation order and libm
rounding. State buffers (``h``, ``c``, ``dh``, ``dc``) are updated in place and
hold the final state on return. ``save`` False (inference) skips every write
to the saved arrays, which may then be empty.
"""
import numpy as np
from numba import njit

from .scalar import sigmoid, tanh

_JIT = dict(cache=True, nogil=True)


# ---- tanh RNN ------------------------------------------------------------------------------------

@njit(**_JIT)
def rnn_forward(ax, Wh, h, hs):
    # ax (N, T, H) = xs Wx + b, Wh (H, H), h (N, H) initial state in / final state out, hs (N, T, H) out
    N, T, H = hs.shape
    ty = hs.dtype.type
    gh = np.empty((N, H), dtype=hs.dtype)
    for t in range(T):
        np.dot(h, Wh, gh)
        for n in range(N):
            for j in range(H):
                v = tanh(ax[n, t, j] + gh[n, j], ty)
                h[n, j] = v
                hs[n, t, j] = v


@njit(**_JIT)
def rnn_backward(dhs, hs, Wh, dh, dA):
    # dhs, hs (N, T, H), Wh (H, H), dh (N, H) dhT in / dh0 out, dA (N, T, H) out
    N, T, H = hs.shape
    ty = hs.dtype.type
    one = ty(1.0)
    WhT = Wh.T
    dAt = np.empty((N, H), dtype=hs.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            for j in range(H):
                y = hs[n, t, j]
                v = (dh[n, j] + dhs[n, t, j]) * (one - y * y)
                dA[n, t, j] = v
                dAt[n, j] = v
        np.dot(dAt, WhT, dh)


# ---- LSTM, gates [f, g, i, o] --------------------------------------------------------------------

@njit(**_JIT)
def lstm_forward(ax, Wh, h, c, hs, cs, tcs, gates, save):
    # ax (N, T, 4H), Wh (H, 4H), h, c (N, H) in/out, hs (N, T, H) out;
    # saved when `save`: cs, tcs = tanh(cs) (N, T, H), gates (N, T, 4H) activated [f, g, i, o]
    N, T, H = hs.shape
    ty = hs.dtype.type
    one = ty(1.0)
    gh = np.empty((N, 4 * H), dtype=hs.dtype)
    for t in range(T):
        np.dot(h, Wh, gh)
        for n in range(N):
            for j in range(H):
                f = sigmoid(ax[n, t, j] + gh[n, j], one)
                g = tanh(ax[n, t, H + j] + gh[n, H + j], ty)
                i = sigmoid(ax[n, t, 2 * H + j] + gh[n, 2 * H + j], one)
                o = sigmoid(ax[n, t, 3 * H + j] + gh[n, 3 * H + j], one)
                cc = f * c[n, j] + g * i
                tc = tanh(cc, ty)
                hh = o * tc
                c[n, j] = cc
                h[n, j] = hh
                hs[n, t, j] = hh
                if save:
                    cs[n, t, j] = cc
                    tcs[n, t, j] = tc
                    gates[n, t, j] = f
                    gates[n, t, H + j] = g
                    gates[n, t, 2 * H + j] = i
                    gates[n, t, 3 * H + j] = o


@njit(**_JIT)
def lstm_backward(dhs, c0, cs, tcs, gates, Wh, dh, dc, dA):
    # dhs (N, T, H), c0 (N, H), cs, tcs (N, T, H), gates (N, T, 4H), Wh (H, 4H),
    # dh, dc (N, H) dhT, dcT in / dh0, dc0 out, dA (N, T, 4H) out
    N, T, H = cs.shape
    ty = cs.dtype.type
    one = ty(1.0)
    WhT = Wh.T
    dAt = np.empty((N, 4 * H), dtype=cs.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            for j in range(H):
                f = gates[n, t, j]
                g = gates[n, t, H + j]
                i = gates[n, t, 2 * H + j]
                o = gates[n, t, 3 * H + j]
                tc = tcs[n, t, j]
                c_prev = cs[n, t - 1, j] if t > 0 else c0[n, j]
                dhv = dh[n, j] + dhs[n, t, j]
                dcv = dc[n, j] + dhv * o * (one - tc * tc)
                do = dhv * tc
                df = dcv * c_prev
                dg = dcv * i
                di = dcv * g
                a_f = df * f * (one - f)
                a_g = dg * (one - g * g)
                a_i = di * i * (one - i)
                a_o = do * o * (one - o)
                dA[n, t, j] = a_f
                dA[n, t, H + j] = a_g
                dA[n, t, 2 * H + j] = a_i
                dA[n, t, 3 * H + j] = a_o
                dAt[n, j] = a_f
                dAt[n, H + j] = a_g
                dAt[n, 2 * H + j] = a_i
                dAt[n, 3 * H + j] = a_o
                dc[n, j] = dcv * f
        np.dot(dAt, WhT, dh)


# ---- GRU, gates [z, r, n], h' = (1 - z) * h + z * n -----------------------------------------------

@njit(**_JIT)
def gru_forward_reset_before(ax, Whzr, Whn, h, hs, gates, rhs, save):
    # n = tanh(x Wxn + (r * h) Whn + bn). ax (N, T, 3H), Whzr (H, 2H), Whn (H, H), h (N, H) in/out,
    # hs (N, T, H) out; saved when `save`: gates (N, T, 3H) [z, r, n], rhs (N, T, H) r * h_prev
    N, T, H = hs.shape
    ty = hs.dtype.type
    one = ty(1.0)
    gzr = np.empty((N, 2 * H), dtype=hs.dtype)
    rh = np.empty((N, H), dtype=hs.dtype)
    z = np.empty((N, H), dtype=hs.dtype)
    ghn = np.empty((N, H), dtype=hs.dtype)
    for t in range(T):
        np.dot(h, Whzr, gzr)
        for n in range(N):
            for j in range(H):
                zz = sigmoid(ax[n, t, j] + gzr[n, j], one)
                r = sigmoid(ax[n, t, H + j] + gzr[n, H + j], one)
                z[n, j] = zz
                rh[n, j] = r * h[n, j]
                if save:
                    gates[n, t, j] = zz
                    gates[n, t, H + j] = r
                    rhs[n, t, j] = rh[n, j]
        np.dot(rh, Whn, ghn)       # r resets h before it meets Whn: this matmul waits for r
        for n in range(N):
            for j in range(H):
                nn = tanh(ax[n, t, 2 * H + j] + ghn[n, j], ty)
                zz = z[n, j]
                hh = (one - zz) * h[n, j] + zz * nn
                h[n, j] = hh
                hs[n, t, j] = hh
                if save:
                    gates[n, t, 2 * H + j] = nn


@njit(**_JIT)
def gru_backward_reset_before(dhs, h0, hs, gates, Whzr, Whn, dh, dA):
    # dhs, hs (N, T, H), h0 (N, H), gates (N, T, 3H), Whzr (H, 2H), Whn (H, H),
    # dh (N, H) dhT in / dh0 out, dA (N, T, 3H) out: gradient of the pre-activations [z, r, n]
    N, T, H = hs.shape
    ty = hs.dtype.type
    one = ty(1.0)
    WhzrT = Whzr.T
    WhnT = Whn.T
    dhv = np.empty((N, H), dtype=hs.dtype)     # total gradient on h_t
    dan = np.empty((N, H), dtype=hs.dtype)
    drh = np.empty((N, H), dtype=hs.dtype)     # gradient of r * h_prev
    dzr = np.empty((N, 2 * H), dtype=hs.dtype)
    part = dh.copy()                           # dh_prev = part + dzr @ Whzr.T; starts as dhT + 0
    gzr = np.zeros((N, H), dtype=hs.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            for j in range(H):
                zz = gates[n, t, j]
                nn = gates[n, t, 2 * H + j]
                d = (part[n, j] + gzr[n, j]) + dhs[n, t, j]
                dhv[n, j] = d
                v = d * zz * (one - nn * nn)
                dan[n, j] = v
                dA[n, t, 2 * H + j] = v
        np.dot(dan, WhnT, drh)
        for n in range(N):
            for j in range(H):
                zz = gates[n, t, j]
                r = gates[n, t, H + j]
                nn = gates[n, t, 2 * H + j]
                h_prev = hs[n, t - 1, j] if t > 0 else h0[n, j]
                d = dhv[n, j]
                dz = d * (nn - h_prev)
                daz = dz * zz * (one - zz)
                dar = drh[n, j] * h_prev * r * (one - r)
                dA[n, t, j] = daz
                dA[n, t, H + j] = dar
                dzr[n, j] = daz
                dzr[n, H + j] = dar
                part[n, j] = d * (one - zz) + drh[n, j] * r
        np.dot(dzr, WhzrT, gzr)
    for n in range(N):
        for j in range(H):
            dh[n, j] = part[n, j] + gzr[n, j]


@njit(**_JIT)
def gru_forward_reset_after(ax, Wh, b_rec, h, hs, gates, hns, save):
    # n = tanh(x Wxn + b0n + r * (h Whn + b1n)). ax (N, T, 3H) = xs Wx + b0, Wh (H, 3H),
    # b_rec (3H,) recurrent bias (zeros when absent), h (N, H) in/out, hs (N, T, H) out;
    # saved when `save`: gates (N, T, 3H) [z, r, n], hns (N, T, H) = h_prev Whn + b1n
    N, T, H = hs.shape
    ty = hs.dtype.type
    one = ty(1.0)
    gh = np.empty((N, 3 * H), dtype=hs.dtype)
    for t in range(T):
        np.dot(h, Wh, gh)                      # one recurrent matmul for all three gates
        for n in range(N):
            for j in range(H):
                zz = sigmoid(ax[n, t, j] + (gh[n, j] + b_rec[j]), one)
                r = sigmoid(ax[n, t, H + j] + (gh[n, H + j] + b_rec[H + j]), one)
                hn = gh[n, 2 * H + j] + b_rec[2 * H + j]
                nn = tanh(ax[n, t, 2 * H + j] + r * hn, ty)
                hh = (one - zz) * h[n, j] + zz * nn
                h[n, j] = hh
                hs[n, t, j] = hh
                if save:
                    gates[n, t, j] = zz
                    gates[n, t, H + j] = r
                    gates[n, t, 2 * H + j] = nn
                    hns[n, t, j] = hn


@njit(**_JIT)
def gru_backward_reset_after(dhs, h0, hs, gates, hns, Wh, dh, dAx, dAh):
    # dhs, hs, hns (N, T, H), h0 (N, H), gates (N, T, 3H), Wh (H, 3H), dh (N, H) dhT in / dh0 out,
    # dAx (N, T, 3H) out: gradient of x Wx + b0;  dAh (N, T, 3H) out: gradient of h_prev Wh + b1
    N, T, H = hs.shape
    ty = hs.dtype.type
    one = ty(1.0)
    WhT = Wh.T
    dAt = np.empty((N, 3 * H), dtype=hs.dtype)
    part = dh.copy()                           # dh_prev = part + dAh_t @ Wh.T; starts as dhT + 0
    gh = np.zeros((N, H), dtype=hs.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            for j in range(H):
                zz = gates[n, t, j]
                r = gates[n, t, H + j]
                nn = gates[n, t, 2 * H + j]
                h_prev = hs[n, t - 1, j] if t > 0 else h0[n, j]
                d = (part[n, j] + gh[n, j]) + dhs[n, t, j]
                dz = d * (nn - h_prev)
                dan = d * zz * (one - nn * nn)
                daz = dz * zz * (one - zz)
                dar = dan * hns[n, t, j] * r * (one - r)
                dAx[n, t, j] = daz
                dAx[n, t, H + j] = dar
                dAx[n, t, 2 * H + j] = dan
                dahn = dan * r
                dAh[n, t, j] = daz
                dAh[n, t, H + j] = dar
                dAh[n, t, 2 * H + j] = dahn
                dAt[n, j] = daz
                dAt[n, H + j] = dar
                dAt[n, 2 * H + j] = dahn
                part[n, j] = d * (one - zz)
        np.dot(dAt, WhT, gh)
    for n in range(N):
        for j in range(H):
            dh[n, j] = part[n, j] + gh[n, j]
