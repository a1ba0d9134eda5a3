// One op call's view of the GPU: the device and stream the caller (CuPy) works on, and the
// device's cuBLAS handle bound to that stream.
//
// One cuBLAS handle per device, created on first use and kept for the life of the process (never
// destroyed: at interpreter exit the CUDA runtime may already be torn down). A handle carries its
// stream, so two threads sharing it must not interleave cublasSetStream and GEMM: a Session holds
// the device's lock from cublasSetStream until the op has queued its last call. Queuing is all an op
// does on the host (it never synchronizes), so the lock is held for microseconds per step.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>

namespace pyrnn_cuda {

class Session {
 public:
  // device: the arrays' device (made current); stream: a cudaStream_t as an integer (CuPy's
  // get_current_stream().ptr; 0 is the legacy default stream)
  Session(int device, std::uintptr_t stream);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  cudaStream_t stream() const { return stream_; }
  cublasHandle_t blas() const { return blas_; }

 private:
  cudaStream_t stream_;
  cublasHandle_t blas_;
  std::unique_lock<std::mutex> lock_;
};

// cuBLAS library version (major * 10000 + minor * 100 + patch) of the library loaded at run time
int cublas_runtime_version();

}  // namespace pyrnn_cuda
