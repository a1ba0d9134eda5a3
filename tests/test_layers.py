"""Layer API behaviour the book's code relies on: in-place grads, state handling for
truncated BPTT, dtypes, return values, the book's attribute names."""
import numpy as np
import pytest

from pyrnn import ops
from pyrnn.layers import (GRU, LSTM, RNN, Affine, Attention, AttentionWeight, Embedding, LayerNorm,
                          MultiHeadAttention, SigmoidWithLoss, Softmax, SoftmaxWithLoss, TimeAffine,
                          TimeAttention, TimeBiLSTM, TimeDropout, TimeEmbedding, TimeGRU, TimeLSTM,
                          TimeRNN, TimeSigmoidWithLoss, TimeSoftmaxWithLoss, WeightSum)

N, T, D, H, V = 3, 5, 4, 6, 7


def w(rng, *shape, dtype=np.float32):
    return (rng.standard_normal(shape) * 0.5).astype(dtype)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def lstm_params(rng, dtype=np.float32):
    return w(rng, D, 4 * H, dtype=dtype), w(rng, H, 4 * H, dtype=dtype), w(rng, 4 * H, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_time_lstm_keeps_dtype_and_writes_grads_in_place(rng, dtype):
    layer = TimeLSTM(*lstm_params(rng, dtype))
    grads_before = [id(g) for g in layer.grads]
    params_before = list(layer.params)
    hs = layer.forward(w(rng, N, T, D, dtype=dtype))
    dxs = layer.backward(w(rng, N, T, H, dtype=dtype))
    assert hs.dtype == dtype and dxs.dtype == dtype and layer.dh.dtype == dtype
    assert [id(g) for g in layer.grads] == grads_before
    assert all(p is q for p, q in zip(layer.params, params_before))
    assert all(g.dtype == dtype and np.abs(g).sum() > 0 for g in layer.grads)


def test_params_are_read_at_call_time(rng):
    """Optimizers update params in place between calls; layers must see the new values."""
    layer = TimeRNN(w(rng, D, H), w(rng, H, H), w(rng, H))
    xs = w(rng, N, T, D)
    hs1 = layer.forward(xs)
    layer.params[0] *= 2
    assert not np.allclose(layer.forward(xs), hs1)


def test_stateful_chunks_equal_one_long_run(rng):
    """Truncated BPTT: state carried across calls gives the same hs as one call."""
    params = lstm_params(rng, np.float64)
    xs = w(rng, N, 2 * T, D, dtype=np.float64)
    whole = TimeLSTM(*params).forward(xs)
    layer = TimeLSTM(*params, stateful=True)
    chunks = np.concatenate([layer.forward(xs[:, :T]), layer.forward(xs[:, T:])], axis=1)
    np.testing.assert_allclose(chunks, whole, rtol=1e-13, atol=1e-13)


def test_stateful_backward_stops_at_chunk_boundary(rng):
    """The gradient of chunk 2 equals that of an independent run started from chunk 1's
    final state: nothing flows into chunk 1, and the boundary gradient lands in .dh."""
    params = lstm_params(rng, np.float64)
    xs = w(rng, N, 2 * T, D, dtype=np.float64)
    dhs = w(rng, N, T, H, dtype=np.float64)
    layer = TimeLSTM(*params, stateful=True)
    layer.forward(xs[:, :T])
    h1, c1 = layer.h.copy(), layer.c.copy()
    layer.forward(xs[:, T:])
    dxs = layer.backward(dhs)
    _, _, _, saved = ops.lstm_forward(xs[:, T:], *params, h0=h1, c0=c1)
    rdxs, rdWx, rdWh, rdb, rdh0, rdc0 = ops.lstm_backward(dhs, None, None, saved)
    np.testing.assert_allclose(dxs, rdxs, rtol=1e-12)
    for g, r in zip(layer.grads, (rdWx, rdWh, rdb)):
        np.testing.assert_allclose(g, r, rtol=1e-12)
    np.testing.assert_allclose(layer.dh, rdh0, rtol=1e-12)


def test_non_stateful_ignores_previous_state(rng):
    layer = TimeGRU(w(rng, D, 3 * H), w(rng, H, 3 * H), w(rng, 3 * H))
    xs = w(rng, N, T, D)
    hs1 = layer.forward(xs)
    np.testing.assert_array_equal(layer.forward(xs), hs1)


def test_set_state_and_reset_state(rng):
    layer = TimeLSTM(*lstm_params(rng), stateful=True)
    xs = w(rng, N, T, D)
    fresh = layer.forward(xs)
    layer.set_state(w(rng, N, H), w(rng, N, H))
    assert not np.allclose(layer.forward(xs), fresh)
    layer.reset_state()
    np.testing.assert_array_equal(layer.forward(xs), fresh)
    layer.set_state(np.zeros((N, H), np.float32))  # c=None: starts from zero cell state
    np.testing.assert_array_equal(layer.forward(xs), fresh)


def test_cells_match_time_layers(rng):
    """Stepping the book's cells by hand equals the Time* layer."""
    for Cell, Time, params in ((RNN, TimeRNN, (w(rng, D, H), w(rng, H, H), w(rng, H))),
                               (GRU, TimeGRU, (w(rng, D, 3 * H), w(rng, H, 3 * H), w(rng, 3 * H)))):
        xs = w(rng, N, T, D)
        h = np.zeros((N, H), np.float32)
        steps = []
        for t in range(T):
            h = Cell(*params).forward(xs[:, t], h)
            steps.append(h)
        np.testing.assert_allclose(np.stack(steps, 1), Time(*params).forward(xs), rtol=1e-6, atol=1e-6)
    cell = LSTM(*lstm_params(rng))
    h, c = cell.forward(w(rng, N, D), np.zeros((N, H), "f"), np.zeros((N, H), "f"))
    dx, dh, dc = cell.backward(w(rng, N, H), 0)  # the book passes a literal 0 for "no dc"
    assert dx.shape == (N, D) and dh.shape == dc.shape == (N, H)


def test_gru_book_attributes_and_variants(rng):
    Wx, Wh = w(rng, D, 3 * H), w(rng, H, 3 * H)
    plain = TimeGRU(Wx, Wh)
    assert plain.params == [Wx, Wh] or all(p is q for p, q in zip(plain.params, [Wx, Wh]))
    assert len(plain.params) == 2 and plain.Wx is Wx and plain.Wh is Wh
    plain.forward(w(rng, N, T, D))
    plain.backward(w(rng, N, T, H))
    assert plain.dWx is plain.grads[0] and np.abs(plain.dWx).sum() > 0
    after = TimeGRU(Wx, Wh, w(rng, 2, 3 * H), reset_after=True)
    assert after.forward(w(rng, N, T, D)).shape == (N, T, H)


def test_bilstm_concatenates_both_directions(rng):
    p1, p2 = lstm_params(rng), lstm_params(rng)
    xs = w(rng, N, T, D)
    hs = TimeBiLSTM(*p1, *p2).forward(xs)
    np.testing.assert_allclose(hs[:, :, :H], TimeLSTM(*p1).forward(xs), rtol=1e-6)
    np.testing.assert_allclose(hs[:, :, H:], TimeLSTM(*p2).forward(xs[:, ::-1])[:, ::-1], rtol=1e-6)


def test_losses_accept_one_hot_and_return_scalars(rng):
    xs = w(rng, N, T, V)
    ts = rng.integers(0, V, (N, T))
    one_hot = np.eye(V, dtype=np.int32)[ts]
    a, b = TimeSoftmaxWithLoss(), TimeSoftmaxWithLoss()
    assert np.isclose(a.forward(xs, ts), b.forward(xs, one_hot))
    assert np.ndim(a.forward(xs, ts)) == 0
    np.testing.assert_array_equal(a.backward(), b.backward())
    s = SoftmaxWithLoss()
    loss = s.forward(xs[:, 0], ts[:, 0])
    assert "%.2f" % loss  # the book's Trainer formats it
    assert s.backward().shape == (N, V)
    sig = TimeSigmoidWithLoss()
    sig.forward(w(rng, N, T), rng.integers(0, 2, (N, T)))
    assert sig.backward().shape == (N, T)
    assert SigmoidWithLoss().forward(w(rng, N), np.ones(N)) > 0


def test_time_softmax_ignore_label(rng):
    xs = w(rng, N, T, V, dtype=np.float64)
    ts = rng.integers(0, V, (N, T))
    ts[0, :] = -1
    layer = TimeSoftmaxWithLoss()
    loss = layer.forward(xs, ts)
    dxs = layer.backward()
    assert np.all(dxs[0] == 0)
    kept = TimeSoftmaxWithLoss()
    assert np.isclose(loss, kept.forward(xs[1:], ts[1:]))


def test_dropout_train_and_test_modes(rng):
    layer = TimeDropout(0.5)
    xs = w(rng, N, T, D)
    np.random.seed(0)
    y = layer.forward(xs)
    assert y.dtype == np.float32
    assert set(np.unique(np.round(y / np.where(xs == 0, 1, xs), 5))) <= {0.0, 2.0}
    layer.train_flg = False
    np.testing.assert_array_equal(layer.forward(xs), xs)


def test_embedding_layers_accumulate_repeated_ids(rng):
    W = w(rng, V, D)
    emb = Embedding(W)
    emb.forward(np.array([1, 1, 2]))
    assert emb.backward(np.ones((3, D), "f")) is None
    np.testing.assert_array_equal(emb.grads[0][1], 2 * np.ones(D))
    temb = TimeEmbedding(W)
    assert temb.forward(rng.integers(0, V, (N, T))).shape == (N, T, D)
    assert temb.backward(np.ones((N, T, D), "f")) is None
    assert temb.grads[0].sum() == N * T * D


def test_affine_softmax_attention_shapes(rng):
    assert Affine(w(rng, D, V), w(rng, V)).forward(w(rng, N, D)).shape == (N, V)
    assert TimeAffine(w(rng, D, V), w(rng, V)).forward(w(rng, N, T, D)).shape == (N, T, V)
    np.testing.assert_allclose(Softmax().forward(w(rng, N, V)).sum(-1), 1, rtol=1e-6)
    hs, h = w(rng, N, T, H), w(rng, N, H)
    a = AttentionWeight().forward(hs, h)
    assert a.shape == (N, T)
    ws = WeightSum()
    assert ws.forward(hs, a).shape == (N, H)
    dhs, da = ws.backward(w(rng, N, H))
    assert dhs.shape == (N, T, H) and da.shape == (N, T)
    att = Attention()
    assert att.forward(hs, h).shape == (N, H) and att.attention_weight.shape == (N, T)
    ta = TimeAttention()
    out = ta.forward(hs, w(rng, N, 2, H))
    assert out.shape == (N, 2, H) and len(ta.attention_weights) == 2
    dhs_enc, dhs_dec = ta.backward(w(rng, N, 2, H))
    assert dhs_enc.shape == (N, T, H) and dhs_dec.shape == (N, 2, H)


def test_time_attention_mask_hides_padding(rng):
    hs, hq = w(rng, N, T, H), w(rng, N, 2, H)
    mask = np.ones((N, T), bool)
    mask[:, -2:] = False
    ta = TimeAttention()
    out = ta.forward(hs, hq, mask)
    assert np.all(ta.weights[:, :, -2:] == 0)
    hs2 = hs.copy()
    hs2[:, -2:] = 100.0  # padding content cannot leak into the output
    np.testing.assert_array_equal(TimeAttention().forward(hs2, hq, mask), out)


def test_multihead_attention_and_layer_norm(rng):
    Dm, heads = 8, 2
    ws = []
    for _ in range(4):
        ws += [w(rng, Dm, Dm), w(rng, Dm)]
    mha = MultiHeadAttention(*ws, num_heads=heads)
    x = w(rng, N, T, Dm)
    out = mha.forward(x)
    assert out.shape == (N, T, Dm) and out.dtype == np.float32
    assert mha.backward(w(rng, N, T, Dm)).shape == (N, T, Dm)
    mha.forward(x, w(rng, N, T + 2, Dm))
    dx, dkv = mha.backward(w(rng, N, T, Dm))
    assert dx.shape == (N, T, Dm) and dkv.shape == (N, T + 2, Dm)
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(*ws, num_heads=3)
    ln = LayerNorm(np.ones(Dm, "f"), np.zeros(Dm, "f"))
    y = ln.forward(x)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    assert ln.backward(w(rng, N, T, Dm)).shape == x.shape


@pytest.mark.parametrize("layer", [TimeLSTM, TimeRNN])
def test_backward_before_forward_raises(rng, layer):
    Wx = w(rng, D, 4 * H) if layer is TimeLSTM else w(rng, D, H)
    Wh = w(rng, H, 4 * H) if layer is TimeLSTM else w(rng, H, H)
    with pytest.raises(RuntimeError, match="before forward"):
        layer(Wx, Wh, w(rng, Wx.shape[1])).backward(w(rng, N, T, H))
