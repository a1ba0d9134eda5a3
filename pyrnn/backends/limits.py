"""Sizes a backend's kernels hand to 32-bit integers, and the check `pyrnn.ops` runs on them.

A backend whose kernels pass sizes or leading dimensions to a 32-bit BLAS (OpenBLAS's and cuBLAS's
int arguments) declares ``INT32_SIZES = {op: sizes}`` in its package: for each op, a function of the
op's dimensions (what `pyrnn.ops` passes as ``dims``) giving the (label, value) of every size that
reaches such an integer. The functions below describe the ops' GEMM shapes; the backends pick
theirs. A backend or op without an entry has no limit (the reference, numba and numba-cuda go
through NumPy / CuPy, which take any size).
"""
from __future__ import annotations

import importlib

INT32_MAX = 2**31 - 1


def recurrent_sizes(N, T, D, G):
    # the input projection and the weight gradients are GEMMs over N*T rows; per step, the gate
    # gradients of step t are read with leading dimension T*G (G = gates * H columns)
    return (("N*T (batch times sequence length)", N * T), ("D (input width)", D),
            ("T*G (sequence length times gate width)", T * G))


def packed_recurrent_sizes(P, D, G):
    # packed sequences: the input projection and the weight gradients are GEMMs over the P packed rows;
    # a step's rows are contiguous, read with leading dimension G
    return (("P (packed rows: the sum of the lengths)", P), ("D (input width)", D), ("G (gate width)", G))


def affine_sizes(R, D, M):
    # x (R, D) @ W (D, M) and the backward's two products: R, D and M are GEMM sizes and leading dims
    return (("rows (the product of x's leading dimensions)", R), ("D (x's last axis, the inner size)", D),
            ("M (W's width)", M))


def attention_sizes(N, Te, Td, H):
    # per batch row, GEMMs (Td, H) x (H, Te) and (Td, Te) x (Te, H): Te, Td, H are sizes and leading dims
    return (("Te (encoder steps)", Te), ("Td (decoder steps)", Td), ("H (state width)", H))


def attention_sizes_batched(N, Te, Td, H):
    # the same products as one cuBLAS strided-batched call over the N batch rows: N is its batch count
    return (("N (batch rows, cuBLAS's batch count)", N),) + attention_sizes(N, Te, Td, H)


def sdpa_block_sizes(N, Hh, Tq, Tk, dk, dv):
    # blocks of at most 128 queries x 256 keys: only dk and dv reach a GEMM as sizes and leading dims
    return (("dk (the key width)", dk), ("dv (the value width)", dv))


def check_int32_sizes(op: str, backend, dims):
    """Raise ValueError, before anything is allocated, when a size that `backend` (a backend module,
    or its name) hands to a 32-bit integer for `op` is above 2**31 - 1. `dims`: the op's dimensions."""
    if isinstance(backend, str):
        backend = _module(backend)
    sizes = getattr(backend, "INT32_SIZES", {}).get(op)
    if sizes is None or dims is None:
        return
    for label, value in sizes(**dims):
        if value > INT32_MAX:
            raise ValueError(
                f"{op}_forward: {label} = {value} exceeds the {backend.NAME} backend's 32-bit BLAS limit "
                f"({INT32_MAX}); split the call (a smaller batch; for a recurrent op, shorter sequences: "
                f"truncated BPTT), or run it on the reference (pyrnn.use_backend('reference'))")


def _module(name):
    """Backend `name`'s package, imported but not probed: its declarations hold whether or not it
    can run here."""
    from . import _MODULES

    return importlib.import_module(_MODULES[name])


def int32_table():
    """op -> {backend name: sizes} over every known backend (for the docs and tests)."""
    from . import _MODULES

    table = {}
    for name in _MODULES:
        for op, sizes in getattr(_module(name), "INT32_SIZES", {}).items():
            table.setdefault(op, {})[name] = sizes
    return table


# The GPU backends' SDPA materialises the (N, Hh, Tq, Tk) weights up to this size and streams over
# query/key blocks (keeping only the row log-sum-exp) above it: the cuda backend and numba-cuda alike.
SDPA_WEIGHTS_BYTES = 256 << 20
