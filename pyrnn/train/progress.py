"""Optional tqdm progress bars, on a terminal only: without tqdm, with ``enabled=False``, or when
stderr is not a terminal (a log file, a pipe, CI) loops run bare, so a log gets no carriage-return
frames; the callers print a line per epoch instead."""
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


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def progress(iterable=None, total=None, desc=None, enabled=True, leave=False, **kwargs):
    """tqdm(iterable, ...) when tqdm is installed, ``enabled`` and stderr is a terminal; otherwise
    a silent stand-in. ``leave=False``: the bar is erased when the loop ends (the caller's epoch
    line takes its place), so no unfinished last frame stays on screen."""
    if enabled and _tqdm is not None and _stderr_is_terminal():
        return _tqdm(iterable, total=total, desc=desc, leave=leave, file=sys.stderr,
                     dynamic_ncols=True, **kwargs)
    return _NoBar(iterable, total=total)
