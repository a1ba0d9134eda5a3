"""Save and load parameters as .npz, keyed by stable names.

Names come from the model (`pyrnn.models` name every parameter after the layer that
owns it, e.g. ``"encoder.lstm.Wx"``) or, for any other object with a ``params`` list,
are ``"params.0"``, ``"params.1"``, ... Tied parameters are stored once. Loading checks
names, shapes and dtypes before writing anything and raises ValueError naming every
mismatch; values are copied into the existing arrays in place (so optimizers and tied
views keep pointing at them), on NumPy or CuPy.
"""
from __future__ import annotations

import os

import numpy as np

from .._arrays import get_xp, to_numpy
from .grads import dedup_params

__all__ = ["named_params", "save_params", "load_params"]


def named_params(obj):
    """-> list of (name, array): from ``obj.named_params()``, else ``obj.params`` (or a
    list of arrays, or a dict name -> array) as ``"params.<i>"`` with tied ones merged."""
    if isinstance(obj, dict):
        return list(obj.items())
    if hasattr(obj, "named_params"):
        return list(obj.named_params())
    params = obj.params if hasattr(obj, "params") else list(obj)
    unique, _ = dedup_params(list(params), list(params))
    return [(f"params.{i}", p) for i, p in enumerate(unique)]


def save_params(obj, path):
    """Write the parameters of ``obj`` (a model, a layer, a list of arrays) to ``path`` (.npz)."""
    arrays = {}
    for name, p in named_params(obj):
        if name in arrays:
            raise ValueError(f"duplicate parameter name {name!r}")
        arrays[name] = to_numpy(p)
    path = os.fspath(path)
    with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to a bare name
        np.savez(f, **arrays)
    return path


def load_params(obj, path):
    """Copy the arrays saved in ``path`` into ``obj``'s parameters, in place.

    Raises ValueError, naming the parameters, when the file lacks a parameter, has one the
    model lacks, or a shape or dtype differs (no parameter is changed in that case).
    """
    targets = named_params(obj)
    with np.load(os.fspath(path), allow_pickle=False) as f:
        saved = {k: f[k] for k in f.files}
    problems = []
    names = [n for n, _ in targets]
    missing = [n for n in names if n not in saved]
    unexpected = [n for n in saved if n not in set(names)]
    if missing:
        problems.append(f"missing in the file: {', '.join(missing)}")
    if unexpected:
        problems.append(f"not parameters of the model: {', '.join(unexpected)}")
    for name, p in targets:
        if name not in saved:
            continue
        a = saved[name]
        if tuple(a.shape) != tuple(p.shape):
            problems.append(f"{name}: shape {tuple(a.shape)} in the file, the model has {tuple(p.shape)}")
        elif a.dtype != p.dtype:
            problems.append(f"{name}: dtype {a.dtype} in the file, the model has {p.dtype} "
                            f"(convert the model or the file; nothing is cast silently)")
    if problems:
        raise ValueError(f"{os.fspath(path)}: cannot load parameters: " + "; ".join(problems))
    for name, p in targets:
        p[...] = get_xp(p).asarray(saved[name])
    return obj
