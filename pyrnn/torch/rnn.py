"""pyrnn.torch.LSTM / GRU / RNN: torch.nn.LSTM / GRU / RNN whose forward runs on pyrnn's ops.

The classes subclass torch's own (the same constructor, parameters, initialisation, state_dict,
repr; isinstance(m, torch.nn.LSTM) holds) and replace only `forward`. Each layer and direction is
one call of a pyrnn recurrent op through `_RecurrentFunction` (a torch.autograd.Function);
stacking, bidirectional concatenation and dropout between layers are torch ops over those calls,
as in torch's own implementation. The reverse direction flips time, runs, and flips back.

PackedSequence input runs on pyrnn's packed ops (`ops.*_packed_forward/backward`) on the packed
data itself, (P, D) time-major with its batch_sizes, as torch's own packed path does: no padding.
The reverse direction reverses each sequence's real steps by a permutation of the packed rows
(`_Packing.rev`); initial states are taken through `sorted_indices` and final states given back
through `unsorted_indices`, as torch does.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable
from torch.nn.utils.rnn import PackedSequence

from .. import ops
from ._convert import array_module, as_array, as_tensor, check_tensor, on_device, owning_tensor
from ._layout import LAYOUTS, bias_grad_to_torch, bias_to_pyrnn, weight_grad_to_torch, weight_to_pyrnn

__all__ = ["LSTM", "GRU", "RNN"]


class _Packing:
    """One PackedSequence's layout: `batch_sizes` (T,) host int64, non-increasing (step t holds the
    first batch_sizes[t] sequences), and, on demand, `rev(xp)`: the permutation of the P packed rows
    that reverses each sequence's real steps. Sequence n has L_n steps; its step t (packed row
    offset[t] + n) goes to step L_n - 1 - t. The reversed batch has the same batch_sizes, and the
    permutation is its own inverse (it flips back)."""

    def __init__(self, batch_sizes):
        self.batch_sizes = np.ascontiguousarray(np.asarray(batch_sizes, dtype=np.int64))
        self._rev = {}

    def rev(self, xp):
        r = self._rev.get(xp.__name__)
        if r is None:
            bs = self.batch_sizes
            T, P = len(bs), int(bs.sum())
            N = int(bs[0]) if T else 0
            lengths = (bs[None, :] > np.arange(N)[:, None]).sum(axis=1)  # (N,) steps of each sequence
            offset = np.cumsum(bs) - bs                                    # first packed row of each step
            t = np.repeat(np.arange(T), bs)                                # packed row p is step t[p] ...
            n = np.arange(P) - offset[t]                                   # ... of sequence n[p]
            r = offset[lengths[n] - 1 - t] + n
            r = self._rev[xp.__name__] = r if xp is np else xp.asarray(r)
        return r


def _flip_time(a, packing=None):
    """Each sequence's steps reversed, C-contiguous (a copy: pyrnn's ops take no strides):
    a (N, T, ...) along time, or packed rows a (P, ...) with `packing`."""
    xp = array_module(a)
    if packing is not None:
        return xp.take(a, packing.rev(xp), axis=0)
    return xp.ascontiguousarray(a[:, ::-1])


def _run_forward(lay, reverse, packing, x, h0, c0, w_ih, w_hh, b_ih, b_hh, train):
    """One layer, one direction. x (N, T, K) batch-major, or packed rows (P, K) with `packing` (a
    _Packing), h0/c0 (N, H) or None (zeros), torch's parameters -> hs (N, T, H) or (P, H), hT (N, H),
    cT (N, H) or None, as tensors sharing pyrnn's results' memory; and pyrnn's saved (None unless train)."""
    with on_device(x):
        xs = as_array(x, "input")
        if reverse:
            xs = _flip_time(xs, packing)
        Wx, Wh = weight_to_pyrnn(as_array(w_ih), lay), weight_to_pyrnn(as_array(w_hh), lay)
        b = bias_to_pyrnn(as_array(b_ih), as_array(b_hh), lay)
        h0a = as_array(h0, "h0")
        cT = None
        if packing is None:
            if lay.kind == "lstm":
                hs, hT, cT, saved = ops.lstm_forward(xs, Wx, Wh, b, h0a, as_array(c0, "c0"), train=train)
            elif lay.kind == "gru":
                hs, hT, saved = ops.gru_forward(xs, Wx, Wh, b, h0a, reset_after=True, train=train)
            else:
                hs, hT, saved = ops.rnn_forward(xs, Wx, Wh, b, h0a, train=train)
        else:
            bs = packing.batch_sizes
            if lay.kind == "lstm":
                hs, hT, cT, saved = ops.lstm_packed_forward(xs, bs, Wx, Wh, b, h0a, as_array(c0, "c0"), train=train)
            elif lay.kind == "gru":
                hs, hT, saved = ops.gru_packed_forward(xs, bs, Wx, Wh, b, h0a, reset_after=True, train=train)
            else:
                hs, hT, saved = ops.rnn_packed_forward(xs, bs, Wx, Wh, b, h0a, train=train)
        if reverse:
            hs = _flip_time(hs, packing)
        return as_tensor(hs), as_tensor(hT), as_tensor(cT), saved


