"""Inverted dropout (the book's Dropout / TimeDropout)."""
from __future__ import annotations

from .._arrays import get_xp


def dropout_forward(x, ratio, train, rng):
    # x (...) -> y (...): each element kept with probability 1 - ratio, scaled by 1 / (1 - ratio)
    if not train:
        return x, None  # inference: the identity (inverted dropout needs no rescale here)
    xp = get_xp(x)
    if rng is None:
        u = xp.asarray(xp.random.rand(*x.shape))  # the book's draw: np.random.seed reproduces its masks
        # (asarray: for a 0-d x, rand() gives a python float)
    else:
        u = xp.asarray(rng.random(x.shape))  # a numpy/cupy Generator
    # The mask in x's dtype (a python-float scale keeps float32 float32), so that
    # float32 masks equal the book's `flg.astype(np.float32) * scale` bit for bit.
    mask = (u > ratio).astype(x.dtype) * (1.0 / (1.0 - ratio))
    return x * mask, mask


def dropout_backward(dy, saved):
    # dy (...) -> dx (...)
    mask = saved
    if mask is None:  # the forward ran with train=False: the identity
        return dy
    return dy * mask
