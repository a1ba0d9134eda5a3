"""The op contract: every backend implements these functions with these signatures.

Shapes follow the book (batch-major). All float arguments of one call share one
dtype (float32 or float64) and one array module (NumPy or CuPy); outputs have
that dtype. `pyrnn.ops` validates arguments before a backend is called, so
backends may assume valid input. Optional arrays are ``None`` when absent:
``h0``/``c0`` None means zeros, ``dhT``/``dcT`` None means no gradient flows in
from the final state, ``b`` None means no bias (and its gradient is None).
``saved`` is whatever the backward needs; its content is the backend's
business. ``train=False`` saves nothing (``saved`` is None).

Recurrent ops (LSTM gates [f, g, i, o]; GRU gates [z, r, n],
h' = (1 - z) * h + z * n):

  rnn_forward(xs, Wx, Wh, b, h0, train)           -> hs, hT, saved
      xs (N, T, D), Wx (D, H), Wh (H, H), b (H,), h0 (N, H); hs (N, T, H), hT (N, H)
  rnn_backward(dhs, dhT, saved)                   -> dxs, dWx, dWh, db, dh0
  lstm_forward(xs, Wx, Wh, b, h0, c0, train)      -> hs, hT, cT, saved
      Wx (D, 4H), Wh (H, 4H), b (4H,), c0 (N, H)
  lstm_backward(dhs, dhT, dcT, saved)             -> dxs, dWx, dWh, db, dh0, dc0
  gru_forward(xs, Wx, Wh, b, h0, reset_after, train) -> hs, hT, saved
      Wx (D, 3H), Wh (H, 3H); b (3H,) when reset_after is False (the book, Cho et al.:
      n = tanh(x Wxn + (r * h) Whn + bn)); b (2, 3H) when True (cuDNN/PyTorch/Keras:
      b[0] input bias, b[1] recurrent bias, n = tanh(x Wxn + b0n + r * (h Whn + b1n)))
  gru_backward(dhs, dhT, saved)                   -> dxs, dWx, dWh, db, dh0

Packed sequences of different lengths (PyTorch's PackedSequence layout, cuDNN's packed input): the
sequences sorted by length, longest first, their steps stacked time-major. batch_sizes (T,) is a host
(NumPy) int64 array, non-increasing, >= 1, summing to P; step t has batch_sizes[t] rows, the first
batch_sizes[t] sequences (the ones longer than t), so a finished sequence's state stops changing.
h0/c0 (N, H) with N = batch_sizes[0]; hT/cT (N, H) are each sequence's state after its last step.

  rnn_packed_forward(xs, batch_sizes, Wx, Wh, b, h0, train)            -> hs, hT, saved
      xs (P, D); hs (P, H)
  rnn_packed_backward(dhs, dhT, saved)            -> dxs, dWx, dWh, db, dh0
  lstm_packed_forward(xs, batch_sizes, Wx, Wh, b, h0, c0, train)       -> hs, hT, cT, saved
  lstm_packed_backward(dhs, dhT, dcT, saved)      -> dxs, dWx, dWh, db, dh0, dc0
  gru_packed_forward(xs, batch_sizes, Wx, Wh, b, h0, reset_after, train) -> hs, hT, saved
  gru_packed_backward(dhs, dhT, saved)            -> dxs, dWx, dWh, db, dh0

Word-level ops:

  embedding_forward(W, idx)                       -> out, saved
      W (V, D), idx integer (...); out (..., D)
  embedding_backward(dout, saved)                 -> dW     (V, D), deterministic scatter-add
  affine_forward(x, W, b)                         -> out, saved
      x (..., D), W (D, M), b (M,) or None; out (..., M)
  affine_backward(dout, saved)                    -> dx, dW, db
  softmax_forward(x)                              -> y, saved       softmax over the last axis
  softmax_backward(dy, saved)                     -> dx
  softmax_cross_entropy_forward(xs, ts, ignore_label) -> loss, saved
      xs (..., V) scores, ts (...) integer labels; loss is the mean over labels != ignore_label
      (0.0 when every label is ignored); a 0-d array of xs's dtype
  softmax_cross_entropy_backward(dloss, saved)    -> dxs
  sigmoid_cross_entropy_forward(xs, ts)           -> loss, saved
      xs (...) scores, ts (...) targets in [0, 1]; loss is the mean over all elements
  sigmoid_cross_entropy_backward(dloss, saved)    -> dxs
  dropout_forward(x, ratio, train, rng)           -> y, saved
      inverted dropout: kept elements scaled by 1 / (1 - ratio); rng None draws the mask
      from the array module's global RNG like the book (`xp.random.rand(*x.shape) > ratio`),
      else from the given numpy/cupy Generator; train False is the identity
  dropout_backward(dy, saved)                     -> dx

Attention ops (masks are bool, True = attend, False = padding; a query whose
keys are all masked gets zero weights and a zero output):

  attention_weights_forward(hs, hq, mask)         -> a, saved
      hs (N, Te, H) encoder states, hq (N, Td, H) queries, mask (N, Te); a (N, Td, Te)
      a = softmax over Te of <hq, hs>   (the book's AttentionWeight, all steps at once)
  attention_weights_backward(da, saved)           -> dhs, dhq
  weighted_sum_forward(hs, a)                     -> c, saved
      c (N, Td, H) = a @ hs   (the book's WeightSum, all steps at once)
  weighted_sum_backward(dc, saved)                -> dhs, da
  attention_forward(hs, hq, mask, train)          -> c, a, saved
      the two above fused (the book's Attention / TimeAttention)
  attention_backward(dc, saved)                   -> dhs, dhq
  sdpa_forward(q, k, v, mask, causal, train)      -> out, saved
      scaled dot-product attention per head: q (N, Hh, Tq, dk), k (N, Hh, Tk, dk),
      v (N, Hh, Tk, dv), mask (N, Tk) key padding; causal masks key j > query i
      (requires Tq == Tk); out (N, Hh, Tq, dv)
  sdpa_backward(dout, saved)                      -> dq, dk, dv
  layer_norm_forward(x, gamma, beta, eps)         -> y, saved
      x (..., D), gamma (D,), beta (D,), normalised over the last axis
  layer_norm_backward(dy, saved)                  -> dx, dgamma, dbeta
"""