_BACKWARD = {(False, "lstm"): ops.lstm_backward, (False, "gru"): ops.gru_backward, (False, "rnn"): ops.rnn_backward,
             (True, "lstm"): ops.lstm_packed_backward, (True, "gru"): ops.gru_packed_backward,
             (True, "rnn"): ops.rnn_packed_backward}


class _RecurrentFunction(torch.autograd.Function):
    """(lay, reverse, packing, x, h0, c0, w_ih, w_hh, b_ih, b_hh) -> hs, hT[, cT] on pyrnn's op;
    the backward is pyrnn's BPTT, its gradients converted back to torch's parameter layout."""

    @staticmethod
    def forward(ctx, lay, reverse, packing, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        hs, hT, cT, saved = _run_forward(lay, reverse, packing, x, h0, c0, w_ih, w_hh, b_ih, b_hh, True)
        ctx.set_materialize_grads(False)  # unused outputs send None: pyrnn skips them (dhT/dcT None)
        ctx.lay, ctx.reverse, ctx.packing = lay, reverse, packing
        ctx.has = (h0 is not None, c0 is not None, b_ih is not None)
        holder, ctx.owner = owning_tensor(saved)
        # pyrnn's saved holds views of x, h0, c0 and hs: saving them here lets torch's version
        # counters catch an in-place change to any of them before the backward
        ctx.save_for_backward(x, h0, c0, hs, holder)
        return (hs, hT, cT) if lay.kind == "lstm" else (hs, hT)

    @staticmethod
    @once_differentiable
    def backward(ctx, dhs, dhT, dcT=None):
        x, _, _, hs, _ = ctx.saved_tensors  # raises if one was modified in place since the forward
        saved = ctx.owner().obj
        lay, reverse, packing = ctx.lay, ctx.reverse, ctx.packing
        need = ctx.needs_input_grad
        with on_device(x):
            if dhs is None:  # only the final state is used
                hs_a = as_array(hs)
                dhs_a = array_module(hs_a).zeros(hs_a.shape, hs_a.dtype)
            else:
                dhs_a = as_array(dhs, "grad of output")
                if reverse:
                    dhs_a = _flip_time(dhs_a, packing)
            dhT_a = as_array(dhT)
            backward = _BACKWARD[packing is not None, lay.kind]
            if lay.kind == "lstm":
                dxs, dWx, dWh, db, dh0, dc0 = backward(dhs_a, dhT_a, as_array(dcT), saved)
            else:
                dc0 = None
                dxs, dWx, dWh, db, dh0 = backward(dhs_a, dhT_a, saved)
            has_h0, has_c0, has_b = ctx.has
            dx = None
            if need[3]:
                dx = as_tensor(_flip_time(dxs, packing) if reverse else dxs)
            dw_ih = as_tensor(weight_grad_to_torch(dWx, lay)) if need[6] else None
            dw_hh = as_tensor(weight_grad_to_torch(dWh, lay)) if need[7] else None
            db_ih = db_hh = None
            if has_b and (need[8] or need[9]):
                db_ih, db_hh = (as_tensor(g) for g in bias_grad_to_torch(db, lay))
            dh0 = as_tensor(dh0) if has_h0 and need[4] else None
            dc0 = as_tensor(dc0) if has_c0 and need[5] else None
        return None, None, None, dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh


def _layer(lay, reverse, packing, x, h0, c0, weights):
    """One layer, one direction, through autograd when a gradient is wanted, else straight."""
    tensors = (x, h0, c0) + weights
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        out = _RecurrentFunction.apply(lay, reverse, packing, x, h0, c0, *weights)
        return out if lay.kind == "lstm" else (out[0], out[1], None)
    hs, hT, cT, _ = _run_forward(lay, reverse, packing, x, h0, c0, *weights, False)
    return hs, hT, cT


class _PyrnnRecurrent:
    """The forward shared by LSTM, GRU and RNN (a mixin before torch's class)."""

    _layout = None  # a _layout.Layout, set by each class

    def _hidden(self, name, h, batched, N, like):
        """Check one initial state tensor, (L*dirs, N, H) or unbatched (L*dirs, H); -> 3-D or None."""
        if h is None:
            return None
        shape = (self.num_layers * (2 if self.bidirectional else 1), N, self.hidden_size)
        check_tensor(name, h, dtype=like.dtype, device=like.device)
        want = shape if batched else (shape[0], shape[2])
        if tuple(h.shape) != want:
            kind = "(num_layers * num_directions, N, hidden_size)" if batched else \
                "(num_layers * num_directions, hidden_size) for unbatched input"
            raise ValueError(f"{name}: expected shape {want} {kind}, got shape {tuple(h.shape)}")
        return h if batched else h.unsqueeze(1)

    def _states(self, hx, batched, N, like):
        """hx as the module takes it -> (h0, c0), each (L*dirs, N, H) or None."""
        name = type(self).__name__
        if self._layout.kind == "lstm":
            if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"hx: {name} expects a tuple (h_0, c_0) or None, got {type(hx).__name__}")
            h0, c0 = (None, None) if hx is None else (self._hidden("h_0", hx[0], batched, N, like),
                                                       self._hidden("c_0", hx[1], batched, N, like))
            if (h0 is None) != (c0 is None):
                raise TypeError("hx: (h_0, c_0) must both be tensors")
            return h0, c0
        if isinstance(hx, (tuple, list)):
            raise TypeError(f"hx: {name} expects one tensor h_0 or None, got a {type(hx).__name__}")
        return self._hidden("hx", hx, batched, N, like), None

    def _params(self, layer, direction):
        s = f"_l{layer}{'_reverse' if direction else ''}"
        w = (getattr(self, "weight_ih" + s), getattr(self, "weight_hh" + s))
        return w + ((getattr(self, "bias_ih" + s), getattr(self, "bias_hh" + s)) if self.bias else (None, None))

    def _stack(self, x, h0, c0, packing):
        """The layers and directions over x (N, T, K), or packed rows (P, K) with `packing`
        -> output (N, T, dirs*H) or (P, dirs*H), h_n (L*dirs, N, H), c_n or None."""
        lay = self._layout
        dirs = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                i = layer * dirs + d
                hs, hT, cT = _layer(lay, d == 1, packing, x, None if h0 is None else h0[i],
                                    None if c0 is None else c0[i], self._params(layer, d))
                outs.append(hs)
                h_n.append(hT)
                c_n.append(cT)
            x = outs[0] if dirs == 1 else torch.cat(outs, dim=x.dim() - 1)  # (..., dirs * H)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                x = torch.nn.functional.dropout(x, self.dropout, training=True)
        stack = (lambda ts: ts[0].unsqueeze(0)) if len(h_n) == 1 else torch.stack
        h_n = stack(h_n)  # (num_layers * dirs, N, H)
        c_n = stack(c_n) if lay.kind == "lstm" else None
        return x, h_n, c_n

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        lay = self._layout
        x = input
        w0 = self.weight_ih_l0
        check_tensor("input", x, dtype=w0.dtype, device=w0.device)
        seq = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
        if x.dim() not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(f"input: expected shape {seq} or unbatched (T, input_size), with input_size = "
                             f"{self.input_size}; got shape {tuple(x.shape)}")
        batched = x.dim() == 3
        if not batched:
            x = x.unsqueeze(0 if self.batch_first else 1)
        if not self.batch_first:
            x = x.transpose(0, 1)  # (N, T, K): a view; the op copies it to batch-major once
        h0, c0 = self._states(hx, batched, x.shape[0], w0)
        x, h_n, c_n = self._stack(x, h0, c0, None)
        out = x if self.batch_first else x.transpose(0, 1).contiguous()  # torch returns it contiguous
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        return out, ((h_n, c_n) if lay.kind == "lstm" else h_n)

    def _forward_packed(self, input, hx):
        """PackedSequence input: the packed ops over input.data (P, input_size), sorted by length;
        hx in the caller's batch order (taken through sorted_indices), h_n/c_n given back in it
        (through unsorted_indices); the output a PackedSequence with the input's batch_sizes and
        indices. batch_first does not apply (packed data is time-major), as in torch."""
        lay = self._layout
        data, batch_sizes, sorted_indices, unsorted_indices = input
        w0 = self.weight_ih_l0
        check_tensor("input.data", data, dtype=w0.dtype, device=w0.device)
        if data.dim() != 2 or data.shape[-1] != self.input_size:
            raise ValueError(f"input.data: expected shape (P, input_size) with input_size = {self.input_size}; "
                             f"got shape {tuple(data.shape)}")
        packing = _Packing(batch_sizes.cpu().numpy())
        N = int(packing.batch_sizes[0]) if len(packing.batch_sizes) else 0
        h0, c0 = self._states(hx, True, N, w0)
        if sorted_indices is not None:  # the caller's order -> the packed (length-sorted) order
            h0 = None if h0 is None else h0.index_select(1, sorted_indices)
            c0 = None if c0 is None else c0.index_select(1, sorted_indices)
        out, h_n, c_n = self._stack(data, h0, c0, packing)
        if unsorted_indices is not None:
            h_n = h_n.index_select(1, unsorted_indices)
            c_n = None if c_n is None else c_n.index_select(1, unsorted_indices)
        out = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
        return out, ((h_n, c_n) if lay.kind == "lstm" else h_n)


class LSTM(_PyrnnRecurrent, torch.nn.LSTM):
    """torch.nn.LSTM on pyrnn's kernels: same arguments, parameters, inputs and outputs
    (PackedSequence included; proj_size must be 0)."""

    _layout = LAYOUTS["lstm"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.proj_size != 0:
            raise ValueError(f"proj_size: pyrnn's LSTM has no output projection; expected 0, got {self.proj_size}")


class GRU(_PyrnnRecurrent, torch.nn.GRU):
    """torch.nn.GRU on pyrnn's reset-after GRU kernels (torch's and cuDNN's variant)."""

    _layout = LAYOUTS["gru"]


class RNN(_PyrnnRecurrent, torch.nn.RNN):
    """torch.nn.RNN on pyrnn's tanh RNN kernels (nonlinearity='relu' is not supported)."""

    _layout = LAYOUTS["rnn"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.nonlinearity != "tanh":
            raise ValueError(f"nonlinearity: pyrnn's RNN kernels are tanh only; got {self.nonlinearity!r} "
                             f"(use torch.nn.RNN for a ReLU RNN)")
