"""Build pyrnn._cuda's sources for the host emulator (cuda_runtime.h, cublas_v2.h beside this file):
a Python module that runs the CUDA kernels on the CPU, so their indexing, strides, transposes and
math can be checked against the NumPy reference where no GPU exists (tests/test_cuda_emulated.py).

The sources are copied and each kernel launch `name<...><<<config>>>(args)` is rewritten to
`::emu::launch(config, name<...>, args)` (or emu::launch_threaded for kernels that call
__syncthreads); nothing else changes, and g++ compiles them with the emulator's headers in place
of CUDA's. With sanitize=True (the default) the module is built with AddressSanitizer and UBSan:
load it in a process started with LD_PRELOAD=sanitizer_preload().

Usage: python kernels/emulator/build.py OUT_DIR   (prints the module's path)
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))
KERNELS = os.path.dirname(HERE)
REPO = os.path.dirname(KERNELS)
# kernels that synchronize their block (__syncthreads) need real concurrent threads in the emulator
THREADED = ("column_sums_kernel", "masked_softmax_rows_kernel", "softmax_rows_backward_kernel",
            "sdpa_stream_forward_kernel", "sdpa_stream_dq_kernel", "sdpa_stream_dkv_kernel",
            "layer_norm_forward_kernel", "layer_norm_backward_rows_kernel")
LAUNCH = re.compile(r"(\w+)(<[^<>;]*>)?<<<(.*?)>>>\(", re.S)


def rewrite(source: str) -> str:
    def launch(m):
        name, targs, config = m.group(1), m.group(2) or "", m.group(3)
        fn = "launch_threaded" if name in THREADED else "launch"
        return f"::emu::{fn}({config}, {name}{targs}, "
    out = LAUNCH.sub(launch, source)
    if re.search(r'^[^"\n]*<<<', out, re.M):  # one left outside a string literal
        raise ValueError("a kernel launch the emulator cannot rewrite (write launches as name<T><<<cfg>>>(args))")
    return out


def sanitizer_preload():
    """LD_PRELOAD for a process that loads a sanitized module: gcc's libasan, and libstdc++ with it
    (ASan intercepts C++ throws only when libstdc++ is loaded at start-up; Python does not link it,
    and without it the first exception the module throws aborts). None where libasan is missing."""
    def gcc_file(compiler, name):
        try:
            path = subprocess.run([compiler, f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
        except OSError:
            return None
        return path if os.path.isabs(path) and os.path.exists(path) else None
    libasan, libstdcxx = gcc_file("gcc", "libasan.so"), gcc_file("g++", "libstdc++.so.6")
    return f"{libasan} {libstdcxx}" if libasan and libstdcxx else None


def build(out_dir: str, sanitize: bool = True, jobs: int = 2) -> str:
    import pybind11

    src = os.path.join(out_dir, "src")
    shutil.rmtree(src, ignore_errors=True)
    for sub in ("include", "src", "bindings"):
        shutil.copytree(os.path.join(KERNELS, sub), os.path.join(src, sub))
    units = []
    for root, _, files in os.walk(src):
        for f in files:
            if f.endswith((".cu", ".cuh")):
                p = os.path.join(root, f)
                with open(p) as fh:
                    text = rewrite(fh.read())
                with open(p, "w") as fh:
                    fh.write(text)
                if f.endswith(".cu"):
                    units.append(p)
    flags = ["-std=c++20", "-O1", "-g", "-fPIC", "-fno-omit-frame-pointer", "-Wall", "-Wno-unused-function",
             "-I", HERE, "-I", os.path.join(src, "include"), "-I", os.path.join(REPO, "cpp", "include"),
             "-I", pybind11.get_include(), "-I", sysconfig.get_paths()["include"], '-DPYRNN_VERSION="emulated"']
    if sanitize:
        flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    objs, procs = [], []
    for u in sorted(units):
        obj = u[:-3] + ".o"
        objs.append(obj)
        procs.append(subprocess.Popen(["g++", *flags, "-x", "c++", "-c", u, "-o", obj], stderr=subprocess.PIPE,
                                      text=True))
        if len(procs) >= jobs:
            _wait(procs.pop(0))
    for p in procs:
        _wait(p)
    module = os.path.join(out_dir, "_cuda" + sysconfig.get_config_var("EXT_SUFFIX"))
    link = ["g++", "-shared", *objs, "-o", module, "-lpthread"]
    if sanitize:
        link.insert(2, "-fsanitize=address,undefined")
    _wait(subprocess.Popen(link, stderr=subprocess.PIPE, text=True))
    return module


def _wait(p):
    _, err = p.communicate()
    if p.returncode:
        raise RuntimeError(f"emulator build failed: {' '.join(p.args)}\n{err}")


if __name__ == "__main__":
    print(build(sys.argv[1]))
