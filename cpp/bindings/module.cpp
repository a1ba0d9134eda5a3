// pyrnn._cpu: pybind11 bindings for the C++ CPU kernels in cpp/include/pyrnn.
// Bindings stay thin: check shapes, allocate outputs, release the GIL, call a kernel. Kernels
// themselves never see a Python type. This file holds the module's own controls (build info, threads,
// profile, malloc tuning); each family's ops are bound by its file, cpp/bindings/<family>.cpp, with the
// shared checks of arrays.hpp. Each op is bound twice (float32, float64) under one name; pybind11
// picks by dtype.
#include <pybind11/pybind11.h>

#include <cstdlib>
#include <thread>

#include "pyrnn/core/blas.hpp"
#include "pyrnn/core/build_info.hpp"
#include "pyrnn/core/profile.hpp"
#include "pyrnn/core/threads.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace py = pybind11;

// the families' bindings, one file each
void bind_recurrent(py::module_& m);  // cpp/bindings/recurrent.cpp
void bind_words(py::module_& m);      // cpp/bindings/words.cpp
void bind_attention(py::module_& m);  // cpp/bindings/attention.cpp
void bind_norm(py::module_& m);       // cpp/bindings/norm.cpp

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "pyrnn C++ CPU kernels";
  // pyrnn splits its GEMMs across its own threads (cpp/include/pyrnn/core/threads.hpp), so its private
  // OpenBLAS runs every call on one thread: no oversubscription, no spinning BLAS workers.
  pyrnn::blas_set_threads(1);
#if defined(__GLIBC__)
  // A fwd+bwd call allocates and frees a few MB of outputs and scratch. With glibc's defaults those
  // blocks go back to the kernel on free (trim) and come back as fresh zeroed pages on the next call:
  // page faults measured 2.2 ms of a 9.8 ms LSTM (32,35,128,128) fwd+bwd. Keeping freed memory in the
  // heap (blocks under 32 MB never mmapped, up to 128 MB of free heap kept) made the call 27% faster.
  // Process-wide (NumPy's allocations share the heap), so a library must not do it unasked: it is
  // opt-in with PYRNN_MALLOC_TUNE=1 (`pyrnn bench` and `pyrnn demo` set it for their own process).
  {
    const char* tune = std::getenv("PYRNN_MALLOC_TUNE");
    if (tune && tune[0] == '1') {
      mallopt(M_MMAP_THRESHOLD, 32 << 20);
      mallopt(M_TRIM_THRESHOLD, 128 << 20);
    }
  }
#endif
  m.def(
      "build_info",
      [] {
        py::dict d;
        d["version"] = PYRNN_VERSION;
        d["compiler"] = pyrnn::compiler_string();
        d["cxx_standard"] = static_cast<long>(__cplusplus);
        d["hardware_threads"] = std::thread::hardware_concurrency();
        d["blas"] = pyrnn::blas_name();
        d["blas_version"] = pyrnn::blas_version();
        d["blas_config"] = pyrnn::blas_config();
        d["blas_core"] = pyrnn::blas_core();
        d["blas_threads"] = pyrnn::blas_threads();
        d["threads"] = pyrnn::worker_threads();
        return d;
      },
      "How this module was built: version, compiler, C++ standard, hardware threads, BLAS (name, version, "
      "runtime config, core, threads per BLAS call), threads pyrnn splits its work across.");
  m.def(
      "profile",
      [](bool reset) {
        py::dict d;
        for (int p = 0; p < pyrnn::kProfPhases; ++p) {
          d[pyrnn::prof_name(p)] = pyrnn::prof_ns()[p].load() * 1e-6;
          if (reset) pyrnn::prof_ns()[p] = 0;
        }
        return d;
      },
      py::arg("reset") = true,
      "Milliseconds spent per phase of the recurrent kernels since the last reset (PYRNN_PROFILE=1 "
      "turns the timers on; otherwise all zero).");
  m.def("worker_threads", &pyrnn::worker_threads, "Threads pyrnn's own loops use (PYRNN_NUM_THREADS).");
  m.def("blas_threads", &pyrnn::blas_threads, "Threads the BLAS uses now.");
  m.def("set_blas_threads", &pyrnn::blas_set_threads, py::arg("n"), "Set the BLAS thread count (process-wide).");
  bind_recurrent(m);
  bind_words(m);
  bind_attention(m);
  bind_norm(m);
}
