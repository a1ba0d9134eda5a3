"""Functional API: validate arguments, pick a backend, run the op.

Each function here has the signature documented in `pyrnn.backends.contract`.
Forward functions return the backend's ``saved`` wrapped in a `Saved` that
remembers which backend made it and what gradients the backward expects, so
the backward runs on the same backend and checks its incoming gradients.
"""
from __future__ import annotations

import numpy as np

from . import backends
from ._arrays import is_cupy
from ._checks import (assert_finite, check_float, check_index, check_int32_sizes, check_mask,
                      check_nonempty_axis, finite_checks_on, same_module)

__all__ = [
    "Saved",
    "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
    "embedding_forward", "embedding_backward", "affine_forward", "affine_backward",
    "softmax_forward", "softmax_backward",
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
    "sigmoid_cross_entropy_forward", "sigmoid_cross_entropy_backward",
    "dropout_forward", "dropout_backward",
    "attention_weights_forward", "attention_weights_backward",
    "weighted_sum_forward", "weighted_sum_backward",
    "attention_forward", "attention_backward",
    "sdpa_forward", "sdpa_backward", "layer_norm_forward", "layer_norm_backward",
]


class Saved:
    """What a forward hands its backward: the backend, the payload, and the
    (name, shape) of each gradient the backward takes, plus their dtype."""

    __slots__ = ("backend", "op", "payload", "grad_specs", "dtype", "on_gpu")

    def __init__(self, backend, op, payload, grad_specs, dtype, on_gpu):
        self.backend, self.op, self.payload = backend, op, payload
        self.grad_specs, self.dtype, self.on_gpu = grad_specs, dtype, on_gpu


def _on_gpu(*arrays) -> bool:
    return any(is_cupy(a) for a in arrays if a is not None)


# names of each op's results (forward: without the trailing saved), for the finiteness checks
_OUTPUTS = {
    "rnn": (("hs", "hT"), ("dxs", "dWx", "dWh", "db", "dh0")),
    "lstm": (("hs", "hT", "cT"), ("dxs", "dWx", "dWh", "db", "dh0", "dc0")),
    "gru": (("hs", "hT"), ("dxs", "dWx", "dWh", "db", "dh0")),
    "embedding": (("out",), ("dW",)),
    "affine": (("out",), ("dx", "dW", "db")),
    "softmax": (("y",), ("dx",)),
    "softmax_cross_entropy": (("loss",), ("dxs",)),
    "sigmoid_cross_entropy": (("loss",), ("dxs",)),
    "dropout": (("y",), ("dx",)),
    "attention_weights": (("a",), ("dhs", "dhq")),
    "weighted_sum": (("c",), ("dhs", "da")),
    "attention": (("c", "a"), ("dhs", "dhq")),
    "sdpa": (("out",), ("dq", "dk", "dv")),
    "layer_norm": (("y",), ("dx", "dgamma", "dbeta")),
}


def _forward(op, on_gpu, args, int32_sizes=()):
    """Run `op`_forward on the selected backend; `args` maps the contract's argument names to
    values, in order. `int32_sizes`: (label, value) of every GEMM size the op's kernels use,
    checked against backends with a 32-bit BLAS before the backend allocates anything."""
    mod = backends.select(op + "_forward", on_gpu)
    check_int32_sizes(op + "_forward", getattr(mod, "NAME", ""), int32_sizes)
    check = finite_checks_on()
    if check:
        for name, a in args.items():
            assert_finite(op + "_forward", name, a, "input")
    result = getattr(mod, op + "_forward")(*args.values())
    if check:
        for name, a in zip(_OUTPUTS[op][0], result[:-1]):
            assert_finite(op + "_forward", name, a, "output")
    return mod, result


def _wrap(mod, op, payload, grad_specs, dtype, on_gpu, train=True):
    if not train:
        return None
    return Saved(mod, op, payload, grad_specs, dtype, on_gpu)


