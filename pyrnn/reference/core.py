"""Math shared by several families of the reference."""
from __future__ import annotations

from .._arrays import get_xp


def sigmoid(x):
    # x (...) -> (...). From e = exp(-|x|) <= 1, so nothing overflows, and each branch is accurate in
    # its own tail (the textbook 1 / (1 + exp(-x)) overflows exp for x < -88 in float32)
    xp = get_xp(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
