"""The functional API: one forward/backward pair per op of the contract (`pyrnn.backends.contract`),
with the signatures documented there. Each checks its arguments, runs the op on the backend chosen
for the arrays, and returns the backend's ``saved`` wrapped in a `Saved` that remembers which
backend made it and what gradients its backward takes, so the backward runs on the same backend
and checks its incoming gradients. One file per op family: recurrent, words, attention, norm. Beside
the contract: ``rnn_step``, ``lstm_step``, ``gru_step``, one inference step of the recurrent ops for
loops the caller drives.
"""
from ..backends.contract import FUNCTIONS
from ._runner import Saved
from .attention import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .recurrent import STEP_FUNCTIONS, check_recurrent_params, gru_bias_shape  # noqa: F401  (the layers' constructors use them)
from .words import *  # noqa: F401,F403

__all__ = ["Saved", *FUNCTIONS, *STEP_FUNCTIONS]
