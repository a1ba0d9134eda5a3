"""Kernels of layer norm: the forward and the input gradient one block per row, the parameter
gradients (dgamma, dbeta) as deterministic column sums.

Row kernels run one block per row of a 2-D (rows, features) C-contiguous array (the host flattens the
leading axes), ``blockDim.x`` a power of two <= core.ROW_BLOCK; thread j takes the row's elements j,
j + blockDim, ... in order and `core`'s fixed tree adds the partials: deterministic, no atomics. The
column sums are per-chunk partials (`layer_norm_param_partials`), then `core.sum_chunks`. All math in
the arrays' dtype, term by term the reference's (pyrnn.reference.norm).
"""
import math

from numba import cuda

from .core import JIT, ROW_BLOCK, block_sum, chunk_end, grid_cell


@cuda.jit(**JIT)
def layer_norm_forward(x, gamma, beta, eps, y, mean, rstd):
    # x (R, D), gamma, beta (D,), eps scalar of x's dtype -> y (R, D), mean, rstd (R,) = 1 / sqrt(var + eps),
    # the biased variance (divide by D); mean and rstd are all the backward needs besides x
    red = cuda.shared.array(ROW_BLOCK, x.dtype)
    r, j, B = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    D = x.shape[1]
    s = x.dtype.type(0)
    for d in range(j, D, B):
        s += x[r, d]
    mu = block_sum(s, red) / x.dtype.type(D)
    s = x.dtype.type(0)
    for d in range(j, D, B):
        xc = x[r, d] - mu
        s += xc * xc
    rs = x.dtype.type(1) / math.sqrt(block_sum(s, red) / x.dtype.type(D) + eps)
    for d in range(j, D, B):
        y[r, d] = ((x[r, d] - mu) * rs) * gamma[d] + beta[d]
    if j == 0:
        mean[r] = mu
        rstd[r] = rs


@cuda.jit(**JIT)
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
    mg = block_sum(sg, red) / x.dtype.type(D)
    mgx = block_sum(sgx, red) / x.dtype.type(D)
    for d in range(j, D, B):
        dx[r, d] = rs * (dy[r, d] * gamma[d] - mg - ((x[r, d] - mu) * rs) * mgx)


@cuda.jit(**JIT)
def layer_norm_param_partials(dy, x, mean, rstd, chunk, pg, pb):
    # dy, x (R, D), mean, rstd (R,), chunk -> pg, pb (C, D): the chunk sums of dy * xhat (for dgamma) and
    # dy (for dbeta); xhat = (x - mean) * rstd recomputed as the forward computed it
    C, D = pg.shape
    c, d = grid_cell(C, D)
    if c >= 0:
        sg = dy.dtype.type(0)
        sb = dy.dtype.type(0)
        for r in range(c * chunk, chunk_end(c, chunk, dy.shape[0])):
            g = dy[r, d]
            sg += g * ((x[r, d] - mean[r]) * rstd[r])
            sb += g
        pg[c, d] = sg
        pb[c, d] = sb
