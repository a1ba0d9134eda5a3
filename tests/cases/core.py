"""The one tolerance norm of the backend-vs-reference tests, and the one comparison.

A result matches the reference when its largest elementwise error is at most RTOL[dtype] times the
reference tensor's largest magnitude (floored at the dtype's smallest normal number, so an all-zero
reference tensor needs an exactly zero result, up to subnormals). Relative to the tensor's largest
magnitude, not elementwise: a tensor with small entries next to large ones is not judged on its tiny
entries.

  float32: 1e-5. Both sides accumulate in float32 (unit roundoff 6e-8) but in different orders (BLAS
    blocking or cuBLAS against NumPy's matmul, a fused bias add, an online softmax that rescales
    partial sums block by block, tree sums in the GPU kernels, another exp/tanh of at most 2 ulp); the
    errors add up over the T steps of a recurrence and over the N*T-row sums of the weight gradients.
    Measured worst cases: recurrent 1.3e-6 (cpp), attention about 1e-6 (dk of a 300-key causal case,
    cpp), layer norm 8e-7 (dgamma over 600 rows of 513, cpp and the CUDA emulator). A wrong term in a
    kernel (an O(1) relative error) fails by orders of magnitude.
  float64: 1e-12. The same orders of summation at unit roundoff 1.1e-16; measured worst case 1.4e-15.

Every family uses this table (the families' modules re-export it as their RTOL); a family that needs
another bound gives it its own table there, with the reason.
"""
from __future__ import annotations

import numpy as np


class Tolerances(dict):
    """dtype -> relative tolerance, looked up by anything np.dtype takes (np.float32, "float32", ...)."""

    def __missing__(self, key):
        dt = np.dtype(key)
        if dt in self:
            return self[dt]
        raise KeyError(key)


RTOL = Tolerances({np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12})


def mismatch(got, want, dtype, what="", rtol=None):
    """None when NumPy array `got` matches the reference's `want` (same shape, both of `dtype`, within
    `rtol` (RTOL[dtype] by default) of max|want|); else what differs. want None: got must be None."""
    what = f"{what}: " if what else ""
    if want is None:
        return None if got is None else f"{what}expected None, got an array"
    if not isinstance(got, np.ndarray):
        return f"{what}expected a numpy array, got {type(got).__name__}"
    if got.shape != want.shape:
        return f"{what}shape {got.shape} != reference {want.shape}"
    if not got.dtype == want.dtype == np.dtype(dtype):
        return f"{what}dtype {got.dtype}, reference {want.dtype}, expected {np.dtype(dtype)}"
    tol = RTOL[dtype] if rtol is None else rtol
    scale = max(float(np.abs(want).max()) if want.size else 0.0, float(np.finfo(dtype).tiny))
    err = float(np.abs(got.astype(np.float64) - want).max()) if want.size else 0.0
    if not err <= tol * scale:  # NaN fails too
        return f"{what}max error {err:.3g} > {tol:.0e} * max|ref| {scale:.3g}"
    return None


def assert_close(got, want, dtype, what="", rtol=None):
    """mismatch() as an assertion."""
    msg = mismatch(got, want, dtype, what, rtol)
    assert msg is None, msg


def compare_all(got, want, dtype, to_numpy=np.asarray, names=None):
    """None when every got[k] (moved to NumPy by `to_numpy`) matches want[k], else the first mismatch."""
    for k, (g, w) in enumerate(zip(got, want)):
        name = names[k] if names else f"output {k}"
        msg = mismatch(None if g is None else to_numpy(g), w, dtype, name)
        if msg is not None:
            return msg
    return None


def strided(a, order="strided"):
    """The same values as NumPy array `a`, in Fortran order ("F") or as a non-contiguous view
    ("strided": every other element of a twice larger array)."""
    if order == "F":
        out = np.asfortranarray(a)
        if a.ndim > 1:
            assert not out.flags.c_contiguous
        return out
    big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    if a.size > 1:
        assert not view.flags.c_contiguous
    return view