def _backward(op, saved, *grads):
    """Check the incoming gradients against the forward's record, then run the backward."""
    if saved is None:
        raise ValueError(f"{op}_backward: saved is None (the forward ran with train=False, which saves nothing)")
    if not isinstance(saved, Saved) or saved.op != op:
        got = saved.op if isinstance(saved, Saved) else type(saved).__name__
        raise TypeError(f"{op}_backward: saved must come from {op}_forward, got {got}")
    for (name, shape, optional), g in zip(saved.grad_specs, grads):
        if g is None and optional:
            continue
        check_float(name, g, shape, dtype=saved.dtype)
        if is_cupy(g) != saved.on_gpu:
            raise TypeError(f"{name}: the forward ran on {'cupy' if saved.on_gpu else 'numpy'} arrays, "
                            f"got a {'cupy' if is_cupy(g) else 'numpy'} array")
    check = finite_checks_on()
    if check:
        for (name, _, _), g in zip(saved.grad_specs, grads):
            assert_finite(op + "_backward", name, g, "input")
    result = getattr(saved.backend, op + "_backward")(*grads, saved.payload)
    if check:
        outs = result if isinstance(result, tuple) else (result,)
        for name, a in zip(_OUTPUTS[op][1], outs):
            assert_finite(op + "_backward", name, a, "output")
    return result


def check_recurrent_params(Wx, Wh, b, gates, b_shape=None):
    """Wx (D, gates*H), Wh (H, gates*H), b (gates*H,) or b_shape; returns (D, H).
    Also used by the layers' constructors, so bad weights fail at construction."""
    check_float("Wx", Wx, ("D", f"{gates}H"))
    if Wx.shape[1] % gates or Wx.shape[1] == 0:
        raise ValueError(f"Wx: expected shape (D, {gates}H) with H >= 1, got {tuple(Wx.shape)} "
                         f"(width not a positive multiple of {gates})")
    D, H = Wx.shape[0], Wx.shape[1] // gates
    check_float("Wh", Wh, (H, gates * H), dtype=Wx.dtype)
    check_float("b", b, b_shape or (gates * H,), dtype=Wx.dtype, allow_none=True)
    same_module(Wx=Wx, Wh=Wh, b=b)
    return D, H


def _recurrent_args(xs, Wx, Wh, b, h0, gates, b_shape=None):
    D, H = check_recurrent_params(Wx, Wh, b, gates, b_shape)
    check_float("xs", xs, ("N", "T", D))
    if xs.dtype != Wx.dtype:
        raise TypeError(f"xs: dtype {xs.dtype} does not match the weights' dtype {Wx.dtype}; "
                        f"pyrnn never casts silently (use xs.astype(np.{Wx.dtype}))")
    N, T, _ = xs.shape
    check_float("h0", h0, (N, H), dtype=xs.dtype, allow_none=True)
    same_module(xs=xs, Wx=Wx, h0=h0)
    return N, T, D, H


def _gemm_sizes(N, T, D, G):
    """The largest GEMM sizes and leading dimensions of a recurrent op's kernels: the input
    projection and weight gradients are GEMMs over N*T rows; per step, the gate gradients of
    step t are read with leading dimension T*G (G = gates * H columns)."""
    return (("N*T (batch times sequence length)", N * T), ("D (input width)", D),
            ("T*G (sequence length times gate width)", T * G))


# ---- recurrent ----------------------------------------------------------------

def rnn_forward(xs, Wx, Wh, b=None, h0=None, train=True):
    """tanh RNN over a sequence. xs (N, T, D), Wx (D, H), Wh (H, H), b (H,) -> hs, hT, saved."""
    N, T, D, H = _recurrent_args(xs, Wx, Wh, b, h0, 1)
    on_gpu = _on_gpu(xs)
    mod, (hs, hT, payload) = _forward("rnn", on_gpu, dict(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0, train=train),
                                      _gemm_sizes(N, T, D, H))
    specs = (("dhs", (N, T, H), False), ("dhT", (N, H), True))
    return hs, hT, _wrap(mod, "rnn", payload, specs, xs.dtype, on_gpu, train)


def rnn_backward(dhs, dhT, saved):
    """-> dxs, dWx, dWh, db (None without bias), dh0."""
    return _backward("rnn", saved, dhs, dhT)


def lstm_forward(xs, Wx, Wh, b=None, h0=None, c0=None, train=True):
    """LSTM over a sequence, gates [f, g, i, o]. Wx (D, 4H), Wh (H, 4H), b (4H,) -> hs, hT, cT, saved."""
    N, T, D, H = _recurrent_args(xs, Wx, Wh, b, h0, 4)
    check_float("c0", c0, (N, H), dtype=xs.dtype, allow_none=True)
    same_module(xs=xs, c0=c0)
    on_gpu = _on_gpu(xs)
    mod, (hs, hT, cT, payload) = _forward("lstm", on_gpu, dict(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0, c0=c0, train=train),
                                          _gemm_sizes(N, T, D, 4 * H))
    specs = (("dhs", (N, T, H), False), ("dhT", (N, H), True), ("dcT", (N, H), True))
    return hs, hT, cT, _wrap(mod, "lstm", payload, specs, xs.dtype, on_gpu, train)


