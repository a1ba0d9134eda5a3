// The attention ops of pyrnn._cuda (kernels/include/pyrnn_cuda/attention.cuh): seq2seq attention and
// scaled dot-product attention, materialised (sdpa_*) and streaming (sdpa_stream_*).
#include "bindings.cuh"
#include "pyrnn_cuda/attention.cuh"

namespace pyrnn_cuda {

void bind_attention(pybind11::module_& m) {
  PYRNN_CUDA_BIND_OP(m, attention_weights_forward, AttentionWeightsForwardArgs);
  PYRNN_CUDA_BIND_OP(m, attention_weights_backward, AttentionWeightsBackwardArgs);
  PYRNN_CUDA_BIND_OP(m, weighted_sum_forward, WeightedSumForwardArgs);
  PYRNN_CUDA_BIND_OP(m, weighted_sum_backward, WeightedSumBackwardArgs);
  PYRNN_CUDA_BIND_OP(m, attention_forward, AttentionForwardArgs);
  PYRNN_CUDA_BIND_OP(m, attention_backward, AttentionBackwardArgs);
  PYRNN_CUDA_BIND_OP(m, sdpa_forward, SdpaForwardArgs);
  PYRNN_CUDA_BIND_OP(m, sdpa_backward, SdpaBackwardArgs);
  PYRNN_CUDA_BIND_OP(m, sdpa_stream_forward, SdpaStreamForwardArgs);
  PYRNN_CUDA_BIND_OP(m, sdpa_stream_backward, SdpaStreamBackwardArgs);
}

}  // namespace pyrnn_cuda
