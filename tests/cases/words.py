"""The words family's cases (embedding, dropout, affine, softmax, softmax and sigmoid cross-entropy), for
every backend: the CPU backends (tests/test_words_backends.py) and Numba's CUDA simulator
(tests/numba_cuda_cases.py: embedding, dropout; tests/numba_cuda_word_cases.py: the others; both also
on a GPU). Tolerances: cases.core (float32 1e-5, float64 1e-12 of the reference tensor's largest
magnitude). The loss is a mean of per-row -log softmax terms; every side computes each row in the input
dtype from the max-shifted scores (the kernels sum in a tree, the reference pairwise), so the float32
error is a few ulp of log(V) plus the rounding of the sum. Embedding and dropout are bitwise the
reference's (the same additions in the same order; the same uniform draws from the same seed).

One generator, make_case(op, spec, dtype): a spec is a dict with the input's shape (the last axis is D
or V), the layout every array is moved in ("C", "F" Fortran order, "strided" every other element;
applied by `layout`, not by make_case) and the op's own knobs, documented in make_case.
"""
from __future__ import annotations

import numpy as np

from .core import RTOL, assert_close, compare_all, mismatch, strided  # noqa: F401  (the family's norm)

OPS = ("affine", "softmax", "softmax_cross_entropy", "sigmoid_cross_entropy")

# ---- the CPU suite's cases (tests/test_words_backends.py) ------------------------------------------

# softmax cross-entropy: scores (shape), labels shape[:-1]; the ignored labels: none, some, all
XENT_SHAPES = [(1, 1, 1), (2, 3, 7), (4, 35, 100), (3, 5, 1000), (6, 13), (17,), (0, 4, 5)]
XENT_IGNORED = {"none": None, "some": 0.35, "all": 1.0}
# (label dtype, ignore_label): any integer dtype; None (nothing ignored), negative, or a real class (0, 3)
XENT_LABELS = [(np.int8, -1), (np.int32, -100), (np.uint16, None), (np.int64, 0), (np.uint8, 3)]
# embedding (V, D, idx shape, idx dtype): V << idx.size, many repeated indices
EMBED_CASES = [
    (1, 1, (1,), np.int64), (7, 5, (3, 4), np.int32), (5, 3, (), np.int64), (10, 4, (2, 0), np.int64),
    (3, 33, (20, 35), np.uint8), (50, 17, (4, 9, 3), np.int16), (1000, 64, (64, 35), np.int64),
    (20, 200, (512, 16), np.uint32),
]
# affine (leading shape, D, M, bias, layout of x)
AFFINE_CASES = [((1,), 1, 1, True, "C"), ((3, 7), 13, 9, True, "C"), ((128, 11), 512, 59, True, "C"),
                ((4, 5), 6, 7, False, "C"), ((4, 5), 6, 7, True, "F"), ((200,), 64, 300, True, "strided")]


def xent_spec(shape, ignore="some", label_dtype=np.int64, ignore_label=-1, scale=3.0):
    """The CPU suite's softmax cross-entropy spec; ignore: 'none', 'some' (about a third) or 'all'."""
    return dict(shape=shape, ignored=XENT_IGNORED[ignore] if ignore_label is not None else None,
                ignore=ignore_label, label_dtype=label_dtype, scale=scale)


def embedding_spec(V, D, idx_shape, idx_dtype=np.int64, seed=0):
    return dict(V=V, D=D, idx=tuple(idx_shape), idx_dtype=idx_dtype, seed=seed)


# ---- the simulator's cases (tests/numba_cuda_word_cases.py; small: every CUDA thread a Python thread) ---

# op -> case name -> spec
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
}
# bad input that reaches the backend: a ValueError naming the argument
BAD = {"softmax_cross_entropy/V0": "xs"}
# embedding (V = 7, D = 5, int32 indices: repeated, not int64) index shapes; dropout ratios on (6, 50)
EMBEDDING_IDX = [(6,), (3, 5), (0,), (2, 40)]
DROPOUT_RATIOS = [0.0, 0.5, 0.9]


