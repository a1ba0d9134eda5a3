"""What `pyrnn info` reports: version, backends (and why any is unusable), BLAS, threads."""
from __future__ import annotations

import os
import platform

import numpy as np

from .. import __version__, backends
from .._process import blas_spin_setting


def _numpy_blas() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy without mode="dicts"
        return "unknown"


def info() -> dict:
    """All facts as a dict (the CLI prints it; tests read it)."""
    status = backends.backend_status()
    forced = backends.current_forced()
    return {
        "version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": _numpy_blas(),
        "numpy_blas_threads_wait": blas_spin_setting(),
        "cpu_count": os.cpu_count(),
        "backends": status,
        "default_numpy": next((n for n in backends.NUMPY_ORDER if status[n][0]), None),
        "default_cupy": next((n for n in backends.CUPY_ORDER if status[n][0] and n != "reference"), None),
        "forced": forced,
    }


def format_info(d: dict) -> str:
    lines = [
        f"pyrnn {d['version']}  (Python {d['python']}, NumPy {d['numpy']})",
        f"CPU threads: {d['cpu_count']}   NumPy BLAS: {d['numpy_blas']}",
        f"NumPy BLAS threads after a call: {d['numpy_blas_threads_wait']}",
        "backends:",
    ]
    for name, (ok, detail) in d["backends"].items():
        lines.append(f"  {name:<11} {'usable' if ok else 'unusable'}: {detail}")
    lines.append(f"NumPy arrays run on: {d['default_numpy']}")
    lines.append(f"CuPy arrays run on: {d['default_cupy'] or 'reference (no GPU backend usable)'}")
    if d["forced"]:
        lines.append(f"forced by PYRNN_BACKEND / use_backend: {d['forced']}")
    return "\n".join(lines)
