"""Time-distributed layers from the book's common/time_layers.py: embedding, affine,
losses and dropout over (N, T, ...) batches, each one op call (no per-step loop).

The ops take any leading dimensions, so the Time* layers are the per-step layers of
basic.py with the book's names, argument names and checks for (N, T, ...) input.
"""
from __future__ import annotations

from .. import ops
from .._validate import check_index
from ._base import Layer
from .basic import Affine, Embedding, SigmoidWithLoss, SoftmaxWithLoss


class TimeEmbedding(Embedding):
    """xs (N, T) integer ids -> (N, T, D) rows of W (V, D)."""

    def __init__(self, W):
        super().__init__(W)
        self.W = W

    def forward(self, xs):
        check_index("xs", xs, ("N", "T"), high=self.params[0].shape[0])
        return super().forward(xs)


class TimeAffine(Affine):
    """x (N, T, D) @ W (D, M) + b (M,) -> (N, T, M)."""


class TimeSoftmaxWithLoss(SoftmaxWithLoss):
    """Mean softmax cross-entropy over all (n, t) whose label is not ``ignore_label`` (-1).
    xs (N, T, V) scores; ts (N, T) labels or (N, T, V) one-hot."""


class TimeSigmoidWithLoss(SigmoidWithLoss):
    """Mean binary cross-entropy of sigmoid(xs) (N, T) against 0/1 targets ts (N, T)."""


class TimeDropout(Layer):
    """Inverted dropout; ``train_flg`` False (set by the book's models at test time) is the identity.
    Masks come from the array module's global RNG, so np.random.seed reproduces them."""

    def __init__(self, dropout_ratio=0.5):
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self.train_flg = True
        self._saved = None

    def forward(self, xs):
        out, self._saved = ops.dropout_forward(xs, self.dropout_ratio, train=self.train_flg)
        return out

    def backward(self, dout):
        return ops.dropout_backward(dout, self._need(self._saved))
