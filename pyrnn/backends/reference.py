"""The NumPy reference as a backend: runs on NumPy and (through the same code) CuPy arrays."""
from pyrnn.reference import *  # noqa: F401,F403  (the contract's functions)
from pyrnn.reference import __all__  # noqa: F401

ARRAYS = {"numpy", "cupy"}
NAME = "reference"


def probe():
    """The reference needs nothing but NumPy: always usable."""


def describe():
    return "NumPy/CuPy reference (the oracle; readable, not fast)"
