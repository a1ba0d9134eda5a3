"""The norm family (layer norm) on every usable NumPy backend that implements it (cpp, numba), against
the reference: y and the gradients dx, dgamma, dbeta. The cases and the tolerance norm are in
tests/cases/norm.py and tests/cases/core.py (float32 1e-5, float64 1e-12 of the reference tensor's
largest magnitude).
"""
import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops
from pyrnn.reference import norm as ref

from cases import norm
from cases.norm import NAMES, SHAPES

BACKENDS = [n for n in backends.NUMPY_ORDER
            if n != "reference" and backends.backend_status()[n][0] and hasattr(backends.get(n), "layer_norm_forward")]
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no NumPy backend besides the reference implements layer_norm")

case = norm.make_case


def run(backend, x, gamma, beta, dy, eps=1e-5):
    with pyrnn.use_backend(backend):
        y, s = ops.layer_norm_forward(x, gamma, beta, eps)
        assert s.backend.NAME == backend, f"layer_norm ran on {s.backend.NAME}, not {backend}"
        return (y, *ops.layer_norm_backward(dy, s))


def want(x, gamma, beta, dy, eps=1e-5):
    return norm.run(ref, x, gamma, beta, dy, eps)


def assert_close(got, exp, dtype):
    for name, g, w in zip(NAMES, got, exp):
        norm.assert_close(g, w, dtype, name)


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
    args = case(norm.OFFSET_SHAPE, np.float64, offset=norm.OFFSET)
    assert_close(run(backend, *args, eps=norm.OFFSET_EPS), want(*args, eps=norm.OFFSET_EPS), np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_strided_and_fortran_inputs(backend):
    x, gamma, beta, dy = case(norm.STRIDED_SHAPE, np.float32)
    exp = want(x, gamma, beta, dy)
    xs = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), np.float32)
    xs[..., ::2] = x                                     # every other column: not contiguous
    gs = np.zeros(2 * gamma.size, np.float32)
    gs[::2] = gamma
    got = run(backend, xs[..., ::2], gs[::2], beta, np.asfortranarray(dy))
    assert_close(got, exp, np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_deterministic(backend):
    args = case((8, 50, 200), np.float32, seed=3)
    a, b = run(backend, *args), run(backend, *args)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
