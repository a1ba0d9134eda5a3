"""The CUDA backend (pyrnn._cuda) for CuPy arrays. Its kernels land with the CUDA issue;
until then the module builds where a toolkit exists and reports the GPU it sees."""
import importlib.util

from pyrnn._arrays import cupy_module
from pyrnn.backends import BackendUnavailable

ARRAYS = {"cupy"}
NAME = "cuda"

try:
    from pyrnn import _cuda
except ImportError as e:  # built without a CUDA toolkit, or the CUDA runtime failed to load
    _cuda, _import_error = None, e


def probe():
    if _cuda is None:
        if importlib.util.find_spec("pyrnn._cuda") is None:
            raise BackendUnavailable("pyrnn._cuda not built (no CUDA toolkit at build time, or PYRNN_CUDA=OFF)")
        raise BackendUnavailable(f"pyrnn._cuda failed to load: {_import_error}")
    dev = _cuda.device_info()
    if dev["device_count"] == 0:
        raise BackendUnavailable(f"no GPU visible ({dev.get('error', 'cudaGetDeviceCount returned 0')})")
    if cupy_module() is None:
        raise BackendUnavailable("CuPy not installed (pip install 'pyrnn[cuda]')")
    raise BackendUnavailable(f"pyrnn._cuda built, GPU {dev['devices'][0]} visible, kernels not implemented yet")
