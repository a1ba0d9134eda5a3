"""The recurrent family's cases (rnn, lstm, gru with reset_after False and True), for every backend:
the CPU backends (tests/test_recurrent_backends.py, tests/test_lengths.py), the GPU
(tests/test_cuda_backend.py), the CUDA host emulator (tests/cuda_emulated_cases.py) and Numba's CUDA
simulator (tests/numba_cuda_cases.py). Tolerances: cases.core (float32 1e-5, float64 1e-12 of the
reference tensor's largest magnitude).
"""
from __future__ import annotations

import numpy as np

from .core import RTOL, assert_close, compare_all, mismatch, strided  # noqa: F401  (the family's norm)

# op name -> (number of gates, GRU reset_after)
OPS = {"rnn": (1, None), "lstm": (4, None), "gru": (3, False), "gru_reset_after": (3, True)}
# (N, T, D, H): the single-element case, N=1, T=1, sizes that are no multiple of 8 or 16, D != H, a larger one
SHAPES = [(1, 1, 1, 1), (1, 6, 5, 3), (4, 1, 3, 7), (3, 7, 13, 9), (2, 5, 9, 17), (16, 20, 33, 47)]
# the CUDA kernels beyond SHAPES: several thread blocks per step (N*H > 256) and column-sum blocks
# (gates*H > 32), many rows in the weight-gradient GEMMs and the bias column sums
LARGE_SHAPE = (24, 30, 40, 130)
# the empty corners: no batch row, no step, neither, no input features
EMPTY_SHAPES = [(0, 3, 4, 5), (2, 0, 4, 5), (0, 0, 4, 5), (3, 4, 0, 5)]
# Numba's CUDA simulator runs every CUDA thread as a Python thread: SHAPES without the larger ones,
# and H > 32 (more than one simulated block of a row kernel)
SIMULATOR_SHAPES = SHAPES[:4] + [(2, 5, 9, 33)]
# (bias, initial state given, final-state gradient given): every flag on and off, pairwise
VARIANTS = [(True, True, True), (False, False, False), (True, False, True), (False, True, False)]
# the shapes of the other runs, by kind
INFERENCE_SHAPE = (3, 7, 13, 9)   # train=False: saves nothing, equals train=True
STRIDED_SHAPE = (4, 6, 11, 5)     # Fortran-ordered and non-contiguous inputs, left unchanged
CHUNKS_SHAPE = (3, 9, 6, 5)       # two chunks with the state carried equal one run (split at 4)
DETERMINISTIC_SHAPE = (16, 20, 33, 47)

FWD_NAMES = {"rnn": ["hs", "hT"], "lstm": ["hs", "hT", "cT"]}
GRAD_NAMES = {"rnn": ["dxs", "dWx", "dWh", "db", "dh0"], "lstm": ["dxs", "dWx", "dWh", "db", "dh0", "dc0"]}


def names(op, kind):
    """The names of op's forward outputs (kind "fwd") or gradients ("grad")."""
    table = FWD_NAMES if kind == "fwd" else GRAD_NAMES
    return table.get(op, table["rnn"])


def make_case(op, shape, dtype, bias=True, state=True, seed=0):
    """Weights, inputs, initial states and output gradients for one op (NumPy); states None when not
    given; reset_after the GRU form (None for rnn and lstm)."""
    gates, reset_after = OPS[op]
    N, T, D, H = shape
    rng = np.random.default_rng(seed)
    scale = 1 / np.sqrt(H)  # keeps the pre-activations O(1): gates neither saturate nor vanish

    def r(*s, k=1.0):
        return (rng.standard_normal(s) * k).astype(dtype)

    b = None
    if bias:
        b = r(2, gates * H, k=0.5) if reset_after else r(gates * H, k=0.5)
    return dict(
        xs=r(N, T, D), Wx=r(D, gates * H, k=scale), Wh=r(H, gates * H, k=scale), b=b,
        h0=r(N, H) if state else None, c0=r(N, H) if state and op == "lstm" else None,
        dhs=r(N, T, H), dhT=r(N, H), dcT=r(N, H), reset_after=reset_after,
    )


def arrays(c, move):
    """c with every array moved by `move` (to the device, or to another layout); the rest as is."""
    return {k: move(v) if isinstance(v, np.ndarray) else v for k, v in c.items()}


def run(api, op, c, train=True, grads_in=True):
    """Forward then backward of the contract's functions in `api` (a backend module, the reference, or
    pyrnn.ops with the backend forced): (forward outputs, gradients or None, saved)."""
    dhT, dcT = (c["dhT"], c["dcT"]) if grads_in else (None, None)
    if op == "lstm":
        *fwd, saved = api.lstm_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], c["c0"], train)
        grads = api.lstm_backward(c["dhs"], dhT, dcT, saved) if train else None
    elif op == "rnn":
        *fwd, saved = api.rnn_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], train)
        grads = api.rnn_backward(c["dhs"], dhT, saved) if train else None
    else:
        *fwd, saved = api.gru_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], OPS[op][1], train)
        grads = api.gru_backward(c["dhs"], dhT, saved) if train else None
    return list(fwd), (None if grads is None else list(grads)), saved


