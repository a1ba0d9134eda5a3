"""Tensors <-> pyrnn arrays without copies, and the device/stream pyrnn's ops run on.

CPU tensors become NumPy views (`Tensor.numpy()`), CUDA tensors CuPy views (DLPack), and
pyrnn's results come back the same way (`torch.from_numpy`, `torch.from_dlpack`): the only
copies in the bridge are layout conversions (weights, time flips), made where they are made.
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np
import torch

FLOAT_DTYPES = (torch.float32, torch.float64)


def _cupy(what):
    try:
        import cupy
    except Exception as e:  # ImportError, or a CUDA runtime that fails to load
        raise TypeError(f"{what}: CUDA tensors run on pyrnn's cuda backend through CuPy, which is not "
                        f"usable here ({type(e).__name__}: {e}); pip install 'pyrnn[cuda]'") from None
    return cupy


def check_tensor(name, t, *, ndim=None, dtype=None, device=None, allow_none=False):
    """`t` a float32/float64 tensor on the CPU or a CUDA device (with `ndim` dimensions, and the
    `dtype` and `device` of the call when given); raise naming `name` otherwise."""
    if t is None:
        if allow_none:
            return None
        raise TypeError(f"{name}: expected a float32/float64 tensor, got None")
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected dtype torch.float32 or torch.float64, got {t.dtype} "
                        f"(pyrnn's kernels run those two; convert with .float() or .double())")
    if dtype is not None and t.dtype != dtype:
        raise TypeError(f"{name}: dtype {t.dtype} does not match the module's parameters / the other "
                        f"arguments ({dtype}); pyrnn never casts silently")
    if t.device.type not in ("cpu", "cuda"):
        raise TypeError(f"{name}: tensors on {t.device} are not supported (pyrnn runs CPU and CUDA tensors)")
    if device is not None and t.device != device:
        raise ValueError(f"{name}: on {t.device}, but the other arguments are on {device}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D tensor, got shape {tuple(t.shape)}")
    return t


def as_array(t, name="tensor"):
    """The tensor's memory as a NumPy (CPU) or CuPy (CUDA) array: a view, never a copy
    (None passes). On CUDA call it inside `on_device(t)`, so the import is on torch's stream."""
    if t is None:
        return None
    t = t.detach()
    if t.is_neg() or t.is_conj():  # lazy negation/conjugation bits: NumPy/DLPack cannot express them
        t = t.resolve_neg().resolve_conj()
    if t.device.type == "cpu":
        return t.numpy()
    return _cupy(name).from_dlpack(t)


def array_module(a):
    """numpy or cupy, whichever `a` belongs to."""
    if isinstance(a, np.ndarray):
        return np
    return _cupy("array")


def as_tensor(a):
    """A pyrnn result (NumPy or CuPy array) as a tensor sharing its memory (None passes)."""
    if a is None:
        return None
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a)
    return torch.from_dlpack(a)


def on_device(t):
    """Context for running pyrnn on `t`'s device: nothing on the CPU; on CUDA, that device
    current and torch's current stream as CuPy's current stream, so pyrnn's kernels queue
    behind torch's work on it and torch's next ops queue behind them (no synchronization)."""
    if t.device.type != "cuda":
        return contextlib.nullcontext()
    cupy = _cupy("input")
    index = t.device.index if t.device.index is not None else torch.cuda.current_device()
    stream = torch.cuda.current_stream(index)
    stack = contextlib.ExitStack()
    stack.enter_context(cupy.cuda.Device(index))
    stack.enter_context(cupy.cuda.ExternalStream(stream.cuda_stream, index))
    return stack


class _Owner:
    """Holds one object and exposes a 1-byte buffer (`__array_interface__`), so that a NumPy array
    made from it, and a tensor made from that array, keep the object alive."""

    def __init__(self, obj):
        self.obj = obj
        self._byte = np.zeros(1, np.uint8)
        self.__array_interface__ = self._byte.__array_interface__


def owning_tensor(obj):
    """(tensor, weakref to the owner): a 1-byte tensor owning `obj` (pyrnn's saved state), for
    ctx.save_for_backward. torch frees a Function's saved tensors after a backward without
    retain_graph, and so frees `obj` then, as it frees its own saved activations; with
    retain_graph it stays for the next backward. (Held on ctx directly, it would live as long
    as the graph's output tensors: up to twice the activation memory in a training loop.)"""
    owner = _Owner(obj)
    return torch.from_numpy(np.asarray(owner)), weakref.ref(owner)
