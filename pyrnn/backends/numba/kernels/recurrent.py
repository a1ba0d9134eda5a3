"""Whole-sequence time loops of the tanh RNN, LSTM and GRU (both reset variants).

The caller (`pyrnn.backends.numba.recurrent`) does the input projection of all steps as
one GEMM before the loop (``ax = xs @ Wx + b``, batch-major (N, T, G)) and the
weight gradients as GEMMs after it. Inside a loop, per step: one ``np.dot``
(BLAS) for the recurrent matmul into a contiguous scratch buffer, then one fused
elementwise pass over (n, j) that reads ``ax[n, t]`` in place and writes the
outputs for step t directly into the batch-major result arrays.

Inside a step, each (n, t) row is taken as 1-D views, one per gate segment
(``ax[n, t, H:2H]``...), and the j loop runs over those: indexing the 3-D arrays
directly (``ax[n, t, H + j]``) kept LLVM from vectorizing the loop (measured: the
LSTM forward gate pass 51 -> 6 ns per element with float32 activations).

Backward loops walk t = T-1 ... 0 and write ``dA[:, t]``, the gradient of the
pre-activations of step t, into one (N, T, G) buffer (for the weight-gradient
GEMMs) and into a contiguous (N, G) scratch for the per-step ``dA_t @ Wh.T``.

Expression order follows `pyrnn.reference.recurrent` term by term (no
fastmath), so results differ from it only by BLAS summation order and the
activations' rounding (`core`: vectorizable float32 exp/tanh within 2-3 ulp).
State buffers (``h``, ``c``, ``dh``, ``dc``) are updated in place and hold the
final state on return. ``save`` False (inference) skips every write
to the saved arrays, which may then be empty.
"""
import numpy as np
from numba import njit

from .core import VECTORIZE, sigmoid, tanh
# (inlined into the cached kernels below: numba's on-disk cache sees changes to this file, not to
# core.py, so a change there must edit this file too, as issue 18's change to sigmoid's end did)


# ---- tanh RNN ------------------------------------------------------------------------------------

@njit(**VECTORIZE)
def rnn_forward(ax, Wh, h, hs):
    # ax (N, T, H) = xs Wx + b, Wh (H, H), h (N, H) initial state in / final state out, hs (N, T, H) out
    N, T, H = hs.shape
    gh = np.empty((N, H), dtype=hs.dtype)
    for t in range(T):
        np.dot(h, Wh, gh)
        for n in range(N):
            a, g, hn, hst = ax[n, t], gh[n], h[n], hs[n, t]
            for j in range(H):
                v = tanh(a[j] + g[j])
                hn[j] = v
                hst[j] = v


