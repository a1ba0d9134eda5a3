// pyrnn._cuda: pybind11 bindings for the CUDA kernels in kernels/include/pyrnn_cuda.
//
// Thin on purpose: the caller (pyrnn/backends/cuda.py) owns every buffer. It allocates outputs and
// workspaces with CuPy (so CuPy's memory pool serves them), checks shapes, dtypes and devices, and
// passes raw device pointers as integers (0 = an absent optional array), the sizes, the device and
// the stream (CuPy's current stream) here. The kernels only queue work on that stream; nothing here
// synchronizes. The GIL is released while they queue.
//
// Every CUDA and cuBLAS call is checked; a failure raises pyrnn._cuda.CudaError (a RuntimeError)
// naming the call and its status.
#include <pybind11/pybind11.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "pyrnn/build_info.hpp"
#include "pyrnn_cuda/attention.cuh"
#include "pyrnn_cuda/check.cuh"
#include "pyrnn_cuda/gru.cuh"
#include "pyrnn_cuda/layer_norm.cuh"
#include "pyrnn_cuda/lstm.cuh"
#include "pyrnn_cuda/rnn.cuh"
#include "pyrnn_cuda/sdpa.cuh"
#include "pyrnn_cuda/sdpa_stream.cuh"
#include "pyrnn_cuda/session.cuh"

#ifndef PYRNN_CUBLAS_FROM
#define PYRNN_CUBLAS_FROM "unknown"
#endif
#ifndef PYRNN_CUDA_ARCHS
#define PYRNN_CUDA_ARCHS "unknown"
#endif

namespace py = pybind11;
using pyrnn_cuda::idx;
using ptr_t = std::uintptr_t;

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

template <typename T>
T* p(ptr_t a) {
  return reinterpret_cast<T*>(a);
}

// The dtype names the template: "float32" -> float, "float64" -> double.
template <typename F>
void by_dtype(const std::string& dtype, F&& f) {
  if (dtype == "float32")
    f(float{});
  else if (dtype == "float64")
    f(double{});
  else
    throw py::value_error("pyrnn._cuda: dtype must be 'float32' or 'float64', got '" + dtype + "'");
}

void check_dims(idx N, idx Tn, idx D, idx H) {
  if (N < 0 || Tn < 0 || D < 0 || H < 1)
    throw py::value_error("pyrnn._cuda: expected N, T, D >= 0 and H >= 1, got N=" + std::to_string(N) +
                          " T=" + std::to_string(Tn) + " D=" + std::to_string(D) + " H=" + std::to_string(H));
}

void check_attention_dims(idx N, idx Te, idx Td, idx H) {
  if (N < 0 || Te < 0 || Td < 0 || H < 0)
    throw py::value_error("pyrnn._cuda: expected N, Te, Td, H >= 0, got N=" + std::to_string(N) +
                          " Te=" + std::to_string(Te) + " Td=" + std::to_string(Td) + " H=" + std::to_string(H));
}

void check_sdpa_dims(idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv) {
  if (N < 0 || Hh < 0 || Tq < 0 || Tk < 0 || Dk < 0 || Dv < 0)
    throw py::value_error("pyrnn._cuda: expected N, Hh, Tq, Tk, Dk, Dv >= 0, got N=" + std::to_string(N) +
                          " Hh=" + std::to_string(Hh) + " Tq=" + std::to_string(Tq) + " Tk=" + std::to_string(Tk) +
                          " Dk=" + std::to_string(Dk) + " Dv=" + std::to_string(Dv));
}

