"""C++ kernel paths the backend-vs-reference suite does not single out: the packed recurrent kernels at
the binding (pyrnn._cpu: the layout checks a direct caller meets, the packed layout agreeing with the
whole-sequence one on the same batch), one-row and one-column products (matrix-vector BLAS calls), and
sequences too short to prepare Wh for the step kernel (decoding's T = 1).

pyrnn.ops validates batch_sizes before any backend runs (tests/test_lengths.py); the binding checks
them again because the kernels index rows by them: a direct caller must get an exception, never an
out-of-bounds read.
"""
import numpy as np
import pytest

from pyrnn import backends

if not backends.backend_status()["cpp"][0]:
    pytest.skip("the cpp backend is not usable here: " + backends.backend_status()["cpp"][1], allow_module_level=True)

from pyrnn import _cpu  # noqa: E402
from pyrnn.backends.cpp import recurrent as cpp  # noqa: E402

D, H = 3, 4


def _weights(gates, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((D, gates * H)).astype(dtype), rng.standard_normal((H, gates * H)).astype(dtype),
            rng.standard_normal(gates * H).astype(dtype))


@pytest.mark.parametrize("batch_sizes, P, message", [
    ([2, 3], 5, "non-increasing"),     # a step with more rows than the one before
    ([2, 0], 2, "non-increasing"),     # an empty step
    ([-1], 1, "non-increasing"),
    ([3, 2], 4, r"sum\(batch_sizes\) = 5"),  # rows do not add up to xs's
])
def test_binding_refuses_bad_batch_sizes(batch_sizes, P, message):
    Wx, Wh, b = _weights(4)
    xs = np.zeros((P, D))
    with pytest.raises(ValueError, match=message):
        _cpu.lstm_forward(xs, Wx, Wh, b, None, None, True, np.array(batch_sizes, dtype=np.int64))


def test_binding_refuses_other_layouts():
    Wx, Wh, b = _weights(4)
    with pytest.raises(ValueError, match=r"xs: expected shape \(P, D\)"):
        _cpu.lstm_forward(np.zeros((2, 1, D)), Wx, Wh, b, None, None, True, np.array([2], dtype=np.int64))
    with pytest.raises(TypeError):  # int32 sizes: the binding never converts
        _cpu.lstm_forward(np.zeros((2, D)), Wx, Wh, b, None, None, True, np.array([2], dtype=np.int32))
    with pytest.raises(ValueError, match="h0: expected shape"):  # N is batch_sizes[0]
        _cpu.lstm_forward(np.zeros((3, D)), Wx, Wh, b, np.zeros((1, H)), None, True, np.array([2, 1], dtype=np.int64))
    hs, hT, cT, saved = cpp.lstm_packed_forward(np.zeros((3, D)), np.array([2, 1]), Wx, Wh, b, None, None, True)
    with pytest.raises(ValueError, match="dhs: expected shape"):  # a backward's gradients in the packed shape
        cpp.lstm_packed_backward(np.zeros((2, H)), None, None, saved)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("op", ["rnn", "lstm", "gru", "gru_reset_after"])
