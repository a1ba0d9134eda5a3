"""The NumPy reference of the non-recurrent ops, checked three ways:

1. every backward against central finite differences (float64);
2. every forward against an independent, naive formulation written here
   (loops over rows / decoder steps / heads, the book's per-step layers);
3. properties: masks, causality, dropout statistics and reproducibility,
   numerical stability, dtype preservation, untouched inputs, empty batches.

The reference is the oracle every kernel is judged against, so these tests call
its functions directly (pyrnn.reference.*), without the validating dispatcher.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from pyrnn.check.numeric import numerical_gradient, rel_error
from pyrnn.reference.words import affine_backward, affine_forward
from pyrnn.reference.attention import (
    attention_backward, attention_forward, attention_weights_backward, attention_weights_forward,
    sdpa_backward, sdpa_forward, weighted_sum_backward, weighted_sum_forward,
)
from pyrnn.reference.words import dropout_backward, dropout_forward
from pyrnn.reference.words import embedding_backward, embedding_forward
from pyrnn.reference.norm import layer_norm_backward, layer_norm_forward
from pyrnn.reference.words import (
    sigmoid_cross_entropy_backward, sigmoid_cross_entropy_forward,
    softmax_backward, softmax_cross_entropy_backward, softmax_cross_entropy_forward, softmax_forward,
)

# Gradient-check bound. numerical_gradient uses central differences with
# eps = 1e-6: truncation error ~eps^2 |f'''| ~ 1e-12 and rounding error
# ~u |f| / eps ~ 1e-16 * |f| / 1e-6 = 1e-10 |f|. Every loss below is O(1..10)
# on O(1) inputs, and its gradients are O(0.1..1), so the normwise relative
# error of a correct backward is ~1e-9 (measured: <= 3.1e-9, attention weights); 1e-7
# leaves a 30x margin, while any wrong term shows as >= 1e-3.
GRAD_TOL = 1e-7

# Forward tolerances against the naive formulations (computed in float64 from
# the same inputs). float64: only the summation order differs, ~1e-16 per op,
# so 1e-12 relative. float32: a few roundings of u = 6e-8 on O(1) values, and
# exp/log amplify relative error by at most |x| ~ 3 here: 1e-5 relative, 1e-6
# absolute for values near 0.
FWD_TOL = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=1e-5, atol=1e-6)}
DTYPES = (np.float64, np.float32)

# Any overflow / invalid-value RuntimeWarning is a failure: the oracle must be
# stable by construction (shifted exponentials, log1p, -inf masking), not by luck.
pytestmark = pytest.mark.filterwarnings("error")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _randn(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def check_grads(run, backward, inputs, seed=1):
    """Compare backward(R, saved) with finite differences of sum(out * R).

    run(): -> (out, saved) reading the arrays in `inputs` (perturbed in place);
    backward(dout, saved) -> a tuple of gradients aligned with `inputs`
    (None in `inputs` marks a gradient that is not checked here).
    """
    out, saved = run()
    R = np.asarray(_rng(seed).standard_normal(out.shape))  # 0-d for a scalar loss
    grads = backward(R, saved)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(inputs)
    errors = {}
    for i, (x, g) in enumerate(zip(inputs, grads)):
        if x is None:
            continue
        assert g.shape == x.shape and g.dtype == x.dtype
        num = numerical_gradient(lambda: np.sum(run()[0] * R), x)
        errors[i] = rel_error(g, num)
    assert errors and max(errors.values()) < GRAD_TOL, errors
    return grads


def _padding_mask(N, T, lengths):
    return np.arange(T)[None, :] < np.asarray(lengths)[:, None]  # (N, T) True = attend


# ---- 1. gradients vs finite differences (float64) ----------------------------------

def test_embedding_grad_repeated_indices():
    rng = _rng(0)
    W = _randn(rng, 6, 4)
    idx = np.array([[1, 3, 1], [5, 1, 0]])  # index 1 three times: its rows must accumulate
    dW, = check_grads(lambda: embedding_forward(W, idx), lambda d, s: (embedding_backward(d, s),), [W])
    assert np.all(dW[[2, 4]] == 0)  # rows never looked up get no gradient


@pytest.mark.parametrize("bias", [True, False])
def test_affine_grad(bias):
    rng = _rng(1)
    x, W = _randn(rng, 2, 3, 4), _randn(rng, 4, 5)
    b = _randn(rng, 5) if bias else None
    grads = check_grads(lambda: affine_forward(x, W, b), affine_backward, [x, W, b])
    assert (grads[2] is None) == (not bias)


def test_softmax_grad():
    rng = _rng(2)
    x = _randn(rng, 2, 3, 5) * 3
    check_grads(lambda: softmax_forward(x), lambda d, s: (softmax_backward(d, s),), [x])


@pytest.mark.parametrize("ignore_label", [-1, 2])
def test_softmax_cross_entropy_grad(ignore_label):
    rng = _rng(3)
    xs = _randn(rng, 2, 4, 5) * 2
    ts = rng.integers(0, 5, size=(2, 4))
    ts[0, 1] = ts[1, 3] = ignore_label  # some ignored positions (in range or not)
    dxs, = check_grads(lambda: softmax_cross_entropy_forward(xs, ts, ignore_label),
                       lambda d, s: (softmax_cross_entropy_backward(d, s),), [xs])
    assert np.all(dxs[ts == ignore_label] == 0)


@pytest.mark.parametrize("int_targets", [True, False])
def test_sigmoid_cross_entropy_grad(int_targets):
    rng = _rng(4)
    xs = _randn(rng, 3, 4) * 3
    ts = rng.integers(0, 2, size=(3, 4)) if int_targets else rng.random((3, 4))
    check_grads(lambda: sigmoid_cross_entropy_forward(xs, ts),
                lambda d, s: (sigmoid_cross_entropy_backward(d, s),), [xs])


def test_dropout_grad():
    x = _randn(_rng(5), 3, 4, 5)
    # a fresh, seeded Generator per call: the finite differences see the same mask
    check_grads(lambda: dropout_forward(x, 0.4, True, np.random.default_rng(7)),
                lambda d, s: (dropout_backward(d, s),), [x])


# N = 3 sequences of Te = 5 encoder steps: full, padded, and all padded (row 2)
ATTN_MASKS = {
    "none": None,
    "padding": _padding_mask(3, 5, [5, 3, 1]),
    "all_masked_row": _padding_mask(3, 5, [5, 2, 0]),
}


@pytest.mark.parametrize("mask_name", ATTN_MASKS)
def test_attention_weights_grad(mask_name):
    rng = _rng(6)
    hs, hq = _randn(rng, 3, 5, 4), _randn(rng, 3, 2, 4)
    mask = ATTN_MASKS[mask_name]
    dhs, dhq = check_grads(lambda: attention_weights_forward(hs, hq, mask), attention_weights_backward, [hs, hq])
    if mask is not None:
        assert np.all(dhs[~mask] == 0)  # masked keys influence nothing
        assert np.all(dhq[~mask.any(axis=1)] == 0)  # a query with no keys at all


def test_weighted_sum_grad():
    rng = _rng(7)
    hs, a = _randn(rng, 2, 5, 3), _randn(rng, 2, 4, 5)  # a need not be a distribution here
    check_grads(lambda: weighted_sum_forward(hs, a), weighted_sum_backward, [hs, a])


@pytest.mark.parametrize("mask_name", ATTN_MASKS)
def test_attention_grad(mask_name):
    rng = _rng(8)
    hs, hq = _randn(rng, 3, 5, 4), _randn(rng, 3, 2, 4)
    mask = ATTN_MASKS[mask_name]

    def run():
        c, a, saved = attention_forward(hs, hq, mask, True)
        return c, saved

    check_grads(run, attention_backward, [hs, hq])


@pytest.mark.parametrize("mask_name,causal", [
    ("none", False), ("none", True), ("padding", False), ("padding", True),
    ("all_masked_row", False), ("all_masked_row", True),
])
def test_sdpa_grad(mask_name, causal):
    rng = _rng(9)
    N, Hh, T, dk, dv = 3, 2, 5, 3, 2
    q, k, v = _randn(rng, N, Hh, T, dk), _randn(rng, N, Hh, T, dk), _randn(rng, N, Hh, T, dv)
    mask = ATTN_MASKS[mask_name]
    dq, dk_, dv_ = check_grads(lambda: sdpa_forward(q, k, v, mask, causal, True), sdpa_backward, [q, k, v])
    if mask is not None:
        assert np.all(dk_.transpose(0, 2, 1, 3)[~mask] == 0)
        assert np.all(dv_.transpose(0, 2, 1, 3)[~mask] == 0)


def test_sdpa_grad_cross_attention_lengths():
    rng = _rng(10)
    q, k, v = _randn(rng, 2, 2, 3, 4), _randn(rng, 2, 2, 6, 4), _randn(rng, 2, 2, 6, 3)
    mask = _padding_mask(2, 6, [6, 4])
    check_grads(lambda: sdpa_forward(q, k, v, mask, False, True), sdpa_backward, [q, k, v])


def test_layer_norm_grad():
    rng = _rng(11)
    x = _randn(rng, 2, 3, 6) * 2 + 1
    gamma, beta = _randn(rng, 6), _randn(rng, 6)
    check_grads(lambda: layer_norm_forward(x, gamma, beta, 1e-5), layer_norm_backward, [x, gamma, beta])


# ---- 2. forwards vs naive formulations ----------------------------------------------

def _close(got, want, dtype):
    assert got.dtype == dtype
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, **FWD_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_naive(dtype):
    rng = _rng(20)
    W = _randn(rng, 7, 3, dtype=dtype)
    idx = np.array([[0, 6, 2], [2, 2, 5]])
    out, saved = embedding_forward(W, idx)
    want = np.array([[W[i] for i in row] for row in idx], dtype=np.float64)
    _close(out, want, dtype)
    dout = _randn(rng, 2, 3, 3, dtype=dtype)
    want_dW = np.zeros((7, 3))
    for n in range(2):
        for t in range(3):
            want_dW[idx[n, t]] += dout[n, t]
    _close(embedding_backward(dout, saved), want_dW, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_affine_naive(dtype, bias):
    rng = _rng(21)
    x, W = _randn(rng, 2, 3, 4, dtype=dtype), _randn(rng, 4, 5, dtype=dtype)
    b = _randn(rng, 5, dtype=dtype) if bias else None
    out, _ = affine_forward(x, W, b)
    want = np.zeros((2, 3, 5))
    for n in range(2):
        for t in range(3):
            for m in range(5):
                want[n, t, m] = sum(float(x[n, t, d]) * float(W[d, m]) for d in range(4))
                want[n, t, m] += float(b[m]) if bias else 0.0
    _close(out, want, dtype)


def _naive_softmax(row):
    row = [float(v) for v in row]
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_naive(dtype):
    x = _randn(_rng(22), 3, 2, 6, dtype=dtype) * 3
    y, _ = softmax_forward(x)
    want = np.array([[_naive_softmax(r) for r in plane] for plane in x])
    _close(y, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_naive(dtype):
    rng = _rng(23)
    xs = _randn(rng, 3, 4, 6, dtype=dtype) * 3
    ts = rng.integers(0, 6, size=(3, 4))
    ts[1, :2] = -1
    loss, _ = softmax_cross_entropy_forward(xs, ts, -1)
    terms = [-math.log(_naive_softmax(xs[n, t])[ts[n, t]])
             for n in range(3) for t in range(4) if ts[n, t] != -1]
    assert loss.shape == ()
    _close(loss, np.float64(sum(terms) / len(terms)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_cross_entropy_naive(dtype):
    rng = _rng(24)
    xs = _randn(rng, 4, 5, dtype=dtype) * 3
    ts = rng.random((4, 5)).astype(dtype)
    loss, _ = sigmoid_cross_entropy_forward(xs, ts)
    terms = []
    for x, t in zip(xs.ravel().tolist(), ts.ravel().tolist()):
        s = 1 / (1 + math.exp(-x))
        terms.append(-(t * math.log(s) + (1 - t) * math.log(1 - s)))
    assert loss.shape == ()
    _close(loss, np.float64(sum(terms) / len(terms)), dtype)


def _book_attention(hs, hq, mask):
    """The book's AttentionWeight + WeightSum, one decoder step at a time; a
    mask drops the padded keys from each softmax explicitly."""
    N, Te, H = hs.shape
    Td = hq.shape[1]
    hs, hq = hs.astype(np.float64), hq.astype(np.float64)
    a_all, c_all = np.zeros((N, Td, Te)), np.zeros((N, Td, H))
    for t in range(Td):
        h = hq[:, t]
        s = np.sum(hs * h.reshape(N, 1, H), axis=2)  # AttentionWeight: (N, Te)
        for n in range(N):
            keys = [e for e in range(Te) if mask is None or mask[n, e]]
            if keys:
                a_all[n, t, keys] = _naive_softmax(s[n, keys])
        c_all[:, t] = np.sum(hs * a_all[:, t].reshape(N, Te, 1), axis=1)  # WeightSum: (N, H)
    return c_all, a_all


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_name", ATTN_MASKS)
def test_attention_naive(dtype, mask_name):
    rng = _rng(25)
    hs, hq = _randn(rng, 3, 5, 4, dtype=dtype), _randn(rng, 3, 3, 4, dtype=dtype)
    mask = ATTN_MASKS[mask_name]
    want_c, want_a = _book_attention(hs, hq, mask)
    a, _ = attention_weights_forward(hs, hq, mask)
    _close(a, want_a, dtype)
    c, _ = weighted_sum_forward(hs, a)
    _close(c, want_c, dtype)
    c2, a2, saved = attention_forward(hs, hq, mask, True)
    _close(c2, want_c, dtype)
    _close(a2, want_a, dtype)
    assert saved is not None
    assert attention_forward(hs, hq, mask, False)[2] is None  # train=False saves nothing


def _naive_sdpa(q, k, v, mask, causal):
    """Explicit loop over batch, head and query; -inf masking; all-masked -> 0."""
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    N, Hh, Tq, dk = q.shape
    Tk = k.shape[2]
    out = np.zeros((N, Hh, Tq, v.shape[3]))
    for n in range(N):
        for h in range(Hh):
            for i in range(Tq):
                s = np.array([q[n, h, i] @ k[n, h, j] / math.sqrt(dk) for j in range(Tk)])
                for j in range(Tk):
                    if (mask is not None and not mask[n, j]) or (causal and j > i):
                        s[j] = -np.inf
                if np.all(s == -np.inf):
                    continue  # no visible key: zero output
                p = np.exp(s - s.max())
                out[n, h, i] = (p / p.sum()) @ v[n, h]
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_name", ATTN_MASKS)
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_naive(dtype, mask_name, causal):
    rng = _rng(26)
    q, k, v = (_randn(rng, 3, 2, 5, 4, dtype=dtype) for _ in range(3))
    mask = ATTN_MASKS[mask_name]
    out, saved = sdpa_forward(q, k, v, mask, causal, True)
    _close(out, _naive_sdpa(q, k, v, mask, causal), dtype)
    assert sdpa_forward(q, k, v, mask, causal, False)[1] is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_naive(dtype):
    rng = _rng(27)
    x = _randn(rng, 2, 3, 6, dtype=dtype) * 2 + 1
    gamma, beta = _randn(rng, 6, dtype=dtype), _randn(rng, 6, dtype=dtype)
    y, _ = layer_norm_forward(x, gamma, beta, 1e-5)
    want = np.zeros(x.shape)
    for n in range(2):
        for t in range(3):
            row = [float(v) for v in x[n, t]]
            mu = sum(row) / 6
            var = sum((v - mu) ** 2 for v in row) / 6  # biased variance
            want[n, t] = [(v - mu) / math.sqrt(var + 1e-5) * float(g) + float(b)
                          for v, g, b in zip(row, gamma, beta)]
    _close(y, want, dtype)


# ---- 3. properties -----------------------------------------------------------------

def test_attention_weights_mask_properties():
    rng = _rng(30)
    hs, hq = _randn(rng, 3, 5, 4) * 10, _randn(rng, 3, 4, 4) * 10  # peaked scores
    mask = ATTN_MASKS["all_masked_row"]
    a, _ = attention_weights_forward(hs, hq, mask)
    assert np.all(np.isfinite(a))
    keep = np.broadcast_to(mask[:, None, :], a.shape)
    assert np.all(a[~keep] == 0.0)  # exactly zero, not merely tiny
    np.testing.assert_allclose(a[:2].sum(axis=-1), 1.0, rtol=0, atol=1e-14)
    assert np.all(a[2] == 0.0)  # sequence 2 has no key at all
    c, a2, _ = attention_forward(hs, hq, mask, True)
    assert np.all(c[2] == 0.0) and np.all(np.isfinite(c))


@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_weights_properties(causal):
    # With v = identity (dv = Tk) the output rows are the attention weights themselves.
    rng = _rng(31)
    N, Hh, T = 3, 2, 5
    q, k = _randn(rng, N, Hh, T, 4) * 5, _randn(rng, N, Hh, T, 4) * 5
    v = np.broadcast_to(np.eye(T), (N, Hh, T, T)).copy()
    mask = ATTN_MASKS["all_masked_row"]
    p, _ = sdpa_forward(q, k, v, mask, causal, True)
    keep = np.broadcast_to(mask[:, None, None, :], p.shape)
    if causal:
        keep = keep & np.tril(np.ones((T, T), dtype=bool))
    assert np.all(np.isfinite(p)) and np.all(p[~keep] == 0.0)
    visible = keep.any(axis=-1)
    np.testing.assert_allclose(p.sum(axis=-1)[visible], 1.0, rtol=0, atol=1e-14)
    assert np.all(p[~visible] == 0.0)
    assert (~visible).any()  # the case is really exercised


def test_sdpa_causal_ignores_the_future():
    rng = _rng(32)
    q, k, v = (_randn(rng, 2, 2, 6, 3) for _ in range(3))
    out, _ = sdpa_forward(q, k, v, None, True, True)
    for i in range(6):
        k2, v2 = k.copy(), v.copy()
        k2[:, :, i + 1:] = _randn(rng, 2, 2, 6 - i - 1, 3) * 100
        v2[:, :, i + 1:] = _randn(rng, 2, 2, 6 - i - 1, 3) * 100
        out2, _ = sdpa_forward(q, k2, v2, None, True, True)
        np.testing.assert_array_equal(out2[:, :, : i + 1], out[:, :, : i + 1])
        if i < 5:
            assert not np.allclose(out2[:, :, i + 1:], out[:, :, i + 1:])  # the future did change


def test_dropout_ratio_zero_is_identity():
    x = _randn(_rng(33), 4, 5)
    y, saved = dropout_forward(x, 0.0, True, np.random.default_rng(0))
    np.testing.assert_array_equal(y, x)
    dy = _randn(_rng(34), 4, 5)
    np.testing.assert_array_equal(dropout_backward(dy, saved), dy)


def test_dropout_eval_is_identity():
    x = _randn(_rng(35), 4, 5)
    y, saved = dropout_forward(x, 0.5, False, None)
    assert y is x and saved is None
    dy = _randn(_rng(36), 4, 5)
    np.testing.assert_array_equal(dropout_backward(dy, saved), dy)


@pytest.mark.parametrize("ratio", [0.2, 0.5])
def test_dropout_is_unbiased(ratio):
    # y_i = x_i m_i / (1 - ratio), m_i ~ Bernoulli(1 - ratio): E[y] = x, and the
    # mean of n = 200000 draws has sd sqrt(ratio / (1 - ratio) / n) <= 2.3e-3 on x = 1.
    x = np.ones(200_000, dtype=np.float32)
    y, _ = dropout_forward(x, ratio, True, np.random.default_rng(123))
    assert abs(float(y.mean(dtype=np.float64)) - 1.0) < 0.012  # > 5 sd
    kept = y != 0
    assert abs(kept.mean() - (1 - ratio)) < 0.01
    np.testing.assert_array_equal(y[kept], np.float32(1 / (1 - ratio)))


def test_dropout_reproduces_the_books_time_dropout():
    """np.random.seed gives the book's TimeDropout masks, bit for bit, in float32."""
    ratio = 0.5
    xs = _randn(_rng(37), 3, 4, 5, dtype=np.float32)
    dout = _randn(_rng(38), 3, 4, 5, dtype=np.float32)

    np.random.seed(1234)  # the book's ch06/common/time_layers.py TimeDropout, inline
    flg = np.random.rand(*xs.shape) > ratio
    scale = 1 / (1.0 - ratio)
    book_mask = flg.astype(np.float32) * scale
    book_y, book_dx = xs * book_mask, dout * book_mask

    np.random.seed(1234)
    y, saved = dropout_forward(xs, ratio, True, None)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, book_y)
    np.testing.assert_array_equal(dropout_backward(dout, saved), book_dx)


