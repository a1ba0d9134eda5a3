"""The Numba CUDA backend: every op of the contract for CuPy arrays, used when `pyrnn._cuda` is missing
(and for the ops it lacks).

No CUDA toolkit at build time is needed: the kernels are Python compiled by numba.cuda at first use
(cached on disk), one module per family in ``kernels/`` (and ``kernels/core.py``, the device functions
they share). The Python side is one module per family too (recurrent.py, words.py, attention.py,
norm.py; docs/architecture.md), and ``core.py``, where kernels run and how they are launched.

The plan: GEMMs are CuPy's (cuBLAS); what lies between them is fused numba.cuda kernels. Recurrent ops
run the time loop in Python: the input projection of all steps is one GEMM; per step, one GEMM
``h @ Wh`` and one fused gate kernel (the GRU with the reset gate before its matmul needs two of
each); the weight gradients are GEMMs after the loop (`pyrnn.reference.recurrent` follows the same
plan, and its helpers do the GEMMs before and after the loop). Every launch goes on CuPy's current
stream, so kernels and GEMMs stay in order without a host synchronisation. Every sum (rows, losses,
column sums) is in a fixed order set by the shapes alone, with no atomics: two runs give bitwise the
same results.

Where the kernels run is a `core.Device`: CuPy arrays normally; NumPy arrays under Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported), which runs the same kernels on
the CPU. That is how tests check the kernels on a machine without a GPU
(tests/test_numba_cuda_backend.py).
"""
from pyrnn._arrays import cupy_module
from pyrnn.backends import BackendUnavailable, export_ops

ARRAYS = {"cupy"}
NAME = "numba-cuda"

try:
    import numba
    from numba import cuda as _cuda

    from .core import simulated as _simulated
except ImportError as e:  # numba missing, or its CUDA target failed to import
    _cuda, _import_error = None, e


def probe():
    if _cuda is None:
        raise BackendUnavailable(f"numba.cuda failed to import: {_import_error}")
    if cupy_module() is None:
        raise BackendUnavailable("CuPy not installed (pip install 'pyrnn[cuda]')")
    if _simulated():
        raise BackendUnavailable("numba.cuda is the CUDA simulator (NUMBA_ENABLE_CUDASIM=1): no GPU kernels")
    if not _cuda.is_available():
        err = getattr(_cuda, "cuda_error", lambda: None)()
        raise BackendUnavailable(f"numba.cuda sees no usable GPU ({err or 'no CUDA driver or device'})")


def describe():
    impl = getattr(_cuda, "implementation", "unknown")
    return (f"Numba {numba.__version__} CUDA target ({impl}): every op; fused per-step gate kernels and "
            f"row kernels, cuBLAS GEMMs via CuPy {cupy_module().__version__}, on CuPy's current stream")


if _cuda is not None:  # the family modules compile kernels with numba.cuda: only where it loaded
    export_ops(globals())
