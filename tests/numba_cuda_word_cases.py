"""The word-level cases of the numba-cuda backend (affine, softmax, softmax and sigmoid cross-entropy,
layer norm), run two ways by test_numba_cuda_backend.py, like numba_cuda_cases.py:

* under Numba's CUDA simulator, on NumPy arrays, in a subprocess
  (``NUMBA_ENABLE_CUDASIM=1 python tests/numba_cuda_word_cases.py``) that calls the backend module
  directly and prints one JSON line per case: [case id, error message or null];
* on a GPU, on CuPy arrays through `pyrnn.ops` with the backend forced (the same `check`).

Each case runs forward then backward and compares every output with the NumPy reference within
numba_cuda_cases' tolerances (relative to the largest magnitude of the reference tensor: float32
1e-5, float64 1e-12; the kernels sum in a tree, the reference pairwise, so they agree to rounding),
checks that no input was written, and that the loss is a 0-d array of the scores' dtype. Kinds:
one row, odd widths (1, 7, 333, 1000), 3-D inputs, empty inputs (0 rows, 0 columns), ignore labels
(some, all, none, a real class), Fortran-ordered and strided inputs (gradients too), scores far from
0 (exp overflows unless the row max is subtracted), and 'deterministic' (two runs bitwise equal).

Under the simulator every CUDA thread is a Python thread, so the backend runs there with small
blocks (kernels.core.SIMULATOR_SIZES); the 'gpu_sizes' cases run with the GPU's (kernels.core.GPU_SIZES).
"""
from __future__ import annotations

import contextlib

import numpy as np

from numba_cuda_cases import DTYPES, _compare, _strided

OPS = ("affine", "softmax", "softmax_cross_entropy", "sigmoid_cross_entropy", "layer_norm")

# op -> case name -> spec: shape of the scores / input (the last axis is D or V), layout of every array
# ("C", "F" Fortran order, "strided" every other element), and the op's own knobs
CASES = {
    "affine": {
        "1row": dict(shape=(1, 5), M=3),
        "3d_M1": dict(shape=(2, 3, 7), M=1),
        "chunks": dict(shape=(13, 9), M=7),          # 13 rows: several column-sum chunks for db
        "no_bias": dict(shape=(3, 4), M=5, bias=False),
        "empty_rows": dict(shape=(0, 4), M=3),
        "empty_3d": dict(shape=(2, 0, 4), M=3),
        "empty_cols": dict(shape=(3, 4), M=0),
        "fortran": dict(shape=(2, 3, 5), M=4, layout="F"),
        "strided": dict(shape=(3, 5), M=4, layout="strided"),
        "deterministic": dict(shape=(9, 6), M=5),
    },
    "softmax": {
        "1row_V7": dict(shape=(1, 7)),
        "V1": dict(shape=(3, 1)),
        "V333": dict(shape=(2, 333)),
        "V1000": dict(shape=(1, 1000)),
        "3d": dict(shape=(2, 3, 7)),
        "empty": dict(shape=(0, 5)),
        "empty_3d": dict(shape=(2, 0, 4)),
        "fortran": dict(shape=(2, 2, 9), layout="F"),
        "strided": dict(shape=(3, 9), layout="strided"),
        "far_from_0": dict(shape=(3, 7), offset=1000.0),
        "deterministic": dict(shape=(2, 40)),
    },
    "softmax_cross_entropy": {
        "1row_V7": dict(shape=(1, 7)),
        "V1_some_ignored": dict(shape=(4, 1), ignored=0.5),
        "V333": dict(shape=(2, 333)),
        "V1000": dict(shape=(1, 1000)),
        "3d_some_ignored": dict(shape=(2, 3, 7), ignored=0.4),
        "all_ignored": dict(shape=(2, 3, 5), ignored=1.0),
        "ignore_none": dict(shape=(3, 7), ignore=None),
        "ignore_a_class": dict(shape=(5, 4), ignore=2),
        "empty": dict(shape=(0, 5)),
        "empty_3d": dict(shape=(2, 0, 5)),
        "fortran": dict(shape=(2, 3, 9), layout="F", ignored=0.3, label_dtype="int32"),
        "strided": dict(shape=(3, 9), layout="strided", ignored=0.3, label_dtype="int16"),
        "far_from_0": dict(shape=(3, 7), offset=1000.0),
        "deterministic": dict(shape=(4, 40), ignored=0.3),
        "gpu_sizes": dict(shape=(2, 300), ignored=0.3),
    },
    "sigmoid_cross_entropy": {
        "1": dict(shape=(1,)),
        "7": dict(shape=(7,)),
        "3x50": dict(shape=(3, 50)),                  # 150 elements: several partial blocks
        "3d_int_targets": dict(shape=(2, 3, 5), int_targets=True),
        "empty": dict(shape=(0, 3)),
        "fortran": dict(shape=(4, 6), layout="F"),
        "strided": dict(shape=(5, 7), layout="strided", int_targets=True),
        "far_from_0": dict(shape=(3, 7), scale=60.0),  # |x| up to ~200: exp(|x|) overflows, exp(-|x|) not
        "deterministic": dict(shape=(3, 50)),
    },
    "layer_norm": {
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
    },
}
# bad input that reaches the backend: a ValueError naming the argument
BAD = {"softmax_cross_entropy/V0": "xs"}


