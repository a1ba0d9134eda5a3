"""Variable-length sequences: the recurrent ops with ``lengths`` and the packed ops, on every backend.

Oracles:
* each row alone: a padded row with lengths[n] = L must give what the plain op gives on that row's
  first L steps (outputs, final states, gradients); padded steps give zero outputs and zero input
  gradients; a row of length 0 keeps its initial state and passes dhT to dh0. This checks the
  semantics independently of the packing.
* the reference's packed op: every backend against it (the cases and the tolerance norm of
  tests/cases/recurrent.py: float32 1e-5, float64 1e-12 of the tensor's largest magnitude);
* PyTorch's packed sequences (where torch is installed): torch.nn.LSTM/GRU/RNN on
  pack_padded_sequence(..., enforce_sorted=False) with the same weights.
"""
import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops
from pyrnn.layers import TimeBidirectional, TimeGRU, TimeLSTM, TimeRNN, TimeStacked, reverse_padded

from cases.recurrent import OPS, assert_close, make_case, packed_case, run_packed

BACKENDS = [n for n in backends.NUMPY_ORDER if backends.backend_status()[n][0]]
STATE_NAMES = {"rnn": ["h"], "lstm": ["h", "c"], "gru": ["h"], "gru_reset_after": ["h"]}
# lengths of N = 6 rows, T = 7: zeros, ones, full, repeats; all equal (the plain op); all empty
LENGTHS = [np.array([7, 0, 3, 1, 7, 3]), np.array([1, 1, 1, 1, 1, 1]), np.array([7] * 6), np.array([0] * 6),
           np.array([2, 5, 4, 0, 6, 1])]


def _run(op, c, lengths, backend):
    """Forward with lengths, then backward (dhT, dcT given): (forward outputs, gradients)."""
    with pyrnn.use_backend(backend):
        if op == "lstm":
            *fwd, saved = ops.lstm_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], c["c0"], lengths=lengths)
            grads = ops.lstm_backward(c["dhs"], c["dhT"], c["dcT"], saved)
        elif op == "rnn":
            *fwd, saved = ops.rnn_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], lengths=lengths)
            grads = ops.rnn_backward(c["dhs"], c["dhT"], saved)
        else:
            *fwd, saved = ops.gru_forward(c["xs"], c["Wx"], c["Wh"], c["b"], c["h0"], c["reset_after"],
                                          lengths=lengths)
            grads = ops.gru_backward(c["dhs"], c["dhT"], saved)
    return fwd, list(grads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("li", range(len(LENGTHS)))
@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_each_row_as_if_alone(backend, op, li, dtype):
    lengths = LENGTHS[li]
    c = make_case(op, (6, 7, 5, 4), dtype, seed=li)
    fwd, grads = _run(op, c, lengths, backend)
    hs, finals = fwd[0], fwd[1:]
    dxs, dW, dstates = grads[0], grads[1:4], grads[4:]
    acc = [np.zeros_like(g, dtype=np.float64) if g is not None else None for g in dW]
    n_states = len(STATE_NAMES[op])
    for n, L in enumerate(lengths):
        assert not hs[n, L:].any() and not dxs[n, L:].any(), "padded steps must give exact zeros"
        state0 = [c["h0"][n:n + 1]] + ([c["c0"][n:n + 1]] if op == "lstm" else [])
        dT = [c["dhT"][n:n + 1]] + ([c["dcT"][n:n + 1]] if op == "lstm" else [])
        if L == 0:  # no step: the initial state out, the final-state gradient straight back
            for s, s0 in zip(finals, state0):
                np.testing.assert_array_equal(s[n], s0[0])
            for d, d_T in zip(dstates, dT):
                np.testing.assert_array_equal(d[n], d_T[0])
            continue
        row = dict(c, xs=c["xs"][n:n + 1, :L], dhs=c["dhs"][n:n + 1, :L], h0=state0[0],
                   c0=state0[1] if op == "lstm" else None, dhT=dT[0], dcT=dT[1] if op == "lstm" else None)
        rfwd, rgrads = _run(op, row, None, "reference")
        assert_close(hs[n, :L], rfwd[0][0], dtype, f"{op} hs row {n}")
        for k in range(n_states):
            assert_close(finals[k][n], rfwd[1 + k][0], dtype, f"{op} final state {k} row {n}")
            assert_close(dstates[k][n], rgrads[4 + k][0], dtype, f"{op} initial-state gradient {k} row {n}")
        assert_close(dxs[n, :L], rgrads[0][0], dtype, f"{op} dxs row {n}")
        for a, g in zip(acc, rgrads[1:4]):
            if a is not None:
                a += g
    for name, got, want in zip(("dWx", "dWh", "db"), dW, acc):
        assert_close(got, None if want is None else want.astype(dtype), dtype, f"{op} {name} (the rows' sum)")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["rnn", "lstm", "gru", "gru_reset_after"])
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "reference"])
def test_packed_ops_against_the_reference(backend, op, dtype):
    """The packed ops themselves (PyTorch's PackedSequence layout), states in and out."""
    c = packed_case(op, dtype)
    results = []
    for be in (backend, "reference"):
        with pyrnn.use_backend(be):
            results.append(run_packed(ops, c))
    for k, (got, want) in enumerate(zip(*results)):
        assert_close(got, want, dtype, f"{op}_packed result {k}")


