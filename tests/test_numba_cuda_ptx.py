"""Every numba-cuda kernel (recurrent steps, embedding, dropout, rows, sums, attention) compiles for a real
GPU target, not only under the simulator (which accepts code numba's CUDA target rejects, e.g. min()/max()
on scalars): each is compiled to PTX for sm_80 in float32 and float64, in a subprocess without the
simulator, and checked for what the simulator cannot show: no float64 instruction in a float32 kernel (a
silent 2-32x slowdown on GPUs with few float64 units), and no atomics (results must not depend on
scheduling). Needs NVVM (a CUDA toolkit), not a GPU: numba asks the current device for its compute
capability when it compiles, answered here when there is none."""
import json
import os
import subprocess
import sys

import pytest

_SCRIPT = r"""
import json, types
from numba import cuda, float32, float64, uint8, int64, boolean
if not cuda.is_available():
    import numba.cuda.dispatcher as d
    d.get_current_device = lambda: types.SimpleNamespace(compute_capability=(8, 0))
from pyrnn.backends.numba_cuda.kernels import attention, core, norm, recurrent as rec, words
report = {}
for ty in (float32, float64):
    A3, A2, A1, M, I1, U1 = ty[:, :, ::1], ty[:, ::1], ty[::1], uint8[:, ::1], int64[::1], uint8[::1]
    t, one, save = int64, ty, boolean
    sigs = {
        rec.rnn_forward_step: (A3, A2, t, A2, A3),
        rec.rnn_backward_step: (A3, A3, A2, t, one, A3, A2),
        rec.lstm_forward_step: (A3, A2, t, one, save, A2, A2, A3, A3, A3),
        rec.lstm_backward_step: (A3, A2, A3, A3, t, one, A2, A2, A3, A2),
        rec.gru_reset_before_gates_step: (A3, A2, A2, t, one, save, A2, A2, A3, A3),
        rec.gru_reset_before_output_step: (A3, A2, A2, t, one, save, A2, A3, A3),
        rec.gru_reset_before_backward_n_step: (A3, A3, A2, A2, t, one, A2, A2, A3),
        rec.gru_reset_before_backward_zr_step: (A2, A3, A3, A2, A2, t, one, A3, A2, A2),
        rec.gru_reset_after_forward_step: (A3, A2, A1, t, one, save, A2, A3, A3, A3),
        rec.gru_reset_after_backward_step: (A3, A2, A3, A3, A3, A2, t, one, A2, A3, A3, A2),
        words.embedding_scatter_add: (I1, A2, A2),
        words.dropout_forward: (A1, float64[::1], float64, ty, ty, A1, U1),
        words.dropout_backward: (A1, U1, ty, ty, A1),
        attention.masked_softmax_rows: (A2, int64, int64, int64, M, boolean, boolean, ty, A2, boolean),
        attention.recompute_weights: (A2, int64, int64, int64, M, boolean, boolean, ty, A2),
        attention.softmax_backward_rows: (A2, A2, ty),
        words.softmax_forward: (A2, A2),
        words.softmax_backward: (A2, A2, A2),
        words.softmax_cross_entropy_forward: (A2, I1, int64, boolean, A2, A1),
        words.cross_entropy_loss: (A1, I1, int64, boolean, A1, I1),
        words.softmax_cross_entropy_backward: (A2, I1, int64, boolean, A1, I1, A2),
        norm.layer_norm_forward: (A2, A1, A1, ty, A2, A1, A1),
        norm.layer_norm_backward: (A2, A2, A1, A1, A1, A2),
        words.column_partials: (A2, int64, A2),
        norm.layer_norm_param_partials: (A2, A2, A1, A1, int64, A2, A2),
        core.sum_chunks: (A2, A1),
        words.sigmoid_cross_entropy_partials: (A1, A1, int64, A1),
        words.mean_of_partials: (A1, int64, A1),
        words.add_bias: (A2, A1),
        words.sigmoid_cross_entropy_backward: (A1, A1, A1, A1),
    }
    for kernel, sig in sigs.items():
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))
        lines = [l.split("//")[0] for l in ptx.splitlines()]
        report[f"{kernel.py_func.__module__.rsplit('.', 1)[1]}.{kernel.py_func.__name__}/{ty}"] = dict(
            f64=sum(".f64" in l for l in lines), atomics=sum("atom." in l for l in lines))
print(json.dumps(report))
"""


def _nvvm():
    from numba.cuda.cudadrv import nvvm

    try:
        return nvvm.is_available()
    except Exception:  # no toolkit at all
        return False


@pytest.mark.skipif(not _nvvm(), reason="needs NVVM (a CUDA toolkit) to compile for a GPU target")
def test_kernels_compile_for_a_gpu_without_float64_in_float32_or_atomics():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    assert len(report) == 2 * 30
    for name, r in report.items():
        assert r["atomics"] == 0, f"{name}: atomics (results would depend on scheduling)"
        if name.startswith("words.dropout_forward/"):
            # the uniform draws and the ratio are float64 by contract (the reference's own draws, compared
            # as the reference compares them), so both builds compare in float64
            assert r["f64"] > 0, f"{name}: the draws are no longer compared in float64"
        elif name.endswith("float32"):
            assert r["f64"] == 0, f"{name}: {r['f64']} float64 instructions in the float32 kernel"
        else:
            assert r["f64"] > 0, f"{name}: the float64 kernel has no float64 instruction"
