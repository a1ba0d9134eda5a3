"""Row kernels of the attention ops: the masked softmax, its backward, and the weights recomputed
from a saved row logsumexp (the blocked scaled dot-product attention's backward).

The host (`pyrnn.backends.numba_cuda_attention`) does the products as batched GEMMs through the
array module and hands these kernels score rows as a C-contiguous 2-D array ``(rows, K)``: row
``r`` is query ``i = i0 + r % R`` of head-batch ``b = r // R`` (R query rows per head-batch in the
launch) over keys ``0..K``. Launch: one block per row, ``blockDim.x`` a power of two of at most
reduce.ROW_BLOCK; thread t walks keys t, t + B, t + 2B, ... in order, then `reduce`'s fixed tree
folds the partials in shared memory, so results are deterministic (no atomics). Each kernel works
in place in the rows' dtype (shared arrays and constants take the rows' dtype, so float32 stays
float32).

Masks are uint8 (1 = attend) ``(N, Tk)``, indexed by ``n = b // Hh``; ``has_mask`` False ignores
the (dummy) mask. ``causal`` hides keys ``j > i``. A hidden key gets exactly 0, and a row that keeps
no key gets all zeros (its logsumexp is +inf, which makes its recomputed weights 0 too).
"""
import math

import numpy as np
from numba import cuda

from . import reduce as _r
from .reduce import ROW_BLOCK  # a plain global: numba.cuda needs the shared size as a compile-time literal

_JIT = dict(cache=True)


@cuda.jit(device=True)
def _key_limit(K, i, causal):
    # keys below this one may be visible to query i (no min()/max() in kernels: numba's built-in CUDA
    # target cannot type them)
    if causal and i + 1 < K:
        return i + 1
    return K


@cuda.jit(device=True)
def _visible(mask, has_mask, n, j, jlim):
    # key j of sequence n is attended: inside the causal limit and not padding
    return j < jlim and (not has_mask or mask[n, j] != 0)


@cuda.jit(**_JIT)
def masked_softmax_rows(s, R, i0, Hh, mask, has_mask, causal, scale, lse, write_lse):
    # s (rows, K) raw scores -> softmax(scale * s) over visible keys, in place; mask (N, Tk) uint8;
    # lse (BH, Tq) out when write_lse: m + log(sum exp(x - m)) of each row, +inf when no key is visible
    K = s.shape[1]
    r = cuda.blockIdx.x
    t, B = cuda.threadIdx.x, cuda.blockDim.x
    b = r // R
    i = i0 + r - b * R
    n = b // Hh
    jlim = _key_limit(K, i, causal)
    row = s[r]
    red = cuda.shared.array(ROW_BLOCK, s.dtype)
    zero = s.dtype.type(0)
    ninf = s.dtype.type(-np.inf)
    m = ninf
    for j in range(t, jlim, B):
        if _visible(mask, has_mask, n, j, jlim):
            x = row[j] * scale  # rounded as the reference's (q k^T) * scale
            row[j] = x
            if x > m:
                m = x
    m = _r.block_max(m, red)
    if m == ninf:  # no visible key (the same for the whole block): zero weights
        for j in range(t, K, B):
            row[j] = zero
        if write_lse and t == 0:
            lse[b, i] = s.dtype.type(np.inf)
        return
    z = zero
    for j in range(t, K, B):
        e = zero
        if _visible(mask, has_mask, n, j, jlim):
            e = math.exp(row[j] - m)
        row[j] = e
        z += e
    z = _r.block_sum(z, red)  # >= 1: the max term is exp(0)
    for j in range(t, K, B):
        row[j] = row[j] / z
    if write_lse and t == 0:
        lse[b, i] = m + math.log(z)


@cuda.jit(**_JIT)
def recompute_weights(s, R, i0, Hh, mask, has_mask, causal, scale, lse):
    # s (rows, K) raw scores -> exp(scale * s - lse[b, i]) in place, 0 for hidden keys and for rows
    # whose lse is +inf (no visible key); lse (BH, Tq) from masked_softmax_rows
    K = s.shape[1]
    r = cuda.blockIdx.x
    t, B = cuda.threadIdx.x, cuda.blockDim.x
    b = r // R
    i = i0 + r - b * R
    n = b // Hh
    jlim = _key_limit(K, i, causal)
    row = s[r]
    zero = s.dtype.type(0)
    L = lse[b, i]
    live = L != s.dtype.type(np.inf)
    for j in range(t, K, B):
        p = zero
        if live and _visible(mask, has_mask, n, j, jlim):
            p = math.exp(row[j] * scale - L)
        row[j] = p


@cuda.jit(**_JIT)
def softmax_backward_rows(p, d, scale):
    # p (rows, K) weights, d (rows, K) in: dL/dp, out (in place): scale * p * (d - <p, d>), the
    # reference's softmax_backward(d, p) * scale (hidden keys have p = 0, so they get 0)
    r = cuda.blockIdx.x
    t, B = cuda.threadIdx.x, cuda.blockDim.x
    K = p.shape[1]
    prow, drow = p[r], d[r]
    red = cuda.shared.array(ROW_BLOCK, p.dtype)
    dot = p.dtype.type(0)
    for j in range(t, K, B):
        dot += prow[j] * drow[j]
    dot = _r.block_sum(dot, red)
    for j in range(t, K, B):
        drow[j] = (prow[j] * (drow[j] - dot)) * scale
