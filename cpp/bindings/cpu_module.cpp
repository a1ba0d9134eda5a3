// pyrnn._cpu: pybind11 bindings for the C++ CPU kernels in cpp/include/pyrnn.
// Bindings stay thin: check shapes, allocate outputs, release the GIL, call a kernel. Kernels
// themselves never see a Python type.
//
// Every array argument is a C-contiguous array of exactly the kernel's dtype: the casters run
// with noconvert, so a wrong dtype or layout is rejected instead of silently copied or cast
// (pyrnn/backends/cpp.py makes inputs contiguous, only when they are not already).
// Each op is bound twice (float32, float64) under one name; pybind11 picks by dtype.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pyrnn/blas.hpp"
#include "pyrnn/build_info.hpp"
#include "pyrnn/gru.hpp"
#include "pyrnn/lstm.hpp"
#include "pyrnn/rnn.hpp"

namespace py = pybind11;

namespace {

template <typename T>
using Arr = py::array_t<T, py::array::c_style>;
template <typename T>
using Opt = std::optional<Arr<T>>;
using Shape = std::vector<py::ssize_t>;

// The kernels trust their shapes, so the bindings re-check them: a direct caller of pyrnn._cpu
// gets a ValueError instead of an out-of-bounds read.
template <typename T>
void expect(const Arr<T>& a, const Shape& shape, const char* name) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t k = 0; ok && k < shape.size(); ++k) ok = a.shape(k) == shape[k];
  if (!ok) {
    std::string s = "(";
    for (size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
    throw py::value_error(std::string(name) + ": expected shape " + s + ")");
  }
}
template <typename T>
void expect(const Opt<T>& a, const Shape& shape, const char* name) {
  if (a) expect(*a, shape, name);
}
template <typename T>
const T* ptr(const Opt<T>& a) {
  return a ? a->data() : nullptr;
}
template <typename T>
Arr<T> out(const Shape& shape) {
  return Arr<T>(shape);
}
py::object or_none(bool keep, py::object o) { return keep ? o : py::none(); }

struct Dims {
  py::ssize_t N, T, D, H;
};
template <typename T>
Dims dims(const Arr<T>& xs, const Arr<T>& Wx, const Arr<T>& Wh, py::ssize_t gates) {
  if (xs.ndim() != 3) throw py::value_error("xs: expected shape (N, T, D)");
  if (Wh.ndim() != 2) throw py::value_error("Wh: expected shape (H, gates*H)");
  Dims d{xs.shape(0), xs.shape(1), xs.shape(2), Wh.shape(0)};
  expect(Wx, {d.D, gates * d.H}, "Wx");
  expect(Wh, {d.H, gates * d.H}, "Wh");
  return d;
}

// ---- tanh RNN ------------------------------------------------------------------------------------

template <typename T>
py::tuple rnn_forward(const Arr<T>& xs, const Arr<T>& Wx, const Arr<T>& Wh, const Opt<T>& b, const Opt<T>& h0) {
  const Dims d = dims(xs, Wx, Wh, 1);
  expect(b, {d.H}, "b");
  expect(h0, {d.N, d.H}, "h0");
  auto hs = out<T>({d.N, d.T, d.H});
  auto hT = out<T>({d.N, d.H});
  T* phs = hs.mutable_data();
  T* phT = hT.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::rnn_forward<T>(d.N, d.T, d.D, d.H, xs.data(), Wx.data(), Wh.data(), ptr(b), ptr(h0), phs, phT);
  }
  return py::make_tuple(hs, hT);
}

template <typename T>
py::tuple rnn_backward(const Arr<T>& dhs, const Opt<T>& dhT, const Arr<T>& xs, const Arr<T>& Wx, const Arr<T>& Wh,
                       const Opt<T>& h0, const Arr<T>& hs, bool has_bias) {
  const Dims d = dims(xs, Wx, Wh, 1);
  expect(h0, {d.N, d.H}, "h0");
  expect(hs, {d.N, d.T, d.H}, "hs");
  expect(dhs, {d.N, d.T, d.H}, "dhs");
  expect(dhT, {d.N, d.H}, "dhT");
  auto dxs = out<T>({d.N, d.T, d.D});
  auto dWx = out<T>({d.D, d.H});
  auto dWh = out<T>({d.H, d.H});
  auto db = out<T>({has_bias ? d.H : 0});
  auto dh0 = out<T>({d.N, d.H});
  T *p_dxs = dxs.mutable_data(), *p_dWx = dWx.mutable_data(), *p_dWh = dWh.mutable_data();
  T *p_db = has_bias ? db.mutable_data() : nullptr, *p_dh0 = dh0.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::rnn_backward<T>(d.N, d.T, d.D, d.H, xs.data(), Wx.data(), Wh.data(), ptr(h0), hs.data(), dhs.data(),
                           ptr(dhT), p_dxs, p_dWx, p_dWh, p_db, p_dh0);
  }
  return py::make_tuple(dxs, dWx, dWh, or_none(has_bias, db), dh0);
}

// ---- LSTM ----------------------------------------------------------------------------------------

