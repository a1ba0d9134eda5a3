"""The words family (softmax cross-entropy over time, embedding, affine) on every usable NumPy backend
other than the reference, against the reference, op by op, through `pyrnn.ops` with the backend forced.
The cases, the generator and the tolerance norm are in tests/cases/words.py and tests/cases/core.py
(float32 1e-5, float64 1e-12 of the reference tensor's largest magnitude).
"""
import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops

from cases import words
from cases.words import AFFINE_CASES, EMBED_CASES, XENT_LABELS, XENT_SHAPES, assert_close, embedding_spec, xent_spec

OTHER_BACKENDS = [n for n in backends.NUMPY_ORDER if n != "reference" and backends.backend_status()[n][0]]

pytestmark = pytest.mark.skipif(not OTHER_BACKENDS, reason="no NumPy backend besides the reference is usable")


def _word_op(op, backend, case):
    """Forward and backward of a words op through pyrnn.ops on `backend`: (outputs, saved)."""
    with pyrnn.use_backend(backend):
        return words.run(ops, op, case)


# ---- softmax cross-entropy over time -----------------------------------------------------------------

XENT = "softmax_cross_entropy"


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("ignore", list(words.XENT_IGNORED))
@pytest.mark.parametrize("shape", XENT_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_softmax_cross_entropy_matches_reference(shape, ignore, dtype, backend):
    c = words.make_case(XENT, xent_spec(shape, ignore=ignore), dtype)
    got, saved = _word_op(XENT, backend, c)
    assert saved.backend.NAME in (backend, "reference")
    want, _ = _word_op(XENT, "reference", c)
    assert got[0].shape == () and got[0].dtype == np.dtype(dtype)
    for name, g, w in zip(["loss", "dxs"], got, want):
        assert_close(g, w, dtype, f"{backend} softmax_cross_entropy {name} ({ignore} ignored)")
    if ignore == "all":
        assert float(got[0]) == 0.0 and not np.any(got[1]), "every label ignored: loss and gradient must be 0"


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("label_dtype,ignore_label", XENT_LABELS)
def test_softmax_cross_entropy_label_dtypes_and_ignore_values(label_dtype, ignore_label, dtype, backend):
    """Any integer label dtype; ignore_label None (nothing ignored), negative, or a real class (0, 3)."""
    c = words.make_case(XENT, xent_spec((5, 9, 12), label_dtype=label_dtype, ignore_label=ignore_label,
                                        ignore="some" if ignore_label is not None else "none"), dtype)
    assert c["ts"].dtype == np.dtype(label_dtype)
    got, _ = _word_op(XENT, backend, c)
    want, _ = _word_op(XENT, "reference", c)
    for name, g, w in zip(["loss", "dxs"], got, want):
        assert_close(g, w, dtype, f"{backend} softmax_cross_entropy {name} (labels {np.dtype(label_dtype)})")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_softmax_cross_entropy_is_stable_for_huge_scores(dtype, backend):
    """Scores of +-1e4 (exp overflows in float32 and float64): finite loss and gradient, equal to the reference."""
    c = words.make_case(XENT, xent_spec((4, 6, 50), scale=1e4), dtype)
    got, _ = _word_op(XENT, backend, c)
    want, _ = _word_op(XENT, "reference", c)
    assert np.isfinite(got[0]) and np.isfinite(got[1]).all()
    for name, g, w in zip(["loss", "dxs"], got, want):
        assert_close(g, w, dtype, f"{backend} softmax_cross_entropy {name} (huge scores)")


# ---- embedding ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", EMBED_CASES, ids=lambda c: f"V{c[0]}D{c[1]}idx{'x'.join(map(str, c[2]))}")
def test_embedding_matches_reference(case, dtype, backend):
    V, D, shape, idx_dtype = case
    c = words.make_case("embedding", embedding_spec(V, D, shape, idx_dtype), dtype)
    got, saved = _word_op("embedding", backend, c)
    want, _ = _word_op("embedding", "reference", c)
    assert got[0].shape == tuple(shape) + (D,) and got[1].shape == (V, D)
    assert not np.shares_memory(got[0], c["W"]), "embedding output aliases W"
    for name, g, w in zip(["out", "dW"], got, want):
        assert_close(g, w, dtype, f"{backend} embedding {name}")
    np.testing.assert_array_equal(got[0], want[0], err_msg="a lookup must copy W's rows exactly")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("order", ["F", "strided"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_word_ops_non_contiguous_inputs(order, dtype, backend):
    x = words.make_case(XENT, xent_spec((4, 7, 13)), dtype)
    e = words.make_case("embedding", embedding_spec(11, 6, (5, 8)), dtype)
    for op, c in ((XENT, x), ("embedding", e)):
        odd = {k: words.layout(v, order) for k, v in c.items()}
        before = {k: v.copy() for k, v in odd.items() if isinstance(v, np.ndarray)}
        got, _ = _word_op(op, backend, odd)
        want, _ = _word_op(op, "reference", c)
        for g, w in zip(got, want):
            assert_close(g, w, dtype, f"{backend} {op} ({order} inputs)")
        for k, v in before.items():
            np.testing.assert_array_equal(odd[k], v, err_msg=f"{op}: input {k} was modified")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_word_ops_deterministic(backend):
    """Large enough to run threaded: two runs are bitwise identical (loss, dxs, out, dW)."""
    x = words.make_case(XENT, xent_spec((64, 35, 2000)), np.float32)
    e = words.make_case("embedding", embedding_spec(100, 256, (64, 35)), np.float32)  # ~22 repeats of every row
    for op, c in ((XENT, x), ("embedding", e)):
        a, _ = _word_op(op, backend, c)
        b, _ = _word_op(op, backend, c)
        for u, v in zip(a, b):
            assert np.array_equal(u, v), f"{backend} {op}: two runs differ"


# ---- affine over time ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lead,D,M,bias,order", AFFINE_CASES)
def test_affine_matches_reference(lead, D, M, bias, order, dtype, backend):
    c = words.make_case("affine", dict(shape=lead + (D,), M=M, bias=bias, seed=1), dtype)
    dev = dict(c, x=words.layout(c["x"], order))
    x_before = dev["x"].copy()
    got, saved = _word_op("affine", backend, dev)
    want, _ = _word_op("affine", "reference", c)
    for name, g, w in zip(("out", "dx", "dW", "db"), got, want):
        assert_close(g, w, dtype, f"affine {name}")
    np.testing.assert_array_equal(dev["x"], x_before)
    again, _ = _word_op("affine", backend, dev)
    for g, a in zip(got, again):
        if g is not None:
            np.testing.assert_array_equal(g, a)  # deterministic
