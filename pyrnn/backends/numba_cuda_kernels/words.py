"""Elementwise kernels of the word-level ops: embedding's deterministic scatter-add, dropout's fused
mask, affine's bias and the sigmoid cross-entropy gradient.

One thread per element (dropout, bias, sigmoid cross-entropy) or per column (embedding); the caller
launches ``ceil(n / block)`` blocks and every kernel guards its index.
"""
from numba import cuda

from .scalar import sigmoid

_JIT = dict(cache=True)


@cuda.jit(**_JIT)
def embedding_scatter_add(rows, grads, dW):
    # rows (M,) int64, grads (M, D), dW (V, D) zeroed -> dW[rows[k]] += grads[k] for k = 0, 1, ... in order.
    # Thread d owns column d and adds its M values sequentially in index order: no atomics, so the sums are
    # deterministic and bitwise those of NumPy's np.add.at (parallel over D only: fine for D >= a few hundred).
    M, D = grads.shape
    d = cuda.grid(1)
    if d < D:
        for k in range(M):
            dW[rows[k], d] += grads[k, d]


@cuda.jit(**_JIT)
def dropout_forward(x, u, ratio, scale, zero, y, keep):
    # x, y (n,), u (n,) float64 uniform draws, ratio float64, scale, zero scalars of x's dtype;
    # -> y = x * mask, keep (n,) uint8 = u > ratio; mask = scale where kept, else 0 (the reference's mask)
    i = cuda.grid(1)
    if i < x.shape[0]:
        k = u[i] > ratio
        keep[i] = k
        y[i] = x[i] * (scale if k else zero)


@cuda.jit(**_JIT)
def dropout_backward(dy, keep, scale, zero, dx):
    # dy, dx (n,), keep (n,) uint8 -> dx = dy * mask (multiplied, not selected: NaN * 0 stays NaN)
    i = cuda.grid(1)
    if i < dy.shape[0]:
        dx[i] = dy[i] * (scale if keep[i] else zero)


@cuda.jit(**_JIT)
def add_bias(out, b):
    # out (R, M) in/out, b (M,) -> out[r] += b for every row
    R, M = out.shape
    i = cuda.grid(1)
    if i < R * M:
        r = i // M
        out[r, i - r * M] += b[i - r * M]


@cuda.jit(**_JIT)
def sigmoid_cross_entropy_backward(x, t, dloss, dx):
    # x, t, dx (n,), dloss (1,) -> dx = (sigmoid(x) - t) * (dloss / n), the reference's expression
    n = x.shape[0]
    i = cuda.grid(1)
    if i < n:
        dx[i] = (sigmoid(x[i], x.dtype.type(1)) - t[i]) * (dloss[0] / x.dtype.type(n))
