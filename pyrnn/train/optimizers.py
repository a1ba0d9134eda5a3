"""Book-style optimizers: ``update(params, grads)`` changes each parameter in place.

They work on NumPy and CuPy arrays and keep each parameter's dtype (step sizes are
Python floats, so a float32 parameter never sees a float64 temporary). Per-parameter
state (velocity, moments) is keyed by position in the lists, as in the book, so pass
the lists in the same order every call (`dedup_params` keeps its order stable).
"""
from __future__ import annotations

import math

from .._arrays import get_xp

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


def _zeros(params):
    return [get_xp(p).zeros_like(p) for p in params]


def _check(params, grads):
    if len(params) != len(grads):
        raise ValueError(f"params and grads: lists of different lengths ({len(params)} vs {len(grads)})")


def _state(state, params, grads):
    """An update's start: params and grads checked; `state` (one array per parameter), or zeros like the
    parameters on the first update (state None)."""
    _check(params, grads)
    return _zeros(params) if state is None else state


class SGD:
    """p -= lr * g."""

    def __init__(self, lr=0.01):
        self.lr = float(lr)

    def update(self, params, grads):
        _check(params, grads)
        for p, g in zip(params, grads):
            p -= self.lr * g


class Momentum:
    """v = momentum * v - lr * g;  p += v."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = float(lr), float(momentum)
        self.v = None

    def update(self, params, grads):
        self.v = _state(self.v, params, grads)
        for p, g, v in zip(params, grads, self.v):
            v *= self.momentum
            v -= self.lr * g
            p += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient in the book's form (Sutskever et al. 2013)."""

    def update(self, params, grads):
        self.v = _state(self.v, params, grads)
        m, lr = self.momentum, self.lr
        for p, g, v in zip(params, grads, self.v):
            v *= m
            v -= lr * g
            p += m * m * v
            p -= (1 + m) * lr * g


class AdaGrad:
    """h += g * g;  p -= lr * g / (sqrt(h) + eps)."""

    def __init__(self, lr=0.01, eps=1e-7):
        self.lr, self.eps = float(lr), float(eps)
        self.h = None

    def update(self, params, grads):
        self.h = _state(self.h, params, grads)
        for p, g, h in zip(params, grads, self.h):
            xp = get_xp(p)
            h += g * g
            p -= self.lr * g / (xp.sqrt(h) + self.eps)


class RMSprop:
    """h = decay * h + (1 - decay) * g * g;  p -= lr * g / (sqrt(h) + eps)."""

    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-7):
        self.lr, self.decay_rate, self.eps = float(lr), float(decay_rate), float(eps)
        self.h = None

    def update(self, params, grads):
        self.h = _state(self.h, params, grads)
        for p, g, h in zip(params, grads, self.h):
            xp = get_xp(p)
            h *= self.decay_rate
            h += (1 - self.decay_rate) * g * g
            p -= self.lr * g / (xp.sqrt(h) + self.eps)


class Adam:
    """Adam (Kingma & Ba) with the bias correction folded into the step size, as in the book."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
        self.lr, self.beta1, self.beta2, self.eps = float(lr), float(beta1), float(beta2), float(eps)
        self.iter = 0
        self.m = self.v = None

    def update(self, params, grads):
        self.m, self.v = _state(self.m, params, grads), _state(self.v, params, grads)
        self.iter += 1
        lr_t = self.lr * math.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            xp = get_xp(p)
            m += (1.0 - self.beta1) * (g - m)
            v += (1.0 - self.beta2) * (g * g - v)
            p -= lr_t * m / (xp.sqrt(v) + self.eps)
