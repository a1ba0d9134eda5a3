"""Thread safety and determinism, per usable NumPy backend.

Thread safety: independent layers driven from concurrent Python threads (a ThreadPoolExecutor)
give results bitwise equal to the same calls made one after another. The C++ kernels release
the GIL, so the calls really overlap; sizes are large enough that pyrnn._cpu's own worker pool
is used (a second caller then runs its chunks inline, with the same chunking).

Determinism: the same inputs give bitwise identical outputs and gradients on every call (same
process, same thread count).
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import pyrnn
from pyrnn import backends
from pyrnn.layers import LayerNorm, TimeAffine, TimeEmbedding, TimeGRU, TimeLSTM, TimeRNN, TimeSoftmaxWithLoss

BACKENDS = [n for n in backends.NUMPY_ORDER if backends.backend_status()[n][0]]
N, T, D, H, V = 16, 12, 48, 40, 50  # input GEMM ~ 200 x 160 x 48: big enough to be split across threads


def make_model(seed, dtype=np.float32):
    """An LM-like stack of independent layers with its own weights and data."""
    rng = np.random.default_rng(seed)

    def r(*s, k=1.0):
        return (rng.standard_normal(s) * k).astype(dtype)

    kd, kh = 1 / np.sqrt(D), 1 / np.sqrt(H)
    layers = dict(
        embed=TimeEmbedding(r(V, D)),
        lstm=TimeLSTM(r(D, 4 * H, k=kd), r(H, 4 * H, k=kh), r(4 * H), stateful=True),
        gru=TimeGRU(r(H, 3 * H, k=kh), r(H, 3 * H, k=kh), r(2, 3 * H), reset_after=True),
        rnn=TimeRNN(r(H, H, k=kh), r(H, H, k=kh), r(H)),
        norm=LayerNorm(r(H) + 1, r(H)),
        affine=TimeAffine(r(H, V, k=kh), r(V)),
        loss=TimeSoftmaxWithLoss(),
    )
    data = [(rng.integers(0, V, (N, T)), rng.integers(-1, V, (N, T))) for _ in range(2)]
    return layers, data


def train_steps(backend, seed):
    """Two truncated-BPTT chunks forward and backward; every output, gradient and state, copied."""
    layers, data = make_model(seed)
    L = layers
    out = []
    with pyrnn.use_backend(backend):  # a context variable: set in the thread that runs the calls
        for xs, ts in data:
            h = L["embed"].forward(xs)
            h = L["lstm"].forward(h)
            h = L["gru"].forward(h)
            h = L["rnn"].forward(h)
            h = L["norm"].forward(h)
            loss = L["loss"].forward(L["affine"].forward(h), ts)
            d = L["affine"].backward(L["loss"].backward())
            d = L["norm"].backward(d)
            d = L["rnn"].backward(d)
            d = L["gru"].backward(d)
            d = L["lstm"].backward(d)
            L["embed"].backward(d)
            out.append(np.asarray(loss).copy())
            out += [g.copy() for layer in L.values() for g in layer.grads]
            out += [L["lstm"].h.copy(), L["lstm"].c.copy(), L["lstm"].dh.copy()]
    return out


def assert_bitwise_equal(a, b, what):
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: result {i} differs in dtype/shape"
        assert x.tobytes() == y.tobytes(), f"{what}: result {i} not bitwise equal (max diff {np.abs(x - y).max()})"


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_threads_equal_serial(backend):
    seeds = list(range(8))
    serial = [train_steps(backend, s) for s in seeds]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            concurrent = list(pool.map(lambda s: train_steps(backend, s), seeds))
            for s, (a, b) in enumerate(zip(serial, concurrent)):
                assert_bitwise_equal(a, b, f"{backend}, model {s}, threads vs serial")


@pytest.mark.parametrize("backend", BACKENDS)
def test_repeated_calls_are_bitwise_identical(backend):
    first = train_steps(backend, 123)
    for _ in range(3):
        assert_bitwise_equal(first, train_steps(backend, 123), f"{backend}, repeated call")


@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_repeated_calls_are_bitwise_identical(backend):
    from pyrnn import ops

    rng = np.random.default_rng(5)
    xs, Wx, Wh, b = (rng.standard_normal(s) for s in ((N, T, D), (D, 4 * H), (H, 4 * H), (4 * H,)))
    dhs = rng.standard_normal((N, T, H))

    def once():
        with pyrnn.use_backend(backend):
            hs, hT, cT, saved = ops.lstm_forward(xs, Wx, Wh, b)
            return [hs, hT, cT, *ops.lstm_backward(dhs, None, None, saved)]

    first = once()
    for _ in range(3):
        assert_bitwise_equal(first, once(), f"{backend}, float64 LSTM")
