"""Save and load parameters as .npz, keyed by stable names.

Names come from the model (`pyrnn.models` name every parameter after the layer that
owns it, e.g. ``"encoder.lstm.Wx"``) or, for any other object with a ``params`` list,
are ``"params.0"``, ``"params.1"``, ... Tied parameters are stored once. Loading checks
the file, names, shapes, dtypes and that every parameter can be written before writing
anything, and raises ValueError naming the file and every mismatch; values are copied into
the existing arrays in place (so optimizers and tied views keep pointing at them), on NumPy
or CuPy.
"""
from __future__ import annotations

import os
import zipfile

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


def _read_npz(path):
    """name -> array of every member of the .npz at `path`; ValueError naming the file (and the
    member) when it is not one save_params could have written: a .npy, text or any non-zip file, a
    truncated or corrupt archive, a member that is not a .npy array or holds pickled objects."""
    with open(path, "rb") as f:  # FileNotFoundError / IsADirectoryError / PermissionError name the file
        head = f.read(6)
    if not zipfile.is_zipfile(path):
        if head == b"\x93NUMPY":
            what = "a .npy array (np.save), not an .npz archive of named arrays (save_params)"
        elif head.startswith(b"PK\x03\x04"):  # a zip's first member, but no directory at the end
            what = "a damaged .npz archive (truncated: no zip directory at its end)"
        else:
            what = "not an .npz archive (save_params writes one: a zip of .npy arrays)"
        raise ValueError(f"{path}: cannot load parameters: {what}")
    saved, problems = {}, []
    try:
        with np.load(path, allow_pickle=False) as f:
            for k in f.files:
                try:
                    a = f[k]
                except ValueError as e:  # pickled object arrays, a bad .npy header
                    problems.append(f"{k}: not a plain numeric array ({e})".replace(
                        "when allow_pickle=False", "(a checkpoint holds only numeric arrays)"))
                    continue
                if not isinstance(a, np.ndarray):  # np.load hands back the raw bytes of a member without .npy
                    problems.append(f"{k}: not a .npy array (a member np.save did not write)")
                    continue
                saved[k] = a
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:  # truncated or corrupt archive
        raise ValueError(f"{path}: cannot load parameters: a damaged .npz archive ({type(e).__name__}: {e})") from e
    if problems:
        raise ValueError(f"{path}: cannot load parameters: " + "; ".join(problems))
    return saved


def load_params(obj, path):
    """Copy the arrays saved in ``path`` into ``obj``'s parameters, in place.

    Everything is checked before anything is written, so a load that fails changes no parameter:
    ValueError naming the file and the parameters when it is not an .npz of arrays (see _read_npz),
    lacks a parameter, has one the model lacks, a shape or dtype differs, or a parameter of the model
    cannot be written (a read-only array, or not an array).
    """
    targets = named_params(obj)
    path = os.fspath(path)
    saved = _read_npz(path)
    problems = []
    names = [n for n, _ in targets]
    missing = [n for n in names if n not in saved]
    unexpected = [n for n in saved if n not in set(names)]
    if missing:
        problems.append(f"missing in the file: {', '.join(missing)}")
    if unexpected:
        problems.append(f"not parameters of the model: {', '.join(unexpected)}")
    for name, p in targets:
        if not (hasattr(p, "shape") and hasattr(p, "dtype")):
            problems.append(f"{name}: the model's parameter is not an array ({type(p).__name__})")
            continue
        if isinstance(p, np.ndarray) and not p.flags.writeable:
            problems.append(f"{name}: read-only in the model (a load writes parameters in place)")
        if name not in saved:
            continue
        a = saved[name]
        if tuple(a.shape) != tuple(p.shape):
            problems.append(f"{name}: shape {tuple(a.shape)} in the file, the model has {tuple(p.shape)}")
        elif a.dtype != p.dtype:
            problems.append(f"{name}: dtype {a.dtype} in the file, the model has {p.dtype} "
                            f"(convert the model or the file; nothing is cast silently)")
    if problems:
        raise ValueError(f"{path}: cannot load parameters: " + "; ".join(problems))
    # every value on its parameter's device first (CuPy may run out of memory there), then the copies
    values = [get_xp(p).asarray(saved[name]) for name, p in targets]
    for (_, p), v in zip(targets, values):
        p[...] = v
    return obj
