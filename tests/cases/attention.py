"""The attention family's cases: seq2seq attention (attention, attention_weights, weighted_sum) and
scaled dot-product attention (sdpa), for every backend: the CPU backends
(tests/test_attention_backends.py), the GPU (tests/test_cuda_backend.py), the CUDA host emulator
(tests/cuda_emulated_cases.py) and Numba's CUDA simulator (tests/numba_cuda_attention_cases.py).

Tolerances: cases.core (float32 1e-5, float64 1e-12 of the reference tensor's largest magnitude). The
kernels sum in other orders than NumPy (BLAS blocking, an online softmax that rescales partial sums
block by block, a strided loop per thread then a tree over the block, a polynomial exp of about 2 ulp;
the blocked SDPA recomputes the weights as exp(s - lse)): measured worst case on the cpp backend about
1e-6 (dk of a 300-key causal case), float64 about 1e-15, while a wrong term is an O(1) error. Masked
keys and queries that see no key are checked for exact zeros by the tests.

The emulator and the simulator run every row block (every CUDA thread, in the simulator) on the CPU,
so they have their own, smaller shapes of the same kinds (below, by backend).
"""
from __future__ import annotations

import numpy as np

from .core import RTOL, assert_close, compare_all, mismatch, strided  # noqa: F401  (the family's norm)

MASKS = ("none", "padding", "all-masked-row")

# ---- seq2seq attention (N, Te, Td, H) ----------------------------------------------------------------
# single elements, Td > Te, odd sizes, the date task's shape, a long encoder (300 keys: several strides
# of a row block)
S2S_SHAPES = [(1, 1, 1, 1), (2, 3, 7, 5), (3, 7, 5, 9), (4, 29, 11, 33), (2, 300, 13, 17)]
# the corners: no batch row, no decoder step, H = 0 (every score 0: uniform weights)
S2S_CORNERS = [(0, 3, 2, 4), (2, 3, 0, 4), (2, 3, 4, 0)]
# attention_weights and weighted_sum, each on its own (mask "padding")
PARTS_SHAPES = [(1, 1, 1, 1), (3, 7, 5, 9), (2, 300, 13, 17)]
# NaN and Inf in the padded keys' rows (hs), the padding's hole included: they must reach no output or gradient
NAN_S2S_SHAPES = [(2, 3, 7, 5), (4, 29, 11, 33)]
# the simulator: 40 keys (longer than its 16-thread blocks: several keys per thread, a partial last
# stride), 300 keys (the same on a GPU's 256-thread blocks)
SIMULATOR_S2S_SHAPES = [(1, 1, 1, 1), (2, 3, 7, 5), (3, 7, 5, 9), (2, 40, 3, 17), (1, 300, 2, 5)]
SIMULATOR_PARTS_SHAPES = [(1, 1, 1, 1), (3, 7, 5, 9), (2, 40, 3, 17), (0, 3, 2, 4)]
SIMULATOR_NAN_S2S_SHAPES = [(2, 3, 7, 5), (2, 40, 3, 17)]
STRIDED_S2S_SHAPE = (3, 7, 5, 9)  # non-contiguous inputs, then train=False

# ---- scaled dot-product attention (N, Hh, Tq, Tk, dk, dv) ----------------------------------------------
# single elements, Tq != Tk both ways, odd sizes, dk != dv, long T (300) so that several key and query
# blocks (and the online rescaling between key blocks) are exercised; one head over several blocks, so
# the cpp backward's block split (fewer heads than threads) is compared too
SDPA_SHAPES = [(1, 1, 1, 1, 1, 1), (2, 3, 5, 300, 8, 5), (2, 3, 13, 7, 8, 3), (3, 2, 9, 9, 7, 11),
               (2, 2, 300, 300, 16, 16), (1, 2, 70, 520, 4, 6), (1, 1, 300, 300, 8, 8)]
# (mask, causal); causal attention needs Tq == Tk, so those variants only pair with square shapes
SDPA_VARIANTS = [("none", False), ("padding", False), ("all-masked-row", False), ("none", True), ("padding", True)]
STRIDED_SDPA_SHAPE = (2, 3, 13, 7, 8, 3)  # a transposed q (how MultiHeadAttention splits heads), then train=False


