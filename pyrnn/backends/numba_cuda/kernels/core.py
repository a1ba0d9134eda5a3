"""What the kernel families share: the activation device function, a thread block's max or sum in a
fixed order (the device functions behind every row kernel and sum), the block sizes, and the last
stage of a column sum (`sum_chunks`: affine's db, layer norm's dgamma and dbeta).

Block reductions: each thread brings one value (its own partial, accumulated in a fixed strided
order) and gets the block's result back. The combine is a shared-memory tree over ``blockDim.x``
entries (a power of two: the tree halves it), so the order of every addition is fixed by the block
size alone: bitwise the same on every run, no atomics (as kernels/include/pyrnn_cuda/block_reduce.cuh).

The block sizes are set here once. On a GPU, ROW_BLOCK threads per row (the host launches fewer, the
least power of two >= the row length, for short rows). Under Numba's CUDA simulator every thread
is a Python thread, so the sizes are small there: the code paths (several threads per element,
partial blocks, several chunks) are the same, only reached with smaller shapes. The kernel modules
import ROW_BLOCK as a plain global: numba.cuda needs a shared array's size as a compile-time literal.

Column sums: the rows are cut into chunks of ``chunk`` rows; one thread per (chunk, column) adds its
chunk's rows in order into ``partial[c, m]`` (consecutive threads read consecutive columns:
coalesced; the family's kernel, as it computes the summed terms), then `sum_chunks` adds the partials
of each column in chunk order (the host skips it when there is one chunk). Every order depends on the
shapes alone: bitwise the same on every run, no atomics.
"""
import math

import numba
from numba import cuda

_SIM = bool(numba.config.ENABLE_CUDASIM)

# ROW_BLOCK: threads per block of a row kernel, at most (a power of two); COLUMN_CHUNK: rows per partial
# of a column sum; ITEMS_PER_THREAD: elements per thread of a whole-array sum's first stage
GPU_SIZES = dict(ROW_BLOCK=256, COLUMN_CHUNK=64, ITEMS_PER_THREAD=8)
SIMULATOR_SIZES = dict(ROW_BLOCK=16, COLUMN_CHUNK=4, ITEMS_PER_THREAD=4)
_sizes = SIMULATOR_SIZES if _SIM else GPU_SIZES
ROW_BLOCK, COLUMN_CHUNK, ITEMS_PER_THREAD = _sizes["ROW_BLOCK"], _sizes["COLUMN_CHUNK"], _sizes["ITEMS_PER_THREAD"]

JIT = dict(cache=True)  # every kernel: compiled once per dtype, cached on disk


@cuda.jit(device=True)
def sigmoid(x, one):
    # x scalar -> sigmoid(x) in x's dtype (CUDA libdevice's exp); e = exp(-|x|) <= 1 never overflows
    # (the reference's form)
    e = math.exp(-abs(x))
    if x >= 0:
        return one / (one + e)
    return e / (one + e)


@cuda.jit(device=True)
def grid_cell(R, M):
    # one thread per element of an (R, M) grid (a 1-D launch of R * M threads) -> this thread's (r, m),
    # r = -1 for a thread past the grid's end (the kernels test r >= 0)
    k = cuda.grid(1)
    if k < R * M:
        r = k // M
        return r, k - r * M
    return -1, 0


@cuda.jit(device=True)
def chunk_end(c, chunk, R):
    # the row after chunk c of a column sum over R rows in chunks of `chunk` rows (no min() in kernels:
    # numba's built-in CUDA target cannot type it)
    end = (c + 1) * chunk
    return end if end < R else R


@cuda.jit(device=True)
def block_max(v, red):
    # v this thread's value, red (>= blockDim.x,) shared scratch -> the block's max, in every thread
    j = cuda.threadIdx.x
    cuda.syncthreads()          # red may still be read by the previous reduction's return
    red[j] = v
    cuda.syncthreads()
    h = cuda.blockDim.x // 2
    while h > 0:
        if j < h:
            o = red[j + h]
            if o > red[j]:
                red[j] = o
        cuda.syncthreads()
        h //= 2
    return red[0]


@cuda.jit(device=True)
def block_sum(v, red):
    # v this thread's value, red (>= blockDim.x,) shared scratch of v's type -> the block's sum, in every thread
    j = cuda.threadIdx.x
    cuda.syncthreads()
    red[j] = v
    cuda.syncthreads()
    h = cuda.blockDim.x // 2
    while h > 0:
        if j < h:
            red[j] = red[j] + red[j + h]
        cuda.syncthreads()
        h //= 2
    return red[0]


@cuda.jit(**JIT)
def sum_chunks(partial, out):
    # partial (C, M) -> out (M,) = the sum over c, in order; one thread per column
    C, M = partial.shape
    m = cuda.grid(1)
    if m < M:
        s = partial.dtype.type(0)
        for c in range(C):
            s += partial[c, m]
        out[m] = s
