"""What the numba-cuda test files share: running a case file under Numba's CUDA simulator (a
subprocess, since the simulator must be switched on before numba is imported), the case-file main
loop, and finding CuPy with a GPU for the GPU variants of the same cases."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from pyrnn._arrays import cupy_module


def simulate(case_file, timeout=900):
    """(case id -> error message or None, log) from one simulator run of every case in case_file."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, case_file], env=env, capture_output=True, text=True, timeout=timeout)
    results = dict(json.loads(line) for line in proc.stdout.splitlines() if line.startswith("["))
    return results, f"exit {proc.returncode}; stderr: {proc.stderr[-3000:]}"


def assert_passed(simulation, case_id):
    results, log = simulation
    assert case_id in results, f"the simulator run did not reach {case_id}: {log}"
    assert results[case_id] is None, f"{case_id}: {results[case_id]}"


def _lock_simulated_shared_arrays():
    """The simulator makes a block's shared array when its first thread calls cuda.shared.array, with a
    check-then-set and no lock: a thread preempted between the two lets a second thread make another
    array, and the block's "shared" memory is split in two (garbage sums; seen once on a heavily loaded
    machine, and 20 of 20 launches with the gap widened on purpose). Serialise those calls."""
    import threading

    from numba.cuda.simulator import kernelapi

    lock, array = threading.Lock(), kernelapi.FakeCUDAShared.array

    def locked(self, *args, **kwargs):
        with lock:
            return array(self, *args, **kwargs)
    kernelapi.FakeCUDAShared.array = locked


def run_cases(case_ids, check):
    """A case file's main: under the simulator, check(case_id, backend module, to_device, to_numpy) for every
    case (or those named on the command line), one JSON line [case_id, error or null] each."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        sys.exit("run with NUMBA_ENABLE_CUDASIM=1 (the CUDA simulator)")
    # The simulator hands the GIL between a block's threads at every syncthreads(); the default 5 ms
    # switch interval makes each hand-over cost up to that long (about 5x slower on the row kernels).
    sys.setswitchinterval(5e-5)
    _lock_simulated_shared_arrays()
    from pyrnn.backends import numba_cuda

    for case_id in sys.argv[1:] or case_ids():
        try:
            msg = check(case_id, numba_cuda, lambda a: a, np.asarray)
        except Exception as e:  # a crash is a failed case, reported with the others
            msg = f"{type(e).__name__}: {e}"
        print(json.dumps([case_id, msg]), flush=True)


def gpu_cupy():
    """cupy when CuPy is installed and sees a GPU, else None."""
    cp = cupy_module()
    if cp is None:
        return None
    try:
        return cp if cp.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:  # no driver / no device
        return None
