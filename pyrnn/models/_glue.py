"""Small layers the models need between pyrnn.layers: learned positional embeddings,
GELU and tanh activations. Plain array code (NumPy or CuPy), dtype-preserving."""
from __future__ import annotations

import math

from .._arrays import get_xp
from ..layers._base import Layer


class PositionalEmbedding(Layer):
    """x (N, T, D) + P[:T] with learned P (max_len, D) (BERT's position embeddings)."""

    param_names = ("P",)

    def __init__(self, P):
        self._init_params(P)
        self._T = None

    def forward(self, x):
        P = self.params[0]
        T = x.shape[1]
        if T > P.shape[0]:
            raise ValueError(f"x: sequence length {T} exceeds the positional table's max_len {P.shape[0]}")
        self._T = T
        return x + P[:T]

    def backward(self, dout):
        dP = self.grads[0]
        dP[...] = 0
        dP[:self._need(self._T)] = dout.sum(axis=0)
        return dout


_C = math.sqrt(2.0 / math.pi)


class GELU(Layer):
    """GELU, tanh approximation (as in BERT): 0.5 x (1 + tanh(c (x + 0.044715 x^3)))."""

    def __init__(self):
        self.params, self.grads = [], []
        self._saved = None

    def forward(self, x):
        xp = get_xp(x)
        t = xp.tanh(_C * (x + 0.044715 * x ** 3))
        self._saved = (x, t)
        return 0.5 * x * (1.0 + t)

    def backward(self, dout):
        x, t = self._need(self._saved)
        du = _C * (1.0 + 3 * 0.044715 * x * x)
        return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


class Tanh(Layer):
    def __init__(self):
        self.params, self.grads = [], []
        self._y = None

    def forward(self, x):
        self._y = get_xp(x).tanh(x)
        return self._y

    def backward(self, dout):
        y = self._need(self._y)
        return dout * (1.0 - y * y)
