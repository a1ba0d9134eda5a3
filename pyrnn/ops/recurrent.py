"""The recurrent ops (tanh RNN, LSTM, GRU): argument checks, then the backend.

Each runs whole sequences (``xs (N, T, D)``), or padded sequences of different lengths when given
``lengths`` (N,), or packed sequences (the ``*_packed_*`` ops, PyTorch's PackedSequence layout). A
padded batch with lengths runs as a packed one: its rows are sorted by length once, the real steps
gathered time-major, the packed op run (a step's GEMM and gate pass cover only the sequences still
running, so padded steps cost nothing), and the results scattered back, zero at padded steps, with
each sequence's final state taken after its last real step (PyTorch's packed-sequence semantics).
"""
from __future__ import annotations

import numpy as np

from .._arrays import get_xp
from .._validate import check_float, check_lengths, check_batch_sizes, same_module
from ._runner import run_backward, run_forward

__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
           "rnn_packed_forward", "rnn_packed_backward", "lstm_packed_forward", "lstm_packed_backward",
           "gru_packed_forward", "gru_packed_backward", "rnn_step", "lstm_step", "gru_step"]

# the one-step API, for loops that feed each step's output back in (decoding, streaming)
STEP_FUNCTIONS = ("rnn_step", "lstm_step", "gru_step")


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


def _sequence_args(xs, Wx, Wh, b, h0, gates, b_shape=None):
    """Checks shared by the recurrent ops -> N, T, D, H."""
    D, H = check_recurrent_params(Wx, Wh, b, gates, b_shape)
    check_float("xs", xs, ("N", "T", D))
    if xs.dtype != Wx.dtype:
        raise TypeError(f"xs: dtype {xs.dtype} does not match the weights' dtype {Wx.dtype}; "
                        f"pyrnn never casts silently (use xs.astype(np.{Wx.dtype}))")
    N, T, _ = xs.shape
    check_float("h0", h0, (N, H), dtype=xs.dtype, allow_none=True)
    same_module(xs=xs, Wx=Wx, h0=h0)
    return N, T, D, H


def _state_grads(N, T, H, *finals):
    # the gradients the backward takes: dhs, then one optional (N, H) per final state
    return (("dhs", (N, T, H), False),) + tuple((name, (N, H), True) for name in finals)


def rnn_forward(xs, Wx, Wh, b=None, h0=None, train=True, lengths=None):
    """tanh RNN over a sequence. xs (N, T, D), Wx (D, H), Wh (H, H), b (H,) -> hs, hT, saved.
    lengths (N,): each row's real steps (see the module docstring)."""
    N, T, D, H = _sequence_args(xs, Wx, Wh, b, h0, 1)
    if lengths is not None and not _all_full(lengths, N, T):
        return _Padded.forward("rnn", xs, lengths, (Wx, Wh, b), (h0,), (), train)
    return run_forward("rnn", xs, dict(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0, train=train),
                       _state_grads(N, T, H, "dhT"), dict(N=N, T=T, D=D, G=H), train)


def rnn_backward(dhs, dhT, saved):
    """-> dxs, dWx, dWh, db (None without bias), dh0."""
    if isinstance(saved, _Padded):
        return saved.backward("rnn", dhs, dhT)
    return run_backward("rnn", saved, dhs, dhT)


def lstm_forward(xs, Wx, Wh, b=None, h0=None, c0=None, train=True, lengths=None):
    """LSTM over a sequence, gates [f, g, i, o]. Wx (D, 4H), Wh (H, 4H), b (4H,) -> hs, hT, cT, saved.
    lengths (N,): each row's real steps (see the module docstring)."""
    N, T, D, H = _sequence_args(xs, Wx, Wh, b, h0, 4)
    check_float("c0", c0, (N, H), dtype=xs.dtype, allow_none=True)
    same_module(xs=xs, c0=c0)
    if lengths is not None and not _all_full(lengths, N, T):
        return _Padded.forward("lstm", xs, lengths, (Wx, Wh, b), (h0, c0), (), train)
    return run_forward("lstm", xs, dict(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0, c0=c0, train=train),
                       _state_grads(N, T, H, "dhT", "dcT"), dict(N=N, T=T, D=D, G=4 * H), train)


