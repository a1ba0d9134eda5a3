// The norm ops on the GPU: layer normalisation over the last axis, forward and backward; the math of
// the C++ CPU kernel (cpp/include/pyrnn/norm.hpp) and of the reference (pyrnn/reference/norm.py):
//   y = (x - mean) * rstd * gamma + beta,   rstd = 1 / sqrt(var + eps),  var biased (divide by D).
//
// The forward keeps only the mean and 1/std per row (each rounded to T; the backward recomputes
// xhat = (x - mean) * rstd from x with the same rounding). The row statistics are summed in double
// (a float32 row with mean 1000 keeps its mean to half an ulp) and the variance is a second pass over
// the centred row (no E[x^2] - E[x]^2 cancellation).
//
// One thread block per row (kLayerNormBlock threads, strided over D, a fixed-order shared-memory
// tree): the row-kernel pattern of core/softmax_rows.cu, any D >= 1. dgamma and dbeta are sums
// over all rows: each fixed chunk of kLayerNormRowsPerChunk rows sums its rows, in row order, into a
// double partial per column, and the partials are added in chunk order, as the CPU kernel does. Every
// sum runs in a fixed order (no atomics): bitwise the same on every run.
#pragma once
#include "pyrnn_cuda/core/op.cuh"

namespace pyrnn_cuda {

// rows per dgamma/dbeta partial: fixed (the CPU kernel's kRowsPerChunk), so the partials, and the
// order they are added in, depend only on the shape
constexpr idx kLayerNormRowsPerChunk = 64;

// x (R, D), gamma (D), beta (D) -> y (R, D), mean (R), rstd (R); R == 0 does nothing (no launch)
#define PYRNN_CUDA_LAYER_NORM_FORWARD_ARGS(X)    \
  X(size, R) X(positive, D)                      \
  X(in, x) X(in, gamma) X(in, beta) X(real, eps) \
  X(out, y) X(out, mean) X(out, rstd)
PYRNN_CUDA_DECLARE_OP(layer_norm_forward, LayerNormForwardArgs, PYRNN_CUDA_LAYER_NORM_FORWARD_ARGS);

// dy, x (R, D), mean, rstd (R), gamma (D) -> dx (R, D), dgamma (D), dbeta (D); workspace part
// (ceil(R / kLayerNormRowsPerChunk), 2, D) doubles: each chunk's dgamma and dbeta partials.
// R == 0: dgamma = dbeta = 0 (a memset, no launch).
#define PYRNN_CUDA_LAYER_NORM_BACKWARD_ARGS(X)             \
  X(size, R) X(positive, D)                                \
  X(in, dy) X(in, x) X(in, mean) X(in, rstd) X(in, gamma)  \
  X(out, dx) X(out, dgamma) X(out, dbeta) X(out_f64, part)
PYRNN_CUDA_DECLARE_OP(layer_norm_backward, LayerNormBackwardArgs, PYRNN_CUDA_LAYER_NORM_BACKWARD_ARGS);

}  // namespace pyrnn_cuda
