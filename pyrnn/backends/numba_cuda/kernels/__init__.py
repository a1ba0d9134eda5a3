"""numba.cuda kernels behind `pyrnn.backends.numba_cuda`, one module per op family (recurrent, words,
attention, norm, as every tree of pyrnn: docs/architecture.md) and `core`, the device functions,
block sizes and column-sum stage they share.

The recurrent kernels are one fused elementwise pass of one time step each (the host loops over
the steps and does the GEMMs with CuPy between launches): one thread per (n, j) element; the caller
launches ``ceil(N*H / block)`` blocks and every kernel guards ``i < N*H``. Arrays arrive
C-contiguous in the call's dtype and every constant is made from the ``one`` argument
(``dtype.type(1)``), so float32 kernels stay float32 (a bare ``1.0`` is float64 in numba and would
promote). Kernels are compiled lazily, once per dtype, and cached on disk (``cache=True``).

The row kernels and sums of the other families run one block per row or chunk and combine in
shared memory through `core`'s fixed-order tree; their shared scratch and constants take the
arrays' dtype (``x.dtype``, ``x.dtype.type(0)``), which numba.cuda resolves at compile time.

Under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) the same kernels run
on the CPU with NumPy arrays: that is how they are tested where no GPU exists.
"""
