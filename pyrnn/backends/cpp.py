"""The C++ CPU backend (pyrnn._cpu). Its kernels land with the 'Fused C++ CPU kernels'
issue; until then the module builds and reports itself, and the dispatcher passes it by."""
from pyrnn.backends import BackendUnavailable

ARRAYS = {"numpy"}
NAME = "cpp"

try:
    from pyrnn import _cpu
except ImportError as e:  # not built (no compiler) or failed to load
    _cpu, _import_error = None, e


def probe():
    if _cpu is None:
        raise BackendUnavailable(f"pyrnn._cpu failed to import: {_import_error}")
    info = _cpu.build_info()
    raise BackendUnavailable(f"pyrnn._cpu built ({info['compiler']}), kernels not implemented yet")
