// The recurrent ops on the GPU: tanh RNN, LSTM and GRU over whole sequences, forward and backward
// (BPTT); the math of cpp/include/pyrnn/recurrent.hpp and pyrnn/reference/recurrent.py.
//   RNN:  h_t = tanh(x_t Wx + h_{t-1} Wh + b).
//   LSTM: gates in the book's order [f, g, i, o]: c_t = f * c_{t-1} + g * i, h_t = o * tanh(c_t).
//   GRU:  gates [z, r, n], h_t = (1 - z) h_{t-1} + z n;
//     reset_after = false (the book, Cho et al.): n = tanh(x Wxn + bn + (r * h) Whn);  b (3H) all input bias.
//     reset_after = true (cuDNN, PyTorch, Keras): n = tanh(x Wxn + b0n + r * (h Whn + b1n));
//                                                 b (2, 3H): b[0] input bias, b[1] recurrent bias.
// Batch-major: xs (N, T, D), hs (N, T, H). Every pointer is device memory on the Session's device;
// outputs and workspaces are allocated by the caller (pyrnn/backends/cuda/, from CuPy's pool).
// Optional inputs are null when absent. Each op's arguments: core/op.cuh.
#pragma once
#include "pyrnn_cuda/core/op.cuh"

namespace pyrnn_cuda {

// ---- tanh RNN ----

// xs (N,T,D), Wx (D,H), Wh (H,H), b (H)|null, h0 (N,H)|null -> hs (N,T,H), hT (N,H)
#define PYRNN_CUDA_RNN_FORWARD_ARGS(X)             \
  X(size, N) X(size, T) X(size, D) X(positive, H)  \
  X(in, xs) X(in, Wx) X(in, Wh) X(in, b) X(in, h0) \
  X(out, hs) X(out, hT)
PYRNN_CUDA_DECLARE_OP(rnn_forward, RnnForwardArgs, PYRNN_CUDA_RNN_FORWARD_ARGS);

// saved: xs (N,T,D), Wx (D,H), Wh (H,H), h0 (N,H)|null, hs (N,T,H); grads in: dhs (N,T,H), dhT (N,H)|null
// -> dxs (N,T,D), dWx (D,H), dWh (H,H), db (H)|null, dh0 (N,H); workspace dA (N,T,H), hprev (N,T,H)
#define PYRNN_CUDA_RNN_BACKWARD_ARGS(X)                                               \
  X(size, N) X(size, T) X(size, D) X(positive, H)                                     \
  X(in, xs) X(in, Wx) X(in, Wh) X(in, h0) X(in, hs) X(in, dhs) X(in, dhT)             \
  X(out, dxs) X(out, dWx) X(out, dWh) X(out, db) X(out, dh0) X(out, dA) X(out, hprev)
PYRNN_CUDA_DECLARE_OP(rnn_backward, RnnBackwardArgs, PYRNN_CUDA_RNN_BACKWARD_ARGS);

// ---- LSTM ----

// xs (N,T,D), Wx (D,4H), Wh (H,4H), b (4H)|null, h0,c0 (N,H)|null -> hs (N,T,H), hT,cT (N,H);
// gates (N,T,4H): always given; the input projections land there, and in training (cs non-null) it
// keeps the activated gates [f,g,i,o] for the backward; cs (N,T,H) cell states, training only
#define PYRNN_CUDA_LSTM_FORWARD_ARGS(X)                      \
  X(size, N) X(size, T) X(size, D) X(positive, H)            \
  X(in, xs) X(in, Wx) X(in, Wh) X(in, b) X(in, h0) X(in, c0) \
  X(out, hs) X(out, hT) X(out, cT) X(out, gates) X(out, cs)
PYRNN_CUDA_DECLARE_OP(lstm_forward, LstmForwardArgs, PYRNN_CUDA_LSTM_FORWARD_ARGS);

// saved: xs (N,T,D), Wx (D,4H), Wh (H,4H), h0,c0 (N,H)|null, hs,cs (N,T,H), gates (N,T,4H);
// grads in: dhs (N,T,H), dhT,dcT (N,H)|null
// -> dxs (N,T,D), dWx (D,4H), dWh (H,4H), db (4H)|null, dh0,dc0 (N,H); workspace dA (N,T,4H), hprev (N,T,H)
#define PYRNN_CUDA_LSTM_BACKWARD_ARGS(X)                                                                              \
  X(size, N) X(size, T) X(size, D) X(positive, H)                                                                     \
  X(in, xs) X(in, Wx) X(in, Wh) X(in, h0) X(in, c0) X(in, hs) X(in, cs) X(in, gates) X(in, dhs) X(in, dhT) X(in, dcT) \
  X(out, dxs) X(out, dWx) X(out, dWh) X(out, db) X(out, dh0) X(out, dc0) X(out, dA) X(out, hprev)
PYRNN_CUDA_DECLARE_OP(lstm_backward, LstmBackwardArgs, PYRNN_CUDA_LSTM_BACKWARD_ARGS);

// ---- GRU ----

// xs (N,T,D), Wx (D,3H), Wh (H,3H), b (3H) or (2,3H) with reset_after | null, h0 (N,H)|null
// -> hs (N,T,H), hT (N,H);
// gates (N,T,3H): always given; the input projections land there, and in training (extra non-null)
// it keeps the activated gates [z,r,n]; extra (N,T,H), training only: r * h_{t-1} (reset_before: the
// input of Whn) or h_{t-1} Whn + b1n (reset_after);
// scratch: reset_after (N,3H) for h_{t-1} Wh; reset_before inference (N,H) for r * h_{t-1}; else unused
#define PYRNN_CUDA_GRU_FORWARD_ARGS(X)                                 \
  X(size, N) X(size, T) X(size, D) X(positive, H) X(flag, reset_after) \
  X(in, xs) X(in, Wx) X(in, Wh) X(in, b) X(in, h0)                     \
  X(out, hs) X(out, hT) X(out, gates) X(out, extra) X(out, scratch)
PYRNN_CUDA_DECLARE_OP(gru_forward, GruForwardArgs, PYRNN_CUDA_GRU_FORWARD_ARGS);

// saved: xs (N,T,D), Wx (D,3H), Wh (H,3H), h0 (N,H)|null, hs (N,T,H), gates (N,T,3H), extra (N,T,H);
// grads in: dhs (N,T,H), dhT (N,H)|null
// -> dxs (N,T,D), dWx (D,3H), dWh (H,3H), db (3H) or (2,3H) with reset_after | null, dh0 (N,H);
// workspace: dAx (N,T,3H) gradient of x Wx + b_in; dAh (N,T,3H) reset_after only, gradient of
// h Wh + b_rec; drh (N,H) reset_before only, gradient of r * h_{t-1}; hprev (N,T,H)
#define PYRNN_CUDA_GRU_BACKWARD_ARGS(X)                                                                        \
  X(size, N) X(size, T) X(size, D) X(positive, H) X(flag, reset_after)                                         \
  X(in, xs) X(in, Wx) X(in, Wh) X(in, h0) X(in, hs) X(in, gates) X(in, extra) X(in, dhs) X(in, dhT)            \
  X(out, dxs) X(out, dWx) X(out, dWh) X(out, db) X(out, dh0) X(out, dAx) X(out, dAh) X(out, drh) X(out, hprev)
PYRNN_CUDA_DECLARE_OP(gru_backward, GruBackwardArgs, PYRNN_CUDA_GRU_BACKWARD_ARGS);

}  // namespace pyrnn_cuda
