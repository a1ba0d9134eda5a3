"""Kernels of the word-level ops: embedding's deterministic scatter-add, affine's bias and column sum
(db), softmax, softmax cross-entropy, sigmoid cross-entropy and dropout, forward and backward.

Elementwise kernels (dropout, the bias, the sigmoid cross-entropy gradient) run one thread per
element, embedding's scatter-add one per column; the host launches ``ceil(n / block)`` blocks and
every kernel guards its index. Row kernels (softmax, softmax cross-entropy) run one block per row of
a 2-D (rows, features) C-contiguous array (the host flattens the leading axes), ``blockDim.x`` a
power of two <= core.ROW_BLOCK: thread j takes the row's elements j, j + blockDim, ... in order, so
a row of any length works (shorter than the block too), and its partial max or sum goes through
`core`'s fixed tree: deterministic, no atomics. Softmax and the cross-entropy subtract the row max
first (every exponent <= 0, the largest term exp(0) = 1, so the sum is >= 1: no overflow, no
log(0)). Whole-array sums (the losses): block b adds its ``items * blockDim.x`` elements through the
tree into ``partial[b]``, then one block adds the partials in order. All math in the arrays' dtype
(constants from ``x.dtype.type``), term by term the reference's (pyrnn.reference.words).
"""
import math

from numba import cuda

from .core import JIT, ROW_BLOCK, block_max, block_sum, chunk_end, grid_cell, sigmoid


# ---- embedding -----------------------------------------------------------------------------------

@cuda.jit(**JIT)
def embedding_scatter_add(rows, grads, dW):
    # rows (M,) int64, grads (M, D), dW (V, D) zeroed -> dW[rows[k]] += grads[k] for k = 0, 1, ... in order.
    # Thread d owns column d and adds its M values sequentially in index order: no atomics, so the sums are
    # deterministic and bitwise those of NumPy's np.add.at (parallel over D only: fine for D >= a few hundred).
    M, D = grads.shape
    d = cuda.grid(1)
    if d < D:
        for k in range(M):
            dW[rows[k], d] += grads[k, d]


# ---- affine: the bias and its gradient's column sum ----------------------------------------------

@cuda.jit(**JIT)
def add_bias(out, b):
    # out (R, M) in/out, b (M,) -> out[r] += b for every row
    R, M = out.shape
    r, m = grid_cell(R, M)
    if r >= 0:
        out[r, m] += b[m]


@cuda.jit(**JIT)
def column_partials(g, chunk, partial):
    # g (R, M), chunk rows per chunk -> partial (C, M), C = ceil(R / chunk): partial[c, m] = sum of
    # g[c * chunk : (c + 1) * chunk, m] in row order; one thread per (c, m)
    C, M = partial.shape
    c, m = grid_cell(C, M)
    if c >= 0:
        s = g.dtype.type(0)
        for r in range(c * chunk, chunk_end(c, chunk, g.shape[0])):
            s += g[r, m]
        partial[c, m] = s


# ---- softmax over the last axis ------------------------------------------------------------------

@cuda.jit(device=True)
def _row_max(x, r, red):
    # x (R, V), red shared scratch -> max of row r, in every thread of the block (each scans its strided share)
    j, B = cuda.threadIdx.x, cuda.blockDim.x
    m = x.dtype.type(-math.inf)
    for v in range(j, x.shape[1], B):
        if x[r, v] > m:                   # no max(): numba's built-in CUDA target cannot type it
            m = x[r, v]
    return block_max(m, red)


@cuda.jit(**JIT)
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
    s = block_sum(s, red)
    for v in range(j, V, B):
        y[r, v] = y[r, v] / s


@cuda.jit(**JIT)
def softmax_backward(dy, y, dx):
    # dy, y (R, V) -> dx (R, V) = y * (dy - <dy, y>) per row (the Jacobian diag(y) - y y^T)
    red = cuda.shared.array(ROW_BLOCK, y.dtype)
    r, j, B = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    V = y.shape[1]
    s = y.dtype.type(0)
    for v in range(j, V, B):
        s += dy[r, v] * y[r, v]
    s = block_sum(s, red)
    for v in range(j, V, B):
        dx[r, v] = y[r, v] * (dy[r, v] - s)


# ---- softmax cross-entropy with an ignore label --------------------------------------------------

@cuda.jit(**JIT)
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
    log_z = math.log(block_sum(s, red))
    for v in range(j, V, B):
        y[r, v] = math.exp((x[r, v] - m) - log_z)
    if j == 0:
        tr = t[r]
        if has_ignore and tr == ignore:
            logp[r] = 0
        else:
            logp[r] = (x[r, tr] - m) - log_z


@cuda.jit(**JIT)
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
    s = block_sum(s, red)
    c = block_sum(c, cnt)
    if j == 0:
        count[0] = c
        loss[0] = -s / logp.dtype.type(c if c > 1 else 1)    # 0 when every label is ignored


@cuda.jit(**JIT)
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


# ---- sigmoid cross-entropy -----------------------------------------------------------------------

@cuda.jit(**JIT)
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
    s = block_sum(s, red)
    if j == 0:
        partial[b] = s


@cuda.jit(**JIT)
def mean_of_partials(partial, n, out):
    # partial (P,) -> out (1,) = sum(partial) / max(n, 1); one block, thread j adding j, j + B, ... in order
    red = cuda.shared.array(ROW_BLOCK, partial.dtype)
    j, B = cuda.threadIdx.x, cuda.blockDim.x
    s = partial.dtype.type(0)
    for p in range(j, partial.shape[0], B):
        s += partial[p]
    s = block_sum(s, red)
    if j == 0:
        out[0] = s / partial.dtype.type(n if n > 1 else 1)


@cuda.jit(**JIT)
def sigmoid_cross_entropy_backward(x, t, dloss, dx):
    # x, t, dx (n,), dloss (1,) -> dx = (sigmoid(x) - t) * (dloss / n), the reference's expression
    n = x.shape[0]
    i = cuda.grid(1)
    if i < n:
        dx[i] = (sigmoid(x[i], x.dtype.type(1)) - t[i]) * (dloss[0] / x.dtype.type(n))


# ---- dropout -------------------------------------------------------------------------------------

@cuda.jit(**JIT)
def dropout_forward(x, u, ratio, scale, zero, y, keep):
    # x, y (n,), u (n,) float64 uniform draws, ratio float64, scale, zero scalars of x's dtype;
    # -> y = x * mask, keep (n,) uint8 = u > ratio; mask = scale where kept, else 0 (the reference's mask)
    i = cuda.grid(1)
    if i < x.shape[0]:
        k = u[i] > ratio
        keep[i] = k
        y[i] = x[i] * (scale if k else zero)


@cuda.jit(**JIT)
def dropout_backward(dy, keep, scale, zero, dx):
    # dy, dx (n,), keep (n,) uint8 -> dx = dy * mask (multiplied, not selected: NaN * 0 stays NaN)
    i = cuda.grid(1)
    if i < dy.shape[0]:
        dx[i] = dy[i] * (scale if keep[i] else zero)
