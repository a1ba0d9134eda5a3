// pyrnn._cpu: pybind11 bindings for the C++ CPU kernels in cpp/include/pyrnn.
// Bindings stay thin: convert arrays, release the GIL, call a kernel. Kernels
// themselves never see a Python type.
#include <pybind11/pybind11.h>

#include <thread>

#include "pyrnn/build_info.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "pyrnn C++ CPU kernels";
  m.def(
      "build_info",
      [] {
        py::dict d;
        d["version"] = PYRNN_VERSION;
        d["compiler"] = pyrnn::compiler_string();
        d["cxx_standard"] = static_cast<long>(__cplusplus);
        d["hardware_threads"] = std::thread::hardware_concurrency();
        d["blas"] = "none (kernels land with the C++ backend)";
        return d;
      },
      "How this module was built: version, compiler, C++ standard, hardware threads, BLAS.");
}
