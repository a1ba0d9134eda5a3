"""What every layer shares: params/grads lists updated in place, and call-order checks."""
from __future__ import annotations

from .._arrays import get_xp


class Layer:
    """Book-style layer: ``params`` and ``grads`` are lists of arrays; ``backward``
    writes each gradient into ``grads[i][...]`` so optimizers holding references
    to those arrays (and weight sharing by identity) keep working."""

    params: list
    grads: list

    def _init_params(self, *params):
        self.params = [p for p in params]
        self.grads = [get_xp(p).zeros_like(p) for p in self.params]

    def _set_grads(self, *values):
        for g, v in zip(self.grads, values):
            g[...] = v

    def _need(self, saved):
        if saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward "
                               f"(or after a forward that saved nothing)")
        return saved

    def __repr__(self):
        shapes = ", ".join(str(tuple(p.shape)) for p in self.params)
        return f"{type(self).__name__}({shapes})"
