"""NumPy reference of every op in the contract (`pyrnn.backends.contract`), one file per family:
recurrent, words, attention, norm.

The oracle every kernel is judged by: written to be read, one op per short function, no
cleverness. Written against the array module of its inputs (`xp`), so the same code also runs on
CuPy arrays.
"""
import importlib

from ..backends.contract import FAMILIES, FUNCTIONS, functions

for _family in FAMILIES:
    _module = importlib.import_module(f"{__name__}.{_family}")
    for _name in functions(_family):
        globals()[_name] = getattr(_module, _name)  # the reference has every op: a missing one fails here
del _family, _module, _name

__all__ = list(FUNCTIONS)
