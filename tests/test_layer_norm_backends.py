"""Layer norm on every usable NumPy backend that implements it (cpp, numba), against the reference:
y and the gradients dx, dgamma, dbeta.

Tolerances, relative to the largest magnitude of the reference tensor (as in the other backend suites):
  float32 1e-5: the kernels sum rows in other orders (cpp accumulates the statistics in double, NumPy
    pairwise in float32); measured worst case 8e-7 (dgamma over 600 rows of 513). A wrong term is O(1).
  float64 1e-12: measured worst case 1e-15.
"""
import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops
from pyrnn.reference import norm as ref

BACKENDS = [n for n in backends.NUMPY_ORDER
            if n != "reference" and backends.backend_status()[n][0] and hasattr(backends.get(n), "layer_norm_forward")]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no NumPy backend besides the reference implements layer_norm")

# (..., D): one element, a single row, odd widths, no rows, a transformer-sized (N, T, D)
SHAPES = [(1, 1), (1, 7), (3, 5, 7), (0, 4), (4, 33, 64), (2, 300, 513)]


def case(shape, dtype, offset=1.0, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + offset).astype(dtype)
    gamma = rng.standard_normal(shape[-1]).astype(dtype)
    beta = rng.standard_normal(shape[-1]).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, dy


def run(backend, x, gamma, beta, dy, eps=1e-5):
    with pyrnn.use_backend(backend):
        y, s = ops.layer_norm_forward(x, gamma, beta, eps)
        assert s.backend.NAME == backend, f"layer_norm ran on {s.backend.NAME}, not {backend}"
        return (y, *ops.layer_norm_backward(dy, s))


def want(x, gamma, beta, dy, eps=1e-5):
    y, s = ref.layer_norm_forward(x, gamma, beta, eps)
    return (y, *ref.layer_norm_backward(dy, s))


def assert_close(got, exp, dtype):
    for name, g, w in zip(("y", "dx", "dgamma", "dbeta"), got, exp):
        assert g.shape == w.shape and g.dtype == w.dtype == dtype, name
        scale = max(float(np.abs(w).max(initial=0.0)), 1e-30)
        err = float(np.abs(g.astype(np.float64) - w).max(initial=0.0)) / scale
        assert err <= RTOL[dtype], f"{name}: relative error {err:.2e} > {RTOL[dtype]:.0e}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_reference(backend, dtype, shape):
    args = case(shape, dtype)
    assert_close(run(backend, *args), want(*args), dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_offset_and_eps(backend):
    """Rows far from zero (mean 1000, spread 3): the mean must be removed before squaring. In float64,
    where the reference is exact enough to compare against, with a large eps too."""
    args = case((5, 40, 96), np.float64, offset=1000.0)
    assert_close(run(backend, *args, eps=0.5), want(*args, eps=0.5), np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_strided_and_fortran_inputs(backend):
    x, gamma, beta, dy = case((6, 10, 48), np.float32)
    exp = want(x, gamma, beta, dy)
    xs = np.zeros((6, 10, 96), np.float32)
    xs[:, :, ::2] = x                                     # every other column: not contiguous
    gs = np.zeros(96, np.float32)
    gs[::2] = gamma
    got = run(backend, xs[:, :, ::2], gs[::2], beta, np.asfortranarray(dy))
    assert_close(got, exp, np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_deterministic(backend):
    args = case((8, 50, 200), np.float32, seed=3)
    a, b = run(backend, *args), run(backend, *args)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