def case_ids():
    """'op/case/dtype' for every case above and 'op/bad case/dtype' for the bad inputs."""
    ids = [f"{op}/{name}/{dt}" for op, cases in CASES.items() for name in cases for dt in DTYPES]
    return ids + [f"{bad}/{dt}" for bad in BAD for dt in DTYPES]


def make_case(op, spec, dtype, seed=0):
    """NumPy inputs and output gradients of one case (C order; the layout is applied when moved)."""
    rng = np.random.default_rng(seed)
    shape = spec["shape"]

    def r(*s, k=1.0):
        return (rng.standard_normal(s) * k).astype(dtype)

    c = {}
    if op == "affine":
        D, M = shape[-1], spec["M"]
        c = dict(x=r(*shape), W=r(D, M, k=1 / np.sqrt(max(D, 1))), b=r(M) if spec.get("bias", True) else None,
                 dout=r(*shape[:-1], M))
    elif op == "softmax":
        c = dict(x=r(*shape) + np.asarray(spec.get("offset", 0.0), dtype), dy=r(*shape))
    elif op == "softmax_cross_entropy":
        ignore = spec.get("ignore", -1)
        ts = rng.integers(0, shape[-1], shape[:-1]).astype(spec.get("label_dtype", "int64"))
        if ignore is not None and spec.get("ignored"):
            drop = rng.random(ts.shape) < spec["ignored"]
            if spec["ignored"] < 1 and ts.size > 1:  # "some": at least one label of each kind
                drop.flat[0], drop.flat[-1] = False, True
            ts[drop] = ignore
        c = dict(xs=r(*shape, k=2.0) + np.asarray(spec.get("offset", 0.0), dtype), ts=ts, ignore=ignore,
                 dloss=np.asarray(0.7, dtype))
    elif op == "sigmoid_cross_entropy":
        ts = rng.integers(0, 2, shape) if spec.get("int_targets") else rng.random(shape).astype(dtype)
        c = dict(xs=r(*shape, k=spec.get("scale", 2.0)), ts=ts, dloss=np.asarray(1.3, dtype))
    elif op == "layer_norm":
        D = shape[-1]
        c = dict(x=r(*shape, k=3.0) + np.asarray(0.5, dtype), gamma=r(D) + np.asarray(1.0, dtype), beta=r(D),
                 eps=spec.get("eps", 1e-5), dy=r(*shape))
    return c


