"""The C++ CPU backend (pyrnn._cpu, built from cpp/): fused RNN/LSTM/GRU kernels over whole or packed
sequences on OpenBLAS (recurrent.py), embedding, affine and softmax cross-entropy (words.py), the book's attention
and streaming scaled dot-product attention (attention.py), and layer norm (norm.py). Softmax,
sigmoid cross-entropy and dropout have no C++ kernel: the dispatcher runs them on the next backend.

Threads: the kernels split their GEMMs (into fixed row/column blocks, one single-threaded OpenBLAS
call each) and large pointwise passes over one persistent pool of PYRNN_NUM_THREADS threads (default:
the hardware's); results are bitwise identical across runs at the same thread count.

Arguments arrive validated by `pyrnn.ops` (shapes, one float dtype, NumPy). The C++ bindings take
only C-contiguous arrays of the exact dtype (they never convert), so the family modules make inputs
contiguous, and only when they are not already. ``saved`` payloads are tuples of arrays the kernels
made or were given; they keep references to the caller's inputs (no copies), like the reference.
"""
from pyrnn.backends import _extension_unavailable, export_ops
from pyrnn.backends import limits as _limits

ARRAYS = {"numpy"}
NAME = "cpp"

# Sizes handed to a 32-bit int (pyrnn.backends.limits): the GEMMs go to scipy-openblas32 (int sizes and
# leading dimensions; element offsets are 64-bit); pyrnn's own loops index with 64-bit integers and
# split task counts past 2**31 (run_tasks, cpp/include/pyrnn/core/threads.hpp), so embedding, softmax
# cross-entropy, layer norm and the attention row passes have no limit.
INT32_SIZES = {"rnn": _limits.recurrent_sizes, "lstm": _limits.recurrent_sizes, "gru": _limits.recurrent_sizes,
               "rnn_packed": _limits.packed_recurrent_sizes, "lstm_packed": _limits.packed_recurrent_sizes,
               "gru_packed": _limits.packed_recurrent_sizes,
               "affine": _limits.affine_sizes, "attention": _limits.attention_sizes,
               "attention_weights": _limits.attention_sizes, "weighted_sum": _limits.attention_sizes,
               "sdpa": _limits.sdpa_block_sizes}

try:
    # Load OpenBLAS (libscipy_openblas.so) before the extension needs it: the extension's
    # RPATH finds it too, but an already loaded library works wherever the packages sit.
    import scipy_openblas32  # noqa: F401
    from pyrnn import _cpu
except ImportError as e:  # not built (no compiler), BLAS missing, or failed to load
    _cpu, _import_error = None, e


def probe():
    if _cpu is None:
        raise _extension_unavailable("pyrnn._cpu",
                                     "pyrnn._cpu not built (PYRNN_CPU=OFF, or no C++ compiler at install time)",
                                     f"pyrnn._cpu failed to import: {_import_error}")


def describe():
    info = _cpu.build_info()
    return (f"C++ kernels ({info['compiler']}), {info['blas']} {info['blas_version']} "
            f"({info['blas_core']}, {info['blas_threads']} thread per call), "
            f"{info['threads']} pyrnn threads (PYRNN_NUM_THREADS)")


if _cpu is not None:  # the family modules call the extension: only where it loaded
    export_ops(globals())