template <typename T>
py::tuple lstm_forward(const Arr<T>& xs, const Arr<T>& Wx, const Arr<T>& Wh, const Opt<T>& b, const Opt<T>& h0,
                       const Opt<T>& c0, bool train) {
  const Dims d = dims(xs, Wx, Wh, 4);
  expect(b, {4 * d.H}, "b");
  expect(h0, {d.N, d.H}, "h0");
  expect(c0, {d.N, d.H}, "c0");
  auto hs = out<T>({d.N, d.T, d.H});
  auto hT = out<T>({d.N, d.H});
  auto cT = out<T>({d.N, d.H});
  auto cs = out<T>({train ? d.N : 0, d.T, d.H});
  auto gates = out<T>({train ? d.N : 0, d.T, 4 * d.H});
  T *p_hs = hs.mutable_data(), *p_hT = hT.mutable_data(), *p_cT = cT.mutable_data();
  T *p_cs = train ? cs.mutable_data() : nullptr, *p_gates = train ? gates.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    pyrnn::lstm_forward<T>(d.N, d.T, d.D, d.H, xs.data(), Wx.data(), Wh.data(), ptr(b), ptr(h0), ptr(c0), p_hs,
                           p_hT, p_cT, p_cs, p_gates);
  }
  return py::make_tuple(hs, hT, cT, or_none(train, cs), or_none(train, gates));
}

template <typename T>
py::tuple lstm_backward(const Arr<T>& dhs, const Opt<T>& dhT, const Opt<T>& dcT, const Arr<T>& xs, const Arr<T>& Wx,
                        const Arr<T>& Wh, const Opt<T>& h0, const Opt<T>& c0, const Arr<T>& hs, const Arr<T>& cs,
                        const Arr<T>& gates, bool has_bias) {
  const Dims d = dims(xs, Wx, Wh, 4);
  expect(h0, {d.N, d.H}, "h0");
  expect(c0, {d.N, d.H}, "c0");
  expect(hs, {d.N, d.T, d.H}, "hs");
  expect(cs, {d.N, d.T, d.H}, "cs");
  expect(gates, {d.N, d.T, 4 * d.H}, "gates");
  expect(dhs, {d.N, d.T, d.H}, "dhs");
  expect(dhT, {d.N, d.H}, "dhT");
  expect(dcT, {d.N, d.H}, "dcT");
  auto dxs = out<T>({d.N, d.T, d.D});
  auto dWx = out<T>({d.D, 4 * d.H});
  auto dWh = out<T>({d.H, 4 * d.H});
  auto db = out<T>({has_bias ? 4 * d.H : 0});
  auto dh0 = out<T>({d.N, d.H});
  auto dc0 = out<T>({d.N, d.H});
  T *p_dxs = dxs.mutable_data(), *p_dWx = dWx.mutable_data(), *p_dWh = dWh.mutable_data();
  T *p_db = has_bias ? db.mutable_data() : nullptr, *p_dh0 = dh0.mutable_data(), *p_dc0 = dc0.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::lstm_backward<T>(d.N, d.T, d.D, d.H, xs.data(), Wx.data(), Wh.data(), ptr(h0), ptr(c0), hs.data(),
                            cs.data(), gates.data(), dhs.data(), ptr(dhT), ptr(dcT), p_dxs, p_dWx, p_dWh, p_db, p_dh0,
                            p_dc0);
  }
  return py::make_tuple(dxs, dWx, dWh, or_none(has_bias, db), dh0, dc0);
}

// ---- GRU -----------------------------------------------------------------------------------------

template <typename T>
py::tuple gru_forward(const Arr<T>& xs, const Arr<T>& Wx, const Arr<T>& Wh, const Opt<T>& b, const Opt<T>& h0,
                      bool reset_after, bool train) {
  const Dims d = dims(xs, Wx, Wh, 3);
  if (reset_after)
    expect(b, {2, 3 * d.H}, "b");
  else
    expect(b, {3 * d.H}, "b");
  expect(h0, {d.N, d.H}, "h0");
  auto hs = out<T>({d.N, d.T, d.H});
  auto hT = out<T>({d.N, d.H});
  auto gates = out<T>({train ? d.N : 0, d.T, 3 * d.H});
  auto extra = out<T>({train ? d.N : 0, d.T, d.H});
  T *p_hs = hs.mutable_data(), *p_hT = hT.mutable_data();
  T *p_gates = train ? gates.mutable_data() : nullptr, *p_extra = train ? extra.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    pyrnn::gru_forward<T>(d.N, d.T, d.D, d.H, reset_after, xs.data(), Wx.data(), Wh.data(), ptr(b), ptr(h0), p_hs,
                          p_hT, p_gates, p_extra);
  }
  return py::make_tuple(hs, hT, or_none(train, gates), or_none(train, extra));
}