def run(api, op, c):
    """Forward then backward through `api` (the backend module, the reference, or pyrnn.ops):
    (every output, forward first; the forward's saved)."""
    if op == "affine":
        out, saved = api.affine_forward(c["x"], c["W"], c["b"])
        return [out, *api.affine_backward(c["dout"], saved)], saved
    if op == "softmax":
        y, saved = api.softmax_forward(c["x"])
        return [y, api.softmax_backward(c["dy"], saved)], saved
    if op == "softmax_cross_entropy":
        loss, saved = api.softmax_cross_entropy_forward(c["xs"], c["ts"], c["ignore"])
        return [loss, api.softmax_cross_entropy_backward(c["dloss"], saved)], saved
    if op == "sigmoid_cross_entropy":
        loss, saved = api.sigmoid_cross_entropy_forward(c["xs"], c["ts"])
        return [loss, api.sigmoid_cross_entropy_backward(c["dloss"], saved)], saved
    y, saved = api.layer_norm_forward(c["x"], c["gamma"], c["beta"], c["eps"])
    return [y, *api.layer_norm_backward(c["dy"], saved)], saved


def _reference(op):
    from pyrnn.reference import norm as layer_norm, words as affine, words as losses

    return {"affine": affine, "layer_norm": layer_norm}.get(op, losses)


def _layout(a, layout):
    if not isinstance(a, np.ndarray) or a.ndim == 0 or layout == "C":
        return a
    return np.asfortranarray(a) if layout == "F" else _strided(a)


@contextlib.contextmanager
def _gpu_sizes():
    """Under the simulator, the GPU's block sizes for the duration (it reads the kernels' globals when
    they run); on a GPU they are the sizes already."""
    import numba

    if not numba.config.ENABLE_CUDASIM:
        yield
        return
    from pyrnn.backends.numba_cuda.kernels import core, norm, words

    old = dict(core.SIMULATOR_SIZES)
    try:
        for k, v in core.GPU_SIZES.items():
            setattr(core, k, v)
        words.ROW_BLOCK = norm.ROW_BLOCK = core.ROW_BLOCK
        yield
    finally:
        for k, v in old.items():
            setattr(core, k, v)
        words.ROW_BLOCK = norm.ROW_BLOCK = core.ROW_BLOCK


def check(case_id, api, to_device, to_numpy):
    """Run one case on `api` with inputs moved by `to_device`; None if it passes, else what failed."""
    op, name, dtype = case_id.split("/")
    if f"{op}/{name}" in BAD:
        return _check_bad(op, BAD[f"{op}/{name}"], dtype, api, to_device)
    spec = CASES[op][name]
    c = make_case(op, spec, dtype)
    layout = spec.get("layout", "C")
    dev = {k: to_device(_layout(v, layout)) if isinstance(v, np.ndarray) else v for k, v in c.items()}
    before = {k: np.array(to_numpy(v)) for k, v in dev.items() if hasattr(v, "shape")}
    want, _ = run(_reference(op), op, c)
    with _gpu_sizes() if name == "gpu_sizes" else contextlib.nullcontext():
        got, _ = run(api, op, dev)
        again = run(api, op, dev)[0] if name == "deterministic" else None
    for k, v in before.items():
        if not np.array_equal(to_numpy(dev[k]), v):
            return f"input {k} was modified"
    if op.endswith("cross_entropy"):
        loss = to_numpy(got[0])
        if loss.shape != () or loss.dtype != np.dtype(dtype):
            return f"loss: expected a 0-d {dtype} array, got shape {loss.shape} {loss.dtype}"
    msg = _compare(got, want, dtype, to_numpy)
    if msg is None and again is not None:
        for k, (a, b) in enumerate(zip(got, again)):
            if a is not None and not np.array_equal(to_numpy(a), to_numpy(b)):
                return f"output {k}: two runs differ (not deterministic)"
    return msg


def _check_bad(op, arg, dtype, api, to_device):
    """softmax cross-entropy over V = 0 classes: a ValueError naming the argument."""
    xs = to_device(np.zeros((3, 0), dtype))
    ts = to_device(np.zeros(3, np.int64))
    try:
        api.softmax_cross_entropy_forward(xs, ts, -1)
    except ValueError as e:
        return None if arg in str(e) else f"the ValueError does not name {arg}: {e}"
    return "no ValueError"


if __name__ == "__main__":
    from numba_cudasim import run_cases

    run_cases(case_ids, check)
