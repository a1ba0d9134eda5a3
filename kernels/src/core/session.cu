// Per-device cuBLAS handles and their locks (see session.cuh).
#include <deque>
#include <mutex>
#include <string>

#include "pyrnn_cuda/core/check.cuh"
#include "pyrnn_cuda/core/session.cuh"

namespace pyrnn_cuda {

namespace {

struct DeviceBlas {
  std::mutex use;                    // held by a Session for the whole op
  cublasHandle_t handle = nullptr;   // created once, never destroyed
};

// a deque: growing it never moves the entries whose mutexes and handles are in use
std::mutex registry_lock;
std::deque<DeviceBlas> registry;

DeviceBlas& device_blas(int device) {
  std::lock_guard<std::mutex> g(registry_lock);
  if (device < 0) throw CudaError("pyrnn._cuda: invalid device " + std::to_string(device));
  while (static_cast<int>(registry.size()) <= device) registry.emplace_back();
  DeviceBlas& d = registry[static_cast<size_t>(device)];
  if (!d.handle) {
    cublasHandle_t h = nullptr;
    PYRNN_CUBLAS_CHECK(cublasCreate(&h));  // on the current device, set by the caller
    // Plain IEEE float32 GEMMs (no TF32 tensor-core rounding): float32 results must match the
    // NumPy reference to 1e-5. Pointer mode host: alpha and beta are host scalars.
    PYRNN_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    PYRNN_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
    PYRNN_CUBLAS_CHECK(cublasSetAtomicsMode(h, CUBLAS_ATOMICS_NOT_ALLOWED));  // deterministic
    d.handle = h;
  }
  return d;
}

}  // namespace

Session::Session(int device, std::uintptr_t stream) : stream_(reinterpret_cast<cudaStream_t>(stream)) {
  PYRNN_CUDA_CHECK(cudaSetDevice(device));
  DeviceBlas& d = device_blas(device);
  lock_ = std::unique_lock<std::mutex>(d.use);
  blas_ = d.handle;
  PYRNN_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
}

int cublas_runtime_version() {
  int major = 0, minor = 0, patch = 0;
  PYRNN_CUBLAS_CHECK(cublasGetProperty(MAJOR_VERSION, &major));
  PYRNN_CUBLAS_CHECK(cublasGetProperty(MINOR_VERSION, &minor));
  PYRNN_CUBLAS_CHECK(cublasGetProperty(PATCH_LEVEL, &patch));
  return major * 10000 + minor * 100 + patch;
}

}  // namespace pyrnn_cuda
