"""The Numba backend: the op contract for NumPy arrays, JIT-compiled, no C++ build needed.

The fallback when `pyrnn._cpu` is missing (no compiler, unusual platform), and
forced with ``PYRNN_BACKEND=numba`` or ``pyrnn.use_backend("numba")``. Every op
of the contract, one module per family (recurrent.py, words.py, attention.py,
norm.py; docs/architecture.md), over the ``@njit`` kernels of ``kernels/``
(one module per family too, and ``kernels/core.py``, the scalar math they share).

The plan: GEMMs are NumPy's (BLAS); what lies between them is fused ``@njit``
passes. Recurrent ops: the input projection of all steps is one GEMM before the
time loop; the whole loop runs in one kernel that does ``h @ Wh`` per step with
BLAS (``np.dot`` inside njit) and one fused elementwise pass over the gates; the
backward writes the pre-activation gradients of all steps into one buffer, and
the weight gradients are GEMMs after the loop (`pyrnn.reference.recurrent`
follows the same plan, and its helpers do the GEMMs before and after the loop).

Kernels are serial (``parallel=False``): on small per-step work a parallel
region costs more than it saves and competes with the BLAS threads. Every
kernel takes C-contiguous, writeable arrays of the call's dtype and nothing
optional (absent states are zeros, "no bias" is done outside the kernels), so
each compiles to one specialization per dtype, cached on disk (``cache=True``):
the family modules hand them `pyrnn._arrays.contiguous(a, writeable=True)`.

``saved`` payloads are tuples; like the reference they keep references to the
caller's inputs (no copies) and to the outputs.
"""
from pyrnn.backends import BackendUnavailable, export_ops

ARRAYS = {"numpy"}
NAME = "numba"

try:
    import numba as _numba
    import scipy.linalg.cython_blas  # noqa: F401  (np.dot inside njit calls BLAS through SciPy)
except ImportError as e:  # numba (or SciPy, which numba's BLAS needs) missing or broken
    _numba, _import_error = None, e


def probe():
    if _numba is None:
        raise BackendUnavailable(f"numba failed to import: {_import_error}")


def describe():
    return (f"Numba {_numba.__version__} JIT (serial fused loops, cached), "
            f"BLAS GEMMs via NumPy/SciPy, {_numba.config.NUMBA_NUM_THREADS} CPUs")


if _numba is not None:  # the family modules compile kernels with numba: only where it loaded
    export_ops(globals())
