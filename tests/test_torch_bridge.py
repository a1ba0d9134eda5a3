"""pyrnn.torch: the drop-ins for torch.nn.LSTM / GRU / RNN and scaled_dot_product_attention against
torch's own, output for output and gradient for gradient. Skipped only where torch is not installed.

Tolerances (float32): pyrnn and torch add the same products in different orders (different GEMM
blockings; pyrnn adds b_ih + b_hh once, torch adds both to every step's pre-activations), so each
result differs from torch's by a few float32 roundings of the tensor's largest entries. A result
passes when max|ours - torch| <= RTOL32 * max(1, max|torch|). The largest seen over this whole file
was 3.6e-7 of that scale (3 float32 ulps, a layer-2 bias gradient); RTOL32 = 1e-5 leaves a 28x
margin, while a wrong gate order, sign or missing term is off by O(1). float64: 1e-12.
"""
import json
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import pyrnn.torch as pt  # noqa: E402
from pyrnn import backends  # noqa: E402
from pyrnn.torch import _convert  # noqa: E402

RTOL32, RTOL64 = 1e-5, 1e-12
N, T, D, H = 3, 5, 4, 6
KINDS = {"lstm": (torch.nn.LSTM, pt.LSTM), "gru": (torch.nn.GRU, pt.GRU), "rnn": (torch.nn.RNN, pt.RNN)}


def assert_close(ours, theirs, what, rtol=RTOL32):
    assert ours.shape == theirs.shape, f"{what}: shape {tuple(ours.shape)} != torch's {tuple(theirs.shape)}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != torch's {theirs.dtype}"
    scale = max(1.0, theirs.abs().max().item()) if theirs.numel() else 1.0
    err = (ours - theirs).abs().max().item() if theirs.numel() else 0.0
    assert err <= rtol * scale, f"{what}: max |ours - torch| = {err:.3g} > {rtol:g} * {scale:.3g}"


def pair(kind, dtype=torch.float32, seed=0, **kw):
    """(torch's module, ours) with one state_dict: ours loads torch's."""
    torch.manual_seed(seed)
    theirs = KINDS[kind][0](D, H, dtype=dtype, **kw)
    ours = KINDS[kind][1](D, H, dtype=dtype, **kw)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def run_both(theirs, ours, x, hx, seed=1):
    """Forward both on copies of (x, hx) that require grad, a fixed random loss over every output,
    backward; -> per module: (outputs, input grads, parameter grads by name)."""
    g = torch.Generator().manual_seed(seed)
    results, weights = [], None
    for m in (theirs, ours):
        m.zero_grad(set_to_none=True)
        xi = x.detach().clone().requires_grad_(True)
        his = None if hx is None else tuple(h.detach().clone().requires_grad_(True) for h in hx)
        out, hn = m(xi, None if his is None else (his if isinstance(m, torch.nn.LSTM) else his[0]))
        outs = (out,) + (hn if isinstance(hn, tuple) else (hn,))
        if weights is None:
            weights = [torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device) for o in outs]
        sum((o * w).sum() for o, w in zip(outs, weights)).backward()
        grads = (xi.grad,) + (() if his is None else tuple(h.grad for h in his))
        results.append((outs, grads, {n: p.grad for n, p in m.named_parameters()}))
    return results


def _results_close(theirs, ours, rtol):
    """(outputs, input gradients, parameter gradients) of torch's module and ours agree."""
    (o1, g1, p1), (o2, g2, p2) = theirs, ours
    for i, (a, b) in enumerate(zip(o2, o1)):
        assert_close(a, b, ["output", "h_n", "c_n"][i], rtol)
    for i, (a, b) in enumerate(zip(g2, g1)):
        assert_close(a, b, ["d input", "d h_0", "d c_0"][i], rtol)
    assert p1.keys() == p2.keys()
    for name in p1:
        assert_close(p2[name], p1[name], f"d {name}", rtol)


def check_equal(theirs, ours, x, hx, rtol=RTOL32):
    _results_close(*run_both(theirs, ours, x, hx), rtol)


