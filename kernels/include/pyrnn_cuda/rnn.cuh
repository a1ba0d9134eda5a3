// tanh RNN over a whole sequence on the GPU, forward and backward (BPTT); the math of
// cpp/include/pyrnn/rnn.hpp: h_t = tanh(x_t Wx + h_{t-1} Wh + b). Batch-major: xs (N, T, D), hs (N, T, H).
// Every pointer is device memory on the Session's device; outputs and workspaces are allocated by the
// caller (pyrnn/backends/cuda.py, from CuPy's pool). Optional inputs are null when absent.
#pragma once
#include "pyrnn_cuda/blas.cuh"

namespace pyrnn_cuda {

// xs (N,T,D), Wx (D,H), Wh (H,H), b (H)|null, h0 (N,H)|null -> hs (N,T,H), hT (N,H)
template <typename T>
void rnn_forward(const Session& s, idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh, const T* b,
                 const T* h0, T* hs, T* hT);

// saved: xs (N,T,D), Wx (D,H), Wh (H,H), h0 (N,H)|null, hs (N,T,H); grads in: dhs (N,T,H), dhT (N,H)|null
// -> dxs (N,T,D), dWx (D,H), dWh (H,H), db (H)|null, dh0 (N,H); workspace dA (N,T,H), hprev (N,T,H)
template <typename T>
void rnn_backward(const Session& s, idx N, idx Tn, idx D, idx H, const T* xs, const T* Wx, const T* Wh, const T* h0,
                  const T* hs, const T* dhs, const T* dhT, T* dxs, T* dWx, T* dWh, T* db, T* dh0, T* dA, T* hprev);

}  // namespace pyrnn_cuda
