"""Device functions for the activations, in the dtype of their argument (CUDA libdevice math)."""
import math

from numba import cuda


@cuda.jit(device=True)
def sigmoid(x, one):
    # x scalar -> sigmoid(x); e = exp(-|x|) <= 1 never overflows (the reference's form)
    e = math.exp(-abs(x))
    if x >= 0:
        return one / (one + e)
    return e / (one + e)
