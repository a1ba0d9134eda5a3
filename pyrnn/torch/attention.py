"""pyrnn.torch.scaled_dot_product_attention: torch.nn.functional.scaled_dot_product_attention's
signature on pyrnn's sdpa op (pyrnn.ops.sdpa_forward / sdpa_backward), for what that op expresses:
no mask, a boolean key-padding mask, or a causal mask over square scores; scale 1/sqrt(E) and no
dropout. Anything else raises, naming the argument.
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from .. import ops
from ._convert import as_array, as_tensor, check_tensor, on_device, owning_tensor

__all__ = ["scaled_dot_product_attention"]


class _SDPAFunction(torch.autograd.Function):
    """(q, k, v, key_mask, causal) -> out; q (N, Hh, L, E), k (N, Hh, S, E), v (N, Hh, S, Ev),
    key_mask (N, S) bool or None."""

    @staticmethod
    def forward(ctx, q, k, v, key_mask, causal):
        out, saved = _sdpa(q, k, v, key_mask, causal, True)
        holder, ctx.owner = owning_tensor(saved)  # freed with torch's saved tensors (see owning_tensor)
        ctx.save_for_backward(q, k, v, out, holder)  # pyrnn's saved holds views of all four (version checks)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        q = ctx.saved_tensors[0]  # raises if an input or the output was modified in place
        with on_device(q):
            dq, dk, dv = ops.sdpa_backward(as_array(dout, "grad of output"), ctx.owner().obj)
            need = ctx.needs_input_grad
            return (as_tensor(dq) if need[0] else None, as_tensor(dk) if need[1] else None,
                    as_tensor(dv) if need[2] else None, None, None)


def _sdpa(q, k, v, key_mask, causal, train):
    with on_device(q):
        out, saved = ops.sdpa_forward(as_array(q, "query"), as_array(k, "key"), as_array(v, "value"),
                                      as_array(key_mask, "attn_mask"), causal, train=train)
        return as_tensor(out), saved


def _key_padding_mask(attn_mask, ndim, N, S, device):
    """attn_mask, broadcast against the scores ((N, Hh, L, S), or (N, L, S) for 3-D inputs:
    `ndim`) as torch does, as a (N, S) key-padding mask (True = attend); raise for a mask pyrnn's
    op cannot express."""
    if not isinstance(attn_mask, torch.Tensor):
        raise TypeError(f"attn_mask: expected a bool tensor or None, got {type(attn_mask).__name__}")
    if attn_mask.dtype != torch.bool:
        raise TypeError(f"attn_mask: pyrnn takes boolean masks only (True = attend), got dtype {attn_mask.dtype}; "
                        f"an additive float mask is not supported")
    if attn_mask.device != device:
        raise ValueError(f"attn_mask: on {attn_mask.device}, but query is on {device}")
    shape = tuple(attn_mask.shape)
    full = (1,) * (ndim - len(shape)) + shape if 2 <= len(shape) <= ndim else None
    want = (N,) + (1,) * (ndim - 2) + (S,)
    if full is None or any(f not in (1, w) for f, w in zip(full, want)) or any(f != 1 for f in full[1:-1]):
        index = "[:, None, None, :]" if ndim == 4 else "[:, None, :]"
        raise ValueError(f"attn_mask: pyrnn supports key-padding masks only, broadcastable as "
                         f"{'(N, 1, 1, S)' if ndim == 4 else '(N, 1, S)'} = {want} (a mask over keys, the same "
                         f"for every head and query), got shape {shape}; torch broadcasts a 2-D mask as (L, S), "
                         f"so a (N, S) padding mask is written attn_mask{index}")
    return attn_mask.reshape(full[0], full[-1]).expand(N, S)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """softmax(query key^T / sqrt(E), masked) value, on pyrnn's kernels.

    query (N, Hh, L, E) or (N, L, E), key (N, Hh, S, E), value (N, Hh, S, Ev) (3-D alike);
    attn_mask None or a bool key-padding mask broadcastable as (N, 1, 1, S) (True = attend);
    is_causal needs L == S; dropout_p must be 0, scale None, enable_gqa False. A query whose keys
    are all masked gets a zero output (as torch's). Returns (N, Hh, L, Ev) (or (N, L, Ev)).
    """
    check_tensor("query", query)
    check_tensor("key", key, dtype=query.dtype, device=query.device)
    check_tensor("value", value, dtype=query.dtype, device=query.device)
    if dropout_p != 0.0:
        raise ValueError(f"dropout_p: pyrnn's attention has no dropout; expected 0.0, got {dropout_p}")
    if scale is not None:
        raise ValueError(f"scale: pyrnn scales by 1/sqrt(E); expected None, got {scale}")
    if enable_gqa:
        raise ValueError("enable_gqa: grouped-query attention is not supported; expected False")
    if query.dim() not in (3, 4):
        raise ValueError(f"query: expected shape (N, Hh, L, E) or (N, L, E), got shape {tuple(query.shape)}")
    unheaded = query.dim() == 3
    q, k, v = (t.unsqueeze(1) for t in (query, key, value)) if unheaded else (query, key, value)
    N, Hh, L, E = q.shape
    lead = "(N, S, E)" if unheaded else "(N, Hh, S, E)"
    if k.dim() != 4 or k.shape[:2] != (N, Hh) or k.shape[3] != E:
        raise ValueError(f"key: expected shape {lead} with N, Hh, E of query ({tuple(query.shape)}), "
                         f"got shape {tuple(key.shape)}")
    S = k.shape[2]
    if v.dim() != 4 or v.shape[:3] != (N, Hh, S):
        raise ValueError(f"value: expected shape {lead[:-2]}Ev) with N, Hh, S of key ({tuple(key.shape)}), "
                         f"got shape {tuple(value.shape)}")
    if is_causal and attn_mask is not None:
        raise ValueError("attn_mask: must be None when is_causal=True (as in torch)")
    if is_causal and L != S:
        raise ValueError(f"is_causal: pyrnn's causal mask needs L == S, got L={L}, S={S}")
    key_mask = None if attn_mask is None else _key_padding_mask(attn_mask, query.dim(), N, S, query.device)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        out = _SDPAFunction.apply(q, k, v, key_mask, bool(is_causal))
    else:
        out, _ = _sdpa(q, k, v, key_mask, bool(is_causal), False)
    return out.squeeze(1) if unheaded else out
