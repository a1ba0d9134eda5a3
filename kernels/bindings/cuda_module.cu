// pyrnn._cuda: pybind11 bindings for the CUDA kernels in kernels/include/pyrnn_cuda.
// Every CUDA call is checked; failures become Python exceptions naming the call.
#include <pybind11/pybind11.h>

#include <cuda_runtime.h>

#include "pyrnn/build_info.hpp"

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

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "pyrnn CUDA kernels";
  m.def("device_info", &device_info,
        "CUDA runtime/driver versions, visible device count and names, or the error that hid them.");
  m.def("build_info", [] {
    py::dict d;
    d["version"] = PYRNN_VERSION;
    d["host_compiler"] = pyrnn::compiler_string();
    d["cuda_version"] = std::to_string(CUDART_VERSION / 1000) + "." + std::to_string((CUDART_VERSION % 1000) / 10);
    return d;
  });
}
