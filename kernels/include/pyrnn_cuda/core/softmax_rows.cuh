// Softmax over the last axis of a (rows, cols) score buffer, with attention's masks, and its
// backward: the row kernels of seq2seq attention and scaled dot-product attention (the reference's
// _masked_softmax and softmax_backward, pyrnn/reference/attention.py and losses.py).
//
// A masked score gets weight exactly 0; a row with every key masked gets all-zero weights (not the
// 0/0 = NaN of a plain softmax), hence zero gradients. One thread block per row, sums in a fixed
// order (per-thread strided partial sums, then a shared-memory tree): bitwise the same on every run.
#pragma once
#include "pyrnn_cuda/core/blas.cuh"

namespace pyrnn_cuda {

// s (rows, cols) scores -> weights, in place. keep (rows / rows_per_keep, cols) bool | null: row r
// uses keep row r / rows_per_keep (True = attend). causal_Tq > 0: row r is query i = r % causal_Tq,
// which sees keys j <= i only; 0: no causal mask.
template <typename T>
void masked_softmax_rows(const Session& s, idx rows, idx cols, T* scores, const bool* keep, idx rows_per_keep,
                         idx causal_Tq);

// a, da (rows, cols) -> ds (rows, cols) = scale * a * (da - rowsum(a * da)); ds may be da (in place)
template <typename T>
void softmax_rows_backward(const Session& s, idx rows, idx cols, const T* a, const T* da, T* ds, T scale);

}  // namespace pyrnn_cuda
