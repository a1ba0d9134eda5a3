"""How the family modules run a kernel of pyrnn._cuda: on the one device of the call's arrays, with
outputs and workspaces from CuPy's memory pool there, queued on CuPy's current stream there. The only
module here that touches CuPy and the extension (the emulator tests swap both for host stand-ins).
"""
from __future__ import annotations

import contextlib
import numbers

from pyrnn._arrays import cupy_module
from pyrnn.backends.cuda import _cuda

cp = cupy_module()


def device_of(**arrays):
    """The one device all given arrays live on (ValueError naming the odd one out); None is absent."""
    first, dev = None, None
    for name, a in arrays.items():
        if a is None:
            continue
        if dev is None:
            first, dev = name, a.device.id
        elif a.device.id != dev:
            raise ValueError(f"{name}: on GPU {a.device.id}, but {first} is on GPU {dev}; "
                             f"all arrays of one call must be on one device")
    return dev


@contextlib.contextmanager
def on_device(**arrays):
    """The block runs with the arrays' device current (CuPy allocates there, and its current stream
    there is the one the kernels queue on); yields the device."""
    dev = device_of(**arrays)
    with cp.cuda.Device(dev):
        yield dev


def empty(shape, dtype):
    """An uninitialised CuPy array on the current device: an output or a workspace."""
    return cp.empty(shape, dtype)


def address(a):
    """The device address of CuPy array a; 0 for None (an absent optional array)."""
    return 0 if a is None else a.data.ptr


def launch(op, device, dtype, **args):
    """pyrnn._cuda.<op>: queues its kernels on CuPy's current stream of `device`, for arrays of
    `dtype`. Arrays in args (None: absent) go as their device addresses, numbers as they are."""
    getattr(_cuda, op)(dtype=dtype.name, device=device, stream=cp.cuda.get_current_stream().ptr,
                       **{k: v if isinstance(v, numbers.Number) else address(v) for k, v in args.items()})


def constant(name):
    """A constant of pyrnn._cuda (a size the kernels fix, such as layer_norm_rows_per_chunk)."""
    return getattr(_cuda, name)
