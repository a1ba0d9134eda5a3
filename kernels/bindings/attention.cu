// The attention ops of pyrnn._cuda (kernels/include/pyrnn_cuda/attention.cuh): seq2seq attention and
// scaled dot-product attention, materialised (sdpa_*) and streaming (sdpa_stream_*).
#include "bindings.cuh"
#include "pyrnn_cuda/attention.cuh"

namespace pyrnn_cuda {

void bind_attention(pybind11::module_& m) {
  PYRNN_CUDA_BIND_PAIR(m, attention_weights, AttentionWeights);
  PYRNN_CUDA_BIND_PAIR(m, weighted_sum, WeightedSum);
  PYRNN_CUDA_BIND_PAIR(m, attention, Attention);
  PYRNN_CUDA_BIND_PAIR(m, sdpa, Sdpa);
  PYRNN_CUDA_BIND_PAIR(m, sdpa_stream, SdpaStream);
}

}  // namespace pyrnn_cuda