def inputs(kind, m, batch_first, dtype=torch.float32, seed=2, hx=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((N, T, D) if batch_first else (T, N, D), generator=g, dtype=dtype)
    if not hx:
        return x, None
    L = m.num_layers * (2 if m.bidirectional else 1)
    h = tuple(torch.randn(L, N, H, generator=g, dtype=dtype) * 0.5 for _ in range(2 if kind == "lstm" else 1))
    return x, h


# ---- equality with torch's modules ------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", list(KINDS))
def test_equals_torch_module(kind, num_layers, bidirectional, batch_first, bias):
    """Outputs, final states and every gradient (input, h_0/c_0, each parameter) as torch's module,
    over the whole grid of constructor arguments; dropout=0."""
    theirs, ours = pair(kind, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                        bias=bias)
    check_equal(theirs, ours, *inputs(kind, ours, batch_first))


@pytest.mark.parametrize("kind", list(KINDS))
def test_equals_torch_without_initial_state_and_in_float64(kind):
    theirs, ours = pair(kind, num_layers=2, bidirectional=True)
    check_equal(theirs, ours, *inputs(kind, ours, False, hx=False))
    theirs, ours = pair(kind, torch.float64, num_layers=2, bidirectional=True, batch_first=True)
    check_equal(theirs, ours, *inputs(kind, ours, True, torch.float64), rtol=RTOL64)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_input_as_torch(kind, batch_first):
    """A 2-D (T, D) input and 2-D (L * dirs, H) states, as torch.nn accepts them."""
    theirs, ours = pair(kind, num_layers=2, bidirectional=True, batch_first=batch_first)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(T, D, generator=g)
    hx = tuple(torch.randn(4, H, generator=g) for _ in range(2 if kind == "lstm" else 1))
    (o1, g1, p1), (o2, g2, p2) = run_both(theirs, ours, x, hx)
    assert o2[0].shape == (T, 2 * H) and o2[1].shape == (4, H)
    for a, b in zip(o2 + g2 + tuple(p2.values()), o1 + g1 + tuple(p1.values())):
        assert_close(a, b, "unbatched")


def test_only_the_final_state_used():
    """A loss on h_n alone: the output's gradient arrives as None and pyrnn's backward gets zeros."""
    theirs, ours = pair("lstm", num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(N, T, D)
    grads = []
    for m in (theirs, ours):
        xi = x.clone().requires_grad_(True)
        _, (h_n, _) = m(xi)
        h_n.pow(2).sum().backward()
        grads.append((xi.grad, m.weight_hh_l0.grad, m.bias_ih_l1_reverse.grad))
    for a, b in zip(grads[1], grads[0]):
        assert_close(a, b, "grad through h_n only")


def test_parameters_in_any_layout():
    """Weights that are views in another layout (here transposed storage, as functional_call or
    weight_norm can hand in) take the general copy path and give the same results."""
    theirs, ours = pair("lstm", num_layers=2, bidirectional=True)
    x, hx = inputs("lstm", ours, False)
    strided = {n: (p.detach().t().contiguous().t() if p.dim() == 2 else p.detach())
               for n, p in theirs.named_parameters()}
    assert not any(t.is_contiguous() for t in strided.values() if t.dim() == 2)
    want = theirs(x, hx)
    got = torch.func.functional_call(ours, strided, (x, hx))
    for a, b in zip((got[0],) + got[1], (want[0],) + want[1]):
        assert_close(a, b, "strided weights")


def test_state_dict_both_ways():
    """The same keys, shapes and dtypes; torch's module runs ours's state_dict and vice versa."""
    torch.manual_seed(4)
    ours = pt.GRU(D, H, num_layers=2, bidirectional=True, batch_first=True)
    theirs = torch.nn.GRU(D, H, num_layers=2, bidirectional=True, batch_first=True)
    sd_ours, sd_theirs = ours.state_dict(), theirs.state_dict()
    assert [(k, v.shape, v.dtype) for k, v in sd_ours.items()] == [(k, v.shape, v.dtype) for k, v in sd_theirs.items()]
    theirs.load_state_dict(sd_ours)  # ours -> torch's
    check_equal(theirs, ours, *inputs("gru", ours, True))
    torch.manual_seed(5)
    other = torch.nn.GRU(D, H, num_layers=2, bidirectional=True, batch_first=True)
    ours.load_state_dict(other.state_dict())  # torch's -> ours
    check_equal(other, ours, *inputs("gru", ours, True))


def test_drop_in_identity_and_initialisation():
    """Subclasses of torch's modules, initialised like them (same seed, same parameters)."""
    torch.manual_seed(6)
    theirs = torch.nn.LSTM(D, H, num_layers=2)
    torch.manual_seed(6)
    ours = pt.LSTM(D, H, num_layers=2)
    assert isinstance(ours, torch.nn.LSTM) and repr(ours) == repr(theirs)
    for (n1, p1), (n2, p2) in zip(theirs.named_parameters(), ours.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)


@pytest.mark.parametrize("kind", list(KINDS))
def test_no_grad_forward_equals_training_forward(kind):
    """Under torch.no_grad the op runs with train=False (no saved state) and gives the same result."""
    _, ours = pair(kind, num_layers=2, bidirectional=True)
    x, hx = inputs(kind, ours, False)
    hx = hx if kind == "lstm" else hx[0]
    with torch.no_grad():
        o1, _ = ours(x, hx)
    o2, _ = ours(x, hx)
    assert o1.grad_fn is None and o2.grad_fn is not None
    assert torch.equal(o1, o2)


def test_reference_backend_gives_the_same_result():
    """The bridge goes through pyrnn's dispatcher: a forced backend runs it (here the reference)."""
    theirs, ours = pair("gru", num_layers=2, bidirectional=True, batch_first=True)
    with backends.use_backend("reference"):
        check_equal(theirs, ours, *inputs("gru", ours, True))


# ---- PackedSequence input ---------------------------------------------------------------------------

LENGTHS = {True: [5, 3, 3, 1], False: [3, 5, 1, 3]}  # by enforce_sorted; ties, and a length-1 sequence


def run_both_packed(theirs, ours, x, lengths, enforce_sorted, hx, batch_first=False, seed=1):
    """run_both for packed input: both modules get pack_padded_sequence of a padded x that requires
    grad (so d input is the gradient of the packed data, zero at padded steps); -> per module:
    (packed output, (output data, h_n[, c_n]), input grads, parameter grads by name)."""
    g = torch.Generator().manual_seed(seed)
    results, weights = [], None
    for m in (theirs, ours):
        m.zero_grad(set_to_none=True)
        xi = x.detach().clone().requires_grad_(True)
        packed = torch.nn.utils.rnn.pack_padded_sequence(xi, lengths, batch_first=batch_first,
                                                         enforce_sorted=enforce_sorted)
        his = None if hx is None else tuple(h.detach().clone().requires_grad_(True) for h in hx)
        out, hn = m(packed, None if his is None else (his if isinstance(m, torch.nn.LSTM) else his[0]))
        outs = (out.data,) + (hn if isinstance(hn, tuple) else (hn,))
        if weights is None:
            weights = [torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device) for o in outs]
        sum((o * w).sum() for o, w in zip(outs, weights)).backward()
        grads = (xi.grad,) + (() if his is None else tuple(h.grad for h in his))
        results.append((out, outs, grads, {n: p.grad for n, p in m.named_parameters()}))
    return results


def check_equal_packed(theirs, ours, x, lengths, enforce_sorted, hx, rtol=RTOL32, batch_first=False):
    (q1, o1, g1, p1), (q2, o2, g2, p2) = run_both_packed(theirs, ours, x, lengths, enforce_sorted, hx, batch_first)
    assert isinstance(q2, torch.nn.utils.rnn.PackedSequence)
    assert torch.equal(q2.batch_sizes, q1.batch_sizes)
    for name in ("sorted_indices", "unsorted_indices"):
        a, b = getattr(q2, name), getattr(q1, name)
        assert (a is None and b is None) or torch.equal(a, b), name
    _results_close((o1, g1, p1), (o2, g2, p2), rtol)


def packed_inputs(kind, m, n=4, dtype=torch.float32, seed=2, hx=True, batch_first=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, T, D) if batch_first else (T, n, D), generator=g, dtype=dtype)
    if not hx:
        return x, None
    L = m.num_layers * (2 if m.bidirectional else 1)
    return x, tuple(torch.randn(L, n, H, generator=g, dtype=dtype) * 0.5 for _ in range(2 if kind == "lstm" else 1))


