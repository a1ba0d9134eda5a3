"""The CUDA kernels' indexing and math, checked where no GPU exists: kernels/ built for the host
emulator (kernels/emulator) under AddressSanitizer + UBSan, driven by pyrnn/backends/cuda/,
against the NumPy reference (tests/cuda_emulated_cases.py says what this covers and what it
cannot). Runs wherever g++ and the pybind11 headers are (both are build requirements already);
the build takes about 30 s on 2 cores, the cases about 1.5 minutes (the attention and SDPA
cases about 35 s of that, the streaming SDPA's about 15 s), plus about a minute for the layer
norm cases (mostly waking the 128 threads of each of the 600-row cases' row blocks).
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from cuda_emulated_cases import case_ids

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "pyrnn_cuda_emulator_build", os.path.join(os.path.dirname(HERE), "kernels", "emulator", "build.py"))
emulator_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(emulator_build)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """case id -> error message or None, from one run of all cases in a subprocess."""
    out = tmp_path_factory.mktemp("cuda_emulator")
    preload = emulator_build.sanitizer_preload()
    module = emulator_build.build(str(out), sanitize=preload is not None)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=99",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    if preload:
        env["LD_PRELOAD"] = preload
    proc = subprocess.run([sys.executable, os.path.join(HERE, "cuda_emulated_cases.py"), module],
                          capture_output=True, text=True, env=env, cwd=HERE, timeout=1800)
    got = {}
    for line in proc.stdout.splitlines():
        if line.startswith("["):
            case, err = json.loads(line)
            got[case] = err
    sanitizer = [ln for ln in proc.stderr.splitlines()
                 if "ERROR: AddressSanitizer" in ln or "runtime error:" in ln]
    assert proc.returncode == 0 and not sanitizer, (
        f"emulated run failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}")
    return got


@pytest.mark.parametrize("case", case_ids())
def test_cuda_kernels_on_the_host_emulator(results, case):
    assert case in results, f"{case}: no result (the run stopped early?)"
    assert results[case] is None, results[case]