@njit(**VECTORIZE)
def rnn_backward(dhs, hs, Wh, dh, dA):
    # dhs, hs (N, T, H), Wh (H, H), dh (N, H) dhT in / dh0 out, dA (N, T, H) out
    N, T, H = hs.shape
    one = hs.dtype.type(1.0)
    WhT = Wh.T
    dAt = np.empty((N, H), dtype=hs.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            y, d, ds, da, dat = hs[n, t], dh[n], dhs[n, t], dA[n, t], dAt[n]
            for j in range(H):
                v = (d[j] + ds[j]) * (one - y[j] * y[j])
                da[j] = v
                dat[j] = v
        np.dot(dAt, WhT, dh)


# ---- LSTM, gates [f, g, i, o] --------------------------------------------------------------------

@njit(**VECTORIZE)
def lstm_forward(ax, Wh, h, c, hs, cs, tcs, gates, save):
    # ax (N, T, 4H), Wh (H, 4H), h, c (N, H) in/out, hs (N, T, H) out;
    # saved when `save`: cs, tcs = tanh(cs) (N, T, H), gates (N, T, 4H) activated [f, g, i, o]
    N, T, H = hs.shape
    one = hs.dtype.type(1.0)
    gh = np.empty((N, 4 * H), dtype=hs.dtype)
    scratch = np.empty((2, 4 * H), dtype=hs.dtype)  # where an inference step's "saved" rows go (no branch in the loop)
    for t in range(T):
        np.dot(h, Wh, gh)
        for n in range(N):
            a, g4, hn, cn, hst = ax[n, t], gh[n], h[n], c[n], hs[n, t]
            gt, cst, tcst = ((gates[n, t], cs[n, t], tcs[n, t]) if save
                             else (scratch[0], scratch[1, :H], scratch[1, H:2 * H]))
            af, ag, ai, ao = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
            gf, gg, gi, go = g4[:H], g4[H:2 * H], g4[2 * H:3 * H], g4[3 * H:]
            sf, sg, si, so = gt[:H], gt[H:2 * H], gt[2 * H:3 * H], gt[3 * H:]
            for j in range(H):
                f = sigmoid(af[j] + gf[j], one)
                g = tanh(ag[j] + gg[j])
                i = sigmoid(ai[j] + gi[j], one)
                o = sigmoid(ao[j] + go[j], one)
                cc = f * cn[j] + g * i
                tc = tanh(cc)
                hh = o * tc
                cn[j] = cc
                hn[j] = hh
                hst[j] = hh
                cst[j] = cc
                tcst[j] = tc
                sf[j] = f
                sg[j] = g
                si[j] = i
                so[j] = o


@njit(**VECTORIZE)
def lstm_backward(dhs, c0, cs, tcs, gates, Wh, dh, dc, dA):
    # dhs (N, T, H), c0 (N, H), cs, tcs (N, T, H), gates (N, T, 4H), Wh (H, 4H),
    # dh, dc (N, H) dhT, dcT in / dh0, dc0 out, dA (N, T, 4H) out
    N, T, H = cs.shape
    one = cs.dtype.type(1.0)
    WhT = Wh.T
    dAt = np.empty((N, 4 * H), dtype=cs.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            gt, tc, dhn, dcn, dht = gates[n, t], tcs[n, t], dh[n], dc[n], dhs[n, t]
            cp = cs[n, t - 1] if t > 0 else c0[n]
            gf, gg, gi, go = gt[:H], gt[H:2 * H], gt[2 * H:3 * H], gt[3 * H:]
            da, dat = dA[n, t], dAt[n]
            df, dg, di, do_ = da[:H], da[H:2 * H], da[2 * H:3 * H], da[3 * H:]
            for j in range(H):
                f = gf[j]
                g = gg[j]
                i = gi[j]
                o = go[j]
                dhv = dhn[j] + dht[j]
                dcv = dcn[j] + dhv * o * (one - tc[j] * tc[j])
                df[j] = dcv * cp[j] * f * (one - f)
                dg[j] = dcv * i * (one - g * g)
                di[j] = dcv * g * i * (one - i)
                do_[j] = dhv * tc[j] * o * (one - o)
                dcn[j] = dcv * f
            for k in range(4 * H):  # the contiguous copy the per-step GEMM reads
                dat[k] = da[k]
        np.dot(dAt, WhT, dh)


# ---- GRU, gates [z, r, n], h' = (1 - z) * h + z * n -----------------------------------------------

@njit(**VECTORIZE)
def gru_forward_reset_before(ax, Whzr, Whn, h, hs, gates, rhs, save):
    # n = tanh(x Wxn + (r * h) Whn + bn). ax (N, T, 3H), Whzr (H, 2H), Whn (H, H), h (N, H) in/out,
    # hs (N, T, H) out; saved when `save`: gates (N, T, 3H) [z, r, n], rhs (N, T, H) r * h_prev
    N, T, H = hs.shape
    one = hs.dtype.type(1.0)
    gzr = np.empty((N, 2 * H), dtype=hs.dtype)
    rh = np.empty((N, H), dtype=hs.dtype)
    z = np.empty((N, H), dtype=hs.dtype)
    ghn = np.empty((N, H), dtype=hs.dtype)
    scratch = np.empty((2, 3 * H), dtype=hs.dtype)  # where an inference step's "saved" rows go
    for t in range(T):
        np.dot(h, Whzr, gzr)
        for n in range(N):
            a, g2, hn, zn, rhn = ax[n, t], gzr[n], h[n], z[n], rh[n]
            gt, rht = (gates[n, t], rhs[n, t]) if save else (scratch[0], scratch[1, :H])
            az, ar, gz, gr, sz, sr = a[:H], a[H:2 * H], g2[:H], g2[H:], gt[:H], gt[H:2 * H]
            for j in range(H):
                zz = sigmoid(az[j] + gz[j], one)
                r = sigmoid(ar[j] + gr[j], one)
                v = r * hn[j]
                zn[j] = zz
                rhn[j] = v
                sz[j] = zz
                sr[j] = r
                rht[j] = v
        np.dot(rh, Whn, ghn)       # r resets h before it meets Whn: this matmul waits for r
        for n in range(N):
            a, gn, hn, zn, hst = ax[n, t], ghn[n], h[n], z[n], hs[n, t]
            an, sn = a[2 * H:], (gates[n, t] if save else scratch[0])[2 * H:]
            for j in range(H):
                nn = tanh(an[j] + gn[j])
                zz = zn[j]
                hh = (one - zz) * hn[j] + zz * nn
                hn[j] = hh
                hst[j] = hh
                sn[j] = nn


@njit(**VECTORIZE)
def gru_backward_reset_before(dhs, h0, hs, gates, Whzr, Whn, dh, dA):
    # dhs, hs (N, T, H), h0 (N, H), gates (N, T, 3H), Whzr (H, 2H), Whn (H, H),
    # dh (N, H) dhT in / dh0 out, dA (N, T, 3H) out: gradient of the pre-activations [z, r, n]
    N, T, H = hs.shape
    one = hs.dtype.type(1.0)
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
            gt, pn, gn, dht, dv, dn = gates[n, t], part[n], gzr[n], dhs[n, t], dhv[n], dan[n]
            sz, sn, dAn = gt[:H], gt[2 * H:], dA[n, t, 2 * H:]
            for j in range(H):
                zz = sz[j]
                nn = sn[j]
                d = (pn[j] + gn[j]) + dht[j]
                dv[j] = d
                v = d * zz * (one - nn * nn)
                dn[j] = v
                dAn[j] = v
        np.dot(dan, WhnT, drh)
        for n in range(N):
            gt, dv, dr, pn, dzrn, da = gates[n, t], dhv[n], drh[n], part[n], dzr[n], dA[n, t]
            hp = hs[n, t - 1] if t > 0 else h0[n]
            sz, sr, sn, daz, dar = gt[:H], gt[H:2 * H], gt[2 * H:], da[:H], da[H:2 * H]
            for j in range(H):
                zz = sz[j]
                r = sr[j]
                h_prev = hp[j]
                d = dv[j]
                dz = d * (sn[j] - h_prev)
                daz[j] = dz * zz * (one - zz)
                dar[j] = dr[j] * h_prev * r * (one - r)
                pn[j] = d * (one - zz) + dr[j] * r
            for k in range(2 * H):  # the contiguous copy the per-step GEMM reads
                dzrn[k] = da[k]
        np.dot(dzr, WhzrT, gzr)
    for n in range(N):
        for j in range(H):
            dh[n, j] = part[n, j] + gzr[n, j]


@njit(**VECTORIZE)
def gru_forward_reset_after(ax, Wh, b_rec, h, hs, gates, hns, save):
    # n = tanh(x Wxn + b0n + r * (h Whn + b1n)). ax (N, T, 3H) = xs Wx + b0, Wh (H, 3H),
    # b_rec (3H,) recurrent bias (zeros when absent), h (N, H) in/out, hs (N, T, H) out;
    # saved when `save`: gates (N, T, 3H) [z, r, n], hns (N, T, H) = h_prev Whn + b1n
    N, T, H = hs.shape
    one = hs.dtype.type(1.0)
    gh = np.empty((N, 3 * H), dtype=hs.dtype)
    scratch = np.empty((2, 3 * H), dtype=hs.dtype)  # where an inference step's "saved" rows go
    bz, br, bn = b_rec[:H], b_rec[H:2 * H], b_rec[2 * H:]
    for t in range(T):
        np.dot(h, Wh, gh)                      # one recurrent matmul for all three gates
        for n in range(N):
            a, g3, hn, hst = ax[n, t], gh[n], h[n], hs[n, t]
            gt, hnt = (gates[n, t], hns[n, t]) if save else (scratch[0], scratch[1, :H])
            az, ar, an, gz, gr, gn = a[:H], a[H:2 * H], a[2 * H:], g3[:H], g3[H:2 * H], g3[2 * H:]
            sz, sr, sn = gt[:H], gt[H:2 * H], gt[2 * H:]
            for j in range(H):
                zz = sigmoid(az[j] + (gz[j] + bz[j]), one)
                r = sigmoid(ar[j] + (gr[j] + br[j]), one)
                hnv = gn[j] + bn[j]
                nn = tanh(an[j] + r * hnv)
                hh = (one - zz) * hn[j] + zz * nn
                hn[j] = hh
                hst[j] = hh
                sz[j] = zz
                sr[j] = r
                sn[j] = nn
                hnt[j] = hnv


@njit(**VECTORIZE)
def gru_backward_reset_after(dhs, h0, hs, gates, hns, Wh, dh, dAx, dAh):
    # dhs, hs, hns (N, T, H), h0 (N, H), gates (N, T, 3H), Wh (H, 3H), dh (N, H) dhT in / dh0 out,
    # dAx (N, T, 3H) out: gradient of x Wx + b0;  dAh (N, T, 3H) out: gradient of h_prev Wh + b1
    N, T, H = hs.shape
    one = hs.dtype.type(1.0)
    WhT = Wh.T
    dAt = np.empty((N, 3 * H), dtype=hs.dtype)
    part = dh.copy()                           # dh_prev = part + dAh_t @ Wh.T; starts as dhT + 0
    gh = np.zeros((N, H), dtype=hs.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            gt, hnt, pn, ghn, dht = gates[n, t], hns[n, t], part[n], gh[n], dhs[n, t]
            hp = hs[n, t - 1] if t > 0 else h0[n]
            sz, sr, sn = gt[:H], gt[H:2 * H], gt[2 * H:]
            dx, dhh, dat = dAx[n, t], dAh[n, t], dAt[n]
            dxz, dxr, dxn, dhn_ = dx[:H], dx[H:2 * H], dx[2 * H:], dhh[2 * H:]
            for j in range(H):
                zz = sz[j]
                r = sr[j]
                nn = sn[j]
                d = (pn[j] + ghn[j]) + dht[j]
                dz = d * (nn - hp[j])
                dan = d * zz * (one - nn * nn)
                dxz[j] = dz * zz * (one - zz)
                dxr[j] = dan * hnt[j] * r * (one - r)
                dxn[j] = dan
                dhn_[j] = dan * r
                pn[j] = d * (one - zz)
            for k in range(2 * H):  # z and r see x and h alike
                dhh[k] = dx[k]
            for k in range(3 * H):  # the contiguous copy the per-step GEMM reads
                dat[k] = dhh[k]
        np.dot(dAt, WhT, gh)
    for n in range(N):
        for j in range(H):
            dh[n, j] = part[n, j] + gh[n, j]