@pytest.mark.parametrize("enforce_sorted", [True, False], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", list(KINDS))
def test_packed_sequence_equals_torch_module(kind, num_layers, bidirectional, enforce_sorted):
    """PackedSequence input (torch runs it natively): the output's data, batch_sizes and indices,
    h_n (and c_n) of each sequence's last real step, and every gradient, as torch's module; sorted
    batches and unsorted ones (enforce_sorted=False: h_0 and h_n in the caller's order)."""
    theirs, ours = pair(kind, num_layers=num_layers, bidirectional=bidirectional)
    x, hx = packed_inputs(kind, ours)
    check_equal_packed(theirs, ours, x, LENGTHS[enforce_sorted], enforce_sorted, hx)


@pytest.mark.parametrize("kind", list(KINDS))
def test_packed_sequence_float64_without_state_and_batch_first(kind):
    """float64 to 1e-12 (sorted and unsorted, with and without h_0); a batch_first module (packed
    data is time-major whatever batch_first says, as in torch); bias=False."""
    for enforce_sorted in (True, False):
        theirs, ours = pair(kind, torch.float64, num_layers=2, bidirectional=True)
        for hx in (True, False):
            x, h = packed_inputs(kind, ours, dtype=torch.float64, hx=hx)
            check_equal_packed(theirs, ours, x, LENGTHS[enforce_sorted], enforce_sorted, h, rtol=RTOL64)
    theirs, ours = pair(kind, num_layers=2, bidirectional=True, batch_first=True, bias=False)
    x, h = packed_inputs(kind, ours, batch_first=True)
    check_equal_packed(theirs, ours, x, LENGTHS[False], False, h, batch_first=True)


def test_packed_sequence_all_full_and_single_sequence():
    """Edge batches: every sequence of full length (the packed op's whole-batch case), and one
    sequence alone."""
    theirs, ours = pair("lstm", num_layers=2, bidirectional=True)
    x, hx = packed_inputs("lstm", ours)
    check_equal_packed(theirs, ours, x, [T] * 4, False, hx)
    x, hx = packed_inputs("lstm", ours, n=1)
    check_equal_packed(theirs, ours, x, [3], True, hx)


@pytest.mark.parametrize("kind", list(KINDS))
def test_packed_sequence_no_grad_equals_training_forward(kind):
    _, ours = pair(kind, num_layers=2, bidirectional=True)
    x, _ = packed_inputs(kind, ours, hx=False)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, LENGTHS[False], enforce_sorted=False)
    with torch.no_grad():
        (o1, h1) = ours(packed)
    o2, h2 = ours(packed)
    assert o1.data.grad_fn is None and o2.data.grad_fn is not None
    assert torch.equal(o1.data, o2.data)
    for a, b in zip(h1 if kind == "lstm" else (h1,), h2 if kind == "lstm" else (h2,)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", list(KINDS))
def test_gradcheck_packed_float64(kind):
    """gradcheck through a 2-layer bidirectional module on an unsorted PackedSequence, with respect
    to the packed data, the initial state(s) and every parameter."""
    torch.manual_seed(9)
    m = KINDS[kind][1](3, 2, num_layers=2, bidirectional=True, dtype=torch.float64)
    names = [n for n, _ in m.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in m.parameters())
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(3, 3, 3, dtype=torch.float64), [2, 3, 1],
                                                     enforce_sorted=False)
    data = packed.data.clone().requires_grad_(True)
    hx = tuple(torch.randn(4, 3, 2, dtype=torch.float64, requires_grad=True) for _ in range(2 if kind == "lstm" else 1))

    def f(data, *rest):
        states, ps = rest[:len(hx)], rest[len(hx):]
        p = torch.nn.utils.rnn.PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        out, hn = torch.func.functional_call(m, dict(zip(names, ps)), (p, states if kind == "lstm" else states[0]))
        return (out.data,) + (hn if isinstance(hn, tuple) else (hn,))
    assert torch.autograd.gradcheck(f, (data,) + hx + params, eps=1e-6, atol=1e-7, rtol=1e-6)