def test_packed_layout_of_a_whole_batch_equals_the_whole_sequence_kernel(op, dtype, rtol):
    """Every step with all N rows: the packed kernel (time-major rows) and the whole-sequence kernel
    (batch-major) must agree; only the order of the weight gradients' sums differs (float tolerance)."""
    N, T = 5, 6
    gates = {"rnn": 1, "lstm": 4}.get(op, 3)
    Wx, Wh, b = _weights(gates, dtype)
    if op == "gru_reset_after":
        b = np.stack([b, b[::-1]])
    rng = np.random.default_rng(1)
    xs, dhs = rng.standard_normal((N, T, D)).astype(dtype), rng.standard_normal((N, T, H)).astype(dtype)
    states = [rng.standard_normal((N, H)).astype(dtype) for _ in range(2 if op == "lstm" else 1)]
    extra = [op == "gru_reset_after"] if op.startswith("gru") else []
    name = op.split("_")[0]
    whole_fwd, whole_bwd = getattr(cpp, f"{name}_forward"), getattr(cpp, f"{name}_backward")
    packed_fwd, packed_bwd = getattr(cpp, f"{name}_packed_forward"), getattr(cpp, f"{name}_packed_backward")
    *out_w, saved_w = whole_fwd(xs, Wx, Wh, b, *states, *extra, True)
    time_major = np.ascontiguousarray(xs.transpose(1, 0, 2)).reshape(T * N, D)
    *out_p, saved_p = packed_fwd(time_major, np.full(T, N), Wx, Wh, b, *states, *extra, True)
    np.testing.assert_allclose(out_p[0].reshape(T, N, H).transpose(1, 0, 2), out_w[0], rtol=0, atol=rtol)
    for a, w in zip(out_p[1:], out_w[1:]):
        np.testing.assert_allclose(a, w, rtol=0, atol=rtol)
    dT = [rng.standard_normal((N, H)).astype(dtype) for _ in states]
    grads_w = whole_bwd(dhs, *dT, saved_w)
    grads_p = packed_bwd(np.ascontiguousarray(dhs.transpose(1, 0, 2)).reshape(T * N, H), *dT, saved_p)
    np.testing.assert_allclose(grads_p[0].reshape(T, N, D).transpose(1, 0, 2), grads_w[0], rtol=0, atol=rtol)
    for a, w in zip(grads_p[1:], grads_w[1:]):
        scale = max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(a, w, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("x_shape, M", [((1, 7), 5), ((6, 7), 1), ((1, 7), 1), ((1, 1, 300), 2000), ((40, 1), 3)])
def test_one_row_or_one_column_products(x_shape, M):
    """affine forward and backward where a GEMM has one row or one column (run as gemv), float64
    against NumPy's matmul within 1e-12 of each result's largest value."""
    from pyrnn import ops, use_backend
    rng = np.random.default_rng(2)
    x = rng.standard_normal(x_shape)
    W, bias = rng.standard_normal((x_shape[-1], M)), rng.standard_normal(M)
    dout = rng.standard_normal(x_shape[:-1] + (M,))
    with use_backend("cpp"):
        out, saved = ops.affine_forward(x, W, bias)
        dx, dW, db = ops.affine_backward(dout, saved)
    x2, d2 = x.reshape(-1, x_shape[-1]), dout.reshape(-1, M)
    for got, want in ((out, x @ W + bias), (dx, dout @ W.T), (dW, x2.T @ d2), (db, d2.sum(0))):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * max(1.0, float(np.abs(want).max())))


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("T", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("N", [1, 3, 17])
@pytest.mark.parametrize("op", ["lstm", "gru_reset_after", "gru"])
def test_few_steps_around_the_step_kernels_preparation(op, N, T, dtype, rtol):
    """Below 4 steps the step products run on Wh as it is (no packing, no transposed copy); from 4 on,
    on Wh prepared once. Both against the reference, forward and backward, H wide enough (48) that the
    float32 step kernel's panels and the threads' column blocks are all exercised."""
    from pyrnn import ops, use_backend
    D, Hh = 40, 48
    gates = 4 if op == "lstm" else 3
    rng = np.random.default_rng(T * 100 + N)
    Wx = (rng.standard_normal((D, gates * Hh)) / np.sqrt(D)).astype(dtype)
    Wh = (rng.standard_normal((Hh, gates * Hh)) / np.sqrt(Hh)).astype(dtype)
    b = rng.standard_normal((2, 3 * Hh) if op == "gru_reset_after" else gates * Hh).astype(dtype)
    xs, dhs = rng.standard_normal((N, T, D)).astype(dtype), rng.standard_normal((N, T, Hh)).astype(dtype)
    h0, dhT = rng.standard_normal((N, Hh)).astype(dtype), rng.standard_normal((N, Hh)).astype(dtype)
    results = []
    for backend in ("cpp", "reference"):
        with use_backend(backend):
            if op == "lstm":
                *fwd, saved = ops.lstm_forward(xs, Wx, Wh, b, h0, h0[::-1].copy())
                grads = ops.lstm_backward(dhs, dhT, dhT[::-1].copy(), saved)
                inference = ops.lstm_forward(xs, Wx, Wh, b, h0, h0[::-1].copy(), train=False)[:-1]
            else:
                ra = op == "gru_reset_after"
                *fwd, saved = ops.gru_forward(xs, Wx, Wh, b, h0, reset_after=ra)
                grads = ops.gru_backward(dhs, dhT, saved)
                inference = ops.gru_forward(xs, Wx, Wh, b, h0, reset_after=ra, train=False)[:-1]
        results.append(list(fwd) + list(grads) + list(inference))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=0, atol=rtol * max(1.0, float(np.abs(want).max())))