def test_dropout_generator_is_reproducible():
    x = _randn(_rng(39), 6, 7)
    y1, _ = dropout_forward(x, 0.5, True, np.random.default_rng(5))
    y2, _ = dropout_forward(x, 0.5, True, np.random.default_rng(5))
    y3, _ = dropout_forward(x, 0.5, True, np.random.default_rng(6))
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(y1, y3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_name", ["none", "all_masked_row"])
def test_softmaxes_large_scores(dtype, mask_name):
    # Scores ~1e4: exp would overflow in both dtypes without the max shift.
    x = np.array([[1e4, 0.0, -1e4], [5e3, 1e4, 1e4]], dtype=dtype)
    y, _ = softmax_forward(x)
    np.testing.assert_allclose(y, [[1, 0, 0], [0, 0.5, 0.5]], atol=1e-7)
    rng = _rng(41)
    hs, hq = _randn(rng, 3, 5, 4, dtype=dtype) * 100, _randn(rng, 3, 2, 4, dtype=dtype) * 100
    mask = ATTN_MASKS[mask_name]
    a, _ = attention_weights_forward(hs, hq, mask)
    assert np.all(np.isfinite(a)) and a.dtype == dtype
    _close(a, _book_attention(hs, hq, mask)[1], dtype)
    q, k, v = hq[:, None], hs[:, None], hs[:, None] / 100
    out, _ = sdpa_forward(q, k, v, mask, False, True)
    assert np.all(np.isfinite(out)) and out.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_large_logits(dtype):
    xs = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0], [3.0, 3.0, 3.0]], dtype=dtype)
    ts = np.array([1, 1, 0])
    loss, saved = softmax_cross_entropy_forward(xs, ts, -1)
    # row 0: -log softmax = 1e4 - 0 ; row 1: 0 (exp(-1e4) underflows) ; row 2: log 3
    want = (1e4 + 0.0 + math.log(3)) / 3
    assert np.isfinite(loss) and loss.dtype == dtype
    np.testing.assert_allclose(float(loss), want, rtol=1e-6)
    dxs = softmax_cross_entropy_backward(np.asarray(1.0, dtype=dtype), saved)
    assert np.all(np.isfinite(dxs))
    np.testing.assert_allclose(dxs[0], [1 / 3, -1 / 3, 0.0], atol=1e-7)


