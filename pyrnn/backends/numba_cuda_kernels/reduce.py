"""A thread block's max or sum in a fixed order: the device functions behind every row kernel and sum.

Each thread brings one value (its own partial, accumulated in a fixed strided order) and gets the
block's result back. The combine is a shared-memory tree over ``blockDim.x`` entries (a power of
two: the tree halves it), so the order of every addition is fixed by the block size alone: bitwise
the same on every run, no atomics (as kernels/include/pyrnn_cuda/block_reduce.cuh).

The block sizes are set here once. On a GPU, ROW_BLOCK threads per row (the host launches fewer, the
least power of two >= the row length, for short rows). Under Numba's CUDA simulator every thread
is a Python thread, so the sizes are small there: the code paths (several threads per element,
partial blocks, several chunks) are the same, only reached with smaller shapes.
"""
import numba
from numba import cuda

_SIM = bool(numba.config.ENABLE_CUDASIM)

# ROW_BLOCK: threads per block of a row kernel, at most (a power of two); COLUMN_CHUNK: rows per partial
# of a column sum; ITEMS_PER_THREAD: elements per thread of a whole-array sum's first stage
GPU_SIZES = dict(ROW_BLOCK=256, COLUMN_CHUNK=64, ITEMS_PER_THREAD=8)
SIMULATOR_SIZES = dict(ROW_BLOCK=16, COLUMN_CHUNK=4, ITEMS_PER_THREAD=4)
_sizes = SIMULATOR_SIZES if _SIM else GPU_SIZES
ROW_BLOCK, COLUMN_CHUNK, ITEMS_PER_THREAD = _sizes["ROW_BLOCK"], _sizes["COLUMN_CHUNK"], _sizes["ITEMS_PER_THREAD"]


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
