"""Book-compatible layers ("Deep Learning from Scratch 2", common/ and ch08/):
swap ``from common.time_layers import *`` for ``from pyrnn.layers import *``.

Every layer has ``params`` and ``grads`` (gradients written in place),
``forward`` and ``backward`` with the book's signatures, and works on NumPy or
CuPy arrays of float32 or float64 (the dtype of its parameters).

A layer keeps its last forward's activations (and, stateful, its carried state), so one
layer serves one thread at a time: using it from two threads raises RuntimeError naming
the layer and both threads (see `Layer`); give each thread its own layers.
"""
from .basic import Affine, Embedding, SigmoidWithLoss, Softmax, SoftmaxWithLoss
from .recurrent import (GRU, LSTM, RNN, TimeBidirectional, TimeBiLSTM, TimeGRU, TimeLSTM, TimeRNN, TimeStacked,
                        reverse_padded)
from .time import TimeAffine, TimeDropout, TimeEmbedding, TimeSigmoidWithLoss, TimeSoftmaxWithLoss
from .attention import Attention, AttentionWeight, MultiHeadAttention, TimeAttention, WeightSum
from .norm import LayerNorm
from .transformer import TransformerEncoderLayer

__all__ = [
    "Affine", "Embedding", "SigmoidWithLoss", "Softmax", "SoftmaxWithLoss",
    "RNN", "LSTM", "GRU", "TimeRNN", "TimeLSTM", "TimeGRU", "TimeBiLSTM", "TimeBidirectional", "TimeStacked",
    "reverse_padded",
    "TimeAffine", "TimeDropout", "TimeEmbedding", "TimeSigmoidWithLoss", "TimeSoftmaxWithLoss",
    "AttentionWeight", "WeightSum", "Attention", "TimeAttention", "MultiHeadAttention", "LayerNorm",
    "TransformerEncoderLayer",
]