def test_softmax_cross_entropy_all_ignored():
    xs = _randn(_rng(40), 2, 3, 4)
    ts = np.full((2, 3), -1)
    loss, saved = softmax_cross_entropy_forward(xs, ts, -1)
    assert loss.shape == () and float(loss) == 0.0
    dxs = softmax_cross_entropy_backward(np.asarray(1.0), saved)
    assert np.all(dxs == 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_cross_entropy_large_logits(dtype):
    xs = np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype)
    ts = np.array([1, 0, 0, 1])
    loss, saved = sigmoid_cross_entropy_forward(xs, ts)
    assert np.isfinite(loss)
    np.testing.assert_allclose(float(loss), 2e4 / 4, rtol=1e-6)  # two terms of 0, two of 1e4
    dxs = sigmoid_cross_entropy_backward(np.asarray(1.0, dtype=dtype), saved)
    np.testing.assert_allclose(dxs, [0, 0, 0.25, -0.25], atol=1e-7)
    # Confident and right: the loss is log(1 + e^-30) ~ 9.4e-14, which log(1 + ...)
    # would round to 0 (1 + 9.4e-14 == 1 in float32); log1p keeps it.
    loss, _ = sigmoid_cross_entropy_forward(np.array([30.0, -30.0], dtype=dtype), np.array([1, 0]))
    np.testing.assert_allclose(float(loss), math.log1p(math.exp(-30)), rtol=1e-6)