def _defined_names(path):
    """The names a module defines at its top level (functions, and targets of assignments such as
    `lstm_packed_forward, lstm_packed_backward = packed_ops(...)`), read from its source: the module
    need not import here (cpp's needs pyrnn._cpu, cuda's pyrnn._cuda)."""
    import ast
    names = set()
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


@pytest.mark.parametrize("backend", sorted(set(backends.backend_status()) - {"reference"}))
def test_every_backend_runs_packed_and_lengths_ops_itself(backend):
    """A backend with the whole-sequence recurrent ops has the packed ones too (its own kernel, or
    its whole-sequence kernels per run of equal steps: pyrnn/backends/segments.py), so `lengths`
    never drops silently to the reference. Checked on the family module's source in every install,
    and on the dispatcher's choice where the backend runs here."""
    import os
    path = os.path.join(os.path.dirname(backends.__file__), backend.replace("-", "_"), "recurrent.py")
    names = _defined_names(path)
    assert {"rnn_forward", "lstm_forward", "gru_forward"} <= names, f"{path}: not a recurrent family module?"
    for name in ("rnn", "lstm", "gru"):
        for suffix in ("packed_forward", "packed_backward"):
            assert f"{name}_{suffix}" in names, f"{backend}: no {name}_{suffix} in {path}"
    if backends.backend_status()[backend][0] and "numpy" in backends.get(backend).ARRAYS:
        with pyrnn.use_backend(backend):
            assert backends.select("lstm_packed_forward", False) is backends.get(backend)


def test_lengths_are_checked():
    c = make_case("lstm", (3, 4, 2, 2), np.float64)
    args = (c["xs"], c["Wx"], c["Wh"], c["b"])
    with pytest.raises(ValueError, match=r"lengths: expected shape \(3,\)"):
        ops.lstm_forward(*args, lengths=np.array([1, 2]))
    with pytest.raises(ValueError, match=r"lengths: values must be in \[0, 4\].*got 5 at index 1"):
        ops.lstm_forward(*args, lengths=np.array([1, 5, 2]))
    with pytest.raises(TypeError, match=r"lengths: expected an integer array.*float64"):
        ops.lstm_forward(*args, lengths=np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"batch_sizes: expected non-increasing sizes >= 1"):
        ops.lstm_packed_forward(c["xs"][0], [1, 2], c["Wx"], c["Wh"])
    with pytest.raises(ValueError, match=r"batch_sizes: the sizes add up to 3, but xs has 4 rows"):
        ops.lstm_packed_forward(c["xs"][0], [2, 1], c["Wx"], c["Wh"])


