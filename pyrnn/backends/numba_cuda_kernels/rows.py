"""Row kernels of the word-level ops: softmax, softmax cross-entropy and layer norm, forward and backward.

One block per row of a 2-D (rows, features) C-contiguous array (the host flattens the leading
axes), ``blockDim.x`` a power of two <= reduce.ROW_BLOCK. Thread j takes the row's elements j,
j + blockDim, ... in order, so a row of any length works (shorter than the block too), and its
partial max or sum goes through `reduce`'s fixed tree: deterministic, no atomics. Softmax and the
cross-entropy subtract the row max first (every exponent <= 0, the largest term exp(0) = 1, so the
sum is >= 1: no overflow, no log(0)). All math in the arrays' dtype (constants from
``x.dtype.type``), term by term the reference's (pyrnn.reference.losses / layer_norm).
"""
import math

from numba import cuda

from . import reduce as _r
from .reduce import ROW_BLOCK  # a plain global: numba.cuda needs the shared size as a compile-time literal

_JIT = dict(cache=True)


@cuda.jit(device=True)
def _row_max(x, r, red):
    # x (R, V), red shared scratch -> max of row r, in every thread of the block (each scans its strided share)
    j, B = cuda.threadIdx.x, cuda.blockDim.x
    m = x.dtype.type(-math.inf)
    for v in range(j, x.shape[1], B):
        if x[r, v] > m:                   # no max(): numba's built-in CUDA target cannot type it
            m = x[r, v]
    return _r.block_max(m, red)


# ---- softmax over the last axis ------------------------------------------------------------------

@cuda.jit(**_JIT)
def softmax_forward(x, y):
    # x (R, V) -> y (R, V) softmax of each row; block r does row r
    red = cuda.shared.array(ROW_BLOCK, x.dtype)
    r, j, B = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    V = x.shape[1]
    m = _row_max(x, r, red)
    s = x.dtype.type(0)
    for v in range(j, V, B):
        e = math.exp(x[r, v] - m)
        y[r, v] = e                       # each thread reads back only what it wrote
        s += e
    s = _r.block_sum(s, red)
    for v in range(j, V, B):
        y[r, v] = y[r, v] / s


@cuda.jit(**_JIT)
def softmax_backward(dy, y, dx):
    # dy, y (R, V) -> dx (R, V) = y * (dy - <dy, y>) per row (the Jacobian diag(y) - y y^T)
    red = cuda.shared.array(ROW_BLOCK, y.dtype)
    r, j, B = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    V = y.shape[1]
    s = y.dtype.type(0)
    for v in range(j, V, B):
        s += dy[r, v] * y[r, v]
    s = _r.block_sum(s, red)
    for v in range(j, V, B):
        dx[r, v] = y[r, v] * (dy[r, v] - s)


# ---- softmax cross-entropy with an ignore label --------------------------------------------------

@cuda.jit(**_JIT)
def softmax_cross_entropy_forward(x, t, ignore, has_ignore, y, logp):
    # x (R, V) scores, t (R,) int64 labels, ignore int64 (when has_ignore) -> y (R, V) softmax,
    # logp (R,) log-probability of the label, 0 on an ignored row (never read: its label may be -1)
    red = cuda.shared.array(ROW_BLOCK, x.dtype)
    r, j, B = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    V = x.shape[1]
    m = _row_max(x, r, red)
    s = x.dtype.type(0)
    for v in range(j, V, B):
        s += math.exp(x[r, v] - m)
    log_z = math.log(_r.block_sum(s, red))
    for v in range(j, V, B):
        y[r, v] = math.exp((x[r, v] - m) - log_z)
    if j == 0:
        tr = t[r]
        if has_ignore and tr == ignore:
            logp[r] = 0
        else:
            logp[r] = (x[r, tr] - m) - log_z