void check_layer_norm_dims(idx R, idx D) {
  if (R < 0 || D < 1)
    throw py::value_error("pyrnn._cuda: expected R >= 0 and D >= 1, got R=" + std::to_string(R) +
                          " D=" + std::to_string(D));
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "pyrnn CUDA kernels (internal: called by pyrnn.backends.cuda with CuPy-allocated buffers)";
  py::register_exception<pyrnn_cuda::CudaError>(m, "CudaError", PyExc_RuntimeError);
  m.def("device_info", &device_info,
        "CUDA runtime/driver versions, visible device count and names, or the error that hid them.");
  m.def("build_info", &build_info, "Version, compilers, CUDA and cuBLAS versions this module was built with.");

  using py::arg;
  const auto nogil = py::call_guard<py::gil_scoped_release>();

  m.def(
      "rnn_forward",
      [](const std::string& dtype, idx N, idx Tn, idx D, idx H, ptr_t xs, ptr_t Wx, ptr_t Wh, ptr_t b, ptr_t h0,
         ptr_t hs, ptr_t hT, int device, ptr_t stream) {
        check_dims(N, Tn, D, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::rnn_forward<T>(s, N, Tn, D, H, p<T>(xs), p<T>(Wx), p<T>(Wh), p<T>(b), p<T>(h0), p<T>(hs),
                                     p<T>(hT));
        });
      },
      arg("dtype"), arg("N"), arg("T"), arg("D"), arg("H"), arg("xs"), arg("Wx"), arg("Wh"), arg("b"), arg("h0"),
      arg("hs"), arg("hT"), arg("device"), arg("stream"), nogil);

  m.def(
      "rnn_backward",
      [](const std::string& dtype, idx N, idx Tn, idx D, idx H, ptr_t xs, ptr_t Wx, ptr_t Wh, ptr_t h0, ptr_t hs,
         ptr_t dhs, ptr_t dhT, ptr_t dxs, ptr_t dWx, ptr_t dWh, ptr_t db, ptr_t dh0, ptr_t dA, ptr_t hprev,
         int device, ptr_t stream) {
        check_dims(N, Tn, D, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::rnn_backward<T>(s, N, Tn, D, H, p<T>(xs), p<T>(Wx), p<T>(Wh), p<T>(h0), p<T>(hs), p<T>(dhs),
                                      p<T>(dhT), p<T>(dxs), p<T>(dWx), p<T>(dWh), p<T>(db), p<T>(dh0), p<T>(dA),
                                      p<T>(hprev));
        });
      },
      arg("dtype"), arg("N"), arg("T"), arg("D"), arg("H"), arg("xs"), arg("Wx"), arg("Wh"), arg("h0"), arg("hs"),
      arg("dhs"), arg("dhT"), arg("dxs"), arg("dWx"), arg("dWh"), arg("db"), arg("dh0"), arg("dA"), arg("hprev"),
      arg("device"), arg("stream"), nogil);

  m.def(
      "lstm_forward",
      [](const std::string& dtype, idx N, idx Tn, idx D, idx H, ptr_t xs, ptr_t Wx, ptr_t Wh, ptr_t b, ptr_t h0,
         ptr_t c0, ptr_t hs, ptr_t hT, ptr_t cT, ptr_t gates, ptr_t cs, int device, ptr_t stream) {
        check_dims(N, Tn, D, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::lstm_forward<T>(s, N, Tn, D, H, p<T>(xs), p<T>(Wx), p<T>(Wh), p<T>(b), p<T>(h0), p<T>(c0),
                                      p<T>(hs), p<T>(hT), p<T>(cT), p<T>(gates), p<T>(cs));
        });
      },
      arg("dtype"), arg("N"), arg("T"), arg("D"), arg("H"), arg("xs"), arg("Wx"), arg("Wh"), arg("b"), arg("h0"),
      arg("c0"), arg("hs"), arg("hT"), arg("cT"), arg("gates"), arg("cs"), arg("device"), arg("stream"), nogil);

  m.def(
      "lstm_backward",
      [](const std::string& dtype, idx N, idx Tn, idx D, idx H, ptr_t xs, ptr_t Wx, ptr_t Wh, ptr_t h0, ptr_t c0,
         ptr_t hs, ptr_t cs, ptr_t gates, ptr_t dhs, ptr_t dhT, ptr_t dcT, ptr_t dxs, ptr_t dWx, ptr_t dWh, ptr_t db,
         ptr_t dh0, ptr_t dc0, ptr_t dA, ptr_t hprev, int device, ptr_t stream) {
        check_dims(N, Tn, D, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::lstm_backward<T>(s, N, Tn, D, H, p<T>(xs), p<T>(Wx), p<T>(Wh), p<T>(h0), p<T>(c0), p<T>(hs),
                                       p<T>(cs), p<T>(gates), p<T>(dhs), p<T>(dhT), p<T>(dcT), p<T>(dxs), p<T>(dWx),
                                       p<T>(dWh), p<T>(db), p<T>(dh0), p<T>(dc0), p<T>(dA), p<T>(hprev));
        });
      },
      arg("dtype"), arg("N"), arg("T"), arg("D"), arg("H"), arg("xs"), arg("Wx"), arg("Wh"), arg("h0"), arg("c0"),
      arg("hs"), arg("cs"), arg("gates"), arg("dhs"), arg("dhT"), arg("dcT"), arg("dxs"), arg("dWx"), arg("dWh"),
      arg("db"), arg("dh0"), arg("dc0"), arg("dA"), arg("hprev"), arg("device"), arg("stream"), nogil);

  m.def(
      "gru_forward",
      [](const std::string& dtype, idx N, idx Tn, idx D, idx H, bool reset_after, ptr_t xs, ptr_t Wx, ptr_t Wh,
         ptr_t b, ptr_t h0, ptr_t hs, ptr_t hT, ptr_t gates, ptr_t extra, ptr_t scratch, int device, ptr_t stream) {
        check_dims(N, Tn, D, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::gru_forward<T>(s, N, Tn, D, H, reset_after, p<T>(xs), p<T>(Wx), p<T>(Wh), p<T>(b), p<T>(h0),
                                     p<T>(hs), p<T>(hT), p<T>(gates), p<T>(extra), p<T>(scratch));
        });
      },
      arg("dtype"), arg("N"), arg("T"), arg("D"), arg("H"), arg("reset_after"), arg("xs"), arg("Wx"), arg("Wh"),
      arg("b"), arg("h0"), arg("hs"), arg("hT"), arg("gates"), arg("extra"), arg("scratch"), arg("device"),
      arg("stream"), nogil);

  m.def(
      "gru_backward",
      [](const std::string& dtype, idx N, idx Tn, idx D, idx H, bool reset_after, ptr_t xs, ptr_t Wx, ptr_t Wh,
         ptr_t h0, ptr_t hs, ptr_t gates, ptr_t extra, ptr_t dhs, ptr_t dhT, ptr_t dxs, ptr_t dWx, ptr_t dWh, ptr_t db,
         ptr_t dh0, ptr_t dAx, ptr_t dAh, ptr_t drh, ptr_t hprev, int device, ptr_t stream) {
        check_dims(N, Tn, D, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::gru_backward<T>(s, N, Tn, D, H, reset_after, p<T>(xs), p<T>(Wx), p<T>(Wh), p<T>(h0), p<T>(hs),
                                      p<T>(gates), p<T>(extra), p<T>(dhs), p<T>(dhT), p<T>(dxs), p<T>(dWx),
                                      p<T>(dWh), p<T>(db), p<T>(dh0), p<T>(dAx), p<T>(dAh), p<T>(drh), p<T>(hprev));
        });
      },
      arg("dtype"), arg("N"), arg("T"), arg("D"), arg("H"), arg("reset_after"), arg("xs"), arg("Wx"), arg("Wh"),
      arg("h0"), arg("hs"), arg("gates"), arg("extra"), arg("dhs"), arg("dhT"), arg("dxs"), arg("dWx"), arg("dWh"),
      arg("db"), arg("dh0"), arg("dAx"), arg("dAh"), arg("drh"), arg("hprev"), arg("device"), arg("stream"), nogil);

  // ---- seq2seq attention: hs (N,Te,H), hq (N,Td,H), mask (N,Te) bool | 0, a (N,Td,Te), c (N,Td,H) ----
  m.def(
      "attention_weights_forward",
      [](const std::string& dtype, idx N, idx Te, idx Td, idx H, ptr_t hs, ptr_t hq, ptr_t mask, ptr_t a, int device,
         ptr_t stream) {
        check_attention_dims(N, Te, Td, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::attention_weights_forward<T>(s, N, Te, Td, H, p<T>(hs), p<T>(hq), p<bool>(mask), p<T>(a));
        });
      },
      arg("dtype"), arg("N"), arg("Te"), arg("Td"), arg("H"), arg("hs"), arg("hq"), arg("mask"), arg("a"),
      arg("device"), arg("stream"), nogil);

  m.def(
      "attention_weights_backward",
      [](const std::string& dtype, idx N, idx Te, idx Td, idx H, ptr_t hs, ptr_t hq, ptr_t a, ptr_t da, ptr_t dhs,
         ptr_t dhq, ptr_t ds, int device, ptr_t stream) {
        check_attention_dims(N, Te, Td, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::attention_weights_backward<T>(s, N, Te, Td, H, p<T>(hs), p<T>(hq), p<T>(a), p<T>(da),
                                                    p<T>(dhs), p<T>(dhq), p<T>(ds));
        });
      },
      arg("dtype"), arg("N"), arg("Te"), arg("Td"), arg("H"), arg("hs"), arg("hq"), arg("a"), arg("da"), arg("dhs"),
      arg("dhq"), arg("ds"), arg("device"), arg("stream"), nogil);

  m.def(
      "weighted_sum_forward",
      [](const std::string& dtype, idx N, idx Te, idx Td, idx H, ptr_t hs, ptr_t a, ptr_t c, int device,
         ptr_t stream) {
        check_attention_dims(N, Te, Td, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::weighted_sum_forward<T>(s, N, Te, Td, H, p<T>(hs), p<T>(a), p<T>(c));
        });
      },
      arg("dtype"), arg("N"), arg("Te"), arg("Td"), arg("H"), arg("hs"), arg("a"), arg("c"), arg("device"),
      arg("stream"), nogil);

  m.def(
      "weighted_sum_backward",
      [](const std::string& dtype, idx N, idx Te, idx Td, idx H, ptr_t hs, ptr_t a, ptr_t dc, ptr_t dhs, ptr_t da,
         int device, ptr_t stream) {
        check_attention_dims(N, Te, Td, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::weighted_sum_backward<T>(s, N, Te, Td, H, p<T>(hs), p<T>(a), p<T>(dc), p<T>(dhs), p<T>(da));
        });
      },
      arg("dtype"), arg("N"), arg("Te"), arg("Td"), arg("H"), arg("hs"), arg("a"), arg("dc"), arg("dhs"), arg("da"),
      arg("device"), arg("stream"), nogil);

  m.def(
      "attention_forward",
      [](const std::string& dtype, idx N, idx Te, idx Td, idx H, ptr_t hs, ptr_t hq, ptr_t mask, ptr_t a, ptr_t c,
         int device, ptr_t stream) {
        check_attention_dims(N, Te, Td, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::attention_forward<T>(s, N, Te, Td, H, p<T>(hs), p<T>(hq), p<bool>(mask), p<T>(a), p<T>(c));
        });
      },
      arg("dtype"), arg("N"), arg("Te"), arg("Td"), arg("H"), arg("hs"), arg("hq"), arg("mask"), arg("a"), arg("c"),
      arg("device"), arg("stream"), nogil);

  m.def(
      "attention_backward",
      [](const std::string& dtype, idx N, idx Te, idx Td, idx H, ptr_t hs, ptr_t hq, ptr_t a, ptr_t dc, ptr_t dhs,
         ptr_t dhq, ptr_t ds, int device, ptr_t stream) {
        check_attention_dims(N, Te, Td, H);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::attention_backward<T>(s, N, Te, Td, H, p<T>(hs), p<T>(hq), p<T>(a), p<T>(dc), p<T>(dhs),
                                            p<T>(dhq), p<T>(ds));
        });
      },
      arg("dtype"), arg("N"), arg("Te"), arg("Td"), arg("H"), arg("hs"), arg("hq"), arg("a"), arg("dc"), arg("dhs"),
      arg("dhq"), arg("ds"), arg("device"), arg("stream"), nogil);

  // ---- scaled dot-product attention: q (N,Hh,Tq,Dk), k (N,Hh,Tk,Dk), v (N,Hh,Tk,Dv), mask (N,Tk) | 0;
  // P (N,Hh,Tq,Tk) the materialised attention weights, kept for the backward ----
  m.def(
      "sdpa_forward",
      [](const std::string& dtype, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, ptr_t q, ptr_t k,
         ptr_t v, ptr_t mask, ptr_t P, ptr_t out, int device, ptr_t stream) {
        check_sdpa_dims(N, Hh, Tq, Tk, Dk, Dv);
        by_dtype(dtype, [&](auto x) {
          using T = decltype(x);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::sdpa_forward<T>(s, N, Hh, Tq, Tk, Dk, Dv, causal, p<T>(q), p<T>(k), p<T>(v), p<bool>(mask),
                                      p<T>(P), p<T>(out));
        });
      },
      arg("dtype"), arg("N"), arg("Hh"), arg("Tq"), arg("Tk"), arg("Dk"), arg("Dv"), arg("causal"), arg("q"), arg("k"),
      arg("v"), arg("mask"), arg("P"), arg("out"), arg("device"), arg("stream"), nogil);

  m.def(
      "sdpa_backward",
      [](const std::string& dtype, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, ptr_t q, ptr_t k, ptr_t v, ptr_t P,
         ptr_t dout, ptr_t dq, ptr_t dk, ptr_t dv, ptr_t dS, int device, ptr_t stream) {
        check_sdpa_dims(N, Hh, Tq, Tk, Dk, Dv);
        by_dtype(dtype, [&](auto x) {
          using T = decltype(x);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::sdpa_backward<T>(s, N, Hh, Tq, Tk, Dk, Dv, p<T>(q), p<T>(k), p<T>(v), p<T>(P), p<T>(dout),
                                       p<T>(dq), p<T>(dk), p<T>(dv), p<T>(dS));
        });
      },
      arg("dtype"), arg("N"), arg("Hh"), arg("Tq"), arg("Tk"), arg("Dk"), arg("Dv"), arg("q"), arg("k"),
      arg("v"), arg("P"), arg("dout"), arg("dq"), arg("dk"), arg("dv"), arg("dS"), arg("device"), arg("stream"), nogil);

  m.def(
      "sdpa_stream_forward",
      [](const std::string& dtype, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, ptr_t q, ptr_t k,
         ptr_t v, ptr_t mask, ptr_t out, ptr_t lse, int device, ptr_t stream) {
        check_sdpa_dims(N, Hh, Tq, Tk, Dk, Dv);
        by_dtype(dtype, [&](auto x) {
          using T = decltype(x);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::sdpa_stream_forward<T>(s, N, Hh, Tq, Tk, Dk, Dv, causal, p<T>(q), p<T>(k), p<T>(v),
                                             p<bool>(mask), p<T>(out), p<T>(lse));
        });
      },
      arg("dtype"), arg("N"), arg("Hh"), arg("Tq"), arg("Tk"), arg("Dk"), arg("Dv"), arg("causal"), arg("q"), arg("k"),
      arg("v"), arg("mask"), arg("out"), arg("lse"), arg("device"), arg("stream"), nogil);

  m.def(
      "sdpa_stream_backward",
      [](const std::string& dtype, idx N, idx Hh, idx Tq, idx Tk, idx Dk, idx Dv, bool causal, ptr_t q, ptr_t k,
         ptr_t v, ptr_t mask, ptr_t out, ptr_t lse, ptr_t dout, ptr_t dq, ptr_t dk, ptr_t dv, ptr_t D, int device,
         ptr_t stream) {
        check_sdpa_dims(N, Hh, Tq, Tk, Dk, Dv);
        by_dtype(dtype, [&](auto x) {
          using T = decltype(x);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::sdpa_stream_backward<T>(s, N, Hh, Tq, Tk, Dk, Dv, causal, p<T>(q), p<T>(k), p<T>(v),
                                              p<bool>(mask), p<T>(out), p<T>(lse), p<T>(dout), p<T>(dq), p<T>(dk),
                                              p<T>(dv), p<T>(D));
        });
      },
      arg("dtype"), arg("N"), arg("Hh"), arg("Tq"), arg("Tk"), arg("Dk"), arg("Dv"), arg("causal"), arg("q"), arg("k"),
      arg("v"), arg("mask"), arg("out"), arg("lse"), arg("dout"), arg("dq"), arg("dk"), arg("dv"), arg("D"),
      arg("device"), arg("stream"), nogil);

  // ---- layer norm: x, y, dy, dx (R,D), gamma, beta, dgamma, dbeta (D), mean, rstd (R);
  // part (ceil(R / layer_norm_rows_per_chunk), 2, D) float64 workspace: the dgamma/dbeta chunk partials ----
  m.attr("layer_norm_rows_per_chunk") = pyrnn_cuda::kLayerNormRowsPerChunk;
  m.def(
      "layer_norm_forward",
      [](const std::string& dtype, idx R, idx D, ptr_t x, ptr_t gamma, ptr_t beta, double eps, ptr_t y, ptr_t mean,
         ptr_t rstd, int device, ptr_t stream) {
        check_layer_norm_dims(R, D);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::layer_norm_forward<T>(s, R, D, p<T>(x), p<T>(gamma), p<T>(beta), eps, p<T>(y), p<T>(mean),
                                            p<T>(rstd));
        });
      },
      arg("dtype"), arg("R"), arg("D"), arg("x"), arg("gamma"), arg("beta"), arg("eps"), arg("y"), arg("mean"),
      arg("rstd"), arg("device"), arg("stream"), nogil);

  m.def(
      "layer_norm_backward",
      [](const std::string& dtype, idx R, idx D, ptr_t dy, ptr_t x, ptr_t mean, ptr_t rstd, ptr_t gamma, ptr_t dx,
         ptr_t dgamma, ptr_t dbeta, ptr_t part, int device, ptr_t stream) {
        check_layer_norm_dims(R, D);
        by_dtype(dtype, [&](auto v) {
          using T = decltype(v);
          pyrnn_cuda::Session s(device, stream);
          pyrnn_cuda::layer_norm_backward<T>(s, R, D, p<T>(dy), p<T>(x), p<T>(mean), p<T>(rstd), p<T>(gamma),
                                             p<T>(dx), p<T>(dgamma), p<T>(dbeta), p<double>(part));
        });
      },
      arg("dtype"), arg("R"), arg("D"), arg("dy"), arg("x"), arg("mean"), arg("rstd"), arg("gamma"), arg("dx"),
      arg("dgamma"), arg("dbeta"), arg("part"), arg("device"), arg("stream"), nogil);
}
