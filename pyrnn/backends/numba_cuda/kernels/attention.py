"""Row kernels of the attention ops: the masked softmax, its backward, and the weights recomputed
from a saved row logsumexp (the blocked scaled dot-product attention's backward).

The host (`pyrnn.backends.numba_cuda.attention`) does the products as batched GEMMs through the
array module and hands these kernels score rows as a C-contiguous 2-D array ``(rows, K)``: row
``r`` is query ``i = i0 + r % R`` of head-batch ``b = r // R`` (R query rows per head-batch in the
launch) over keys ``0..K``. Launch: one block per row, ``blockDim.x`` a power of two of at most
core.ROW_BLOCK; thread t walks keys t, t + B, t + 2B, ... in order, then `core`'s fixed tree
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

from .core import JIT, ROW_BLOCK, block_max, block_sum


@cuda.jit(device=True)
def _query(R, i0, Hh, K, causal):
    # the block's score row r = blockIdx.x -> its head-batch b, query i, sequence n, and jlim: keys below
    # it may be visible to query i (all K; i + 1 under a causal mask). No min()/max() in kernels: numba's
    # built-in CUDA target cannot type them
    r = cuda.blockIdx.x
    b = r // R
    i = i0 + r - b * R
    jlim = K
    if causal and i + 1 < K:
        jlim = i + 1
    return b, i, b // Hh, jlim


@cuda.jit(device=True)
def _visible(mask, has_mask, n, j, jlim):
    # key j of sequence n is attended: inside the causal limit and not padding
    return j < jlim and (not has_mask or mask[n, j] != 0)


@cuda.jit(**JIT)
def masked_softmax_rows(s, R, i0, Hh, mask, has_mask, causal, scale, lse, write_lse):
    # s (rows, K) raw scores -> softmax(scale * s) over visible keys, in place; mask (N, Tk) uint8;
    # lse (BH, Tq) out when write_lse: m + log(sum exp(x - m)) of each row, +inf when no key is visible
    K = s.shape[1]
    b, i, n, jlim = _query(R, i0, Hh, K, causal)
    row = s[cuda.blockIdx.x]
    t, B = cuda.threadIdx.x, cuda.blockDim.x
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
    m = block_max(m, red)
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
    z = block_sum(z, red)  # >= 1: the max term is exp(0)
    for j in range(t, K, B):
        row[j] = row[j] / z
    if write_lse and t == 0:
        lse[b, i] = m + math.log(z)


@cuda.jit(**JIT)
def recompute_weights(s, R, i0, Hh, mask, has_mask, causal, scale, lse):
    # s (rows, K) raw scores -> exp(scale * s - lse[b, i]) in place, 0 for hidden keys and for rows
    # whose lse is +inf (no visible key); lse (BH, Tq) from masked_softmax_rows
    K = s.shape[1]
    b, i, n, jlim = _query(R, i0, Hh, K, causal)
    row = s[cuda.blockIdx.x]
    t, B = cuda.threadIdx.x, cuda.blockDim.x
    zero = s.dtype.type(0)
    L = lse[b, i]
    live = L != s.dtype.type(np.inf)
    for j in range(t, K, B):
        p = zero
        if live and _visible(mask, has_mask, n, j, jlim):
            p = math.exp(row[j] * scale - L)
        row[j] = p


@cuda.jit(**JIT)
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
    dot = block_sum(dot, red)
    for j in range(t, K, B):
        drow[j] = (prow[j] * (drow[j] - dot)) * scale
