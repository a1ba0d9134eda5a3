// Layer normalisation over the last axis, forward and backward: the math of the C++ CPU kernel
// (cpp/include/pyrnn/layer_norm.hpp) and of the reference (pyrnn/reference/layer_norm.py):
//   y = (x - mean) * rstd * gamma + beta,   rstd = 1 / sqrt(var + eps),  var biased (divide by D).
//
// The forward keeps only the mean and 1/std per row (each rounded to T; the backward recomputes
// xhat = (x - mean) * rstd from x with the same rounding). The row statistics are summed in double
// (a float32 row with mean 1000 keeps its mean to half an ulp) and the variance is a second pass over
// the centred row (no E[x^2] - E[x]^2 cancellation).
//
// One thread block per row (kLayerNormBlock threads, strided over D, a fixed-order shared-memory
// tree): the existing row-kernel pattern of softmax_rows.cu, any D >= 1. dgamma and dbeta are sums
// over all rows: each fixed chunk of kLayerNormRowsPerChunk rows sums its rows, in row order, into a
// double partial per column, and the partials are added in chunk order, as the CPU kernel does. Every
// sum runs in a fixed order (no atomics): bitwise the same on every run.
#pragma once
#include "pyrnn_cuda/blas.cuh"

namespace pyrnn_cuda {

// rows per dgamma/dbeta partial: fixed (the CPU kernel's kRowsPerChunk), so the partials, and the
// order they are added in, depend only on the shape
constexpr idx kLayerNormRowsPerChunk = 64;

// x (R, D), gamma (D), beta (D) -> y (R, D), mean (R), rstd (R); R == 0 does nothing (no launch)
template <typename T>
void layer_norm_forward(const Session& s, idx R, idx D, const T* x, const T* gamma, const T* beta, double eps, T* y,
                        T* mean, T* rstd);

// dy, x (R, D), mean, rstd (R), gamma (D) -> dx (R, D), dgamma (D), dbeta (D); workspace part
// (ceil(R / kLayerNormRowsPerChunk), 2, D) doubles: each chunk's dgamma and dbeta partials.
// R == 0: dgamma = dbeta = 0 (a memset, no launch).
template <typename T>
void layer_norm_backward(const Session& s, idx R, idx D, const T* dy, const T* x, const T* mean, const T* rstd,
                         const T* gamma, T* dx, T* dgamma, T* dbeta, double* part);

}  // namespace pyrnn_cuda