def _every_op(dtype, n=2):
    """(name, forward thunk, backward thunk taking (out, saved), inputs) for every op,
    float arrays in `dtype`, batch size n."""
    rng = _rng(50)

    def r(*shape):
        return _randn(rng, *shape, dtype=dtype)

    W, idx = r(7, 3), rng.integers(0, 7, size=(n, 4))
    x3, Wa, ba = r(n, 4, 3), r(3, 5), r(5)
    logits, labels = r(n, 4, 6), rng.integers(-1, 6, size=(n, 4))
    hs, hq = r(n, 5, 3), r(n, 2, 3)
    mask = np.ones((n, 5), dtype=bool)
    mask[:, 3:] = False
    a = r(n, 2, 5)
    q, k, v = r(n, 2, 5, 3), r(n, 2, 5, 3), r(n, 2, 5, 2)
    gamma, beta = r(3), r(3)
    one = np.asarray(1.0, dtype=dtype)

    def g(out):  # an incoming gradient shaped like `out`
        return np.ones_like(out)

    return [
        ("embedding", lambda: embedding_forward(W, idx), lambda o, s: embedding_backward(g(o), s), [W, idx]),
        ("affine", lambda: affine_forward(x3, Wa, ba), lambda o, s: affine_backward(g(o), s), [x3, Wa, ba]),
        ("affine_nobias", lambda: affine_forward(x3, Wa, None), lambda o, s: affine_backward(g(o), s), [x3, Wa]),
        ("softmax", lambda: softmax_forward(x3), lambda o, s: softmax_backward(g(o), s), [x3]),
        ("softmax_ce", lambda: softmax_cross_entropy_forward(logits, labels, -1),
         lambda o, s: softmax_cross_entropy_backward(one, s), [logits, labels]),
        ("sigmoid_ce_int", lambda: sigmoid_cross_entropy_forward(x3, (x3 > 0).astype(np.int64)),
         lambda o, s: sigmoid_cross_entropy_backward(one, s), [x3]),
        ("dropout", lambda: dropout_forward(x3, 0.3, True, None), lambda o, s: dropout_backward(g(o), s), [x3]),
        ("attention_weights", lambda: attention_weights_forward(hs, hq, mask),
         lambda o, s: attention_weights_backward(g(o), s), [hs, hq, mask]),
        ("weighted_sum", lambda: weighted_sum_forward(hs, a), lambda o, s: weighted_sum_backward(g(o), s), [hs, a]),
        ("attention", lambda: (lambda c, a_, s: (c, s))(*attention_forward(hs, hq, mask, True)),
         lambda o, s: attention_backward(g(o), s), [hs, hq, mask]),
        ("sdpa", lambda: sdpa_forward(q, k, v, mask, True, True), lambda o, s: sdpa_backward(g(o), s),
         [q, k, v, mask]),
        ("layer_norm", lambda: layer_norm_forward(x3, gamma, beta, 1e-5),
         lambda o, s: layer_norm_backward(g(o), s), [x3, gamma, beta]),
    ]


