"""pyrnn: fast, checked RNN/LSTM/GRU and attention kernels behind a book-compatible layer API.

    from pyrnn.layers import TimeLSTM, TimeAttention   # drop-in for the book's layers
    import pyrnn.ops                                   # the functional op contract
    with pyrnn.use_backend("reference"): ...           # force a backend
    with pyrnn.check_finite(): ...                     # raise at the first NaN/Inf (PYRNN_CHECK_FINITE=1)
    pyrnn.gradcheck(layer, xs)                         # finite-difference check
"""
from ._process import configure_cli_process

configure_cli_process()  # before anything imports NumPy: the `pyrnn` command's process-wide settings

from importlib.metadata import PackageNotFoundError, version as _version  # noqa: E402

try:
    __version__ = _version("pyrnn")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

from ._install import source_tree_problem  # noqa: E402

if source_tree_problem():  # once per process (a module body runs once), on stderr, not as a warning
    import sys              # that filters could hide or point at an importer's line
    print(f"pyrnn: WARNING: {source_tree_problem()}", file=sys.stderr)

from .backends import BackendUnavailable, use_backend  # noqa: E402
from ._finite import NonFiniteError, check_finite  # noqa: E402
from . import ops  # noqa: E402
from .check import GradcheckReport, gradcheck  # noqa: E402

__all__ = ["__version__", "BackendUnavailable", "use_backend", "check_finite", "NonFiniteError", "ops", "layers", "gradcheck", "GradcheckReport"]


def __getattr__(name):
    # layers import lazily so `import pyrnn` stays light for the CLI
    import importlib

    if name == "layers":
        return importlib.import_module("pyrnn.layers")
    raise AttributeError(f"module 'pyrnn' has no attribute {name!r}")