def sdpa_cases(shapes):
    """(mask, causal, shape) for every variant and shape (causal ones on square shapes only)."""
    return [(m, c, s) for m, c in SDPA_VARIANTS for s in shapes if not c or s[2] == s[3]]


def sdpa_id(mask, causal, shape):
    return f"{mask}{'-causal' if causal else ''}-{'x'.join(map(str, shape))}"


SDPA_CASES = sdpa_cases(SDPA_SHAPES)
SDPA_IDS = [sdpa_id(*c) for c in SDPA_CASES]

# the emulator (a row block per query row and head): for the 300-query causal shape a 33-query one
EMULATOR_SDPA_SHAPES = [(1, 1, 1, 1, 1, 1), (2, 3, 5, 300, 8, 5), (2, 3, 13, 7, 8, 3), (3, 2, 9, 9, 7, 11),
                        (2, 2, 33, 33, 16, 16)]
# the cuda backend's streaming SDPA (its kernels tile keys and queries by 64): single elements, 300 keys
# (5 key tiles, a partial last one) with padding, Tq > Tk with dk != dv and an all-masked sequence,
# causal with padding (query 0 of sequence 0 sees no key) on one tile and on 70 queries (two query
# tiles: the key-major kernel starts at tile j, the forward's causal cut mid-tile)
EMULATOR_SDPA_STREAM_CASES = [("none", False, (1, 1, 1, 1, 1, 1)), ("padding", False, (2, 3, 5, 300, 8, 5)),
                              ("all-masked-row", False, (2, 3, 13, 7, 8, 3)), ("padding", True, (3, 2, 9, 9, 7, 11)),
                              ("padding", True, (2, 1, 70, 70, 5, 3)), ("none", True, (1, 2, 33, 33, 16, 16))]
EMULATOR_NAN_SDPA_CASES = [("nan-in-padding", False, (2, 3, 13, 7, 8, 3)),
                           ("nan-in-padding", True, (3, 2, 9, 9, 7, 11))]
EMULATOR_NAN_SDPA_STREAM_CASES = [("nan-in-padding", False, (2, 3, 5, 300, 8, 5)),
                                  ("nan-in-padding", True, (2, 1, 70, 70, 5, 3))]
EMULATOR_PARTS_SHAPES = PARTS_SHAPES + [(2, 3, 4, 0)]

# the simulator: single elements, Tq < Tk (40 and 300 keys), Tq > Tk with dk != dv and two heads, a
# square shape for the causal mask; then no batch row, no query
SIMULATOR_SDPA_SHAPES = [(1, 1, 1, 1, 1, 1), (2, 1, 3, 40, 8, 5), (1, 1, 2, 300, 4, 3), (2, 2, 7, 3, 4, 3),
                         (2, 1, 9, 9, 5, 7)]
SIMULATOR_SDPA_CORNERS = [(0, 2, 3, 3, 4, 2), (2, 1, 0, 5, 4, 3)]
SIMULATOR_NAN_SDPA_CASES = [("nan-in-padding", False, (2, 1, 3, 40, 8, 5)), ("nan-in-padding", True, (2, 1, 9, 9, 5, 7))]
# the numba-cuda blocked SDPA, forced by a weights budget of R query rows: (shape, mask, causal, R). Two-query
# blocks over 9 (the last one partial) with padding, then causal (blocks see growing key prefixes;
# query 0 of sequence 0 sees only key 0, which is masked); an all-masked sequence under causal;
# Tq > Tk with dk != dv and two heads; Tq < Tk one query per block; NaN in the padding
SIMULATOR_BLOCKED_CASES = [((2, 1, 9, 9, 5, 7), "padding", False, 2), ((2, 1, 9, 9, 5, 7), "padding", True, 2),
                           ((2, 1, 9, 9, 5, 7), "all-masked-row", True, 4), ((2, 2, 7, 3, 4, 3), "padding", False, 3),
                           ((2, 1, 3, 40, 8, 5), "none", False, 1), ((2, 1, 9, 9, 5, 7), "nan-in-padding", True, 2)]


