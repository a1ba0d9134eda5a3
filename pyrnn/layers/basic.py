"""Per-step layers from the book's common/layers.py: Embedding, Affine, Softmax, the losses."""
from __future__ import annotations

from .. import ops
from .._arrays import is_cupy
from ._base import Layer


def _loss_value(loss):
    """A NumPy scalar (like the book's losses); CuPy stays a 0-d device array (no sync)."""
    return loss if is_cupy(loss) else loss[()]


class Embedding(Layer):
    """out = W[idx]. W (V, D); idx integer (N,) or any shape."""

    def __init__(self, W):
        self._init_params(W)
        self.idx = None
        self._saved = None

    def forward(self, idx):
        self.idx = idx
        out, self._saved = ops.embedding_forward(self.params[0], idx)
        return out

    def backward(self, dout):
        self._set_grads(ops.embedding_backward(dout, self._need(self._saved)))
        return None


class Affine(Layer):
    """out = x @ W + b. x (..., D), W (D, M), b (M,)."""

    def __init__(self, W, b):
        self._init_params(W, b)
        self.x = None
        self._saved = None

    def forward(self, x):
        W, b = self.params
        self.x = x
        out, self._saved = ops.affine_forward(x, W, b)
        return out

    def backward(self, dout):
        dx, dW, db = ops.affine_backward(dout, self._need(self._saved))
        self._set_grads(dW, db)
        return dx


class Softmax(Layer):
    """Softmax over the last axis."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None
        self._saved = None

    def forward(self, x):
        self.out, self._saved = ops.softmax_forward(x)
        return self.out

    def backward(self, dout):
        return ops.softmax_backward(dout, self._need(self._saved))


def _labels(t, y_shape):
    """One-hot targets (same size as the scores) become label indices, as in the book."""
    if y_shape is not None and hasattr(t, "shape") and tuple(t.shape) == tuple(y_shape) and t.size:
        return t.argmax(axis=-1)
    return t


class SoftmaxWithLoss(Layer):
    """Mean softmax cross-entropy. x (..., V) scores; t labels (...) or one-hot (..., V).
    Labels equal to ``ignore_label`` (-1) are ignored, as in the book's TimeSoftmaxWithLoss."""

    def __init__(self):
        self.params, self.grads = [], []
        self._saved = None
        self.ignore_label = -1

    def forward(self, x, t):
        t = _labels(t, getattr(x, "shape", None))  # bad x or t: pyrnn.ops says what is wrong
        loss, self._saved = ops.softmax_cross_entropy_forward(x, t, self.ignore_label)
        return _loss_value(loss)

    def backward(self, dout=1):
        return ops.softmax_cross_entropy_backward(dout, self._need(self._saved))


class SigmoidWithLoss(Layer):
    """Mean binary cross-entropy of sigmoid(x) against 0/1 targets t of x's shape."""

    def __init__(self):
        self.params, self.grads = [], []
        self._saved = None

    def forward(self, x, t):
        loss, self._saved = ops.sigmoid_cross_entropy_forward(x, t)
        return _loss_value(loss)

    def backward(self, dout=1):
        return ops.sigmoid_cross_entropy_backward(dout, self._need(self._saved))
