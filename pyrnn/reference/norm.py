"""Layer normalisation over the last axis: y = (x - mean) / sqrt(var + eps) * gamma + beta."""
from __future__ import annotations

import math

from .._arrays import get_xp


def layer_norm_forward(x, gamma, beta, eps):
    # x (..., D), gamma (D,), beta (D,) -> y (..., D)
    xp = get_xp(x)
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)  # biased (divide by D), as in the usual definition
    rstd = 1 / xp.sqrt(var + eps)
    xhat = xc * rstd
    return xhat * gamma + beta, (xhat, rstd, gamma)


def layer_norm_backward(dy, saved):
    # dy (..., D) -> dx (..., D), dgamma (D,), dbeta (D,)
    xhat, rstd, gamma = saved
    D = xhat.shape[-1]
    rows = math.prod(xhat.shape[:-1])  # explicit, so empty leading dims reshape
    dgamma = (dy * xhat).reshape(rows, D).sum(axis=0)
    dbeta = dy.reshape(rows, D).sum(axis=0)
    # Through xhat = (x - mu) * rstd: the mean removes the component of g along
    # the all-ones direction, the variance the component along xhat.
    g = dy * gamma
    dx = rstd * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return dx, dgamma, dbeta
