"""pyrnn.gradcheck over every layer and op case, on every usable NumPy backend, plus
proof that the checker itself catches wrong gradients."""
import numpy as np
import pytest

import pyrnn
from pyrnn.check.cases import CASES, build
from pyrnn.layers import TimeAffine, TimeLSTM

# The bar is 1e-6 in float64; measured errors are 1e-11..1e-9 (4e-8 for a
# key bias whose true gradient is 0), so 1e-6 leaves room for BLAS summation order
# while any wrong term in a backward (an O(1) error) still fails by orders of magnitude.
TOL = 1e-6


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gradcheck_case(case, numpy_backend):
    layer, inputs = build(case)
    report = pyrnn.gradcheck(layer, *inputs)
    assert report.rows, "nothing was checked"
    assert report.max_error < TOL, f"{case.name} on {numpy_backend}:\n{report}"


def test_cases_cover_every_layer():
    names = " ".join(c.name for c in CASES)
    for layer in pyrnn.layers.__all__:
        if not isinstance(getattr(pyrnn.layers, layer), type):
            continue  # a helper function (reverse_padded: a permutation, checked in test_lengths.py)
        assert layer in names, f"no gradcheck case for {layer}"
    for op in ("rnn", "lstm", "gru", "sdpa"):
        assert f"op {op}" in names


def test_stateful_case_checks_initial_state():
    case = next(c for c in CASES if c.name == "TimeLSTM stateful chunk")
    report = pyrnn.gradcheck(*_flat(build(case)))
    assert {"initial h", "initial c"} <= {r[0] for r in report.rows}


def _flat(layer_inputs):
    layer, inputs = layer_inputs
    return (layer, *inputs)


class _WrongBiasGrad(TimeAffine):
    """A deliberately broken backward: the bias gradient is off by a factor of 2."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads[1][...] *= 2
        return dx


def test_gradcheck_catches_a_wrong_gradient():
    rng = np.random.default_rng(0)
    layer = _WrongBiasGrad(rng.standard_normal((4, 3)), rng.standard_normal(3))
    report = pyrnn.gradcheck(layer, rng.standard_normal((2, 3, 4)))
    errors = dict((name, e) for name, _, e in report.rows)
    assert errors["params[1]"] > 0.1 and errors["params[0]"] < TOL
    assert not report.ok()


def test_gradcheck_rejects_float32():
    rng = np.random.default_rng(0)
    Wx, Wh, b = (rng.standard_normal(s).astype(np.float32) for s in ((4, 12), (3, 12), (12,)))
    with pytest.raises(TypeError, match="float64"):
        pyrnn.gradcheck(TimeLSTM(Wx, Wh, b), np.zeros((2, 3, 4), np.float32))


def test_gradcheck_restores_global_rng():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    layer, inputs = build(next(c for c in CASES if c.name == "TimeDropout"))
    pyrnn.gradcheck(layer, *inputs)
    assert np.random.rand() == expected
