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


def _make_simulator_thread_safe():
    """Two races in Numba's CUDA simulator (every CUDA thread a Python thread) that garble a block now and
    then on a loaded machine, fixed here for the test runs (real GPUs have neither):
    - a device function runs with its module's ``cuda`` global swapped for the simulator's fake module,
      per call, unsynchronised: a thread leaving the function restores the real module while another is
      still inside, which then fails on ``cuda.syncthreads`` and leaves its block's barrier without it
      (the others read unwritten shared memory: once "math domain error" from a garbage row max). The
      swap is made once per module while any thread is inside (a count under a lock).
    - cuda.shared.array makes a block's array when its first thread asks, check-then-set without a lock:
      two threads can make two arrays and the block's shared memory is split (20 of 20 launches wrong
      with the gap widened on purpose). Made under a lock, keyed by the kernel line as the simulator does."""
    import threading
    from contextlib import contextmanager

    from numba import cuda
    from numba.core import types
    from numba.cuda.simulator import kernel, kernelapi
    from numba.np import numpy_support

    lock, inside = threading.Lock(), {}  # id(module globals) -> [threads inside, the real entries]

    @contextmanager
    def swapped_cuda_module(fn, fake_cuda_module):
        g = fn.__globals__
        with lock:
            entry = inside.get(id(g))
            if entry is None:
                real = {k: v for k, v in g.items() if v is cuda}
                g.update({k: fake_cuda_module for k in real})
                entry = inside[id(g)] = [0, real]
            entry[0] += 1
        try:
            yield
        finally:
            with lock:
                entry[0] -= 1
                if entry[0] == 0:
                    g.update(entry[1])
                    del inside[id(g)]

    kernelapi.swapped_cuda_module = kernel.swapped_cuda_module = swapped_cuda_module

    dynamic = kernelapi.FakeCUDAShared.array

    def shared_array(self, shape, dtype):
        if shape == 0:  # dynamic shared memory: one buffer, nothing to race on
            return dynamic(self, shape, dtype)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with lock:
            res = self._allocations.get(key)
            if res is None:
                res = self._allocations[key] = np.empty(
                    shape, numpy_support.as_dtype(dtype) if isinstance(dtype, types.Type) else dtype)
        return res
    kernelapi.FakeCUDAShared.array = shared_array


def run_cases(case_ids, check):
    """A case file's main: under the simulator, check(case_id, backend module, to_device, to_numpy) for every
    case (or those named on the command line), one JSON line [case_id, error or null] each."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        sys.exit("run with NUMBA_ENABLE_CUDASIM=1 (the CUDA simulator)")
    # The simulator hands the GIL between a block's threads at every syncthreads(); the default 5 ms
    # switch interval makes each hand-over cost up to that long (about 5x slower on the row kernels).
    sys.setswitchinterval(5e-5)
    _make_simulator_thread_safe()
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
