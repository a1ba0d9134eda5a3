"""The numba-cuda backend (`pyrnn.backends.numba_cuda`) against the NumPy reference.

Everywhere: its kernels under Numba's CUDA simulator, which runs numba.cuda kernels on the CPU
with NumPy arrays (a subprocess: the simulator must be on before numba is imported); the case runs
are in numba_cuda_cases.py (recurrent ops, embedding, dropout) and numba_cuda_word_cases.py (affine,
softmax, softmax and sigmoid cross-entropy, layer norm), the cases, tolerances and the comparison in
tests/cases/ (the families' modules and cases.core). On a
machine with CuPy and a GPU: the same cases on CuPy arrays through `pyrnn.ops` with the backend
forced; those skip only where CuPy or a GPU is missing (a GPU on which numba.cuda cannot run fails them).
"""

import numpy as np
import pytest

import numba_cuda_cases as cases
import numba_cuda_word_cases as word_cases
from numba_cudasim import assert_passed, gpu_cupy, simulate
import pyrnn
from pyrnn import backends, ops

CASES = cases.case_ids()
WORD_CASES = word_cases.case_ids()


@pytest.fixture(scope="module")
def simulated():
    return simulate(cases.__file__)


@pytest.fixture(scope="module")
def simulated_word_ops():
    return simulate(word_cases.__file__)


@pytest.mark.parametrize("case_id", CASES)
def test_simulated_kernels_match_reference(simulated, case_id):
    assert_passed(simulated, case_id)


@pytest.mark.parametrize("case_id", WORD_CASES)
def test_simulated_word_kernels_match_reference(simulated_word_ops, case_id):
    assert_passed(simulated_word_ops, case_id)


def test_probe_is_honest_here():
    """Usable exactly when CuPy, numba.cuda and a GPU are all there; otherwise the reason says which."""
    usable, detail = backends.backend_status()["numba-cuda"]
    if CP is None:
        assert not usable
        assert "CuPy" in detail or "GPU" in detail or "numba.cuda" in detail, detail
    else:
        assert usable, f"CuPy and a GPU are here, but numba-cuda is unusable: {detail}"


def test_numpy_arrays_rejected_outside_the_simulator():
    from pyrnn.backends import numba_cuda

    c = cases.make_case("rnn", (2, 3, 4, 5), "float32")
    with pytest.raises(TypeError, match="numba-cuda backend takes CuPy arrays"):
        numba_cuda.rnn_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], True)


# ---- on a GPU --------------------------------------------------------------------------------------

CP = gpu_cupy()
needs_gpu = pytest.mark.skipif(CP is None, reason="needs CuPy and a GPU")


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("case_id", CASES)
def test_gpu_matches_reference(case_id):
    with pyrnn.use_backend("numba-cuda"):  # BackendUnavailable here fails the test: a GPU is present
        msg = cases.check(case_id, ops, CP.asarray, CP.asnumpy)
    assert msg is None, f"{case_id}: {msg}"


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("op", list(cases.OPS))
def test_gpu_selected_automatically_and_on_the_current_stream(op):
    """The dispatcher picks numba-cuda for CuPy arrays when pyrnn._cuda is unusable; its kernels and
    GEMMs issued on a non-default stream stay in order (results equal the default stream's)."""
    c = {k: CP.asarray(v) if isinstance(v, np.ndarray) else v
         for k, v in cases.make_case(op, (8, 12, 16, 24), "float32").items()}
    expected = "cuda" if backends.backend_status()["cuda"][0] else "numba-cuda"
    assert cases.run(ops, op, c)[2].backend.NAME == expected
    with pyrnn.use_backend("numba-cuda"):
        fwd, grads, _ = cases.run(ops, op, c)
        with CP.cuda.Stream(non_blocking=True) as s:
            fwd2, grads2, _ = cases.run(ops, op, c)
            s.synchronize()
    for a, b in zip(fwd + grads, fwd2 + grads2):
        if a is not None:  # a race between a kernel and a GEMM would be an O(1) error, not rounding
            np.testing.assert_allclose(CP.asnumpy(b), CP.asnumpy(a), rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("case_id", WORD_CASES)
def test_gpu_word_ops_match_reference(case_id):
    with pyrnn.use_backend("numba-cuda"):
        msg = word_cases.check(case_id, ops, CP.asarray, CP.asnumpy)
    assert msg is None, f"{case_id}: {msg}"


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("op", word_cases.OPS)
def test_gpu_word_ops_selected_automatically_and_on_the_current_stream(op):
    """The dispatcher picks numba-cuda for these ops on CuPy arrays unless pyrnn._cuda has them; on a
    non-default stream the row kernels, sums and GEMMs stay in order, and the results are bitwise those
    of the default stream (every sum is in a fixed order, no atomics)."""
    spec = dict(word_cases.CASES[op]["deterministic"], shape=(64, 700))  # several chunks and blocks per row
    if op == "affine":
        spec["M"] = 300
    c = {k: CP.asarray(v) if isinstance(v, np.ndarray) else v
         for k, v in word_cases.make_case(op, spec, "float32").items()}
    cuda_ok = backends.backend_status()["cuda"][0] and hasattr(backends.get("cuda"), op + "_forward")
    assert word_cases.run(ops, op, c)[1].backend.NAME == ("cuda" if cuda_ok else "numba-cuda")
    with pyrnn.use_backend("numba-cuda"):
        outs, _ = word_cases.run(ops, op, c)
        with CP.cuda.Stream(non_blocking=True) as s:
            outs2, _ = word_cases.run(ops, op, c)
            s.synchronize()
    for k, (a, b) in enumerate(zip(outs, outs2)):
        if a is not None:
            assert np.array_equal(CP.asnumpy(a), CP.asnumpy(b)), f"{op} output {k} differs on another stream"