def lstm_backward(dhs, dhT, dcT, saved):
    """-> dxs, dWx, dWh, db (None without bias), dh0, dc0."""
    if isinstance(saved, _Padded):
        return saved.backward("lstm", dhs, dhT, dcT)
    return run_backward("lstm", saved, dhs, dhT, dcT)


def gru_bias_shape(Wx, reset_after):
    """(3H,), or (2, 3H) for the reset-after variant (input and recurrent biases)."""
    H3 = Wx.shape[1] if getattr(Wx, "ndim", 0) == 2 else 0
    return (2, H3) if reset_after else (H3,)


def gru_forward(xs, Wx, Wh, b=None, h0=None, reset_after=False, train=True, lengths=None):
    """GRU over a sequence, gates [z, r, n]. b (3H,), or (2, 3H) with reset_after -> hs, hT, saved.
    lengths (N,): each row's real steps (see the module docstring)."""
    reset_after = _check_reset_after(reset_after)
    N, T, D, H = _sequence_args(xs, Wx, Wh, b, h0, 3, gru_bias_shape(Wx, reset_after))
    if lengths is not None and not _all_full(lengths, N, T):
        return _Padded.forward("gru", xs, lengths, (Wx, Wh, b), (h0,), (reset_after,), train)
    return run_forward("gru", xs, dict(xs=xs, Wx=Wx, Wh=Wh, b=b, h0=h0, reset_after=reset_after, train=train),
                       _state_grads(N, T, H, "dhT"), dict(N=N, T=T, D=D, G=3 * H), train)


def gru_backward(dhs, dhT, saved):
    """-> dxs, dWx, dWh, db (None without bias), dh0."""
    if isinstance(saved, _Padded):
        return saved.backward("gru", dhs, dhT)
    return run_backward("gru", saved, dhs, dhT)


def _check_reset_after(reset_after):
    if not isinstance(reset_after, (bool, np.bool_)):
        raise TypeError(f"reset_after: expected a bool, got {type(reset_after).__name__}")
    return bool(reset_after)



# ---- one step, for loops the caller drives --------------------------------------------------------
# Inference only (nothing saved): the whole-sequence op on a one-step view of x, so a step equals the
# op's T = 1 result on every backend. The kernels' T = 1 path skips what pays only over a sequence
# (preparing Wh for the step kernel) and runs its one-row products as matrix-vector products.

def _step_args(x, h, Wx, Wh, b, gates, b_shape=None):
    """x (N, D), h (N, H) or None -> x as a (N, 1, D) view"""
    D, H = check_recurrent_params(Wx, Wh, b, gates, b_shape)
    check_float("x", x, ("N", D))
    check_float("h", h, (x.shape[0], H), dtype=x.dtype, allow_none=True)
    return x[:, None, :]


def rnn_step(x, h, Wx, Wh, b=None):
    """One tanh RNN step: x (N, D), h (N, H) (None: zeros) -> the next h (N, H)."""
    return rnn_forward(_step_args(x, h, Wx, Wh, b, 1), Wx, Wh, b, h, train=False)[1]


def lstm_step(x, h, c, Wx, Wh, b=None):
    """One LSTM step: x (N, D), h, c (N, H) (None: zeros) -> the next (h, c)."""
    xs = _step_args(x, h, Wx, Wh, b, 4)
    check_float("c", c, (x.shape[0], Wh.shape[0]), dtype=x.dtype, allow_none=True)
    _, h, c, _ = lstm_forward(xs, Wx, Wh, b, h, c, train=False)
    return h, c


def gru_step(x, h, Wx, Wh, b=None, reset_after=False):
    """One GRU step: x (N, D), h (N, H) (None: zeros) -> the next h (N, H)."""
    xs = _step_args(x, h, Wx, Wh, b, 3, gru_bias_shape(Wx, _check_reset_after(reset_after)))
    return gru_forward(xs, Wx, Wh, b, h, reset_after=reset_after, train=False)[1]


