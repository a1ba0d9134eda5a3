// GRU over a whole sequence on the GPU, forward and backward (BPTT); the math of
// cpp/include/pyrnn/gru.hpp. Gates [z, r, n], h_t = (1 - z) h_{t-1} + z n.
//   reset_after = false (the book, Cho et al.): n = tanh(x Wxn + bn + (r * h) Whn);  b (3H) all input bias.
//   reset_after = true (cuDNN, PyTorch, Keras): n = tanh(x Wxn + b0n + r * (h Whn + b1n));
//                                               b (2, 3H): b[0] input bias, b[1] recurrent bias.
// Batch-major: xs (N, T, D), hs (N, T, H). Device pointers; outputs and workspaces allocated by the
// caller; optional inputs null when absent.
#pragma once
#include "pyrnn_cuda/blas.cuh"

namespace pyrnn_cuda {

// xs (N,T,D), Wx (D,3H), Wh (H,3H), b (3H) or (2,3H) with reset_after | null, h0 (N,H)|null
// -> hs (N,T,H), hT (N,H);
// gates (N,T,3H): always given; the input projections land there, and in training (extra non-null)
// it keeps the activated gates [z,r,n]; extra (N,T,H), training only: r * h_{t-1} (reset_before: the
// input of Whn) or h_{t-1} Whn + b1n (reset_after);
// scratch: reset_after (N,3H) for h_{t-1} Wh; reset_before inference (N,H) for r * h_{t-1}; else unused
template <typename T>
void gru_forward(const Session& s, idx N, idx Tn, idx D, idx H, bool reset_after, const T* xs, const T* Wx,
                 const T* Wh, const T* b, const T* h0, T* hs, T* hT, T* gates, T* extra, T* scratch);

// saved: xs (N,T,D), Wx (D,3H), Wh (H,3H), h0 (N,H)|null, hs (N,T,H), gates (N,T,3H), extra (N,T,H);
// grads in: dhs (N,T,H), dhT (N,H)|null
// -> dxs (N,T,D), dWx (D,3H), dWh (H,3H), db (3H) or (2,3H) with reset_after | null, dh0 (N,H);
// workspace: dAx (N,T,3H) gradient of x Wx + b_in; dAh (N,T,3H) reset_after only, gradient of
// h Wh + b_rec; drh (N,H) reset_before only, gradient of r * h_{t-1}; hprev (N,T,H)
template <typename T>
void gru_backward(const Session& s, idx N, idx Tn, idx D, idx H, bool reset_after, const T* xs, const T* Wx,
                  const T* Wh, const T* h0, const T* hs, const T* gates, const T* extra, const T* dhs, const T* dhT,
                  T* dxs, T* dWx, T* dWh, T* db, T* dh0, T* dAx, T* dAh, T* drh, T* hprev);

}  // namespace pyrnn_cuda