def test_packed_sequence_errors():
    _, ours = pair("gru", num_layers=2)
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(T, 3, D), [5, 3, 2])
    with pytest.raises(ValueError, match=r"hx: expected shape \(2, 3, 6\)"):
        ours(packed, torch.zeros(2, 4, H))
    with pytest.raises(TypeError, match=r"input.data: dtype torch.float64 does not match"):
        ours(torch.nn.utils.rnn.pack_padded_sequence(torch.randn(T, 3, D).double(), [5, 3, 2]))
    bad = torch.nn.utils.rnn.PackedSequence(torch.randn(10, D + 1), packed.batch_sizes)
    with pytest.raises(ValueError, match=r"input.data: expected shape \(P, input_size\) with input_size = 4"):
        ours(bad)


# ---- dropout between layers ----------------------------------------------------------------------

def test_dropout_between_layers_has_torchs_distribution():
    """dropout=0.5: RNGs differ, so compare distributions. One sequence repeated over a batch of
    4000 rows gives 4000 independent draws of the 2-layer LSTM's output per (t, h); the per-entry
    means of ours and torch's agree within 5 standard errors, both vary (dropout is on), eval
    mode equals torch exactly, and gradients flow through the dropped activations."""
    theirs, ours = pair("lstm", num_layers=2, dropout=0.5, batch_first=True)
    rows = 4000
    x = torch.randn(1, T, D, generator=torch.Generator().manual_seed(7)).expand(rows, T, D).contiguous()
    torch.manual_seed(8)
    with torch.no_grad():
        a, b = theirs(x)[0], ours(x)[0]  # (rows, T, H)
    se = ((a.var(0) + b.var(0)) / rows).sqrt()
    z = (a.mean(0) - b.mean(0)).abs() / se
    assert z.max().item() < 5, f"means differ by {z.max().item():.1f} standard errors"
    assert b.std(0).min().item() > 1e-3  # varies across rows: dropout is applied
    ratio = (b.var(0) / a.var(0)).mean().item()
    assert 0.8 < ratio < 1.25, f"variance ratio ours/torch {ratio:.3f}"
    theirs.eval(), ours.eval()
    check_equal(theirs, ours, x[:N], None)
    ours.train()
    xi = x[:N].clone().requires_grad_(True)
    ours(xi)[0].sum().backward()
    assert xi.grad.abs().sum() > 0 and ours.weight_ih_l0.grad.abs().sum() > 0


