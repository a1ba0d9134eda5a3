"""Whether building pyrnn._cuda needs the nvidia-cublas wheel, and so whether the build backend
(pyrnn_build_backend.py) asks for it. Yes exactly when all of these hold:

  * PYRNN_CUDA (environment, or -C cmake.define.PYRNN_CUDA=...) is not OFF;
  * CMake will find nvcc: $CUDACXX, else nvcc on PATH, else $CUDA_PATH/bin/nvcc (CMake's order);
  * that nvcc is CUDA 13 (the wheel's nvidia/cu13 layout is what CMakeLists.txt looks for);
  * the toolkit behind it lacks cublas_v2.h or libcublas.

Standard library only: CI runs it as a script (`python kernels/packaging/cublas_requirement.py`
prints the requirement, or nothing) to install the same wheel for run time.
"""
from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

CUBLAS_REQUIREMENT = "nvidia-cublas>=13,<14"


def _log(msg):
    print(f"pyrnn build: {msg}", file=sys.stderr)


def _setting(config_settings, name, default):
    """A CMake define: -C cmake.define.NAME=... wins over the environment variable NAME."""
    value = (config_settings or {}).get(f"cmake.define.{name}")
    if isinstance(value, list):
        value = value[-1] if value else None
    return str(value if value is not None else os.environ.get(name, default))


def _find_nvcc(config_settings):
    for candidate in (_setting(config_settings, "CMAKE_CUDA_COMPILER", ""), os.environ.get("CUDACXX", "")):
        if candidate:
            return shutil.which(candidate) or (candidate if os.path.isfile(candidate) else None)
    found = shutil.which("nvcc")
    if found:
        return found
    cuda_path = os.environ.get("CUDA_PATH")
    if cuda_path and os.path.isfile(os.path.join(cuda_path, "bin", "nvcc")):
        return os.path.join(cuda_path, "bin", "nvcc")
    return None


def _run(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout + out.stderr if out.returncode == 0 else None


def _toolkit_dirs(nvcc):
    """(include dirs, library dirs) nvcc compiles and links with: what it prints with --dryrun
    (the same source CMake reads; nvcc may be a wrapper script far from its toolkit)."""
    text = _run([nvcc, "--dryrun", "-v", "-x", "cu", "-c", os.devnull, "-o", os.devnull]) or ""
    incs, libs = [], []
    for line in text.splitlines():
        if line.startswith("#$ INCLUDES=") or line.startswith("#$ SYSTEM_INCLUDES="):
            incs += [t[2:] for t in shlex.split(line.split("=", 1)[1]) if t.startswith("-I")]
        elif line.startswith("#$ LIBRARIES="):
            libs += [t[2:] for t in shlex.split(line.split("=", 1)[1]) if t.startswith("-L")]
        elif line.startswith("#$ TOP="):
            top = line.split("=", 1)[1].strip()
            incs += [os.path.join(top, "include")] + glob.glob(os.path.join(top, "targets", "*", "include"))
            libs += [os.path.join(top, d) for d in ("lib64", "lib")] + \
                glob.glob(os.path.join(top, "targets", "*", "lib"))
    return incs, libs


def cublas_build_requirement(config_settings=None):
    """[CUBLAS_REQUIREMENT] when the CUDA module will be built and only the wheel can supply cuBLAS,
    else [] (reasons in the build log)."""
    if _setting(config_settings, "PYRNN_CUDA", "AUTO").upper() == "OFF":
        return []
    nvcc = _find_nvcc(config_settings)
    if not nvcc:
        return []  # no CUDA module without a compiler
    version = re.search(r"release (\d+)\.", _run([nvcc, "--version"]) or "")
    if not version or version.group(1) != "13":
        _log(f"{nvcc} is not CUDA 13; the nvidia-cublas wheel fallback is for CUDA 13 only")
        return []
    incs, libs = _toolkit_dirs(nvcc)
    has_header = any(os.path.isfile(os.path.join(d, "cublas_v2.h")) for d in incs)
    has_lib = any(glob.glob(os.path.join(d, "libcublas.so*")) for d in libs)
    if has_header and has_lib:
        return []
    _log(f"the CUDA toolkit of {nvcc} has no cuBLAS; requesting {CUBLAS_REQUIREMENT} for pyrnn._cuda")
    return [CUBLAS_REQUIREMENT]



if __name__ == "__main__":
    for requirement in cublas_build_requirement():
        print(requirement)
