"""The numba-cuda backend's attention ops (attention, attention_weights, weighted_sum, sdpa) against the
NumPy reference.

Everywhere: its kernels under Numba's CUDA simulator (a subprocess: the simulator must be on before numba
is imported); the cases, tolerances and comparisons are in numba_cuda_attention_cases.py. Where NVVM is
installed (a CUDA toolkit, GPU or not): the kernels compiled for a real GPU target, which the simulator
does not do. On a machine with CuPy and a GPU: the same cases on CuPy arrays through `pyrnn.ops` with the
backend forced; those skip only where CuPy or a GPU is missing.
"""

import numpy as np
import pytest

import numba_cuda_attention_cases as cases
from numba_cudasim import assert_passed, gpu_cupy, simulate
import pyrnn
from pyrnn import backends, ops
from pyrnn.backends import contract

CASES = cases.case_ids()
ATTENTION_FUNCTIONS = [f for f in contract.FUNCTIONS if f.split("_")[0] in ("attention", "weighted", "sdpa")]


@pytest.fixture(scope="module")
def simulated():
    return simulate(cases.__file__)


@pytest.mark.parametrize("case_id", CASES)
def test_simulated_kernels_match_reference(simulated, case_id):
    assert_passed(simulated, case_id)


def test_backend_exports_every_attention_op():
    """numba_cuda star-imports them (the dispatcher sends an op the backend lacks to the reference)."""
    from pyrnn.backends import numba_cuda

    assert len(ATTENTION_FUNCTIONS) == 8
    missing = [f for f in ATTENTION_FUNCTIONS if not hasattr(numba_cuda, f)]
    assert not missing, f"pyrnn.backends.numba_cuda lacks {missing}"


def test_numpy_arrays_rejected_outside_the_simulator():
    from pyrnn.backends import numba_cuda

    q, k, v, _, _ = cases.sdpa_case((1, 1, 2, 2, 2, 2), "float32", "none")
    with pytest.raises(TypeError, match="numba-cuda backend takes CuPy arrays"):
        numba_cuda.sdpa_forward(q, k, v, None, False, True)


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
@pytest.mark.parametrize("blocked", [False, True], ids=["materialised", "blocked"])
def test_gpu_selected_automatically_and_on_the_current_stream(blocked):
    """The dispatcher picks numba-cuda for CuPy arrays when pyrnn._cuda is unusable; kernels and GEMMs
    issued on a non-default stream stay in order (results equal the default stream's)."""
    shape = (4, 2, 64, 64, 16, 8)
    hs, hq, dc, _, mask = (CP.asarray(a) for a in cases.s2s_case((8, 50, 12, 32), "float32", "padding"))
    q, k, v, dout, smask = (CP.asarray(a) for a in cases.sdpa_case(shape, "float32", "padding"))
    expected = "cuda" if backends.backend_status()["cuda"][0] else "numba-cuda"
    assert ops.attention_forward(hs, hq, mask)[2].backend.NAME == expected
    assert ops.sdpa_forward(q, k, v, smask, True)[1].backend.NAME == expected

    def run():
        outs = cases.run_attention(ops, hs, hq, dc, mask)
        return outs + cases.run_sdpa(ops, q, k, v, dout, smask, True)[0]
    budget = cases.rows_budget(shape, "float32", 16) if blocked else 256 << 20
    with pyrnn.use_backend("numba-cuda"), cases.weights_budget(budget):
        assert cases.payload(ops.sdpa_forward(q, k, v, smask, True)[1])[0] == ("blocked" if blocked else "full")
        first = run()
        with CP.cuda.Stream(non_blocking=True) as s:
            second = run()
            s.synchronize()
    for a, b in zip(first, second):  # a race between a kernel and a GEMM would be an O(1) error, not rounding
        np.testing.assert_allclose(CP.asnumpy(b), CP.asnumpy(a), rtol=1e-5, atol=1e-6)