def test_dropout_never_touches_the_last_layer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns: dropout with one layer does nothing
        _, ours = pair("gru", num_layers=1, dropout=0.9)
    x = torch.randn(T, N, D)
    assert torch.equal(ours(x)[0], ours(x)[0])


# ---- gradcheck (float64) ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_gradcheck_float64(kind):
    """torch.autograd.gradcheck (central differences) through a 2-layer bidirectional module,
    with respect to the input, the initial state(s) and every parameter."""
    torch.manual_seed(9)
    m = KINDS[kind][1](3, 2, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    names = [n for n, _ in m.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in m.parameters())
    x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    hx = tuple(torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True) for _ in range(2 if kind == "lstm" else 1))

    def f(x, *rest):
        states, ps = rest[:len(hx)], rest[len(hx):]
        out, hn = torch.func.functional_call(m, dict(zip(names, ps)), (x, states if kind == "lstm" else states[0]))
        return (out,) + (hn if isinstance(hn, tuple) else (hn,))
    assert torch.autograd.gradcheck(f, (x,) + hx + params, eps=1e-6, atol=1e-7, rtol=1e-6)


def test_gradcheck_attention_float64():
    g = torch.Generator().manual_seed(10)
    q, k, v = (torch.randn(2, 2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[True, True, False], [True, False, True]])[:, None, None, :]
    assert torch.autograd.gradcheck(lambda q, k, v: pt.scaled_dot_product_attention(q, k, v, mask), (q, k, v))
    assert torch.autograd.gradcheck(lambda q, k, v: pt.scaled_dot_product_attention(q, k, v, is_causal=True),
                                    (q, k, v))


# ---- memory: views, not copies; torch's in-place checks -----------------------------------------

def test_tensors_and_arrays_share_memory():
    t = torch.randn(3, 4)
    a = _convert.as_array(t)
    assert isinstance(a, np.ndarray) and a.ctypes.data == t.data_ptr()
    back = _convert.as_tensor(a)
    assert back.data_ptr() == t.data_ptr()
    a[0, 0] = 42.0
    assert t[0, 0].item() == 42.0


