// The recurrent ops of pyrnn._cuda (kernels/include/pyrnn_cuda/recurrent.cuh).
#include "bindings.cuh"
#include "pyrnn_cuda/recurrent.cuh"

namespace pyrnn_cuda {

void bind_recurrent(pybind11::module_& m) {
  PYRNN_CUDA_BIND_PAIR(m, rnn, Rnn);
  PYRNN_CUDA_BIND_PAIR(m, lstm, Lstm);
  PYRNN_CUDA_BIND_PAIR(m, gru, Gru);
}

}  // namespace pyrnn_cuda
