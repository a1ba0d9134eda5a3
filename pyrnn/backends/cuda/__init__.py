"""The CUDA backend (pyrnn._cuda, built from kernels/) for CuPy arrays, float32 and float64: whole-sequence
tanh RNN, LSTM and GRU (both reset variants), forward and backward, on cuBLAS GEMMs and fused per-step
kernels (recurrent.py); seq2seq attention (attention, attention_weights, weighted_sum) on cuBLAS
strided-batched GEMMs and masked-softmax row kernels, and scaled dot-product attention the same way
(materialising the (Tq, Tk) weights), or streaming when those would be large (attention.py); layer norm
on per-row kernels (norm.py). The words ops have no CUDA kernel: the dispatcher runs them on the next
CuPy backend (numba-cuda, else the reference).

This package owns every GPU buffer: outputs and workspaces are CuPy arrays (CuPy's memory pool),
allocated on the inputs' device, and the kernels get their addresses, the device and CuPy's current
stream for that device (_launch.py). They only queue work on that stream (no synchronization), so a
result is ready for whatever the caller queues next on the same stream, as with any CuPy op.

Arguments arrive validated by `pyrnn.ops` (shapes, one float dtype, CuPy). The family modules make
them C-contiguous (copied only when they are not already) and check that they share one device.
``saved`` payloads are tuples; like the reference they keep references to the caller's inputs (no
copies) and to the outputs.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os

from pyrnn._arrays import cupy_module
from pyrnn.backends import BackendUnavailable, _extension_unavailable, export_ops
from pyrnn.backends import limits as _limits

ARRAYS = {"cupy"}
NAME = "cuda"

# Sizes handed to a 32-bit int (pyrnn.backends.limits): cuBLAS takes int sizes, leading dimensions and
# batch counts (strides are 64-bit); the row kernels index with 64-bit integers over grid-strided
# loops, and SDPA takes its streaming kernels (no GEMM) whenever a size would not fit, so only the
# recurrent ops and the seq2seq attention (one strided-batched GEMM over N) are limited.
INT32_SIZES = {"rnn": _limits.recurrent_sizes, "lstm": _limits.recurrent_sizes, "gru": _limits.recurrent_sizes,
               "attention": _limits.attention_sizes_batched, "attention_weights": _limits.attention_sizes_batched,
               "weighted_sum": _limits.attention_sizes_batched}


def _preload_cublas():
    """Load libcublas.so.13 from the nvidia-cublas wheel wherever `nvidia` imports from (the
    extension's RPATH covers only a wheel in pyrnn's own site-packages). True when loaded."""
    spec = importlib.util.find_spec("nvidia")
    for d in (spec.submodule_search_locations if spec else None) or ():
        lib = os.path.join(d, "cu13", "lib", "libcublas.so.13")
        if os.path.isfile(lib):
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)  # its RPATH ($ORIGIN) finds libcublasLt next to it
            return True
    return False


try:
    from pyrnn import _cuda
    _import_error = None
except ImportError as e:  # built without a CUDA toolkit, or cuBLAS not found at load time
    _cuda, _import_error = None, e
    if "libcublas" in str(e):
        try:
            if _preload_cublas():
                from pyrnn import _cuda
        except (ImportError, OSError) as e2:
            _import_error = e2


def probe():
    if _cuda is None:
        hint = " (pip install 'nvidia-cublas>=13,<14', or pyrnn[cuda])" if "libcublas" in str(_import_error) else ""
        raise _extension_unavailable("pyrnn._cuda",
                                     "pyrnn._cuda not built (no CUDA toolkit at build time, or PYRNN_CUDA=OFF)",
                                     f"pyrnn._cuda failed to load: {_import_error}{hint}")
    if not hasattr(_cuda, "lstm_forward"):
        raise BackendUnavailable("pyrnn._cuda is an old build without kernels; reinstall pyrnn")
    dev = _cuda.device_info()
    if dev["device_count"] == 0:
        raise BackendUnavailable(f"no GPU visible ({dev.get('error', 'cudaGetDeviceCount returned 0')})")
    if cupy_module() is None:
        raise BackendUnavailable("CuPy not installed (pip install 'pyrnn[cuda]')")


def describe():
    b, d = _cuda.build_info(), _cuda.device_info()
    return (f"CUDA kernels on {', '.join(d['devices'])} (built with CUDA {b['cuda_version']} for arch "
            f"{b['cuda_archs']}; cuBLAS {b['cublas_runtime_version']} from {b['cublas_from']})")


if _cuda is not None:  # the family modules call the extension: only where it loaded
    export_ops(globals())
