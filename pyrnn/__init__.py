"""pyrnn: fast, checked RNN/LSTM/GRU and attention kernels behind a book-compatible layer API.

    from pyrnn.layers import TimeLSTM, TimeAttention   # drop-in for the book's layers
    import pyrnn.ops                                   # the functional op contract
    with pyrnn.use_backend("reference"): ...           # force a backend
    pyrnn.gradcheck(layer, xs)                         # finite-difference check
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("pyrnn")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

from .backends import BackendUnavailable, use_backend  # noqa: E402
from . import ops  # noqa: E402

__all__ = ["__version__", "BackendUnavailable", "use_backend", "ops", "layers", "gradcheck"]


def __getattr__(name):
    # layers and gradcheck import lazily so `import pyrnn` stays light for the CLI
    if name == "layers":
        from . import layers
        return layers
    if name == "gradcheck":
        from .gradcheck import gradcheck
        return gradcheck
    raise AttributeError(f"module 'pyrnn' has no attribute {name!r}")
