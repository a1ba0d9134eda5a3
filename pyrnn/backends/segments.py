"""Packed sequences on a backend's whole-sequence kernels, segment by segment.

A packed batch (`pyrnn.backends.contract`: sequences sorted by length, longest first, steps stacked
time-major) changes its batch only where a sequence ends. Between two such steps every step has the
same rows, so that run of steps is a whole batch of equal-length sequences: the backend's own
whole-sequence op runs it, on only the sequences still running, starting from their states at the
segment's start. `packed_ops` turns a backend's ``<op>_forward`` / ``<op>_backward`` into
``<op>_packed_forward`` / ``<op>_packed_backward`` this way; a backend with a packed kernel of its own
defines those instead. Padded steps cost nothing either way; here each segment pays one kernel
launch (and the weight gradients one addition), so many distinct lengths cost more than one packed
kernel would.
"""
from __future__ import annotations

from .._arrays import get_xp


def segments(batch_sizes):
    """batch_sizes (T,) -> [(first packed row, steps, rows per step)] of the runs of equal sizes."""
    out, start, t = [], 0, 0
    while t < len(batch_sizes):
        n, steps = int(batch_sizes[t]), 1
        while t + steps < len(batch_sizes) and int(batch_sizes[t + steps]) == n:
            steps += 1
        out.append((start, steps, n))
        start, t = start + steps * n, t + steps
    return out


def _batch_major(packed, start, steps, n):
    # packed rows [start, start + steps * n) (step-major) -> (n, steps, K), C-contiguous
    xp = get_xp(packed)
    return xp.ascontiguousarray(packed[start:start + steps * n].reshape(steps, n, -1).transpose(1, 0, 2))


def _packed_rows(a):
    # (n, steps, K) -> (steps * n, K): the segment's rows back in packed order
    n, steps, K = a.shape
    return a.transpose(1, 0, 2).reshape(steps * n, K)


def packed_ops(whole_forward, whole_backward, n_states):
    """(packed_forward, packed_backward) for a recurrent op with `n_states` states (h; or h and c),
    running each segment of a packed batch through the whole-sequence op pair given. Options after
    the states (GRU's reset_after) pass through."""

    def packed_forward(xs, batch_sizes, Wx, Wh, b, *rest):
        # xs (P, D), batch_sizes (T,), states (N, H) or None, then options and train
        states, options, train = rest[:n_states], rest[n_states:-1], rest[-1]
        xp = get_xp(xs)
        H = Wh.shape[0]
        N = int(batch_sizes[0]) if len(batch_sizes) else (0 if states[0] is None else states[0].shape[0])
        # the running states, row n = sequence n (a copy: the caller's arrays stay as they are)
        running = [xp.zeros((N, H), dtype=xs.dtype) if s is None else s.copy() for s in states]
        initial = [s.copy() for s in running]
        hs = xp.empty((xs.shape[0], H), dtype=xs.dtype)
        saved_segments = []
        for start, steps, n in segments(batch_sizes):
            # the segment's initial states as copies: a backend may keep its inputs in `saved`, and
            # `running` changes under it
            hs_seg, *finals, saved = whole_forward(_batch_major(xs, start, steps, n), Wx, Wh, b,
                                                   *(s[:n].copy() for s in running), *options, train)
            hs[start:start + steps * n] = _packed_rows(hs_seg)
            for s, final in zip(running, finals):
                s[:n] = final
            saved_segments.append((start, steps, n, saved))
        shapes = (Wx.shape, Wh.shape, None if b is None else b.shape)  # for zero gradients when P = 0
        saved = (saved_segments, initial, xs.shape, shapes) if train else None
        return (hs, *running, saved)

    def packed_backward(dhs, *rest):
        # dhs (P, H), the final states' gradients (N, H) or None, saved
        dfinals, (saved_segments, initial, xs_shape, shapes) = rest[:n_states], rest[n_states]
        xp = get_xp(dhs)
        N, H = initial[0].shape
        # row n: the gradient reaching sequence n's latest states, from later segments (or dhT)
        carried = [xp.zeros((N, H), dtype=dhs.dtype) if d is None else d.copy() for d in dfinals]
        dxs = xp.empty(xs_shape, dtype=dhs.dtype)
        dWx = dWh = db = None
        for start, steps, n, saved in reversed(saved_segments):
            dxs_seg, dWx_s, dWh_s, db_s, *dstates = whole_backward(
                _batch_major(dhs, start, steps, n), *(d[:n] for d in carried), saved)
            dxs[start:start + steps * n] = _packed_rows(dxs_seg)
            for d, ds in zip(carried, dstates):
                d[:n] = ds
            if dWx is None:
                dWx, dWh, db = dWx_s, dWh_s, db_s
            else:
                dWx += dWx_s
                dWh += dWh_s
                if db is not None:
                    db += db_s
        if dWx is None:  # no steps at all: zero weight gradients
            dWx, dWh, db = (None if shape is None else xp.zeros(shape, dtype=dhs.dtype) for shape in shapes)
        return (dxs, dWx, dWh, db, *carried)

    return packed_forward, packed_backward
