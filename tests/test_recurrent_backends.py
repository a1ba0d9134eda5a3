"""The recurrent family (rnn, lstm, gru, gru with reset_after) on every usable NumPy backend other
than the reference, against the reference, op by op.

Runs through `pyrnn.ops` (what the layers call) with the backend forced, and compares every forward
output and every backward gradient with the reference's. The cases (shapes, variants, the generator)
and the tolerance norm are in tests/cases/recurrent.py and tests/cases/core.py (float32 1e-5, float64
1e-12 of the reference tensor's largest magnitude); the packed ops and `lengths` are in
tests/test_lengths.py.
"""
import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops

from cases import recurrent as rc
from cases.recurrent import OPS, SHAPES, VARIANTS, assert_close, make_case, names, strided as _strided

OTHER_BACKENDS = [n for n in backends.NUMPY_ORDER if n != "reference" and backends.backend_status()[n][0]]

pytestmark = pytest.mark.skipif(not OTHER_BACKENDS, reason="no NumPy backend besides the reference is usable")


def run(op, backend, c, train=True, grads_in=True):
    """Forward then backward through pyrnn.ops on `backend`: (forward outputs, gradients, saved)."""
    with pyrnn.use_backend(backend):
        return rc.run(ops, op, c, train=train, grads_in=grads_in)


def compare(op, backend, c, dtype, grads_in=True):
    fwd, grads, saved = run(op, backend, c, grads_in=grads_in)
    assert saved.backend.NAME == backend, f"{op} ran on {saved.backend.NAME}, not {backend}"
    rfwd, rgrads, _ = run(op, "reference", c, grads_in=grads_in)
    for name, got, want in zip(names(op, "fwd"), fwd, rfwd):
        assert_close(got, want, dtype, f"{backend} {op} {name}")
    assert len(grads) == len(rgrads)
    for name, got, want in zip(names(op, "grad"), grads, rgrads):
        assert_close(got, want, dtype, f"{backend} {op} {name}")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "N{}T{}D{}H{}".format(*s))
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "bias{:d}-state{:d}-dhT{:d}".format(*v))
@pytest.mark.parametrize("op", list(OPS))
def test_forward_and_backward_match_reference(op, variant, shape, dtype, backend):
    bias, state, grads_in = variant
    c = make_case(op, shape, dtype, bias=bias, state=state)
    compare(op, backend, c, dtype, grads_in=grads_in)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(OPS))
def test_inference_mode_saves_nothing_and_matches(op, dtype, backend):
    c = make_case(op, rc.INFERENCE_SHAPE, dtype)
    fwd, grads, saved = run(op, backend, c, train=False)
    assert saved is None and grads is None
    train_fwd, _, _ = run(op, backend, c, train=True)
    rfwd, _, _ = run(op, "reference", c, train=False)
    for name, got, want, tr in zip(names(op, "fwd"), fwd, rfwd, train_fwd):
        assert_close(got, want, dtype, f"{backend} {op} {name} (train=False)")
        np.testing.assert_array_equal(got, tr, err_msg=f"{op} {name}: train=False differs from train=True")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("order", ["F", "strided"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(OPS))
def test_non_contiguous_and_fortran_inputs(op, dtype, order, backend):
    c = make_case(op, rc.STRIDED_SHAPE, dtype)
    odd = {k: (_strided(v, order) if isinstance(v, np.ndarray) else v) for k, v in c.items()}
    before = {k: v.copy() for k, v in odd.items() if isinstance(v, np.ndarray)}
    fwd, grads, _ = run(op, backend, odd)
    rfwd, rgrads, _ = run(op, "reference", c)
    for name, got, want in zip(names(op, "fwd") + names(op, "grad"), fwd + grads, rfwd + rgrads):
        assert_close(got, want, dtype, f"{backend} {op} {name} ({order} inputs)")
    for k, v in before.items():
        np.testing.assert_array_equal(odd[k], v, err_msg=f"{op}: input {k} was modified")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", list(OPS))
def test_stateful_chunks_equal_one_run(op, dtype, backend):
    """Two chunks with the state carried forward (and dh0/dc0 carried back) equal one run."""
    c = make_case(op, rc.CHUNKS_SHAPE, dtype)
    fwd, grads = rc.concat_chunks(op, backend, c, split=4)
    wfwd, wgrads, _ = run(op, backend, c)
    for name, got, want in zip(names(op, "fwd") + names(op, "grad"), fwd + grads, wfwd + wgrads):
        assert_close(got, want, dtype, f"{backend} {op} {name} (chunked vs whole)")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("op", list(OPS))
def test_deterministic(op, backend):
    """Same inputs, same thread count: bitwise identical outputs and gradients."""
    c = make_case(op, rc.DETERMINISTIC_SHAPE, np.float32)
    fwd1, grads1, _ = run(op, backend, c)
    fwd2, grads2, _ = run(op, backend, c)
    for name, a, b in zip(names(op, "fwd") + names(op, "grad"), fwd1 + grads1, fwd2 + grads2):
        if a is None:
            assert b is None
        else:
            assert np.array_equal(a, b), f"{backend} {op} {name}: two runs differ"


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_outputs_never_alias_inputs(backend):
    c = make_case("lstm", (2, 3, 4, 5), np.float32)
    fwd, grads, _ = run("lstm", backend, c)
    for out in fwd + [g for g in grads if g is not None]:
        for k in ("xs", "Wx", "Wh", "b", "h0", "c0", "dhs", "dhT", "dcT"):
            assert not np.shares_memory(out, c[k]), f"an output shares memory with input {k}"
