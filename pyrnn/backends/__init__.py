"""Backend registry and dispatch.

A backend is a module implementing some or all of the op contract (the plain
functions documented in `pyrnn.backends.contract`). The dispatcher picks one
per call:

* forced: ``with pyrnn.use_backend("numba"): ...`` or ``PYRNN_BACKEND=numba``;
  the forced backend must support the array type, else a clear error; an op it
  does not implement (yet) runs on the reference, which implements every op;
* automatic, by array type, first usable backend that implements the op:
  NumPy -> cpp, numba, reference;  CuPy -> cuda, numba-cuda, reference.

Every forward op returns an opaque ``saved``; `pyrnn.ops` tags it with the
backend that produced it so the backward always runs on the same backend.

A backend is a package ``pyrnn/backends/<name>/`` (docs/architecture.md, "add a
backend"): ``NAME``, ``ARRAYS = {"numpy"}`` or ``{"cupy"}``, a ``probe()`` that
raises `BackendUnavailable` with the reason it cannot run here, ``describe()``,
and last ``export_ops(globals())``, which gathers the contract's functions from
its family modules (``recurrent.py``, ``words.py``, ...). Register its name below.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib
import os

__all__ = [
    "BackendUnavailable",
    "export_ops",
    "NUMPY_ORDER",
    "CUPY_ORDER",
    "backend_status",
    "current_forced",
    "get",
    "select",
    "use_backend",
]


class BackendUnavailable(RuntimeError):
    """Raised by a backend's probe() with the reason it cannot run here."""


def _extension_unavailable(module: str, not_built: str, failed: str) -> BackendUnavailable:
    """For the probe() of a backend whose compiled module (pyrnn._cpu, pyrnn._cuda) did not load: why,
    as the BackendUnavailable to raise: Python started in the source tree (pyrnn._install says so), the
    module not built (`not_built`), or its import failed (`failed`)."""
    import importlib.util

    from .._install import source_tree_problem

    if source_tree_problem():
        return BackendUnavailable(source_tree_problem(short=True))
    if importlib.util.find_spec(module) is None:
        return BackendUnavailable(not_built)
    return BackendUnavailable(failed)


def export_ops(namespace: dict) -> None:
    """Called last in a backend package's ``__init__`` (with ``globals()``): import each of the
    package's family modules that exists (``<package>.recurrent``, ``.words``, ...) and put the
    contract's functions it defines into the package, where the dispatcher looks for them."""
    from .contract import FAMILIES, functions

    package = namespace["__name__"]
    for family in FAMILIES:
        try:
            module = importlib.import_module(f"{package}.{family}")
        except ModuleNotFoundError as e:
            if e.name == f"{package}.{family}":
                continue  # the backend has no op of this family
            raise
        for name in functions(family):
            if hasattr(module, name):
                namespace[name] = getattr(module, name)


# name -> module path; order of preference per array type
_MODULES = {
    "reference": "pyrnn.backends.reference",
    "cpp": "pyrnn.backends.cpp",
    "numba": "pyrnn.backends.numba",
    "cuda": "pyrnn.backends.cuda",
    "numba-cuda": "pyrnn.backends.numba_cuda",
}
NUMPY_ORDER = ("cpp", "numba", "reference")
CUPY_ORDER = ("cuda", "numba-cuda", "reference")

_loaded: dict[str, object] = {}
_failed: dict[str, str] = {}
_forced: contextvars.ContextVar[str | None] = contextvars.ContextVar("pyrnn_backend", default=None)


def get(name: str):
    """The backend module `name`, or raise BackendUnavailable with the reason."""
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(_MODULES)}")
    if name in _loaded:
        return _loaded[name]
    if name in _failed:
        raise BackendUnavailable(_failed[name])
    try:
        mod = importlib.import_module(_MODULES[name])
        mod.probe()
    except ModuleNotFoundError as e:
        if e.name == _MODULES[name]:
            _failed[name] = "not implemented yet"
        else:
            _failed[name] = f"import failed: {e}"
        raise BackendUnavailable(_failed[name]) from None
    except BackendUnavailable as e:
        _failed[name] = str(e)
        raise
    except Exception as e:  # a broken extension must not take pyrnn down with it
        _failed[name] = f"{type(e).__name__}: {e}"
        raise BackendUnavailable(_failed[name]) from None
    _loaded[name] = mod
    return mod


def backend_status() -> dict[str, tuple[bool, str]]:
    """name -> (usable, detail) for every known backend (used by `pyrnn info`)."""
    out = {}
    for name in _MODULES:
        try:
            mod = get(name)
            out[name] = (True, getattr(mod, "describe", lambda: "")())
        except BackendUnavailable as e:
            out[name] = (False, str(e))
    return out


def current_forced() -> str | None:
    """The backend forced by use_backend() or PYRNN_BACKEND, if any."""
    name = _forced.get()
    if name is None:
        name = os.environ.get("PYRNN_BACKEND") or None
    return name


@contextlib.contextmanager
def use_backend(name: str):
    """Force every op in this context (this thread/task) onto backend `name`.

    >>> with pyrnn.use_backend("reference"):
    ...     hs = layer.forward(xs)
    """
    get(name)  # fail early, with the reason, if it cannot run here
    token = _forced.set(name)
    try:
        yield get(name)
    finally:
        _forced.reset(token)


def select(op: str, on_gpu: bool):
    """The backend module that runs `op` for NumPy (on_gpu=False) or CuPy arrays."""
    forced = current_forced()
    kind = "cupy" if on_gpu else "numpy"
    if forced is not None:
        mod = get(forced)
        if kind not in mod.ARRAYS:
            others = ", ".join(n for n in (CUPY_ORDER if on_gpu else NUMPY_ORDER))
            move = ("move them to the GPU with cupy.asarray(...)" if "cupy" in mod.ARRAYS
                    else "move them to the host with cupy.asnumpy(...)")
            raise TypeError(
                f"backend {forced!r} runs on {'/'.join(sorted(mod.ARRAYS))} arrays, but {op} got {kind} arrays: "
                f"{move}, or force a backend for {kind} arrays ({others})"
            )
        if not hasattr(mod, op):
            # backends grow op by op; the reference covers the rest (and runs on both array types)
            return get("reference")
        return mod
    for name in CUPY_ORDER if on_gpu else NUMPY_ORDER:
        try:
            mod = get(name)
        except BackendUnavailable:
            continue
        if kind in mod.ARRAYS and hasattr(mod, op):
            return mod
    raise RuntimeError(f"no usable backend implements {op} for {kind} arrays")  # reference always does