def simulator_embedding_spec(idx_shape):
    return dict(V=7, D=5, idx=tuple(idx_shape), idx_dtype=np.int32, seed=3)


DROPOUT_SPEC = dict(shape=(6, 50), layout="strided", seed=3)


# ---- the generator and the runner ---------------------------------------------------------------------

def make_case(op, spec, dtype, seed=None):
    """NumPy inputs and output gradients of one case of `op` (C order: `layout` moves them). Spec keys:
    affine: shape, M, bias (True); softmax: shape, offset (0: added to the scores); softmax cross-entropy:
    shape, scale (2: of the scores), offset, ignore (the ignore_label, -1; None: none), ignored (the
    fraction of labels set to it; some of each kind when below 1), label_dtype (int64); sigmoid
    cross-entropy: shape, scale (2), int_targets (False: uniform in [0, 1)); embedding: V, D, idx (the
    index shape), idx_dtype; dropout: shape. seed: spec's "seed", else 0."""
    rng = np.random.default_rng(spec.get("seed", 0) if seed is None else seed)

    def r(*s, k=1.0):
        return (rng.standard_normal(s) * k).astype(dtype)

    if op == "embedding":
        V, D, shape = spec["V"], spec["D"], spec["idx"]
        W = r(V, D)
        idx = rng.integers(0, V, shape).astype(spec.get("idx_dtype", np.int64))
        return dict(W=W, idx=idx, dout=r(*shape, D))
    if op == "dropout":
        return dict(x=r(*spec["shape"]), dy=r(*spec["shape"]))
    shape = spec["shape"]
    if op == "affine":
        D, M = shape[-1], spec["M"]
        return dict(x=r(*shape), W=r(D, M, k=1 / np.sqrt(max(D, 1))), b=r(M) if spec.get("bias", True) else None,
                    dout=r(*shape[:-1], M))
    if op == "softmax":
        return dict(x=r(*shape) + np.asarray(spec.get("offset", 0.0), dtype), dy=r(*shape))
    if op == "softmax_cross_entropy":
        ignore = spec.get("ignore", -1)
        ts = rng.integers(0, shape[-1], shape[:-1]).astype(spec.get("label_dtype", "int64"))
        if ignore is not None and spec.get("ignored"):
            drop = rng.random(ts.shape) < spec["ignored"]
            if spec["ignored"] < 1 and ts.size > 1:  # "some": at least one label of each kind
                drop.flat[0], drop.flat[-1] = False, True
            ts[drop] = ignore
        return dict(xs=r(*shape, k=spec.get("scale", 2.0)) + np.asarray(spec.get("offset", 0.0), dtype), ts=ts,
                    ignore=ignore, dloss=np.asarray(0.7, dtype))
    if op == "sigmoid_cross_entropy":
        ts = rng.integers(0, 2, shape) if spec.get("int_targets") else rng.random(shape).astype(dtype)
        return dict(xs=r(*shape, k=spec.get("scale", 2.0)), ts=ts, dloss=np.asarray(1.3, dtype))
    raise ValueError(f"no words op {op!r}")


def layout(a, kind):
    """A case's array in layout `kind` ("C", "F", "strided"); 0-d arrays and non-arrays as they are."""
    if not isinstance(a, np.ndarray) or a.ndim == 0 or kind == "C":
        return a
    return strided(a, kind)


def run(api, op, c):
    """Forward then backward through `api` (a backend module, the reference, or pyrnn.ops with the
    backend forced): (every output, forward first; the forward's saved)."""
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
    if op == "embedding":
        out, saved = api.embedding_forward(c["W"], c["idx"])
        return [out, api.embedding_backward(c["dout"], saved)], saved
    raise ValueError(f"no words op {op!r}")