# ---- packed sequences ----------------------------------------------------------------------------

def _packed_args(xs, batch_sizes, Wx, Wh, b, h0, gates, b_shape=None):
    """Checks shared by the packed ops -> batch_sizes (host int64), N, P, D, H."""
    D, H = check_recurrent_params(Wx, Wh, b, gates, b_shape)
    check_float("xs", xs, ("P", D))
    if xs.dtype != Wx.dtype:
        raise TypeError(f"xs: dtype {xs.dtype} does not match the weights' dtype {Wx.dtype}; "
                        f"pyrnn never casts silently (use xs.astype(np.{Wx.dtype}))")
    batch_sizes = check_batch_sizes("batch_sizes", batch_sizes, xs.shape[0])
    N = int(batch_sizes[0]) if len(batch_sizes) else (0 if h0 is None else h0.shape[0])
    check_float("h0", h0, (N, H), dtype=xs.dtype, allow_none=True)
    same_module(xs=xs, Wx=Wx, h0=h0)
    return batch_sizes, N, xs.shape[0], D, H


def _packed_grads(P, N, H, *finals):
    # the gradients a packed backward takes: dhs (P, H), then one optional (N, H) per final state
    return (("dhs", (P, H), False),) + tuple((name, (N, H), True) for name in finals)


def rnn_packed_forward(xs, batch_sizes, Wx, Wh, b=None, h0=None, train=True):
    """tanh RNN over packed sequences. xs (P, D), batch_sizes (T,) -> hs (P, H), hT (N, H), saved."""
    batch_sizes, N, P, D, H = _packed_args(xs, batch_sizes, Wx, Wh, b, h0, 1)
    return run_forward("rnn_packed", xs, dict(xs=xs, batch_sizes=batch_sizes, Wx=Wx, Wh=Wh, b=b, h0=h0, train=train),
                       _packed_grads(P, N, H, "dhT"), dict(P=P, D=D, G=H), train)


def rnn_packed_backward(dhs, dhT, saved):
    """-> dxs (P, D), dWx, dWh, db (None without bias), dh0."""
    return run_backward("rnn_packed", saved, dhs, dhT)


def lstm_packed_forward(xs, batch_sizes, Wx, Wh, b=None, h0=None, c0=None, train=True):
    """LSTM over packed sequences. xs (P, D), batch_sizes (T,) -> hs (P, H), hT, cT (N, H), saved."""
    batch_sizes, N, P, D, H = _packed_args(xs, batch_sizes, Wx, Wh, b, h0, 4)
    check_float("c0", c0, (N, H), dtype=xs.dtype, allow_none=True)
    same_module(xs=xs, c0=c0)
    return run_forward("lstm_packed", xs,
                       dict(xs=xs, batch_sizes=batch_sizes, Wx=Wx, Wh=Wh, b=b, h0=h0, c0=c0, train=train),
                       _packed_grads(P, N, H, "dhT", "dcT"), dict(P=P, D=D, G=4 * H), train)


def lstm_packed_backward(dhs, dhT, dcT, saved):
    """-> dxs (P, D), dWx, dWh, db (None without bias), dh0, dc0."""
    return run_backward("lstm_packed", saved, dhs, dhT, dcT)


def gru_packed_forward(xs, batch_sizes, Wx, Wh, b=None, h0=None, reset_after=False, train=True):
    """GRU over packed sequences. xs (P, D), batch_sizes (T,) -> hs (P, H), hT (N, H), saved."""
    reset_after = _check_reset_after(reset_after)
    batch_sizes, N, P, D, H = _packed_args(xs, batch_sizes, Wx, Wh, b, h0, 3, gru_bias_shape(Wx, reset_after))
    return run_forward("gru_packed", xs, dict(xs=xs, batch_sizes=batch_sizes, Wx=Wx, Wh=Wh, b=b, h0=h0,
                                              reset_after=reset_after, train=train),
                       _packed_grads(P, N, H, "dhT"), dict(P=P, D=D, G=3 * H), train)


