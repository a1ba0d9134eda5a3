// The recurrent ops of pyrnn._cuda (kernels/include/pyrnn_cuda/recurrent.cuh).
#include "bindings.cuh"
#include "pyrnn_cuda/recurrent.cuh"

namespace pyrnn_cuda {

void bind_recurrent(pybind11::module_& m) {
  PYRNN_CUDA_BIND_OP(m, rnn_forward, RnnForwardArgs);
  PYRNN_CUDA_BIND_OP(m, rnn_backward, RnnBackwardArgs);
  PYRNN_CUDA_BIND_OP(m, lstm_forward, LstmForwardArgs);
  PYRNN_CUDA_BIND_OP(m, lstm_backward, LstmBackwardArgs);
  PYRNN_CUDA_BIND_OP(m, gru_forward, GruForwardArgs);
  PYRNN_CUDA_BIND_OP(m, gru_backward, GruBackwardArgs);
}

}  // namespace pyrnn_cuda