template <typename T>
py::tuple gru_backward(const Arr<T>& dhs, const Opt<T>& dhT, const Arr<T>& xs, const Arr<T>& Wx, const Arr<T>& Wh,
                       const Opt<T>& h0, const Arr<T>& hs, const Arr<T>& gates, const Arr<T>& extra, bool reset_after,
                       bool has_bias) {
  const Dims d = dims(xs, Wx, Wh, 3);
  expect(h0, {d.N, d.H}, "h0");
  expect(hs, {d.N, d.T, d.H}, "hs");
  expect(gates, {d.N, d.T, 3 * d.H}, "gates");
  expect(extra, {d.N, d.T, d.H}, "extra");
  expect(dhs, {d.N, d.T, d.H}, "dhs");
  expect(dhT, {d.N, d.H}, "dhT");
  auto dxs = out<T>({d.N, d.T, d.D});
  auto dWx = out<T>({d.D, 3 * d.H});
  auto dWh = out<T>({d.H, 3 * d.H});
  auto db = reset_after ? out<T>({has_bias ? 2 : 0, 3 * d.H}) : out<T>({has_bias ? 3 * d.H : 0});
  auto dh0 = out<T>({d.N, d.H});
  T *p_dxs = dxs.mutable_data(), *p_dWx = dWx.mutable_data(), *p_dWh = dWh.mutable_data();
  T *p_db = has_bias ? db.mutable_data() : nullptr, *p_dh0 = dh0.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::gru_backward<T>(d.N, d.T, d.D, d.H, reset_after, xs.data(), Wx.data(), Wh.data(), ptr(h0), hs.data(),
                           gates.data(), extra.data(), dhs.data(), ptr(dhT), p_dxs, p_dWx, p_dWh, p_db, p_dh0);
  }
  return py::make_tuple(dxs, dWx, dWh, or_none(has_bias, db), dh0);
}

template <typename T>
void bind_all(py::module_& m) {
  m.def("rnn_forward", &rnn_forward<T>, py::arg("xs").noconvert(), py::arg("Wx").noconvert(),
        py::arg("Wh").noconvert(), py::arg("b").noconvert().none(true), py::arg("h0").noconvert().none(true),
        "tanh RNN forward -> (hs, hT)");
  m.def("rnn_backward", &rnn_backward<T>, py::arg("dhs").noconvert(), py::arg("dhT").noconvert().none(true),
        py::arg("xs").noconvert(), py::arg("Wx").noconvert(), py::arg("Wh").noconvert(),
        py::arg("h0").noconvert().none(true), py::arg("hs").noconvert(), py::arg("has_bias"),
        "tanh RNN backward -> (dxs, dWx, dWh, db|None, dh0)");
  m.def("lstm_forward", &lstm_forward<T>, py::arg("xs").noconvert(), py::arg("Wx").noconvert(),
        py::arg("Wh").noconvert(), py::arg("b").noconvert().none(true), py::arg("h0").noconvert().none(true),
        py::arg("c0").noconvert().none(true), py::arg("train"),
        "LSTM forward, gates [f,g,i,o] -> (hs, hT, cT, cs|None, gates|None)");
  m.def("lstm_backward", &lstm_backward<T>, py::arg("dhs").noconvert(), py::arg("dhT").noconvert().none(true),
        py::arg("dcT").noconvert().none(true), py::arg("xs").noconvert(), py::arg("Wx").noconvert(),
        py::arg("Wh").noconvert(), py::arg("h0").noconvert().none(true), py::arg("c0").noconvert().none(true),
        py::arg("hs").noconvert(), py::arg("cs").noconvert(), py::arg("gates").noconvert(), py::arg("has_bias"),
        "LSTM backward -> (dxs, dWx, dWh, db|None, dh0, dc0)");
  m.def("gru_forward", &gru_forward<T>, py::arg("xs").noconvert(), py::arg("Wx").noconvert(),
        py::arg("Wh").noconvert(), py::arg("b").noconvert().none(true), py::arg("h0").noconvert().none(true),
        py::arg("reset_after"), py::arg("train"), "GRU forward, gates [z,r,n] -> (hs, hT, gates|None, extra|None)");
  m.def("gru_backward", &gru_backward<T>, py::arg("dhs").noconvert(), py::arg("dhT").noconvert().none(true),
        py::arg("xs").noconvert(), py::arg("Wx").noconvert(), py::arg("Wh").noconvert(),
        py::arg("h0").noconvert().none(true), py::arg("hs").noconvert(), py::arg("gates").noconvert(),
        py::arg("extra").noconvert(), py::arg("reset_after"), py::arg("has_bias"),
        "GRU backward -> (dxs, dWx, dWh, db|None, dh0)");
}

}  // namespace

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
        d["blas"] = pyrnn::blas_name();
        d["blas_version"] = pyrnn::blas_version();
        d["blas_config"] = pyrnn::blas_config();
        d["blas_core"] = pyrnn::blas_core();
        d["blas_threads"] = pyrnn::blas_threads();
        return d;
      },
      "How this module was built: version, compiler, C++ standard, hardware threads, BLAS (name, version, "
      "runtime config, core, threads).");
  m.def("blas_threads", &pyrnn::blas_threads, "Threads the BLAS uses now.");
  m.def("set_blas_threads", &pyrnn::blas_set_threads, py::arg("n"), "Set the BLAS thread count (process-wide).");
  bind_all<float>(m);
  bind_all<double>(m);
}