OP_NAMES = [name for name, *_ in _every_op(np.float64)]


@pytest.mark.parametrize("op", OP_NAMES)
def test_float32_preserved_and_inputs_untouched(op):
    name, fwd, bwd, inputs = next(o for o in _every_op(np.float32) if o[0] == op)
    before = [x.copy() for x in inputs]
    out, saved = fwd()
    grads = bwd(out, saved)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert out.dtype == np.float32, f"{name} forward returned {out.dtype}"
    for gr in grads:
        assert gr is None or gr.dtype == np.float32, f"{name} backward returned {gr.dtype}"
    for x, x0 in zip(inputs, before):
        np.testing.assert_array_equal(x, x0)  # nothing written into the caller's arrays


@pytest.mark.parametrize("op", OP_NAMES)
def test_empty_batch(op):
    name, fwd, bwd, inputs = next(o for o in _every_op(np.float64, n=0) if o[0] == op)
    out, saved = fwd()
    grads = bwd(out, saved)
    grads = grads if isinstance(grads, tuple) else (grads,)
    if out.ndim:
        assert out.shape[0] == 0
    else:
        assert float(out) == 0.0  # a loss over no elements
    floats = [x for x in inputs if x.dtype.kind == "f"]
    for x, gr in zip(floats, [gr for gr in grads if gr is not None]):
        assert gr.shape == x.shape and not np.any(gr)