def lstm_backward(dhs, dhT, dcT, saved):
    """-> dxs, dWx, dWh, db (None without bias), dh0, dc0."""
    return _backward("lstm", saved, dhs, dhT, dcT)


def gru_bias_shape(Wx, reset_after):
    """(3H,), or (2, 3H) for the reset-after variant (input and recurrent biases)."""
    H3 = Wx.shape[1] if getattr(Wx, "ndim", 0) == 2 else 0
    return (2, H3) if reset_after else (H3,)


def gru_forward(xs, Wx, Wh, b=None, h0=None, reset_after=False, train=True):
    """GRU over a sequence, gates [z, r, n]. b (3H,), or (2, 3H) with reset_after -> hs, hT, saved."""
    if not isinstance(reset_after, (bool, np.bool_)):
        raise TypeError(f"reset_after: expected a bool, got {type(reset_after).__name__}")
    N, T, D, H = _recurrent_args(xs, Wx, Wh, b, h0, 3, gru_bias_shape(Wx, reset_after))
    on_gpu = _on_gpu(xs)
    mod, (hs, hT, payload) = _forward("gru", on_gpu, dict(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0,
                                                          reset_after=bool(reset_after), train=train),
                                      _gemm_sizes(N, T, D, 3 * H))
    specs = (("dhs", (N, T, H), False), ("dhT", (N, H), True))
    return hs, hT, _wrap(mod, "gru", payload, specs, xs.dtype, on_gpu, train)


def gru_backward(dhs, dhT, saved):
    """-> dxs, dWx, dWh, db (None without bias), dh0."""
    return _backward("gru", saved, dhs, dhT)


# ---- word-level -----------------------------------------------------------------

def embedding_forward(W, idx):
    """Row lookup. W (V, D), idx integer (...) in [0, V) -> out (..., D), saved."""
    check_float("W", W, ("V", "D"))
    check_index("idx", idx, high=W.shape[0])
    same_module(W=W, idx=idx)
    on_gpu = _on_gpu(W)
    mod, (out, payload) = _forward("embedding", on_gpu, dict(W=W, idx=idx))
    return out, _wrap(mod, "embedding", payload, (("dout", tuple(idx.shape) + (W.shape[1],), False),),
                      W.dtype, on_gpu)


def embedding_backward(dout, saved):
    """-> dW (V, D): rows scatter-added in index order (deterministic)."""
    return _backward("embedding", saved, dout)


def affine_forward(x, W, b=None):
    """x (..., D) @ W (D, M) + b (M,) -> out (..., M), saved."""
    check_float("x", x)
    if x.ndim < 1:
        raise ValueError(f"x: expected shape (..., D) with at least 1 dimension, got shape {tuple(x.shape)}")
    D = x.shape[-1]
    check_float("W", W, (D, "M"), dtype=x.dtype)
    check_float("b", b, (W.shape[1],), dtype=x.dtype, allow_none=True)
    same_module(x=x, W=W, b=b)
    on_gpu = _on_gpu(x)
    mod, (out, payload) = _forward("affine", on_gpu, dict(x=x, W=W, b=b))
    return out, _wrap(mod, "affine", payload, (("dout", tuple(x.shape[:-1]) + (W.shape[1],), False),),
                      x.dtype, on_gpu)


def affine_backward(dout, saved):
    """-> dx (..., D), dW (D, M), db (M,) or None."""
    return _backward("affine", saved, dout)


def softmax_forward(x):
    """Softmax over the last axis -> y, saved."""
    check_float("x", x)
    if x.ndim < 1:
        raise ValueError(f"x: expected at least 1 dimension, got shape {tuple(x.shape)}")
    check_nonempty_axis("x", x, -1, "the softmax axis (the last)")
    on_gpu = _on_gpu(x)
    mod, (y, payload) = _forward("softmax", on_gpu, dict(x=x))
    return y, _wrap(mod, "softmax", payload, (("dy", tuple(x.shape), False),), x.dtype, on_gpu)


def softmax_backward(dy, saved):
    return _backward("softmax", saved, dy)


