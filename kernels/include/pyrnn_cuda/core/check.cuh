// Every CUDA runtime and cuBLAS call is checked; a failure throws CudaError naming the call, the
// status and where it happened, which pybind11 turns into pyrnn._cuda.CudaError (a RuntimeError).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace pyrnn_cuda {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "cublasSgemm(h, ...)" -> "cublasSgemm": the message names the call, not its arguments
inline std::string call_name(const char* call) {
  std::string s(call);
  const auto paren = s.find('(');
  return paren == std::string::npos ? s : s.substr(0, paren);
}

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  throw CudaError(call_name(call) + " failed: " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) +
                  ") at " + file + ":" + std::to_string(line));
}

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw CudaError(call_name(call) + " failed: " + cublasGetStatusName(status) + " (" +
                  cublasGetStatusString(status) + ") at " + file + ":" + std::to_string(line));
}

}  // namespace pyrnn_cuda

#define PYRNN_CUDA_CHECK(call) ::pyrnn_cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define PYRNN_CUBLAS_CHECK(call) ::pyrnn_cuda::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: a bad launch configuration shows here; a fault inside the kernel shows
// at the next checked call on the stream (CUDA errors are sticky).
#define PYRNN_CUDA_CHECK_LAUNCH(kernel) \
  ::pyrnn_cuda::check_cuda(cudaGetLastError(), kernel "<<<...>>>", __FILE__, __LINE__)
