"""The backend-vs-reference cases of the numba-cuda backend, run two ways by test_numba_cuda_backend.py.

* Under Numba's CUDA simulator, on NumPy arrays, where no GPU exists: the simulator must be switched
  on before numba is imported, so test_numba_cuda_backend.py runs this file in a subprocess
  (``NUMBA_ENABLE_CUDASIM=1 python tests/numba_cuda_cases.py``), which calls the backend module
  directly and prints one JSON line per case: [case id, error message or null].
* On a GPU, on CuPy arrays through `pyrnn.ops` with the backend forced (the same `check`).

Tolerances as tests/test_backend_vs_reference.py, relative to the largest magnitude of the reference
tensor: float32 1e-5, float64 1e-12. On the GPU the differences come from cuBLAS summation order and
libdevice's exp/tanh (within 2 ulp); under the simulator from NumPy's matmul order and Python's math
(the simulator evaluates math.tanh in float64, then stores float32).
"""
from __future__ import annotations

import itertools

import numpy as np

RTOL = {"float32": 1e-5, "float64": 1e-12}
# op -> (number of gates, GRU reset_after)
OPS = {"rnn": (1, None), "lstm": (4, None), "gru": (3, False), "gru_reset_after": (3, True)}
# (N, T, D, H): single element, N=1, T=1, D != H, H > 32, N*H over one simulated block is not needed
SHAPES = [(1, 1, 1, 1), (1, 6, 5, 3), (4, 1, 3, 7), (3, 7, 13, 9), (2, 5, 9, 33)]
# (bias, initial state given, final-state gradient given), pairwise as in test_backend_vs_reference
VARIANTS = [(True, True, True), (False, False, False), (True, False, True), (False, True, False)]
DTYPES = ("float32", "float64")
# the other runs, by kind: train=False, non-contiguous inputs (unchanged afterwards), N = 0
SPECIAL = {"inference": (3, 7, 13, 9), "strided": (4, 6, 11, 5), "empty": (0, 3, 4, 5), "empty_T": (2, 0, 4, 3)}


# word-level ops: embedding index shapes (V = 7, D = 5), dropout ratios
EMBEDDING_IDX = [(6,), (3, 5), (0,), (2, 40)]
DROPOUT_RATIOS = [0.0, 0.5, 0.9]


def case_ids():
    """Every case id: 'op/NxTxDxH/bias-state-dhT/dtype', inference, strided, empty and packed runs of
    the recurrent ops, 'embedding/idx shape/dtype' and 'dropout/ratio/global|generator/dtype'."""
    ids = []
    for op, shape, v, dt in itertools.product(OPS, SHAPES, VARIANTS, DTYPES):
        ids.append(f"{op}/{'x'.join(map(str, shape))}/{''.join(str(int(f)) for f in v)}/{dt}")
    for op, dt in itertools.product(OPS, DTYPES):
        ids += [f"{op}/{kind}/{dt}" for kind in SPECIAL]
        ids.append(f"{op}/packed/{dt}")  # the packed ops (what `lengths` runs), test_lengths.packed_case
    for dt in DTYPES:
        ids += [f"embedding/{'x'.join(map(str, s))}/{dt}" for s in EMBEDDING_IDX]
        ids += [f"dropout/{r}/{g}/{dt}" for r in DROPOUT_RATIOS for g in ("global", "generator")]
    return ids


def make_case(op, shape, dtype, bias=True, state=True, seed=0):
    """NumPy weights, inputs, states and output gradients for one op (states None when not given)."""
    gates, reset_after = OPS[op]
    N, T, D, H = shape
    rng = np.random.default_rng(seed)

    def r(*s, k=1.0):
        return (rng.standard_normal(s) * k).astype(dtype)

    b = None
    if bias:
        b = r(2, gates * H, k=0.5) if reset_after else r(gates * H, k=0.5)
    return dict(xs=r(N, T, D), Wx=r(D, gates * H, k=1 / np.sqrt(D)), Wh=r(H, gates * H, k=1 / np.sqrt(H)), b=b,
                h0=r(N, H) if state else None, c0=r(N, H) if state and op == "lstm" else None,
                dhs=r(N, T, H), dhT=r(N, H), dcT=r(N, H))


def run(api, op, c, train=True, grads_in=True):
    """Forward then backward through `api` (a backend module, the reference, or pyrnn.ops):
    (forward outputs, gradients or None, saved)."""
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
    return fwd, (None if grads is None else list(grads)), saved


