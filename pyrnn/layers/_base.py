"""What every layer shares: params/grads lists updated in place, call-order checks, and the
check that one layer is used by one thread at a time."""
from __future__ import annotations

import functools
import threading

from .._arrays import get_xp


class Layer:
    """Book-style layer: ``params`` and ``grads`` are lists of arrays; ``backward``
    writes each gradient into ``grads[i][...]`` so optimizers holding references
    to those arrays (and weight sharing by identity) keep working.

    Threads: a layer keeps what its last forward saved for the backward (and, stateful, the state
    the next forward starts from), so one layer serves one thread at a time. Using it from two
    threads is detected and raises RuntimeError naming the layer and both threads, instead of mixing
    one thread's activations or state into the other's results: a call while another thread is
    inside the layer; a backward in another thread than the forward it differentiates; a stateful
    forward continuing the state another thread carried (take it over with ``reset_state()`` or
    ``set_state(...)`` in the new thread). Give each thread its own layers (or model); handing a
    layer to another thread between calls is fine. Independent layers run concurrently (the kernels
    release the GIL).
    """

    params: list
    grads: list

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward", "set_state", "reset_state"):
            fn = cls.__dict__.get(name)
            if callable(fn) and not getattr(fn, "_pyrnn_guarded", False):
                setattr(cls, name, _guarded(name, fn))

    def _init_params(self, *params):
        self.params = [p for p in params]
        self.grads = [get_xp(p).zeros_like(p) for p in self.params]

    def _set_grads(self, *values):
        for g, v in zip(self.grads, values):
            g[...] = v

    def _need(self, saved):
        if saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward "
                               f"(or after a forward that saved nothing)")
        return saved

    def _continues_state(self) -> bool:
        """Whether the next forward starts from state an earlier forward left (stateful layers)."""
        return False

    def __repr__(self):
        shapes = ", ".join(str(tuple(p.shape)) for p in self.params)
        return f"{type(self).__name__}({shapes})"


# ---- one thread at a time --------------------------------------------------------------------------
# Per layer, plain attributes (so layers still copy and pickle): _pyrnn_busy, the ident of the thread
# inside one of the layer's guarded methods; _pyrnn_saved_by, (ident, name) of the thread whose forward
# made the saved activations; _pyrnn_state_by, of the thread that made or set the carried state. A
# thread claims _pyrnn_busy with dict.setdefault, which is atomic: no lock, about 1 us a call. Only the
# claiming thread writes the other two or clears the claim.

def _thread_name(ident):
    for t in threading.enumerate():
        if t.ident == ident:
            return t.name
    return f"<thread {ident}>"


def _guarded(method, fn):
    backward, forward = method == "backward", method == "forward"

    @functools.wraps(fn)
    def call(self, *args, **kwargs):
        me = threading.get_ident()
        d = self.__dict__
        nested = d.get("_pyrnn_busy") == me  # only this thread sets its own ident, or clears it
        other = d.setdefault("_pyrnn_busy", me)
        if other != me:
            _refuse(self, method, "busy", _thread_name(other))
        try:
            if backward:
                by = d.get("_pyrnn_saved_by")
                if by is not None and by[0] != me:
                    _refuse(self, method, "saved", by[1])
            elif forward and self._continues_state():
                by = d.get("_pyrnn_state_by")
                if by is not None and by[0] != me:
                    _refuse(self, method, "state", by[1])
            out = fn(self, *args, **kwargs)
            if forward:
                d["_pyrnn_saved_by"] = d["_pyrnn_state_by"] = (me, threading.current_thread().name)
            elif method == "set_state":
                d["_pyrnn_state_by"] = (me, threading.current_thread().name)
            elif method == "reset_state":
                d["_pyrnn_state_by"] = None
            return out
        finally:
            if not nested:
                del d["_pyrnn_busy"]

    call._pyrnn_guarded = True
    return call


def _refuse(layer, method, why, other):
    name, me, them = type(layer).__name__, repr(threading.current_thread().name), repr(other)
    fix = "give each thread its own layer (or model)"
    if why == "busy":
        msg = (f"{name}.{method} called in thread {me} while thread {them} is inside {name}: a layer keeps one "
               f"forward's activations (and state) at a time, so it cannot serve two threads at once; {fix}, "
               f"or serialize the calls")
    elif why == "saved":
        msg = (f"{name}.backward called in thread {me}, but the forward it would differentiate ran in thread "
               f"{them} (a layer keeps only its last forward's activations); {fix}, or run each forward and "
               f"its backward in one thread")
    else:
        msg = (f"{name}.forward (stateful) called in thread {me} would continue the state thread {them} carried; "
               f"{fix}, or take the state over in this thread with reset_state() or set_state(...)")
    raise RuntimeError(msg)
