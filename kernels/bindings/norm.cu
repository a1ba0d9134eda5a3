// The norm ops of pyrnn._cuda (kernels/include/pyrnn_cuda/norm.cuh).
#include "bindings.cuh"
#include "pyrnn_cuda/norm.cuh"

namespace pyrnn_cuda {

void bind_norm(pybind11::module_& m) {
  // the rows per dgamma/dbeta partial: layer_norm_backward's `part` is (ceil(R / this), 2, D) float64
  m.attr("layer_norm_rows_per_chunk") = kLayerNormRowsPerChunk;
  PYRNN_CUDA_BIND_PAIR(m, layer_norm, LayerNorm);
}

}  // namespace pyrnn_cuda
