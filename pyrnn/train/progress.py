"""Optional tqdm progress bars: without tqdm (or with ``enabled=False``) loops run bare."""
from __future__ import annotations

import sys

try:
    from tqdm.auto import tqdm as _tqdm
except Exception:  # ImportError, or a broken install
    _tqdm = None


class _NoBar:
    def __init__(self, iterable=None, total=None, **_):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def update(self, n=1):
        pass

    def set_postfix(self, *args, **kwargs):
        pass

    def set_description(self, *args, **kwargs):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def have_tqdm() -> bool:
    return _tqdm is not None


def progress(iterable=None, total=None, desc=None, enabled=True, leave=False, **kwargs):
    """tqdm(iterable, ...) when tqdm is installed and ``enabled``; otherwise a silent stand-in."""
    if enabled and _tqdm is not None:
        return _tqdm(iterable, total=total, desc=desc, leave=leave, file=sys.stderr,
                     dynamic_ncols=True, **kwargs)
    return _NoBar(iterable, total=total)