def gru_packed_backward(dhs, dhT, saved):
    """-> dxs (P, D), dWx, dWh, db (None without bias), dh0."""
    return run_backward("gru_packed", saved, dhs, dhT)


# ---- padded sequences with lengths: through the packed ops ---------------------------------------

def _all_full(lengths, N, T):
    """Check lengths (N,) in [0, T]; True when every row runs all T steps (the plain op does it)."""
    lengths = check_lengths("lengths", lengths, N, T)
    return bool(N == 0 or lengths.min() == T)


class _Padded:
    """A padded batch with lengths run as a packed one. Holds the packing (the length-sorted order
    and each packed row's (sequence, step)) and the packed op's saved, for the backward."""

    __slots__ = ("saved", "order", "running", "seq", "step", "N", "T", "dtype")

    @classmethod
    def forward(cls, op, xs, lengths, weights, states, options, train):
        # weights (Wx, Wh, b), states (h0[, c0]) padded by batch row, options (reset_after,) for GRU
        N, T, _ = xs.shape
        self = cls()
        lengths = check_lengths("lengths", lengths, N, T)
        self.order = np.argsort(-lengths, kind="stable")  # longest first; equal lengths keep their order
        steps = int(lengths.max())
        batch_sizes = (lengths[self.order][None, :] > np.arange(steps)[:, None]).sum(axis=1)
        self.running = int(batch_sizes[0]) if steps else 0  # sequences with at least one step
        # packed row p is step `step[p]` of batch row `seq[p]`: rows of step 0, then step 1, ...
        self.step = np.repeat(np.arange(steps), batch_sizes)
        first = np.cumsum(batch_sizes) - batch_sizes
        self.seq = self.order[np.arange(len(self.step)) - np.repeat(first, batch_sizes)]
        self.N, self.T, self.dtype = N, T, xs.dtype
        xp = get_xp(xs)
        if xp is not np:  # the index arrays go to the device once
            self.seq, self.step, self.order = (xp.asarray(a) for a in (self.seq, self.step, self.order))
        run = self.order[:self.running]
        packed_states = tuple(None if s is None else s[run] for s in states)
        forward = {"rnn": rnn_packed_forward, "lstm": lstm_packed_forward, "gru": gru_packed_forward}[op]
        hs_packed, *finals_packed, self.saved = forward(xs[self.seq, self.step], batch_sizes, *weights,
                                                        *packed_states, *options, train)
        hs = xp.zeros((N, T, weights[1].shape[0]), dtype=xs.dtype)
        hs[self.seq, self.step] = hs_packed
        finals = []
        for s0, sT in zip(states, finals_packed):  # a sequence of length 0 keeps its initial state
            final = xp.zeros((N, sT.shape[1]), dtype=xs.dtype) if s0 is None else s0.copy()
            final[run] = sT
            finals.append(final)
        return (hs, *finals, self if train else None)

    def backward(self, op, dhs, *dfinals):
        check_float("dhs", dhs, (self.N, self.T, "H"), dtype=self.dtype)
        for name, d in zip(("dhT", "dcT"), dfinals):
            check_float(name, d, (self.N, dhs.shape[2]), dtype=self.dtype, allow_none=True)
        xp = get_xp(dhs)
        run = self.order[:self.running]
        packed_dfinals = tuple(None if d is None else d[run] for d in dfinals)
        backward = {"rnn": rnn_packed_backward, "lstm": lstm_packed_backward, "gru": gru_packed_backward}[op]
        dxs_packed, dWx, dWh, db, *dstates_packed = backward(dhs[self.seq, self.step], *packed_dfinals, self.saved)
        dxs = xp.zeros((self.N, self.T, dxs_packed.shape[1]), dtype=self.dtype)
        dxs[self.seq, self.step] = dxs_packed
        dstates = []
        for dT, ds in zip(dfinals, dstates_packed):  # a sequence of length 0 passes dhT straight to dh0
            d0 = xp.zeros((self.N, ds.shape[1]), dtype=self.dtype) if dT is None else dT.copy()
            d0[run] = ds
            dstates.append(d0)
        return (dxs, dWx, dWh, db, *dstates)
