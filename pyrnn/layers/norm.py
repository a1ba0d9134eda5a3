"""Layer normalisation (Ba et al.), as used by the Transformer encoder."""
from __future__ import annotations

from .. import ops
from ._base import Layer


class LayerNorm(Layer):
    """y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis. gamma, beta (D,)."""

    def __init__(self, gamma, beta, eps=1e-5):
        self._init_params(gamma, beta)
        self.eps = eps
        self._saved = None

    def forward(self, x):
        y, self._saved = ops.layer_norm_forward(x, *self.params, eps=self.eps)
        return y

    def backward(self, dout):
        dx, dgamma, dbeta = ops.layer_norm_backward(dout, self._need(self._saved))
        self._set_grads(dgamma, dbeta)
        return dx