from __future__ import annotations

from typing import NamedTuple


class Op(NamedTuple):
    """A row of the op table: the op's name, its family (the file it lives in, in every tree), and
    the names of its forward results (before ``saved``) and of its backward results."""
    name: str
    family: str
    outputs: tuple
    grads: tuple


# The op table: the one list of ops. pyrnn.ops, the registry, every backend package's exports,
# the reference and the tests read it; adding an op starts with a row here (docs/architecture.md).
OPS = (
    Op("rnn", "recurrent", ("hs", "hT"), ("dxs", "dWx", "dWh", "db", "dh0")),
    Op("lstm", "recurrent", ("hs", "hT", "cT"), ("dxs", "dWx", "dWh", "db", "dh0", "dc0")),
    Op("gru", "recurrent", ("hs", "hT"), ("dxs", "dWx", "dWh", "db", "dh0")),
    Op("rnn_packed", "recurrent", ("hs", "hT"), ("dxs", "dWx", "dWh", "db", "dh0")),
    Op("lstm_packed", "recurrent", ("hs", "hT", "cT"), ("dxs", "dWx", "dWh", "db", "dh0", "dc0")),
    Op("gru_packed", "recurrent", ("hs", "hT"), ("dxs", "dWx", "dWh", "db", "dh0")),
    Op("embedding", "words", ("out",), ("dW",)),
    Op("affine", "words", ("out",), ("dx", "dW", "db")),
    Op("softmax", "words", ("y",), ("dx",)),
    Op("softmax_cross_entropy", "words", ("loss",), ("dxs",)),
    Op("sigmoid_cross_entropy", "words", ("loss",), ("dxs",)),
    Op("dropout", "words", ("y",), ("dx",)),
    Op("attention_weights", "attention", ("a",), ("dhs", "dhq")),
    Op("weighted_sum", "attention", ("c",), ("dhs", "da")),
    Op("attention", "attention", ("c", "a"), ("dhs", "dhq")),
    Op("sdpa", "attention", ("out",), ("dq", "dk", "dv")),
    Op("layer_norm", "norm", ("y",), ("dx", "dgamma", "dbeta")),
)
FAMILIES = ("recurrent", "words", "attention", "norm")
BY_NAME = {op.name: op for op in OPS}


def functions(family=None):
    """The contract's function names (``<op>_forward``, ``<op>_backward``), of one family or all."""
    return tuple(f"{op.name}_{d}" for op in OPS if family in (None, op.family) for d in ("forward", "backward"))


FUNCTIONS = functions()
