"""pyrnn's PEP 517 build backend: scikit-build-core, plus cuBLAS where the CUDA module needs it,
both to build and to run.

pyrnn._cuda links cuBLAS. A CUDA toolkit often ships it (headers and library); where it does
not (a slim toolkit: nvcc and the runtime only), CMakeLists.txt takes the headers and library of
the `nvidia-cublas` wheel from the Python running the build, and the installed module then loads
that library at run time from the wheel next door in site-packages. So, exactly in that case:

  * the wheel is a build requirement (it is large, ~450 MB, so only then);
  * it is a run-time requirement of the built package: its metadata gets
    `Requires-Dist: nvidia-cublas...`, so `pip install .` installs it with pyrnn.

pip resolves run-time requirements from prepare_metadata_for_build_wheel, which runs before the
build, so that hook predicts CMake's choice with the same rule CMake follows (cublas_requirement.py,
and the wheel present in the build environment, as CMake looks for it there). build_wheel then
checks the built module itself and corrects the wheel's metadata if the build chose otherwise,
so the installed metadata always says what `pyrnn._cuda` really links.
Everything else is scikit-build-core's own hook, unchanged.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import re
import sys
import zipfile

from cublas_requirement import CUBLAS_REQUIREMENT, cublas_build_requirement
from scikit_build_core import build as _skbuild
from scikit_build_core.build import (  # noqa: F401  (re-exported unchanged)
    build_sdist,
    get_requires_for_build_sdist,
)

# what CMakeLists.txt sets as pyrnn._cuda's run path when it links the wheel's cuBLAS
_WHEEL_CUBLAS_RPATH = b"$ORIGIN/../nvidia/cu13/lib"
_REQUIRES = f"Requires-Dist: {CUBLAS_REQUIREMENT}"


def _log(msg):
    print(f"pyrnn build: {msg}", file=sys.stderr)


def get_requires_for_build_wheel(config_settings=None):
    return _skbuild.get_requires_for_build_wheel(config_settings) + cublas_build_requirement(config_settings)


def get_requires_for_build_editable(config_settings=None):
    return _skbuild.get_requires_for_build_editable(config_settings) + cublas_build_requirement(config_settings)


def _will_link_wheel_cublas(config_settings):
    """CMake's choice, predicted: the toolkit lacks cuBLAS and the wheel is in this environment."""
    if not cublas_build_requirement(config_settings):
        return False
    try:
        importlib.metadata.version("nvidia-cublas")
    except importlib.metadata.PackageNotFoundError:
        return False  # CMake will build without pyrnn._cuda (its warning says so)
    return True


def _set_requirement(metadata: str, needed: bool) -> str:
    """METADATA text with the cuBLAS Requires-Dist line present exactly when `needed`."""
    lines = [ln for ln in metadata.split("\n") if not ln.startswith("Requires-Dist: nvidia-cublas")]
    if needed:
        # beside the other unconditional requirements: before the extras, or the end of the headers
        end = next((i for i, ln in enumerate(lines) if ln.startswith("Provides-Extra:") or not ln), len(lines))
        lines.insert(end, _REQUIRES)
    return "\n".join(lines)


def _prepare(hook, metadata_directory, config_settings):
    dist_info = hook(metadata_directory, config_settings)
    path = os.path.join(metadata_directory, dist_info, "METADATA")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    needed = _will_link_wheel_cublas(config_settings)
    with open(path, "w", encoding="utf-8") as f:
        f.write(_set_requirement(text, needed))
    if needed:
        _log(f"pyrnn._cuda will link the nvidia-cublas wheel: the package requires {CUBLAS_REQUIREMENT}")
    return dist_info


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _prepare(_skbuild.prepare_metadata_for_build_wheel, metadata_directory, config_settings)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return _prepare(_skbuild.prepare_metadata_for_build_editable, metadata_directory, config_settings)


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _fix_wheel(path):
    """Make the wheel's Requires-Dist match what its pyrnn._cuda links (if anything), rewriting
    METADATA and its RECORD line only when they disagree."""
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        data = {i.filename: z.read(i) for i in infos}
    cuda = [n for n in data if re.fullmatch(r"pyrnn/_cuda[^/]*\.so", n)]
    needed = bool(cuda) and _WHEEL_CUBLAS_RPATH in data[cuda[0]]
    meta = next(n for n in data if n.endswith(".dist-info/METADATA"))
    fixed = _set_requirement(data[meta].decode("utf-8"), needed).encode("utf-8")
    if fixed == data[meta]:
        return
    _log(f"the built pyrnn._cuda {'links' if needed else 'does not link'} the nvidia-cublas wheel: "
         f"{'adding' if needed else 'removing'} the {CUBLAS_REQUIREMENT} requirement")
    data[meta] = fixed
    record = next(n for n in data if n.endswith(".dist-info/RECORD"))
    data[record] = "\n".join(_record_line(meta, fixed) if ln.startswith(meta + ",") else ln
                             for ln in data[record].decode("utf-8").split("\n")).encode("utf-8")
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for i in infos:
            z.writestr(i, data[i.filename])  # the ZipInfo keeps each member's permissions
    os.replace(tmp, path)


# metadata_directory is not handed on: scikit-build-core refuses a prepared METADATA that differs
# from its own, and _fix_wheel writes the requirement into the wheel itself (pip checks only the
# name and version of a built wheel against the prepared metadata)

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = _skbuild.build_wheel(wheel_directory, config_settings, None)
    _fix_wheel(os.path.join(wheel_directory, name))
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    name = _skbuild.build_editable(wheel_directory, config_settings, None)
    _fix_wheel(os.path.join(wheel_directory, name))
    return name
