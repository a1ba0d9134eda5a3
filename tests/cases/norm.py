"""The norm family's cases (layer_norm: y and the gradients dx, dgamma, dbeta), for every backend: the
CPU backends (tests/test_norm_backends.py), the GPU (tests/test_cuda_backend.py), the CUDA host
emulator (tests/cuda_emulated_cases.py) and Numba's CUDA simulator (tests/numba_cuda_word_cases.py).

Tolerances: cases.core (float32 1e-5, float64 1e-12 of the reference tensor's largest magnitude). The
kernels sum rows in other orders (cpp and CUDA accumulate the statistics in double and dgamma/dbeta
over fixed row chunks, NumPy pairwise in the dtype, the numba-cuda kernels in a tree); measured worst
case 8e-7 in float32 (dgamma over 600 rows of 513), 1.4e-15 in float64. A wrong term is O(1).
"""
from __future__ import annotations

import numpy as np

from .core import RTOL, assert_close, compare_all, mismatch, strided  # noqa: F401  (the family's norm)

NAMES = ("y", "dx", "dgamma", "dbeta")
# (..., D): one element (D = 1: dx exactly 0), a single row, odd widths (D not a multiple of 32), no rows
# (dgamma = dbeta = 0), a transformer-sized (N, T, D), several 64-row chunks with a partial last one
SHAPES = [(1, 1), (1, 7), (3, 5, 7), (0, 4), (4, 33, 64), (2, 300, 513)]
# rows far from zero (mean 1000, spread 3): the mean must be removed before squaring; with eps 0.5
OFFSET_SHAPE, OFFSET, OFFSET_EPS = (5, 40, 96), 1000.0, 0.5
STRIDED_SHAPE = (6, 10, 48)  # every other column of x and gamma, dy in Fortran order

# the simulator's cases (every CUDA thread a Python thread: small), name -> spec: shape, layout of every
# array ("C", "F", "strided"), eps (1e-5); 'deterministic': two runs bitwise equal; 'gpu_sizes': the
# GPU's block sizes
SIMULATOR_CASES = {
    "1row_D7": dict(shape=(1, 7)),
    "D1": dict(shape=(3, 1)),
    "D333": dict(shape=(2, 333)),
    "D1000": dict(shape=(1, 1000), eps=1e-3),
    "3d": dict(shape=(2, 3, 7)),
    "chunks": dict(shape=(9, 5)),                 # several column-sum chunks for dgamma, dbeta
    "empty": dict(shape=(0, 5)),
    "empty_3d": dict(shape=(2, 0, 4)),
    "fortran": dict(shape=(2, 3, 9), layout="F"),
    "strided": dict(shape=(3, 9), layout="strided"),
    "deterministic": dict(shape=(5, 24)),    # 2 chunks
    "gpu_sizes": dict(shape=(2, 300)),
}


def make_case(shape, dtype, offset=1.0, seed=0):
    """x (spread 3 around `offset`), gamma, beta, dy: NumPy, of `dtype`."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + offset).astype(dtype)
    gamma = rng.standard_normal(shape[-1]).astype(dtype)
    beta = rng.standard_normal(shape[-1]).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, dy


def run(api, x, gamma, beta, dy, eps=1e-5):
    """[y, dx, dgamma, dbeta] from api's layer_norm_forward and _backward (api: a backend module, the
    reference, or pyrnn.ops with the backend forced)."""
    y, saved = api.layer_norm_forward(x, gamma, beta, eps)
    return [y, *api.layer_norm_backward(dy, saved)]
