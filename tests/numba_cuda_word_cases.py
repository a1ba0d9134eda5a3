"""The word-level cases of the numba-cuda backend (affine, softmax, softmax and sigmoid cross-entropy,
layer norm), run two ways by test_numba_cuda_backend.py, like numba_cuda_cases.py:

* under Numba's CUDA simulator, on NumPy arrays, in a subprocess
  (``NUMBA_ENABLE_CUDASIM=1 python tests/numba_cuda_word_cases.py``) that calls the backend module
  directly and prints one JSON line per case: [case id, error message or null];
* on a GPU, on CuPy arrays through `pyrnn.ops` with the backend forced (the same `check`).

The cases (tests/cases/words.py's CASES, tests/cases/norm.py's SIMULATOR_CASES, each family's one
generator) and the tolerance norm are tests/cases/'s. Each case runs forward then backward and compares
every output with the NumPy reference within cases.core's tolerances (relative to the largest magnitude
of the reference tensor: float32 1e-5, float64 1e-12; the kernels sum in a tree, the reference
pairwise, so they agree to rounding),
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

from cases import norm, words
from cases.core import compare_all as _compare

DTYPES = ("float32", "float64")
OPS = words.OPS + ("layer_norm",)
# op -> case name -> spec (the words ops' and layer norm's simulator cases)
CASES = dict(words.CASES, layer_norm=norm.SIMULATOR_CASES)
BAD = words.BAD


def case_ids():
    """'op/case/dtype' for every case above and 'op/bad case/dtype' for the bad inputs."""
    ids = [f"{op}/{name}/{dt}" for op, cases in CASES.items() for name in cases for dt in DTYPES]
    return ids + [f"{bad}/{dt}" for bad in BAD for dt in DTYPES]


def make_case(op, spec, dtype, seed=0):
    """NumPy inputs and output gradients of one case (C order; the layout is applied when moved): the
    family's generator (cases.words.make_case, cases.norm.make_case)."""
    if op == "layer_norm":
        x, gamma, beta, dy = norm.make_case(spec["shape"], dtype, seed=seed)
        return dict(x=x, gamma=gamma, beta=beta, eps=spec.get("eps", 1e-5), dy=dy)
    return words.make_case(op, spec, dtype, seed=seed)


def run(api, op, c):
    """Forward then backward through `api` (the backend module, the reference, or pyrnn.ops):
    (every output, forward first; the forward's saved)."""
    if op == "layer_norm":
        y, saved = api.layer_norm_forward(c["x"], c["gamma"], c["beta"], c["eps"])
        return [y, *api.layer_norm_backward(c["dy"], saved)], saved
    return words.run(api, op, c)


def _reference(op):
    from pyrnn.reference import norm as layer_norm, words as affine, words as losses

    return {"affine": affine, "layer_norm": layer_norm}.get(op, losses)


_layout = words.layout


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