def test_stateful_chunks_carry_the_state_after_each_rows_last_step():
    """Truncated BPTT over padded chunks: the state a stateful layer carries into the next chunk is
    each row's state after its last real step, so two chunks equal one call over their real steps."""
    rng = np.random.default_rng(5)
    D, H = 3, 4
    W = (rng.standard_normal((D, 4 * H)) / 2, rng.standard_normal((H, 4 * H)) / 2, rng.standard_normal(4 * H) / 2)
    xs = rng.standard_normal((2, 8, D))
    chunked = TimeLSTM(*W, stateful=True)
    # row 1 ends after 2 of the first chunk's 4 steps, then continues in the next chunk from there
    a = chunked.forward(xs[:, :4], np.array([4, 2]))
    b = chunked.forward(xs[:, 4:], np.array([4, 3]))
    whole = TimeLSTM(*W)
    row0 = whole.forward(xs[0:1])[0]
    row1 = whole.forward(np.concatenate([xs[1:2, :2], xs[1:2, 4:7]], axis=1))[0]
    np.testing.assert_allclose(np.concatenate([a[0], b[0]]), row0, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.concatenate([a[1, :2], b[1, :3]]), row1, rtol=0, atol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bidirectional_reads_each_rows_real_steps_reversed(backend):
    rng = np.random.default_rng(6)
    D, H = 3, 4

    def gru():
        return TimeGRU(rng.standard_normal((D, 3 * H)) / 2, rng.standard_normal((H, 3 * H)) / 2,
                       rng.standard_normal((2, 3 * H)) / 2, reset_after=True)
    fwd_layer, bwd_layer = gru(), gru()
    xs = rng.standard_normal((3, 5, D))
    lengths = np.array([5, 2, 0])
    with pyrnn.use_backend(backend):
        hs = TimeBidirectional(fwd_layer, bwd_layer).forward(xs, lengths)
    for n, L in enumerate(lengths):
        assert not hs[n, L:].any()
        if L:
            want_f = TimeGRU(*fwd_layer.params, reset_after=True).forward(xs[n:n + 1, :L])[0]
            want_b = TimeGRU(*bwd_layer.params, reset_after=True).forward(xs[n:n + 1, :L][:, ::-1])[0][::-1]
            np.testing.assert_allclose(hs[n, :L], np.concatenate([want_f, want_b], axis=1), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(reverse_padded(np.arange(10).reshape(2, 5, 1), [3, 0])[:, :, 0],
                                  [[2, 1, 0, 3, 4], [5, 6, 7, 8, 9]])


def test_stacked_layers_check_their_widths():
    rng = np.random.default_rng(7)
    rnn = lambda d, h: TimeRNN(rng.standard_normal((d, h)), rng.standard_normal((h, h)), np.zeros(h))  # noqa: E731
    with pytest.raises(ValueError, match=r"residual: layer 1 maps width 3 to 4"):
        TimeStacked([rnn(2, 3), rnn(3, 4)], residual=True)
    with pytest.raises(ValueError, match=r"merge='sum' needs equal widths, got 3 .* and 4"):
        TimeBidirectional(rnn(2, 3), rnn(2, 4), merge="sum")
    with pytest.raises(ValueError, match=r"dropout: expected a drop probability in \[0, 1\), got 1.5"):
        TimeStacked([rnn(2, 3)], dropout=1.5)


@pytest.mark.parametrize("op", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_torch_packed_sequences(backend, op):
    """torch.nn.RNN/LSTM/GRU on pack_padded_sequence(enforce_sorted=False): outputs (zero-padded by
    pad_packed_sequence), final states and every gradient, float64 (tolerance 1e-10 of the largest
    magnitude: the same sums in other orders)."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    N, T, D, H = 5, 6, 3, 4
    lengths = np.array([6, 2, 5, 1, 6])
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[op]
    net = cls(D, H, batch_first=True).double()
    xs = torch.randn(N, T, D, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, N, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(1, N, H, dtype=torch.float64, requires_grad=True)
    packed = pack_padded_sequence(xs, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False)
    out, hT = net(packed, (h0, c0) if op == "lstm" else h0)
    hs, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    dhs, dhT = torch.randn_like(hs), torch.randn(N, H, dtype=torch.float64)
    (hT[0] if op == "lstm" else hT)[0].backward(dhT, retain_graph=True)
    hs.backward(dhs)
    # torch's weights in pyrnn's layout: gates [i, f, g, o] -> [f, g, i, o] (LSTM), [r, z, n] -> [z, r, n]
    # (GRU, whose z is torch's 1 - z: h' = (1 - z) h + z n in pyrnn, z h + (1 - z) n in torch, so the
    # z rows change sign: sigmoid(-a) = 1 - sigmoid(a)); the same map takes torch's gradients to pyrnn's
    perm = {"rnn": [0], "lstm": [1, 2, 0, 3], "gru": [1, 0, 2]}[op]
    sign = {"rnn": [1], "lstm": [1, 1, 1, 1], "gru": [-1, 1, 1]}[op]

    def layout(w):  # (G*H, K) -> (K, G*H) in pyrnn's gate order
        return np.concatenate([s * w[g * H:(g + 1) * H] for g, s in zip(perm, sign)], axis=0).T.copy()

    w = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    Wx, Wh = layout(w["weight_ih_l0"]), layout(w["weight_hh_l0"])
    bi, bh = layout(w["bias_ih_l0"][:, None])[0], layout(w["bias_hh_l0"][:, None])[0]
    x, h_0, c_0 = xs.detach().numpy(), h0.detach().numpy()[0], c0.detach().numpy()[0]
    with pyrnn.use_backend(backend):
        if op == "lstm":
            hs_p, hT_p, cT_p, saved = ops.lstm_forward(x, Wx, Wh, bi + bh, h_0, c_0, lengths=lengths)
            grads = ops.lstm_backward(dhs.numpy(), dhT.numpy(), None, saved)
        elif op == "rnn":
            hs_p, hT_p, saved = ops.rnn_forward(x, Wx, Wh, bi + bh, h_0, lengths=lengths)
            grads = ops.rnn_backward(dhs.numpy(), dhT.numpy(), saved)
        else:
            hs_p, hT_p, saved = ops.gru_forward(x, Wx, Wh, np.stack([bi, bh]), h_0, reset_after=True, lengths=lengths)
            grads = ops.gru_backward(dhs.numpy(), dhT.numpy(), saved)
    f64, tol = np.float64, 1e-10
    assert_close(hs_p, hs.detach().numpy(), f64, "hs", tol)
    assert_close(hT_p, (hT[0] if op == "lstm" else hT).detach().numpy()[0], f64, "hT", tol)
    if op == "lstm":
        assert_close(cT_p, hT[1].detach().numpy()[0], f64, "cT", tol)
    assert_close(grads[0], xs.grad.numpy(), f64, "dxs", tol)
    assert_close(grads[4], h0.grad.numpy()[0], f64, "dh0", tol)
    assert_close(grads[1], layout(net.weight_ih_l0.grad.numpy()), f64, "dWx", tol)
    assert_close(grads[2], layout(net.weight_hh_l0.grad.numpy()), f64, "dWh", tol)
    dbi, dbh = (layout(getattr(net, f"bias_{k}_l0").grad.numpy()[:, None])[0] for k in ("ih", "hh"))
    assert_close(grads[3], np.stack([dbi, dbh]) if op == "gru" else dbi, f64, "db", tol)