def test_in_place_change_before_backward_is_caught():
    """pyrnn's saved state holds views of the output: torch's version counter must refuse a
    backward after the output was modified in place (as torch's own LSTM does)."""
    _, ours = pair("lstm", batch_first=True)
    out, _ = ours(torch.randn(N, T, D, requires_grad=True))
    out.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_saved_state_freed_after_backward_and_kept_with_retain_graph():
    """pyrnn's saved buffers go when torch frees its own saved tensors (after a backward without
    retain_graph), though the output and its graph live on; with retain_graph a second backward
    gives the same gradients."""
    _, ours = pair("lstm", batch_first=True)
    out, _ = ours(torch.randn(N, T, D, requires_grad=True))
    owner = out.grad_fn.owner  # a weakref to what holds pyrnn's saved state
    out.sum().backward(retain_graph=True)
    first = ours.weight_hh_l0.grad.clone()
    assert owner() is not None
    ours.zero_grad()
    out.sum().backward()
    assert torch.equal(ours.weight_hh_l0.grad, first)
    assert owner() is None


# ---- errors ------------------------------------------------------------------------------------------

def test_constructor_errors():
    with pytest.raises(ValueError, match="nonlinearity: pyrnn's RNN kernels are tanh only; got 'relu'"):
        pt.RNN(D, H, nonlinearity="relu")
    with pytest.raises(ValueError, match="nonlinearity"):
        pt.RNN(D, H, 1, "relu")  # positional, as torch.nn.RNN allows
    with pytest.raises(ValueError, match="proj_size: pyrnn's LSTM has no output projection; expected 0, got 3"):
        pt.LSTM(D, H, proj_size=3)
    assert pt.RNN(D, H, nonlinearity="tanh").nonlinearity == "tanh"


@pytest.mark.parametrize("make_input, err, match", [
    (lambda: torch.randn(N, T, D).double(), TypeError, r"input: dtype torch.float64 does not match.*float32"),
    (lambda: torch.randint(0, 3, (N, T, D)), TypeError, r"input: expected dtype torch.float32 or torch.float64, got torch.int64"),
    (lambda: torch.randn(N, T, D + 1), ValueError, r"input: expected shape \(T, N, input_size\).*input_size = 4; got shape \(3, 5, 5\)"),
    (lambda: torch.randn(2, N, T, D), ValueError, r"input: expected shape .* got shape \(2, 3, 5, 4\)"),
    (lambda: [[1.0]], TypeError, r"input: expected a torch.Tensor, got list"),
])
def test_input_errors(make_input, err, match):
    _, ours = pair("gru")
    with pytest.raises(err, match=match):
        ours(make_input())


def test_state_errors():
    _, lstm = pair("lstm", num_layers=2)
    x = torch.randn(T, N, D)
    h = torch.zeros(2, N, H)
    with pytest.raises(ValueError, match=r"h_0: expected shape \(2, 3, 6\) \(num_layers \* num_directions, N, "
                                         r"hidden_size\), got shape \(1, 3, 6\)"):
        lstm(x, (torch.zeros(1, N, H), h))
    with pytest.raises(ValueError, match=r"c_0: expected shape \(2, 6\) .*unbatched input, got shape \(2, 3, 6\)"):
        lstm(torch.randn(T, D), (torch.zeros(2, H), h))
    with pytest.raises(TypeError, match=r"hx: LSTM expects a tuple \(h_0, c_0\) or None, got Tensor"):
        lstm(x, h)
    with pytest.raises(TypeError, match=r"c_0: dtype torch.float64 does not match"):
        lstm(x, (h, h.double()))
    _, gru = pair("gru", num_layers=2)
    with pytest.raises(TypeError, match="hx: GRU expects one tensor h_0 or None, got a tuple"):
        gru(x, (h, h))
    with pytest.raises(ValueError, match=r"hx: expected shape \(2, 3, 6\)"):
        gru(x, torch.zeros(2, N + 1, H))


def test_half_precision_module_is_refused():
    ours = pt.LSTM(D, H).half()
    with pytest.raises(TypeError, match="input: expected dtype torch.float32 or torch.float64, got torch.float16"):
        ours(torch.randn(T, N, D).half())


