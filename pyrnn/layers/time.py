"""Time-distributed layers from the book's common/time_layers.py: embedding, affine,
losses and dropout over (N, T, ...) batches, each one op call (no per-step loop)."""
from __future__ import annotations

from .. import ops
from .._checks import check_index
from ._base import Layer
from .basic import _labels, _loss_value


class TimeEmbedding(Layer):
    """xs (N, T) integer ids -> (N, T, D) rows of W (V, D)."""

    def __init__(self, W):
        self._init_params(W)
        self.W = W
        self._saved = None

    def forward(self, xs):
        check_index("xs", xs, ("N", "T"), high=self.params[0].shape[0])
        out, self._saved = ops.embedding_forward(self.params[0], xs)
        return out

    def backward(self, dout):
        self._set_grads(ops.embedding_backward(dout, self._need(self._saved)))
        return None


class TimeAffine(Layer):
    """x (N, T, D) @ W (D, M) + b (M,) -> (N, T, M)."""

    def __init__(self, W, b):
        self._init_params(W, b)
        self.x = None
        self._saved = None

    def forward(self, x):
        self.x = x
        out, self._saved = ops.affine_forward(x, *self.params)
        return out

    def backward(self, dout):
        dx, dW, db = ops.affine_backward(dout, self._need(self._saved))
        self._set_grads(dW, db)
        return dx


class TimeSoftmaxWithLoss(Layer):
    """Mean softmax cross-entropy over all (n, t) whose label is not ``ignore_label`` (-1).
    xs (N, T, V) scores; ts (N, T) labels or (N, T, V) one-hot."""

    def __init__(self):
        self.params, self.grads = [], []
        self.ignore_label = -1
        self._saved = None

    def forward(self, xs, ts):
        ts = _labels(ts, xs.shape)
        loss, self._saved = ops.softmax_cross_entropy_forward(xs, ts, self.ignore_label)
        return _loss_value(loss)

    def backward(self, dout=1):
        return ops.softmax_cross_entropy_backward(dout, self._need(self._saved))


class TimeSigmoidWithLoss(Layer):
    """Mean binary cross-entropy of sigmoid(xs) (N, T) against 0/1 targets ts (N, T)."""

    def __init__(self):
        self.params, self.grads = [], []
        self._saved = None

    def forward(self, xs, ts):
        loss, self._saved = ops.sigmoid_cross_entropy_forward(xs, ts)
        return _loss_value(loss)

    def backward(self, dout=1):
        return ops.sigmoid_cross_entropy_backward(dout, self._need(self._saved))


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
