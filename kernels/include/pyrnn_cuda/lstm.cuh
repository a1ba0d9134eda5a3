// LSTM over a whole sequence on the GPU, forward and backward (BPTT); the math of
// cpp/include/pyrnn/lstm.hpp. Gates in the book's order [f, g, i, o]: c_t = f * c_{t-1} + g * i,
// h_t = o * tanh(c_t). Batch-major: xs (N, T, D), hs (N, T, H). Device pointers; outputs and
// workspaces allocated by the caller; optional inputs null when absent.
#pragma once
#include "pyrnn_cuda/blas.cuh"

namespace pyrnn_cuda {

// xs (N,T,D), Wx (D,4H), Wh (H,4H), b (4H)|null, h0,c0 (N,H)|null -> hs (N,T,H), hT,cT (N,H);
// gates (N,T,4H): always given; the input projections land there, and in training (cs non-null) it
// keeps the activated gates [f,g,i,o] for the backward; cs (N,T,H) cell states, training only
template <typename T>
void lstm_forward(const Session& s, idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh, const T* b,
                  const T* h0, const T* c0, T* hs, T* hT, T* cT, T* gates, T* cs);

// saved: xs (N,T,D), Wx (D,4H), Wh (H,4H), h0,c0 (N,H)|null, hs,cs (N,T,H), gates (N,T,4H);
// grads in: dhs (N,T,H), dhT,dcT (N,H)|null
// -> dxs (N,T,D), dWx (D,4H), dWh (H,4H), db (4H)|null, dh0,dc0 (N,H); workspace dA (N,T,4H), hprev (N,T,H)
template <typename T>
void lstm_backward(const Session& s, idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh,
                   const T* h0, const T* c0, const T* hs, const T* cs, const T* gates, const T* dhs, const T* dhT,
                   const T* dcT, T* dxs, T* dWx, T* dWh, T* db, T* dh0, T* dc0, T* dA, T* hprev);

}  // namespace pyrnn_cuda