def test_importing_pyrnn_does_not_import_torch_and_pyrnn_torch_says_how_to_get_it(tmp_path):
    code = textwrap.dedent("""
        import sys
        import pyrnn, pyrnn.ops, pyrnn.layers
        assert "torch" not in sys.modules, "import pyrnn imported torch"
        sys.modules["torch"] = None  # as if torch were not installed
        try:
            import pyrnn.torch
        except ImportError as e:
            print(e)
        else:
            raise SystemExit("pyrnn.torch imported without torch")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pip install 'pyrnn[torch]'" in out.stdout


def test_readme_bridge_snippet_prints_what_the_readme_says(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## PyTorch bridge"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    printed = re.search(r"```\nprints `(.*?)`", section, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == printed


def test_bench_torch_bridge_quick(tmp_path):
    """A smoke run of `pyrnn bench --torch-bridge` (no timing asserted: speed lives in benchmarks/)."""
    out_json = tmp_path / "bridge.json"
    out = subprocess.run([sys.executable, "-m", "pyrnn", "bench", "--torch-bridge", "--quick", "--json", str(out_json)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "bridge overhead" in out.stdout and "lstm   4,8,16,16" in out.stdout and "gru-ra 4,8,16,16" in out.stdout
    assert "lstm/p 4,8,16,16" in out.stdout and "gru/p  4,8,16,16" in out.stdout  # PackedSequence rows
    rows = json.loads(out_json.read_text())["rows"]
    assert [(r["op"], r["packed"]) for r in rows] == [("lstm", False), ("lstm", True), ("gru", False), ("gru", True)]
    assert all(r["bridge_ms"] > 0 and r["torch_ms"] > 0 and r["ops_ms"] > 0 and r["ratio"] > 0 for r in rows)


# ---- scaled_dot_product_attention ------------------------------------------------------------------

def _sdpa_pair(shape_q, shape_kv, dtype=torch.float32, **kw):
    g = torch.Generator().manual_seed(11)
    q = torch.randn(shape_q, generator=g, dtype=dtype)
    k, v = (torch.randn(shape_kv, generator=g, dtype=dtype) for _ in range(2))
    res = []
    for fn in (F.scaled_dot_product_attention, pt.scaled_dot_product_attention):
        qi, ki, vi = (t.clone().requires_grad_(True) for t in (q, k, v))
        out = fn(qi, ki, vi, **kw)
        out.backward(torch.randn(out.shape, generator=torch.Generator().manual_seed(12), dtype=dtype))
        res.append((out, qi.grad, ki.grad, vi.grad))
    for name, a, b in zip(("out", "dq", "dk", "dv"), res[1], res[0]):
        assert_close(a, b, name)


MASK = torch.tensor([[True, True, False, True, False, True, True],
                     [False, True, True, True, True, True, False]])  # (N=2, S=7)


@pytest.mark.parametrize("mask", [None, MASK[:, None, None, :], MASK[:1, None, None, :], MASK[:1],
                                  torch.zeros(2, 1, 1, 7, dtype=torch.bool)],
                         ids=["none", "N11S", "111S", "1S", "all-masked"])
def test_sdpa_equals_torch(mask):
    """No mask, key-padding masks in each shape torch broadcasts as (N, 1, 1, S), and rows whose
    keys are all masked (both give zeros)."""
    _sdpa_pair((2, 3, 5, 4), (2, 3, 7, 4), attn_mask=mask)


def test_sdpa_causal_and_3d_and_float64():
    _sdpa_pair((2, 3, 6, 4), (2, 3, 6, 4), is_causal=True)
    _sdpa_pair((2, 5, 4), (2, 7, 4), attn_mask=MASK[:, None, :])  # (N, L, E); mask (N, 1, S)
    g = torch.Generator().manual_seed(13)
    q, k, v = (torch.randn(2, 2, 4, 3, generator=g, dtype=torch.float64) for _ in range(3))
    assert_close(pt.scaled_dot_product_attention(q, k, v, is_causal=True),
                 F.scaled_dot_product_attention(q, k, v, is_causal=True), "float64 causal", RTOL64)


@pytest.mark.parametrize("kw, err, match", [
    (dict(attn_mask=torch.zeros(2, 1, 1, 7)), TypeError, r"attn_mask: pyrnn takes boolean masks only .* got dtype torch.float32"),
    (dict(attn_mask=torch.ones(5, 7, dtype=torch.bool)), ValueError, r"attn_mask: pyrnn supports key-padding masks only, broadcastable as \(N, 1, 1, S\) = \(2, 1, 1, 7\).*got shape \(5, 7\)"),
    (dict(attn_mask=torch.ones(2, 1, 5, 7, dtype=torch.bool)), ValueError, r"attn_mask: pyrnn supports key-padding masks only"),
    (dict(attn_mask=torch.ones(2, 3, 1, 7, dtype=torch.bool)), ValueError, r"attn_mask: pyrnn supports key-padding masks only"),
    (dict(dropout_p=0.1), ValueError, r"dropout_p: pyrnn's attention has no dropout; expected 0.0, got 0.1"),
    (dict(scale=0.5), ValueError, r"scale: pyrnn scales by 1/sqrt\(E\); expected None, got 0.5"),
    (dict(enable_gqa=True), ValueError, r"enable_gqa"),
    (dict(is_causal=True), ValueError, r"is_causal: pyrnn's causal mask needs L == S, got L=5, S=7"),
    (dict(is_causal=True, attn_mask=MASK[:, None, None, :]), ValueError, r"attn_mask: must be None when is_causal=True"),
])
def test_sdpa_errors(kw, err, match):
    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7, 4), torch.randn(2, 3, 7, 4)
    with pytest.raises(err, match=match):
        pt.scaled_dot_product_attention(q, k, v, **kw)


def test_sdpa_shape_and_dtype_errors():
    q, k = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7, 4)
    with pytest.raises(ValueError, match=r"key: expected shape \(N, Hh, S, E\) with N, Hh, E of query"):
        pt.scaled_dot_product_attention(q, torch.randn(2, 3, 7, 5), k)
    with pytest.raises(ValueError, match=r"value: expected shape \(N, Hh, S, Ev\) with N, Hh, S of key"):
        pt.scaled_dot_product_attention(q, k, torch.randn(2, 3, 6, 4))
    with pytest.raises(TypeError, match=r"key: dtype torch.float64 does not match"):
        pt.scaled_dot_product_attention(q, k.double(), k)
    with pytest.raises(ValueError, match=r"query: expected shape \(N, Hh, L, E\) or \(N, L, E\), got shape \(5, 4\)"):
        pt.scaled_dot_product_attention(q[0, 0], k[0, 0], k[0, 0])


# ---- CUDA tensors on the cuda backend (GPU machines only) ---------------------------------------

try:
    import cupy  # noqa: F401
    _HAVE_GPU = torch.cuda.is_available() and torch.cuda.device_count() > 0
except Exception:
    _HAVE_GPU = False


@pytest.mark.gpu
@pytest.mark.skipif(not _HAVE_GPU, reason="no GPU/CuPy")
@pytest.mark.parametrize("kind", list(KINDS))
def test_cuda_equals_torch_on_a_side_stream(kind):
    """CUDA tensors: the cuda backend, queued on torch's current stream (a side stream here, so
    a missed stream hand-over shows as a wrong result), against torch's cuDNN module (TF32 off)."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    theirs, ours = pair(kind, num_layers=2, bidirectional=True, batch_first=True)
    theirs, ours = theirs.cuda(), ours.cuda()
    x, hx = inputs(kind, ours, True)
    x, hx = x.cuda(), tuple(h.cuda() for h in hx)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        check_equal(theirs, ours, x, hx)
        q, k, v = (torch.randn(2, 3, 64, 16, device="cuda") for _ in range(3))
        assert_close(pt.scaled_dot_product_attention(q, k, v, is_causal=True),
                     F.scaled_dot_product_attention(q, k, v, is_causal=True), "cuda sdpa")
    torch.cuda.synchronize()


@pytest.mark.gpu
@pytest.mark.skipif(not _HAVE_GPU, reason="no GPU/CuPy")
@pytest.mark.parametrize("kind", list(KINDS))
def test_cuda_packed_sequence_equals_torch(kind):
    """PackedSequence with CUDA data (batch_sizes stays on the host, the reverse permutation goes to
    the device), unsorted, 2 layers, bidirectional, against torch's cuDNN module (TF32 off).
    Written without a GPU at hand: not yet run on one."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    theirs, ours = pair(kind, num_layers=2, bidirectional=True)
    theirs, ours = theirs.cuda(), ours.cuda()
    x, hx = packed_inputs(kind, ours)
    check_equal_packed(theirs, ours, x.cuda(), LENGTHS[False], False, tuple(h.cuda() for h in hx))
