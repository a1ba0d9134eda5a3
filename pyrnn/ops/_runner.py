"""What every op wrapper does after checking its arguments: pick the backend, run the forward, wrap
its ``saved`` so the backward runs on the same backend and checks its incoming gradients, and
(while `pyrnn.check_finite` is on) look for NaN/Inf around both."""
from __future__ import annotations

import numpy as np

from .. import backends
from .._arrays import cupy_module, is_array, is_cupy
from .._finite import assert_finite, finite_checks_on
from .._validate import check_float, check_real
from ..backends.contract import BY_NAME
from ..backends.limits import check_int32_sizes


class Saved:
    """What a forward hands its backward: the backend, the payload, and the (name, shape,
    optional) of each gradient the backward takes, plus their dtype and device."""

    __slots__ = ("backend", "op", "payload", "grad_specs", "dtype", "on_gpu")

    def __init__(self, backend, op, payload, grad_specs, dtype, on_gpu):
        self.backend, self.op, self.payload = backend, op, payload
        self.grad_specs, self.dtype, self.on_gpu = grad_specs, dtype, on_gpu


def run_forward(op, like, args, grads, dims=None, train=True):
    """Run `op`_forward on the backend chosen for `like` (the array whose dtype and device the call
    has) and return its results with `saved` last (None when `train` is false).

    `args` maps the contract's argument names to values, in order; `grads` is the (name, shape,
    optional) of each gradient the backward will take; `dims`, the op's dimensions, are checked
    against the sizes the chosen backend hands to 32-bit integers before it allocates anything."""
    on_gpu = is_cupy(like)
    mod = backends.select(op + "_forward", on_gpu)
    check_int32_sizes(op, mod, dims)
    check = finite_checks_on()
    if check:
        for name, a in args.items():
            assert_finite(op + "_forward", name, a, "input")
    *outputs, payload = getattr(mod, op + "_forward")(*args.values())
    if check:
        for name, a in zip(BY_NAME[op].outputs, outputs):
            assert_finite(op + "_forward", name, a, "output")
    saved = Saved(mod, op, payload, tuple(grads), like.dtype, on_gpu) if train else None
    return (*outputs, saved)


def run_backward(op, saved, *grads):
    """Check the incoming gradients against the forward's record, then run the backward."""
    if saved is None:
        raise ValueError(f"{op}_backward: saved is None (the forward ran with train=False, which saves nothing)")
    if not isinstance(saved, Saved) or saved.op != op:
        got = saved.op if isinstance(saved, Saved) else type(saved).__name__
        raise TypeError(f"{op}_backward: saved must come from {op}_forward, got {got}")
    for (name, shape, optional), g in zip(saved.grad_specs, grads):
        if g is None and optional:
            continue
        check_float(name, g, shape, dtype=saved.dtype)
        if is_cupy(g) != saved.on_gpu:
            raise TypeError(f"{name}: the forward ran on {'cupy' if saved.on_gpu else 'numpy'} arrays, "
                            f"got a {'cupy' if is_cupy(g) else 'numpy'} array")
    check = finite_checks_on()
    if check:
        for (name, _, _), g in zip(saved.grad_specs, grads):
            assert_finite(op + "_backward", name, g, "input")
    result = getattr(saved.backend, op + "_backward")(*grads, saved.payload)
    if check:
        outs = result if isinstance(result, tuple) else (result,)
        for name, a in zip(BY_NAME[op].grads, outs):
            assert_finite(op + "_backward", name, a, "output")
    return result


def scalar_grad(d, saved):
    """A scalar loss gradient as a 0-d array of the forward's dtype: a Python or NumPy number (the
    book passes dout=1; the losses return NumPy scalars, so backward(loss) passes one back) or a 0-d
    array of another dtype (a scalar: no data to preserve, only its value). Anything else goes to
    run_backward's checks as it is."""
    if not isinstance(saved, Saved):
        return d  # run_backward says what is wrong with it
    if is_array(d):
        if d.ndim == 0 and d.dtype != saved.dtype and d.dtype.kind in "iuf":
            return d.astype(saved.dtype)
        return d
    v = check_real("dloss", d, expected="a number or a 0-d float array (the loss gradient)", dtype=saved.dtype)
    xp = cupy_module() if saved.on_gpu else np
    return xp.asarray(v, dtype=saved.dtype)