def _strided(a):
    """The same values as a non-contiguous view (every other element of a twice larger array)."""
    big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def _compare(got, want, dtype, to_numpy):
    """None when every array matches the reference's within the tolerance, else what differs."""
    for k, (g, w) in enumerate(zip(got, want)):
        if w is None:
            if g is not None:
                return f"output {k}: expected None"
            continue
        g = to_numpy(g)
        if g.shape != w.shape or g.dtype != w.dtype:
            return f"output {k}: {g.shape} {g.dtype}, reference {w.shape} {w.dtype}"
        scale = max(float(np.abs(w).max()) if w.size else 0.0, np.finfo(dtype).tiny)
        err = float(np.abs(g.astype(np.float64) - w).max()) if w.size else 0.0
        if not err <= RTOL[dtype] * scale:
            return f"output {k}: max error {err:.3g} > {RTOL[dtype]:.0e} * max|ref| {scale:.3g}"
    return None


def check(case_id, api, to_device, to_numpy):
    """Run one case on `api` with inputs moved by `to_device`; None if it matches the reference."""
    from pyrnn.reference import recurrent as ref

    parts = case_id.split("/")
    op, kind, dtype = parts[0], parts[1], parts[-1]
    if op in ("embedding", "dropout"):
        return _check_word_op(case_id, api, to_device, to_numpy)
    if kind == "packed":
        from pyrnn import reference
        from test_lengths import packed_case, run_packed

        c = packed_case(op, np.dtype(dtype).type)
        dev = dict(c, args=tuple(a if k == 1 else to_device(a) for k, a in enumerate(c["args"])),  # batch_sizes: host
                   states=[to_device(a) for a in c["states"]], douts=[to_device(a) for a in c["douts"]])
        return _compare(run_packed(api, dev), run_packed(reference, c), dtype, to_numpy)
    grads_in = True
    if kind in SPECIAL:
        c = make_case(op, SPECIAL[kind], dtype)
    else:
        bias, state, grads_in = (f == "1" for f in parts[2])
        c = make_case(op, tuple(int(s) for s in kind.split("x")), dtype, bias, state)
    dev = {k: None if v is None else to_device(_strided(v) if kind == "strided" else v) for k, v in c.items()}
    want_fwd, want_grads, _ = run(ref, op, c, grads_in=grads_in)
    if kind == "inference":
        fwd, grads, saved = run(api, op, dev, train=False)
        if saved is not None or grads is not None:
            return "train=False saved something"
        train_fwd, _, _ = run(api, op, dev)
        for k, (a, b) in enumerate(zip(fwd, train_fwd)):
            if not np.array_equal(to_numpy(a), to_numpy(b)):
                return f"output {k}: train=False differs from train=True"
        return _compare(fwd, want_fwd, dtype, to_numpy)
    fwd, grads, _ = run(api, op, dev, grads_in=grads_in)
    if kind == "strided":
        for k, v in c.items():
            if v is not None and not np.array_equal(to_numpy(dev[k]), v):
                return f"input {k} was modified"
    return _compare(fwd + grads, want_fwd + want_grads, dtype, to_numpy)


def _check_word_op(case_id, api, to_device, to_numpy):
    """Embedding and dropout: bitwise the reference's (the same additions in the same order; the same
    uniform draws from the same seed, on the same array module)."""
    from pyrnn._arrays import get_xp
    from pyrnn.reference import words as ref_dropout, words as ref_embedding

    parts = case_id.split("/")
    dtype = parts[-1]
    rng = np.random.default_rng(3)
    if parts[0] == "embedding":
        shape = tuple(int(s) for s in parts[1].split("x") if s)
        W = to_device(rng.standard_normal((7, 5)).astype(dtype))
        idx = to_device(rng.integers(0, 7, shape).astype(np.int32))  # repeated indices, not int64
        dout = to_device(rng.standard_normal(shape + (5,)).astype(dtype))
        got = [api.embedding_forward(W, idx)[0], api.embedding_backward(dout, api.embedding_forward(W, idx)[1])]
        out, s = ref_embedding.embedding_forward(W, idx)
        want = [out, ref_embedding.embedding_backward(dout, s)]
    else:
        ratio, generator = float(parts[1]), parts[2] == "generator"
        x = to_device(_strided(rng.standard_normal((6, 50)).astype(dtype)))
        dy = to_device(rng.standard_normal((6, 50)).astype(dtype))
        xp = get_xp(x)
        runs = []
        for mod in (api, ref_dropout):  # the reference on the same array module: the same draws
            xp.random.seed(11)
            y, s = mod.dropout_forward(x, ratio, True, xp.random.default_rng(5) if generator else None)
            runs.append([y, mod.dropout_backward(dy, s)])
        got, want = runs
        if ratio > 0 and not (to_numpy(got[0]) == 0).any():
            return "nothing was dropped"
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = to_numpy(g), to_numpy(w)
        if g.dtype != w.dtype or g.shape != w.shape or not np.array_equal(g, w):
            return f"output {k}: not bitwise the reference's ({g.dtype} {g.shape} vs {w.dtype} {w.shape})"
    return None


if __name__ == "__main__":
    from numba_cudasim import run_cases

    run_cases(case_ids, check)
