"""The backend-vs-reference cases of the numba-cuda backend, run two ways by test_numba_cuda_backend.py.

* Under Numba's CUDA simulator, on NumPy arrays, where no GPU exists: the simulator must be switched
  on before numba is imported, so test_numba_cuda_backend.py runs this file in a subprocess
  (``NUMBA_ENABLE_CUDASIM=1 python tests/numba_cuda_cases.py``), which calls the backend module
  directly and prints one JSON line per case: [case id, error message or null].
* On a GPU, on CuPy arrays through `pyrnn.ops` with the backend forced (the same `check`).

The cases (shapes, variants, the generator make_case, the packed case) and the tolerance norm are
tests/cases/recurrent.py's, tests/cases/words.py's and tests/cases/core.py's (float32 1e-5, float64
1e-12 of the reference tensor's largest magnitude). On the GPU the differences come from cuBLAS
summation order and libdevice's exp/tanh (within 2 ulp); under the simulator from NumPy's matmul order
and Python's math (the simulator evaluates math.tanh in float64, then stores float32).
"""
from __future__ import annotations

import itertools

import numpy as np

from cases import recurrent as rc, words
from cases.core import compare_all as _compare, strided
from cases.recurrent import OPS, VARIANTS, make_case, run  # noqa: F401  (make_case, run: test_numba_cuda_backend)
from cases.words import DROPOUT_RATIOS, EMBEDDING_IDX

SHAPES = rc.SIMULATOR_SHAPES
DTYPES = ("float32", "float64")
# the other runs, by kind: train=False, non-contiguous inputs (unchanged afterwards), N = 0, T = 0
SPECIAL = {"inference": rc.INFERENCE_SHAPE, "strided": rc.STRIDED_SHAPE, "empty": (0, 3, 4, 5), "empty_T": (2, 0, 4, 3)}


def _strided(a):
    """The same values as a non-contiguous view (every other element of a twice larger array)."""
    return strided(a, "strided")


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


def check(case_id, api, to_device, to_numpy):
    """Run one case on `api` with inputs moved by `to_device`; None if it matches the reference."""
    from pyrnn.reference import recurrent as ref

    parts = case_id.split("/")
    op, kind, dtype = parts[0], parts[1], parts[-1]
    if op in ("embedding", "dropout"):
        return _check_word_op(case_id, api, to_device, to_numpy)
    if kind == "packed":
        from pyrnn import reference

        c = rc.packed_case(op, np.dtype(dtype).type)
        dev = rc.packed_to_device(c, to_device)  # batch_sizes stays on the host
        return _compare(rc.run_packed(api, dev), rc.run_packed(reference, c), dtype, to_numpy)
    grads_in = True
    if kind in SPECIAL:
        c = make_case(op, SPECIAL[kind], dtype)
    else:
        bias, state, grads_in = (f == "1" for f in parts[2])
        c = make_case(op, tuple(int(s) for s in kind.split("x")), dtype, bias, state)
    dev = rc.arrays(c, lambda v: to_device(_strided(v) if kind == "strided" else v))
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
            if isinstance(v, np.ndarray) and not np.array_equal(to_numpy(dev[k]), v):
                return f"input {k} was modified"
    return _compare(fwd + grads, want_fwd + want_grads, dtype, to_numpy)


def _check_word_op(case_id, api, to_device, to_numpy):
    """Embedding and dropout: bitwise the reference's (the same additions in the same order; the same
    uniform draws from the same seed, on the same array module)."""
    from pyrnn._arrays import get_xp
    from pyrnn.reference import words as ref_dropout, words as ref_embedding

    parts = case_id.split("/")
    dtype = parts[-1]
    if parts[0] == "embedding":
        shape = tuple(int(s) for s in parts[1].split("x") if s)
        c = words.make_case("embedding", words.simulator_embedding_spec(shape), dtype)
        W, idx, dout = (to_device(c[k]) for k in ("W", "idx", "dout"))
        got = [api.embedding_forward(W, idx)[0], api.embedding_backward(dout, api.embedding_forward(W, idx)[1])]
        out, s = ref_embedding.embedding_forward(c["W"], c["idx"])
        want = [out, ref_embedding.embedding_backward(c["dout"], s)]
    else:
        ratio, generator = float(parts[1]), parts[2] == "generator"
        c = words.make_case("dropout", words.DROPOUT_SPEC, dtype)
        x = to_device(words.layout(c["x"], words.DROPOUT_SPEC["layout"]))
        dy = to_device(c["dy"])
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
