"""The installed package is the built one: compiled modules present and importable."""
import importlib.util
import os

import pytest


def test_cpu_module_is_built_and_importable():
    """The test suite must not silently run on a source tree without pyrnn._cpu (e.g. when
    `python -m pytest` from the repo root shadows the installed package). The Numba-fallback
    CI job sets PYRNN_EXPECT_NO_CPU=1 to run without it on purpose."""
    if os.environ.get("PYRNN_EXPECT_NO_CPU") == "1":
        with pytest.raises(ImportError):
            import pyrnn._cpu  # noqa: F401
        return
    from pyrnn import _cpu

    info = _cpu.build_info()
    import pyrnn
    assert info["version"] == pyrnn.__version__
    assert info["hardware_threads"] >= 1


def test_cuda_module_reports_devices_without_crashing():
    if importlib.util.find_spec("pyrnn._cuda") is None:
        pytest.skip("this install has no pyrnn._cuda (built without a CUDA toolkit, or PYRNN_CUDA=OFF)")
    # built, so it must load: an import error here (a missing libcublas, say) is a failure, not a skip
    from pyrnn import _cuda
    d = _cuda.device_info()
    assert d["device_count"] >= 0 and d["runtime_version"] > 0
    assert d["device_count"] > 0 or d["error"]


def test_declared_requirements_match_what_the_compiled_modules_link():
    """The installed metadata requires the nvidia-cublas wheel exactly when pyrnn._cuda was linked
    against it (run path $ORIGIN/../nvidia/cu13/lib, set in CMakeLists.txt): a build that took
    cuBLAS from the wheel must install it too, or the module cannot load on the user's machine."""
    import importlib.metadata

    spec = importlib.util.find_spec("pyrnn._cuda")
    with open(spec.origin, "rb") if spec else open(os.devnull, "rb") as f:
        links_wheel = b"$ORIGIN/../nvidia/cu13/lib" in f.read()
    unconditional = [r for r in importlib.metadata.requires("pyrnn") or [] if "extra ==" not in r]
    declares = [r for r in unconditional if r.replace("_", "-").startswith("nvidia-cublas")]
    assert bool(declares) == links_wheel, (spec and spec.origin, unconditional)
    if links_wheel:  # and the requirement is met here, so the module loads
        importlib.metadata.version("nvidia-cublas")
