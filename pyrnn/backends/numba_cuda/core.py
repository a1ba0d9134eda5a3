"""What the numba-cuda backend's family modules share: where kernels run (a `Device`: CuPy arrays on
CuPy's current stream, or NumPy arrays under Numba's CUDA simulator) and how they are launched
(elementwise passes, one block per row, one block for a whole array, the finish of a column sum)."""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import cuda

from pyrnn._arrays import cupy_module, is_cupy

from .kernels import core as _kernels

THREADS_PER_BLOCK = 256  # of an elementwise pass


def simulated():
    """Whether numba.cuda is Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set before numba is imported)."""
    return bool(numba.config.ENABLE_CUDASIM)


class Device:
    """The array module for buffers and GEMMs, how an array becomes a kernel argument, the stream."""

    def __init__(self, xp, arg, stream):
        self.xp, self.arg, self.stream = xp, arg, stream

    def launch(self, kernel, n, *args):
        """Run `kernel` with one thread per element of an n-element pass (nothing when n is 0)."""
        if n == 0:
            return
        block = min(n, THREADS_PER_BLOCK)
        kernel[(n + block - 1) // block, block, self.stream](*args)


_streams: dict[int, object] = {}


def device(a):
    """The Device for arrays like `a`: CuPy on the GPU, or NumPy under the CUDA simulator."""
    if is_cupy(a):
        cp = cupy_module()
        ptr = cp.cuda.get_current_stream().ptr
        stream = _streams.get(ptr)
        if stream is None:  # numba's handle on CuPy's stream, made once per stream
            stream = _streams[ptr] = cuda.external_stream(ptr)
        # sync=False: launches are ordered on the stream; numba need not wait for it on the host
        return Device(cp, lambda x: cuda.as_cuda_array(x, sync=False), stream)
    if isinstance(a, np.ndarray) and simulated():
        return Device(np, lambda x: x, 0)
    raise TypeError(f"the numba-cuda backend takes CuPy arrays (NumPy only under NUMBA_ENABLE_CUDASIM=1), "
                    f"got {type(a).__name__}")


# ---- row kernels and deterministic sums ------------------------------------------------------------

def flat(a, K):
    """a (..., K) -> (R, K) with explicit sizes (empty leading dims reshape too); a copy only when a view
    cannot be had (a strided input)."""
    return a.reshape(math.prod(a.shape[:-1]), K)


def row_block(n):
    """Threads per block of a row kernel over n elements: the least power of two >= n, at most ROW_BLOCK
    (the reduction tree halves the block; a short row gets a small block, not idle threads)."""
    b = 1
    while b < n and b < _kernels.ROW_BLOCK:
        b *= 2
    return b


def launch_rows(dev, kernel, a, *args):
    """Run a row kernel over a (R, V): one block per row (nothing when a is empty)."""
    if a.size:
        kernel[a.shape[0], row_block(a.shape[1]), dev.stream](*args)


def launch_one_block(dev, kernel, n, *args):
    """Run a whole-array reduction kernel as one block sized for n values."""
    kernel[1, row_block(n), dev.stream](*args)


def column_sums(dev, kernel, R, M, dtype, count, *inputs):
    """`count` deterministic column sums (M,) over R rows: ``kernel(*inputs, chunk, *partials)`` writes
    the sums of each chunk of COLUMN_CHUNK rows, one thread per (chunk, column), into `count` partials
    (C, M), which are then added in chunk order (one chunk: itself). Zeros when R or M is 0."""
    xp = dev.xp
    if R == 0 or M == 0:
        return tuple(xp.zeros(M, dtype=dtype) for _ in range(count))
    chunk = _kernels.COLUMN_CHUNK
    partials = [xp.empty(((R + chunk - 1) // chunk, M), dtype=dtype) for _ in range(count)]
    dev.launch(kernel, partials[0].size, *(dev.arg(a) for a in inputs), chunk, *(dev.arg(p) for p in partials))
    return tuple(_sum_chunks(dev, p) for p in partials)


def _sum_chunks(dev, partial):
    """partial (C, M) chunk sums, C >= 1 -> (M,) their sum in chunk order (one chunk: itself)."""
    C, M = partial.shape
    if C == 1:
        return partial.reshape(M)
    out = dev.xp.empty(M, dtype=partial.dtype)
    dev.launch(_kernels.sum_chunks, M, dev.arg(partial), dev.arg(out))
    return out