# ---- the generators ------------------------------------------------------------------------------------

def poison_masked_rows(x, mask):
    """x (N, T, d) or (N, Hh, T, d) with the masked keys' rows set to NaN, +inf, -inf in turn."""
    x = x.copy()
    view = x if x.ndim == 3 else x.transpose(0, 2, 1, 3)
    for i, (n, t) in enumerate(zip(*np.nonzero(~mask))):
        view[n, t] = (np.nan, np.inf, -np.inf)[i % 3]
    return x


def s2s_case(shape, dtype, mask_kind, seed=0):
    """hs, hq, dc, da, mask for seq2seq attention (da: the weights' gradient, for attention_weights).
    mask_kind: "none" (mask None), "padding" (the last sequence padded, a hole in the first),
    "all-masked-row" (and sequence N // 2 all masked), "nan-in-padding" (padding, NaN/Inf in hs there)."""
    N, Te, Td, H = shape
    rng = np.random.default_rng(seed)
    hs, hq = rng.standard_normal((N, Te, H)).astype(dtype), rng.standard_normal((N, Td, H)).astype(dtype)
    dc, da = rng.standard_normal((N, Td, H)).astype(dtype), rng.standard_normal((N, Td, Te)).astype(dtype)
    mask = None
    if mask_kind != "none":
        mask = np.ones((N, Te), dtype=bool)
        mask[-1, Te // 2 + 1:] = False  # the last sequence padded
        if Te > 2:
            mask[0, 1] = False  # a hole, not only trailing padding
        if mask_kind == "all-masked-row":
            mask[N // 2] = False
        if mask_kind == "nan-in-padding":
            hs = poison_masked_rows(hs, mask)
    return hs, hq, dc, da, mask


def sdpa_case(shape, dtype, mask_kind, seed=0):
    """q, k, v, dout, mask; mask_kind as s2s_case's (key 0 masked in the first sequence: under a causal
    mask its query 0 sees nothing; "nan-in-padding": NaN/Inf in k and v there)."""
    N, Hh, Tq, Tk, dk, dv = shape
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((N, Hh, Tq, dk)).astype(dtype), rng.standard_normal((N, Hh, Tk, dk)).astype(dtype)
    v, dout = rng.standard_normal((N, Hh, Tk, dv)).astype(dtype), rng.standard_normal((N, Hh, Tq, dv)).astype(dtype)
    mask = None
    if mask_kind != "none":
        mask = np.ones((N, Tk), dtype=bool)
        mask[-1, Tk // 3 + 1:] = False
        if Tk > 2:
            mask[0, 0] = False
        if mask_kind == "all-masked-row":
            mask[N // 2] = False
        if mask_kind == "nan-in-padding":
            k, v = poison_masked_rows(k, mask), poison_masked_rows(v, mask)
    return q, k, v, dout, mask


# ---- runners over any api (a backend module, the reference, or pyrnn.ops with the backend forced) ----

def run_attention(api, hs, hq, dc, mask, train=True):
    """[c, a, dhs, dhq] (train) or [c, a, saved]."""
    c, a, saved = api.attention_forward(hs, hq, mask, train)
    return [c, a, *api.attention_backward(dc, saved)] if train else [c, a, saved]


def run_parts(api, hs, hq, dc, da, mask):
    """attention_weights then weighted_sum, each with its backward: [a, dhs, dhq, c, dhs(sum), da]."""
    a, sa = api.attention_weights_forward(hs, hq, mask)
    c, sw = api.weighted_sum_forward(hs, a)
    return [a, *api.attention_weights_backward(da, sa), c, *api.weighted_sum_backward(dc, sw)]


PARTS_NAMES = ("a", "dhs", "dhq", "c", "dhs(sum)", "da")


def run_sdpa(api, q, k, v, dout, mask, causal, train=True):
    """[out, dq, dk, dv] (train) or [out, saved]."""
    out, saved = api.sdpa_forward(q, k, v, mask, causal, train)
    return [out, *api.sdpa_backward(dout, saved)] if train else [out, saved]