def softmax_cross_entropy_forward(xs, ts, ignore_label=-1):
    """Mean cross-entropy of softmax(xs) (..., V) against labels ts (...), skipping ignore_label."""
    check_float("xs", xs)
    if xs.ndim < 1:
        raise ValueError(f"xs: expected shape (..., V), got shape {tuple(xs.shape)}")
    V = xs.shape[-1]
    check_nonempty_axis("xs", xs, -1, "V (the number of classes, the last axis)")
    if ignore_label is not None and not isinstance(ignore_label, (int, np.integer)):
        raise TypeError(f"ignore_label: expected an int or None, got {type(ignore_label).__name__}")
    check_index("ts", ts, tuple(xs.shape[:-1]), high=V, ignore=ignore_label)
    same_module(xs=xs, ts=ts)
    on_gpu = _on_gpu(xs)
    mod, (loss, payload) = _forward("softmax_cross_entropy", on_gpu, dict(xs=xs, ts=ts, ignore_label=ignore_label))
    return loss, _wrap(mod, "softmax_cross_entropy", payload, (("dloss", (), False),), xs.dtype, on_gpu)


def softmax_cross_entropy_backward(dloss, saved):
    """dloss: a scalar (python float or 0-d array) -> dxs."""
    return _backward("softmax_cross_entropy", saved, _scalar_grad(dloss, saved))


def sigmoid_cross_entropy_forward(xs, ts):
    """Mean binary cross-entropy of sigmoid(xs) against targets ts in [0, 1] (same shape)."""
    check_float("xs", xs)
    if not hasattr(ts, "dtype") or ts.dtype.kind not in "iubf":
        raise TypeError(f"ts: expected an array of 0/1 labels or [0, 1] targets, got {type(ts).__name__}")
    if tuple(ts.shape) != tuple(xs.shape):
        raise ValueError(f"ts: expected shape {tuple(xs.shape)} (that of xs), got shape {tuple(ts.shape)}")
    if ts.dtype.kind == "b":
        raise TypeError("ts: expected 0/1 integer labels or [0, 1] float targets, got dtype bool "
                        "(convert with ts.astype(xs.dtype))")
    same_module(xs=xs, ts=ts)
    if ts.size:  # one min/max pass, like the index checks
        lo, hi = float(ts.min()), float(ts.max())
        if not (0.0 <= lo and hi <= 1.0):
            raise ValueError(f"ts: targets must be in [0, 1]; got min {lo}, max {hi}")
    on_gpu = _on_gpu(xs)
    mod, (loss, payload) = _forward("sigmoid_cross_entropy", on_gpu, dict(xs=xs, ts=ts))
    return loss, _wrap(mod, "sigmoid_cross_entropy", payload, (("dloss", (), False),), xs.dtype, on_gpu)


def sigmoid_cross_entropy_backward(dloss, saved):
    return _backward("sigmoid_cross_entropy", saved, _scalar_grad(dloss, saved))


def _scalar_grad(d, saved):
    """Accept a python number for a scalar loss gradient (the book passes dout=1)."""
    if isinstance(saved, Saved) and not hasattr(d, "dtype"):
        from ._arrays import cupy_module
        xp = cupy_module() if saved.on_gpu else np
        return xp.asarray(d, dtype=saved.dtype)
    if hasattr(d, "dtype") and d.dtype != getattr(saved, "dtype", d.dtype) and d.ndim == 0:
        return d.astype(saved.dtype)  # a 0-d scalar: no data to preserve, only its value
    return d


def dropout_forward(x, ratio, train=True, rng=None):
    """Inverted dropout with drop probability `ratio` in [0, 1) -> y, saved."""
    check_float("x", x)
    if not (0.0 <= float(ratio) < 1.0):
        raise ValueError(f"ratio: expected a drop probability in [0, 1), got {ratio}")
    on_gpu = _on_gpu(x)
    mod, (y, payload) = _forward("dropout", on_gpu, dict(x=x, ratio=float(ratio), train=bool(train), rng=rng))
    return y, _wrap(mod, "dropout", payload, (("dy", tuple(x.shape), False),), x.dtype, on_gpu)


def dropout_backward(dy, saved):
    return _backward("dropout", saved, dy)


# ---- attention --------------------------------------------------------------------

def _attention_args(hs, hq, mask):
    check_float("hs", hs, ("N", "Te", "H"))
    N, Te, H = hs.shape
    check_float("hq", hq, (N, "Td", H), dtype=hs.dtype)
    check_nonempty_axis("hs", hs, 1, "Te (the number of encoder steps attended over)")
    check_mask("mask", mask, (N, Te))
    same_module(hs=hs, hq=hq, mask=mask)
    return N, Te, hq.shape[1], H


