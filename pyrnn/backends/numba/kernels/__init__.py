"""Numba kernels behind `pyrnn.backends.numba`, one module per op family (recurrent, words,
attention, norm, as every tree of pyrnn: docs/architecture.md) and `core`, the scalar math and
compile options they share.

Every kernel is ``@njit(cache=True, nogil=True)``, runs serial fused loops in the
dtype of its arrays (float32 stays float32: constants are made with
``dtype.type``, never from bare Python literals, which numba would type as
float64) and takes only C-contiguous arrays, so each kernel compiles to exactly
one specialization per float dtype.
"""
