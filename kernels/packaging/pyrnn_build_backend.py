"""pyrnn's PEP 517 build backend: scikit-build-core, plus cuBLAS as a build requirement only
where the CUDA module needs it.

pyrnn._cuda links cuBLAS. A CUDA toolkit often ships it (headers and library); where it does
not (a slim toolkit: nvcc and the runtime only), CMakeLists.txt takes the headers and library of
the `nvidia-cublas` wheel from the Python running the build. That wheel is large (~450 MB), so it
is requested from the build frontend only where cublas_requirement.py says it is needed. Everything
else is scikit-build-core's own hook, unchanged. A --no-build-isolation build calls none of this:
there the environment must already hold what the build needs.
"""
from __future__ import annotations

from cublas_requirement import cublas_build_requirement
from scikit_build_core import build as _skbuild
from scikit_build_core.build import (  # noqa: F401  (re-exported unchanged)
    build_editable,
    build_sdist,
    build_wheel,
    get_requires_for_build_sdist,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)


def get_requires_for_build_wheel(config_settings=None):
    return _skbuild.get_requires_for_build_wheel(config_settings) + cublas_build_requirement(config_settings)


def get_requires_for_build_editable(config_settings=None):
    return _skbuild.get_requires_for_build_editable(config_settings) + cublas_build_requirement(config_settings)