def attention_weights_forward(hs, hq, mask=None):
    """a (N, Td, Te) = softmax_Te(<hq, hs>), masked where mask is False."""
    N, Te, Td, H = _attention_args(hs, hq, mask)
    on_gpu = _on_gpu(hs)
    mod, (a, payload) = _forward("attention_weights", on_gpu, dict(hs=hs, hq=hq, mask=mask))
    return a, _wrap(mod, "attention_weights", payload, (("da", (N, Td, Te), False),), hs.dtype, on_gpu)


def attention_weights_backward(da, saved):
    """-> dhs, dhq."""
    return _backward("attention_weights", saved, da)


def weighted_sum_forward(hs, a):
    """c (N, Td, H) = sum over Te of a (N, Td, Te) * hs (N, Te, H)."""
    check_float("hs", hs, ("N", "Te", "H"))
    N, Te, H = hs.shape
    check_float("a", a, (N, "Td", Te), dtype=hs.dtype)
    same_module(hs=hs, a=a)
    on_gpu = _on_gpu(hs)
    mod, (c, payload) = _forward("weighted_sum", on_gpu, dict(hs=hs, a=a))
    return c, _wrap(mod, "weighted_sum", payload, (("dc", (N, a.shape[1], H), False),), hs.dtype, on_gpu)


def weighted_sum_backward(dc, saved):
    """-> dhs, da."""
    return _backward("weighted_sum", saved, dc)


def attention_forward(hs, hq, mask=None, train=True):
    """Dot-product attention of every query step over the encoder states -> c, a, saved."""
    N, Te, Td, H = _attention_args(hs, hq, mask)
    on_gpu = _on_gpu(hs)
    mod, (c, a, payload) = _forward("attention", on_gpu, dict(hs=hs, hq=hq, mask=mask, train=train))
    return c, a, _wrap(mod, "attention", payload, (("dc", (N, Td, H), False),), hs.dtype, on_gpu, train)


def attention_backward(dc, saved):
    """-> dhs, dhq."""
    return _backward("attention", saved, dc)


def sdpa_forward(q, k, v, mask=None, causal=False, train=True):
    """Scaled dot-product attention per head. q (N, Hh, Tq, dk), k (N, Hh, Tk, dk), v (N, Hh, Tk, dv)."""
    check_float("q", q, ("N", "Hh", "Tq", "dk"))
    N, Hh, Tq, dk = q.shape
    check_float("k", k, (N, Hh, "Tk", dk), dtype=q.dtype)
    Tk = k.shape[2]
    check_float("v", v, (N, Hh, Tk, "dv"), dtype=q.dtype)
    check_nonempty_axis("k", k, 2, "Tk (the number of keys)")
    check_nonempty_axis("q", q, 3, "dk (the key width; scores are scaled by 1/sqrt(dk))")
    check_mask("mask", mask, (N, Tk))
    if causal and Tq != Tk:
        raise ValueError(f"causal: needs Tq == Tk, got q with Tq={Tq} and k with Tk={Tk}")
    same_module(q=q, k=k, v=v, mask=mask)
    on_gpu = _on_gpu(q)
    mod, (out, payload) = _forward("sdpa", on_gpu, dict(q=q, k=k, v=v, mask=mask, causal=bool(causal), train=train))
    return out, _wrap(mod, "sdpa", payload, (("dout", (N, Hh, Tq, v.shape[3]), False),), q.dtype, on_gpu, train)


def sdpa_backward(dout, saved):
    """-> dq, dk, dv."""
    return _backward("sdpa", saved, dout)


def layer_norm_forward(x, gamma, beta, eps=1e-5):
    """Normalise x (..., D) over its last axis, then scale by gamma (D,) and shift by beta (D,)."""
    check_float("x", x)
    if x.ndim < 1:
        raise ValueError(f"x: expected shape (..., D), got shape {tuple(x.shape)}")
    D = x.shape[-1]
    check_nonempty_axis("x", x, -1, "D (the normalised axis, the last)")
    check_float("gamma", gamma, (D,), dtype=x.dtype)
    check_float("beta", beta, (D,), dtype=x.dtype)
    if not float(eps) > 0:
        raise ValueError(f"eps: expected a positive float, got {eps}")
    same_module(x=x, gamma=gamma, beta=beta)
    on_gpu = _on_gpu(x)
    mod, (y, payload) = _forward("layer_norm", on_gpu, dict(x=x, gamma=gamma, beta=beta, eps=float(eps)))
    return y, _wrap(mod, "layer_norm", payload, (("dy", tuple(x.shape), False),), x.dtype, on_gpu)


def layer_norm_backward(dy, saved):
    """-> dx, dgamma, dbeta."""
    return _backward("layer_norm", saved, dy)
