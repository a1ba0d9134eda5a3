"""NumPy reference of every op in the contract (`pyrnn.backends.contract`).

The oracle every kernel is judged by: written to be read, one op per short
function, no cleverness. Written against the array module of its inputs
(`xp`), so the same code also runs on CuPy arrays.
"""
from .recurrent import (  # noqa: F401
    gru_backward, gru_forward, lstm_backward, lstm_forward, rnn_backward, rnn_forward,
)
from .embedding import embedding_backward, embedding_forward  # noqa: F401
from .affine import affine_backward, affine_forward  # noqa: F401
from .losses import (  # noqa: F401
    sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward,
    softmax_backward, softmax_cross_entropy_backward, softmax_cross_entropy_forward, softmax_forward,
)
from .dropout import dropout_backward, dropout_forward  # noqa: F401
from .attention import (  # noqa: F401
    attention_backward, attention_forward, attention_weights_backward, attention_weights_forward,
    sdpa_backward, sdpa_forward, weighted_sum_backward, weighted_sum_forward,
)
from .layer_norm import layer_norm_backward, layer_norm_forward  # noqa: F401

from ..backends.contract import FUNCTIONS as __all__  # noqa: E402,F401
