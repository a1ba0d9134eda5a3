"""What every model shares: named children, params/grads lists, stable parameter names,
seeded initialisation in a chosen dtype, save/load."""
from __future__ import annotations

import numpy as np

from .. import layers as L
from .._arrays import FLOAT_DTYPES

# Parameter names of the book's layers, in the order of their ``params`` lists.
_RECURRENT = ("Wx", "Wh", "b")
_PARAM_NAMES = [
    (L.TimeBiLSTM, tuple(f"{d}.{n}" for d in ("forward", "backward") for n in _RECURRENT)),
    (L.MultiHeadAttention, ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")),
    (L.LayerNorm, ("gamma", "beta")),
    (L.Embedding, ("W",)),
    (L.Affine, ("W", "b")),
    (L.TimeLSTM, _RECURRENT), (L.TimeRNN, _RECURRENT), (L.TimeGRU, _RECURRENT),
    (L.LSTM, _RECURRENT), (L.RNN, _RECURRENT), (L.GRU, _RECURRENT),
]


def layer_param_names(layer):
    """Names of a layer's params: its own ``param_names``, the book's names, or indices."""
    n = len(layer.params)
    names = getattr(layer, "param_names", None)
    if names is None:
        for cls, known in _PARAM_NAMES:
            if isinstance(layer, cls) and len(known) >= n:
                names = known[:n]
                break
    if names is None or len(names) != n:
        names = tuple(str(i) for i in range(n))
    return tuple(names)


class Init:
    """Seeded initial values in one dtype, drawn on the host (so NumPy and CuPy models with
    the same seed start identical) and moved to the array module ``xp``."""

    def __init__(self, seed=0, dtype=np.float32, xp=None):
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype
        self.xp = np if xp is None else xp

    def normal(self, *shape, scale=1.0):
        return self.xp.asarray((self.rng.standard_normal(shape) * scale).astype(self.dtype))

    def fan_in(self, *shape):
        """N(0, 1 / fan_in): the book's Xavier-style init (fan_in = shape[0])."""
        return self.normal(*shape, scale=1.0 / np.sqrt(shape[0]))

    def zeros(self, *shape):
        return self.xp.zeros(shape, dtype=self.dtype)

    def ones(self, *shape):
        return self.xp.ones(shape, dtype=self.dtype)

    def embedding(self, V, D):
        """The book's embedding init: N(0, 0.01^2)."""
        return self.normal(V, D, scale=0.01)

    def lstm(self, D, H, forget_bias=0.0):
        """Wx (D, 4H), Wh (H, 4H), b (4H,) with gates [f, g, i, o]."""
        b = self.zeros(4 * H)
        if forget_bias:
            b[:H] = forget_bias
        return self.fan_in(D, 4 * H), self.fan_in(H, 4 * H), b

    def affine(self, D, M):
        return self.fan_in(D, M), self.zeros(M)


class Model:
    """A book-style composite: ``params``/``grads`` are the children's lists concatenated
    (the same array objects, so optimizers update the layers in place)."""

    def _compose(self, *children):
        """children: (name, layer-or-model) pairs, in forward order."""
        self._children = list(children)
        self.params = [p for _, c in self._children for p in c.params]
        self.grads = [g for _, c in self._children for g in c.grads]

    def named_params(self):
        """(name, array) for every parameter, named after the owning layer
        (``"encoder.lstm.Wx"``); a tied parameter appears once, under its first name."""
        out = []
        for name, p in self._all_named():
            if not any(p is q or _same_memory(p, q) for _, q in out):
                out.append((name, p))
        return out

    def _all_named(self):
        for cname, child in self._children:
            if isinstance(child, Model):
                for n, p in child._all_named():
                    yield f"{cname}.{n}", p
            else:
                for n, p in zip(layer_param_names(child), child.params):
                    yield f"{cname}.{n}", p

    def _need(self, cache):
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return cache

    @property
    def param_dtype(self):
        return self.params[0].dtype if self.params else None

    def reset_state(self):
        for _, child in self._children:
            if hasattr(child, "reset_state"):
                child.reset_state()

    def save_params(self, path):
        from ..train.checkpoint import save_params
        return save_params(self, path)

    def load_params(self, path):
        from ..train.checkpoint import load_params
        return load_params(self, path)

    def __repr__(self):
        n = sum(int(p.size) for _, p in self.named_params())
        return f"{type(self).__name__}({n} parameters, dtype={self.param_dtype})"


def _same_memory(a, b):
    """a and b view one buffer (the same array, or a transposed view for weight tying)."""
    from ..train.grads import _address
    try:
        return a.size > 0 and a.size == b.size and type(a) is type(b) and _address(a) == _address(b)
    except Exception:
        return False


def xp_of(model_or_array):
    from .._arrays import get_xp
    params = getattr(model_or_array, "params", None)
    return get_xp(params[0]) if params else get_xp(model_or_array)
