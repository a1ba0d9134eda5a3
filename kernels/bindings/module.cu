// pyrnn._cuda: the CUDA kernels of kernels/include/pyrnn_cuda as Python functions, for
// pyrnn/backends/cuda/. Here the module itself, device_info and build_info; each family's ops are
// bound by kernels/bindings/<family>.cu (bind_op, bindings.cuh: keyword arguments, the GIL released
// while the kernels queue).
//
// Every CUDA and cuBLAS call is checked; a failure raises pyrnn._cuda.CudaError (a RuntimeError)
// naming the call and its status.
#include <pybind11/pybind11.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "bindings.cuh"
#include "pyrnn/core/build_info.hpp"
#include "pyrnn_cuda/core/check.cuh"
#include "pyrnn_cuda/core/session.cuh"

#ifndef PYRNN_CUBLAS_FROM
#define PYRNN_CUBLAS_FROM "unknown"
#endif
#ifndef PYRNN_CUDA_ARCHS
#define PYRNN_CUDA_ARCHS "unknown"
#endif

namespace py = pybind11;

namespace {

// Device discovery must not throw on a machine without a GPU or driver:
// `pyrnn info` reports the reason instead.
py::dict device_info() {
  py::dict d;
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  d["runtime_version"] = runtime;
  int driver = 0;
  cudaError_t err = cudaDriverGetVersion(&driver);
  d["driver_version"] = err == cudaSuccess ? driver : 0;
  int count = 0;
  err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    d["device_count"] = 0;
    d["error"] = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return d;
  }
  d["device_count"] = count;
  py::list names;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) == cudaSuccess) names.append(std::string(prop.name));
  }
  d["devices"] = names;
  return d;
}

std::string version_string(int v) {  // major * 10000 + minor * 100 + patch -> "major.minor.patch"
  return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

py::dict build_info() {
  py::dict d;
  d["version"] = PYRNN_VERSION;
  d["host_compiler"] = pyrnn::compiler_string();
  d["cuda_version"] = std::to_string(CUDART_VERSION / 1000) + "." + std::to_string((CUDART_VERSION % 1000) / 10);
  d["cuda_archs"] = PYRNN_CUDA_ARCHS;
  d["cublas_version"] = version_string(CUBLAS_VERSION);  // the headers compiled against
  d["cublas_from"] = PYRNN_CUBLAS_FROM;                    // the CUDA toolkit or the nvidia-cublas wheel
  d["cublas_runtime_version"] = version_string(pyrnn_cuda::cublas_runtime_version());  // the library loaded
  return d;
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "pyrnn CUDA kernels (internal: called by pyrnn.backends.cuda with CuPy-allocated buffers)";
  py::register_exception<pyrnn_cuda::CudaError>(m, "CudaError", PyExc_RuntimeError);
  m.def("device_info", &device_info,
        "CUDA runtime/driver versions, visible device count and names, or the error that hid them.");
  m.def("build_info", &build_info, "Version, compilers, CUDA and cuBLAS versions this module was built with.");
  pyrnn_cuda::bind_recurrent(m);
  pyrnn_cuda::bind_attention(m);
  pyrnn_cuda::bind_norm(m);
}