def concat_chunks(op, backend, c, split):
    """Forward over xs[:, :split] then xs[:, split:] carrying the state; backward in reverse,
    carrying dh0 (and dc0) of the second chunk into the first as its dhT (dcT). NumPy or CuPy
    arrays in, the same kind out (tests/test_cuda_backend.py runs it on the GPU)."""
    import pyrnn
    from pyrnn import ops
    from pyrnn._arrays import get_xp

    xp = get_xp(c["xs"])
    first = dict(c, xs=c["xs"][:, :split], dhs=c["dhs"][:, :split])
    second = dict(c, xs=c["xs"][:, split:], dhs=c["dhs"][:, split:])
    with pyrnn.use_backend(backend):
        if op == "lstm":
            hs1, h1, c1, s1 = ops.lstm_forward(first["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], c["c0"])
            hs2, h2, c2, s2 = ops.lstm_forward(second["xs"], c["Wx"], c["Wh"], c["b"], h1, c1)
            g2 = ops.lstm_backward(second["dhs"], c["dhT"], c["dcT"], s2)
            g1 = ops.lstm_backward(first["dhs"], g2[4], g2[5], s1)
            fwd = [xp.concatenate([hs1, hs2], axis=1), h2, c2]
        elif op == "rnn":
            hs1, h1, s1 = ops.rnn_forward(first["xs"], c["Wx"], c["Wh"], c["b"], c["h0"])
            hs2, h2, s2 = ops.rnn_forward(second["xs"], c["Wx"], c["Wh"], c["b"], h1)
            g2 = ops.rnn_backward(second["dhs"], c["dhT"], s2)
            g1 = ops.rnn_backward(first["dhs"], g2[4], s1)
            fwd = [xp.concatenate([hs1, hs2], axis=1), h2]
        else:
            ra = OPS[op][1]
            hs1, h1, s1 = ops.gru_forward(first["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], ra)
            hs2, h2, s2 = ops.gru_forward(second["xs"], c["Wx"], c["Wh"], c["b"], h1, ra)
            g2 = ops.gru_backward(second["dhs"], c["dhT"], s2)
            g1 = ops.gru_backward(first["dhs"], g2[4], s1)
            fwd = [xp.concatenate([hs1, hs2], axis=1), h2]
    grads = [xp.concatenate([g1[0], g2[0]], axis=1)]  # dxs
    grads += [a + b if a is not None else None for a, b in zip(g1[1:4], g2[1:4])]  # dWx, dWh, db summed
    grads += list(g1[4:])  # dh0 (dc0) of the whole sequence
    return fwd, grads


# ---- the packed ops (PyTorch's PackedSequence layout; what `lengths=` runs) ------------------------

def packed_case(op, dtype, seed=3):
    """A packed batch of 5 sequences (lengths 7, 6, 4, 4, 2: a run of equal sizes, single steps,
    a step where 2 sequences end), D = 3, H = 6, with initial states and every output's gradient."""
    rng = np.random.default_rng(seed)
    batch_sizes = np.array([5, 5, 4, 4, 2, 1, 1])
    P, D, H = int(batch_sizes.sum()), 3, 6
    gates, reset_after = OPS[op]
    r = lambda *s: rng.standard_normal(s).astype(dtype) / 2  # noqa: E731
    b = r(2, gates * H) if reset_after else r(gates * H)
    name = op.split("_")[0]
    states = [r(5, H)] + ([r(5, H)] if name == "lstm" else [])
    return dict(name=name, args=(r(P, D), batch_sizes, r(D, gates * H), r(H, gates * H), b), states=states,
                extra=(reset_after,) if name == "gru" else (), douts=[r(P, H)] + [r(5, H) for _ in states])


def packed_to_device(c, to_device):
    """packed_case's c with its arrays moved by `to_device`; batch_sizes stays on the host."""
    return dict(c, args=tuple(a if k == 1 else to_device(a) for k, a in enumerate(c["args"])),
                states=[to_device(a) for a in c["states"]], douts=[to_device(a) for a in c["douts"]])


def run_packed(api, c):
    """The packed forward and backward of `api` (pyrnn.ops, or a backend module: the same positional
    arguments) on packed_case's c: outputs, then gradients."""
    *outs, saved = getattr(api, f"{c['name']}_packed_forward")(*c["args"], *c["states"], *c["extra"], True)
    grads = getattr(api, f"{c['name']}_packed_backward")(*c["douts"], saved)
    return list(outs) + list(grads)