@cuda.jit(**_JIT)
def cross_entropy_loss(logp, t, ignore, has_ignore, loss, count):
    # logp (R,), t (R,) int64 labels -> loss (1,) = -sum(logp) / max(count, 1), count (1,) int64 = labels
    # not ignored. One block (the rows are few next to their R * V scores): thread j sums rows j,
    # j + blockDim, ... in order, then the fixed tree
    red = cuda.shared.array(ROW_BLOCK, logp.dtype)
    cnt = cuda.shared.array(ROW_BLOCK, t.dtype)
    j, B = cuda.threadIdx.x, cuda.blockDim.x
    s = logp.dtype.type(0)
    c = 0
    for r in range(j, logp.shape[0], B):
        s += logp[r]
        if not (has_ignore and t[r] == ignore):
            c += 1
    s = _r.block_sum(s, red)
    c = _r.block_sum(c, cnt)
    if j == 0:
        count[0] = c
        loss[0] = -s / logp.dtype.type(c if c > 1 else 1)    # 0 when every label is ignored


@cuda.jit(**_JIT)
def softmax_cross_entropy_backward(y, t, ignore, has_ignore, dloss, count, dx):
    # y (R, V) softmax, t (R,) labels, dloss (1,), count (1,) from the forward
    # -> dx (R, V) = (y - onehot(t)) * dloss / max(count, 1), exactly 0 on an ignored row
    r, j, B = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    V = y.shape[1]
    tr = t[r]
    if has_ignore and tr == ignore:
        for v in range(j, V, B):
            dx[r, v] = 0
    else:
        scale = dloss[0] / y.dtype.type(count[0] if count[0] > 1 else 1)
        one = y.dtype.type(1)
        for v in range(j, V, B):
            d = y[r, v]
            if v == tr:
                d -= one
            dx[r, v] = d * scale


# ---- layer norm ----------------------------------------------------------------------------------

@cuda.jit(**_JIT)
def layer_norm_forward(x, gamma, beta, eps, y, mean, rstd):
    # x (R, D), gamma, beta (D,), eps scalar of x's dtype -> y (R, D), mean, rstd (R,) = 1 / sqrt(var + eps),
    # the biased variance (divide by D); mean and rstd are all the backward needs besides x
    red = cuda.shared.array(ROW_BLOCK, x.dtype)
    r, j, B = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    D = x.shape[1]
    s = x.dtype.type(0)
    for d in range(j, D, B):
        s += x[r, d]
    mu = _r.block_sum(s, red) / x.dtype.type(D)
    s = x.dtype.type(0)
    for d in range(j, D, B):
        xc = x[r, d] - mu
        s += xc * xc
    rs = x.dtype.type(1) / math.sqrt(_r.block_sum(s, red) / x.dtype.type(D) + eps)
    for d in range(j, D, B):
        y[r, d] = ((x[r, d] - mu) * rs) * gamma[d] + beta[d]
    if j == 0:
        mean[r] = mu
        rstd[r] = rs


@cuda.jit(**_JIT)
def layer_norm_backward(dy, x, mean, rstd, gamma, dx):
    # dy, x (R, D), mean, rstd (R,), gamma (D,) -> dx (R, D) = rstd * (g - mean(g) - xhat * mean(g * xhat)),
    # g = dy * gamma, xhat = (x - mean) * rstd recomputed as the forward computed it
    red = cuda.shared.array(ROW_BLOCK, x.dtype)
    r, j, B = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    D = x.shape[1]
    mu, rs = mean[r], rstd[r]
    sg = x.dtype.type(0)
    sgx = x.dtype.type(0)
    for d in range(j, D, B):
        g = dy[r, d] * gamma[d]
        sg += g
        sgx += g * ((x[r, d] - mu) * rs)
    mg = _r.block_sum(sg, red) / x.dtype.type(D)
    mgx = _r.block_sum(sgx, red) / x.dtype.type(D)
    for d in range(j, D, B):
        dx[r, d] = rs * (dy[r, d] * gamma[d] - mg - ((x[r, d] - mu) * rs) * mgx)
