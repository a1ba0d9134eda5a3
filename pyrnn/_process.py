"""Process-wide settings that the `pyrnn` command makes before NumPy loads.

NumPy's bundled OpenBLAS keeps its worker threads spinning for about 2**28 cycles (~0.1 s) after
every multi-threaded call, and they never yield. pyrnn's C++ kernels run on their own thread pool,
so a kernel that follows a NumPy matmul shares the cores with those spinning threads: on a 2-core
machine an LSTM fwd+bwd ran 1.5-3x slower right after a NumPy matmul than alone (`pyrnn bench
--blas-spin` measures it). OPENBLAS_THREAD_TIMEOUT=4 (2**4 cycles) puts them to sleep at once; the
library reads it only while it loads, so it must be in the environment before NumPy is imported.

It changes NumPy's behaviour for the whole process, so a library import never sets it (as with
PYRNN_MALLOC_TUNE): the `pyrnn` command does, since that process is ours; a user's value wins.
Library users who mix NumPy BLAS calls with pyrnn kernels set it themselves (README: Layout).
"""
from __future__ import annotations

import os
import sys

BLAS_SPIN_VAR = "OPENBLAS_THREAD_TIMEOUT"
BLAS_SPIN_VALUE = "4"


def started_as_cli(orig_argv=None) -> bool:
    """True in the `pyrnn` console script and in `python [options] -m pyrnn ...`."""
    argv = list(sys.orig_argv if orig_argv is None else orig_argv)
    if len(argv) >= 2 and os.path.basename(argv[1]) == "pyrnn":  # <python> <venv>/bin/pyrnn ...
        return True
    i = 1
    while i < len(argv) - 1:
        a = argv[i]
        if a == "-m":
            return argv[i + 1] in ("pyrnn", "pyrnn.cli")
        if a == "-c" or not a.startswith("-"):  # code or a script: not us
            return False
        i += 2 if a in ("-X", "-W") else 1  # the options that take a separate value
    return False


def configure_cli_process() -> None:
    """Called first thing by pyrnn/__init__.py: set the CLI's process-wide defaults, only where
    the process is the `pyrnn` command and NumPy has not loaded yet."""
    if "numpy" not in sys.modules and started_as_cli():
        os.environ.setdefault(BLAS_SPIN_VAR, BLAS_SPIN_VALUE)


def _numpy_openblas_timeout():
    """The OPENBLAS_THREAD_TIMEOUT that NumPy's OpenBLAS read when it loaded (0: unset), asked of
    the library itself (its exported openblas_thread_timeout); None where NumPy's BLAS is not an
    OpenBLAS found in this process's maps (not Linux, or another BLAS)."""
    import ctypes

    import numpy  # noqa: F401  (loads its BLAS)
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:
        return None
    # NumPy's first (SciPy's and torch's may be loaded too); never pyrnn._cpu's own, single-threaded one
    libs = sorted((p for p in libs if "scipy_openblas32" not in p), key=lambda p: ("numpy" not in p, p))
    for path in libs:
        try:
            fn = ctypes.CDLL(path).openblas_thread_timeout
        except (OSError, AttributeError):
            continue
        fn.restype, fn.argtypes = ctypes.c_int, []
        return int(fn())
    return None


def blas_spin_setting() -> str:
    """How NumPy's OpenBLAS threads wait after a call, as `pyrnn info` reports it."""
    t = _numpy_openblas_timeout()
    if t is None:
        return "unknown (NumPy's BLAS is not an OpenBLAS found in this process)"
    if t == 0:
        return f"spin ~0.1 s ({BLAS_SPIN_VAR} unset when NumPy loaded)"
    return f"{BLAS_SPIN_VAR}={t} when NumPy loaded" + (" (sleep at once)" if t <= 4 else "")
