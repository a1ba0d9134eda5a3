"""Deterministic sums across rows or across a whole array: per-chunk partials, then a fixed-order finish.

Column sums (affine's db, layer norm's dgamma and dbeta): the rows are cut into chunks of
``chunk`` rows; one thread per (chunk, column) adds its chunk's rows in order into
``partial[c, m]`` (consecutive threads read consecutive columns: coalesced), then
`sum_chunks` adds the partials of each column in chunk order (the host skips it when there is one
chunk). Whole-array sums (the sigmoid cross-entropy loss): block b adds its ``items *
blockDim.x`` elements through `reduce`'s tree into ``partial[b]``, then one block adds the partials.
Every order depends on the shapes alone: bitwise the same on every run, no atomics.
"""
import math

from numba import cuda

from . import reduce as _r
from .reduce import ROW_BLOCK  # a plain global: numba.cuda needs the shared size as a compile-time literal

_JIT = dict(cache=True)


@cuda.jit(**_JIT)
def column_partials(g, chunk, partial):
    # g (R, M), chunk rows per chunk -> partial (C, M), C = ceil(R / chunk): partial[c, m] = sum of
    # g[c * chunk : (c + 1) * chunk, m] in row order; one thread per (c, m)
    C, M = partial.shape
    i = cuda.grid(1)
    if i < C * M:
        c = i // M
        m = i - c * M
        s = g.dtype.type(0)
        end = (c + 1) * chunk if (c + 1) * chunk < g.shape[0] else g.shape[0]  # no min(): see rows.py
        for r in range(c * chunk, end):
            s += g[r, m]
        partial[c, m] = s


@cuda.jit(**_JIT)
def layer_norm_param_partials(dy, x, mean, rstd, chunk, pg, pb):
    # dy, x (R, D), mean, rstd (R,), chunk -> pg, pb (C, D): the chunk sums of dy * xhat (for dgamma) and
    # dy (for dbeta); xhat = (x - mean) * rstd recomputed as the forward computed it
    C, D = pg.shape
    i = cuda.grid(1)
    if i < C * D:
        c = i // D
        d = i - c * D
        sg = dy.dtype.type(0)
        sb = dy.dtype.type(0)
        end = (c + 1) * chunk if (c + 1) * chunk < dy.shape[0] else dy.shape[0]
        for r in range(c * chunk, end):
            g = dy[r, d]
            sg += g * ((x[r, d] - mean[r]) * rstd[r])
            sb += g
        pg[c, d] = sg
        pb[c, d] = sb


@cuda.jit(**_JIT)
def sum_chunks(partial, out):
    # partial (C, M) -> out (M,) = the sum over c, in order; one thread per column
    C, M = partial.shape
    m = cuda.grid(1)
    if m < M:
        s = partial.dtype.type(0)
        for c in range(C):
            s += partial[c, m]
        out[m] = s


@cuda.jit(**_JIT)
def sigmoid_cross_entropy_partials(x, t, items, partial):
    # x, t (n,) scores and targets of x's dtype, items per thread -> partial (P,): block b's sum of
    # max(x, 0) - x t + log(1 + exp(-|x|)) (the reference's terms: no log(0) for any x) over elements
    # [b * items * B, (b + 1) * items * B), thread j taking b * items * B + j + k B for k < items
    red = cuda.shared.array(ROW_BLOCK, x.dtype)
    b, j, B = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    zero = x.dtype.type(0)
    s = zero
    for k in range(items):
        i = (b * items + k) * B + j
        if i < x.shape[0]:
            xi = x[i]
            s += ((xi if xi > zero else zero) - xi * t[i]) + math.log1p(math.exp(-abs(xi)))
    s = _r.block_sum(s, red)
    if j == 0:
        partial[b] = s


@cuda.jit(**_JIT)
def mean_of_partials(partial, n, out):
    # partial (P,) -> out (1,) = sum(partial) / max(n, 1); one block, thread j adding j, j + B, ... in order
    red = cuda.shared.array(ROW_BLOCK, partial.dtype)
    j, B = cuda.threadIdx.x, cuda.blockDim.x
    s = partial.dtype.type(0)
    for p in range(j, partial.shape[0], B):
        s += partial[p]
    s = _r.block_sum(s, red)
    if j == 0:
        out[0] = s / partial.dtype.type(n if n > 1 else 1)
