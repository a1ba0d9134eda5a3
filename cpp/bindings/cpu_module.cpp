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

#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pyrnn/blas.hpp"
#include "pyrnn/build_info.hpp"
#include "pyrnn/embedding.hpp"
#include "pyrnn/losses.hpp"
#include "pyrnn/gru.hpp"
#include "pyrnn/lstm.hpp"
#include "pyrnn/profile.hpp"
#include "pyrnn/rnn.hpp"
#include "pyrnn/threads.hpp"

namespace py = pybind11;

void bind_attention(py::module_& m);  // cpp/bindings/attention_bindings.cpp
void bind_norm(py::module_& m);       // cpp/bindings/norm_bindings.cpp

#if defined(__GLIBC__)
#include <malloc.h>
#endif

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

// ---- softmax cross-entropy over time, embedding ---------------------------------------------------

using Ids = py::array_t<int64_t, py::array::c_style>;

// xs (R,V), ts (R) int64 -> (loss as a double, n_valid, rowmax (R), logz (R))
template <typename T>
py::tuple softmax_xent_forward(const Arr<T>& xs, const Ids& ts, std::optional<int64_t> ignore) {
  if (xs.ndim() != 2) throw py::value_error("xs: expected shape (R, V)");
  const py::ssize_t R = xs.shape(0), V = xs.shape(1);
  if (ts.ndim() != 1 || ts.shape(0) != R) throw py::value_error("ts: expected shape (" + std::to_string(R) + ",)");
  auto rowmax = out<T>({R});
  auto logz = out<T>({R});
  T *p_m = rowmax.mutable_data(), *p_z = logz.mutable_data();
  const int64_t* t = ts.data();
  // labels index the rows: check them here too (a direct caller must not read out of bounds)
  for (py::ssize_t r = 0; r < R; ++r)
    if (!(ignore && t[r] == *ignore) && (t[r] < 0 || t[r] >= V))
      throw py::value_error("ts: label " + std::to_string(t[r]) + " out of range [0, " + std::to_string(V) + ")");
  double loss;
  int64_t n_valid = 0;
  {
    py::gil_scoped_release nogil;
    loss = pyrnn::softmax_xent_forward<T>(R, V, xs.data(), t, ignore.has_value(), ignore.value_or(0), p_m, p_z,
                                          &n_valid);
  }
  return py::make_tuple(loss, n_valid, rowmax, logz);
}

template <typename T>
Arr<T> softmax_xent_backward(double dloss, const Arr<T>& xs, const Ids& ts, std::optional<int64_t> ignore,
                             const Arr<T>& rowmax, const Arr<T>& logz, int64_t n_valid) {
  if (xs.ndim() != 2) throw py::value_error("xs: expected shape (R, V)");
  const py::ssize_t R = xs.shape(0), V = xs.shape(1);
  if (ts.ndim() != 1 || ts.shape(0) != R) throw py::value_error("ts: expected shape (" + std::to_string(R) + ",)");
  expect(rowmax, {R}, "rowmax");
  expect(logz, {R}, "logz");
  const int64_t* t = ts.data();
  for (py::ssize_t r = 0; r < R; ++r)
    if (!(ignore && t[r] == *ignore) && (t[r] < 0 || t[r] >= V))
      throw py::value_error("ts: label " + std::to_string(t[r]) + " out of range [0, " + std::to_string(V) + ")");
  auto dxs = out<T>({R, V});
  T* p = dxs.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::softmax_xent_backward<T>(R, V, xs.data(), t, ignore.has_value(), ignore.value_or(0), rowmax.data(),
                                    logz.data(), n_valid, static_cast<T>(dloss), p);
  }
  return dxs;
}

void check_ids(const Ids& ids, py::ssize_t V) {
  if (ids.ndim() != 1) throw py::value_error("idx: expected a flat (R,) index array");
  const int64_t* p = ids.data();
  for (py::ssize_t r = 0; r < ids.shape(0); ++r)
    if (p[r] < 0 || p[r] >= V)
      throw py::value_error("idx: index " + std::to_string(p[r]) + " out of range [0, " + std::to_string(V) + ")");
}

// W (V,D), idx (R) int64 -> out (R,D)
template <typename T>
Arr<T> embedding_forward(const Arr<T>& W, const Ids& ids) {
  if (W.ndim() != 2) throw py::value_error("W: expected shape (V, D)");
  check_ids(ids, W.shape(0));
  const py::ssize_t R = ids.shape(0), D = W.shape(1);
  auto o = out<T>({R, D});
  T* p = o.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::embedding_forward<T>(R, D, W.data(), ids.data(), p);
  }
  return o;
}

// dout (R,D), idx (R) int64 -> dW (V,D)
template <typename T>
Arr<T> embedding_backward(const Arr<T>& dout, const Ids& ids, py::ssize_t V) {
  check_ids(ids, V);
  const py::ssize_t R = ids.shape(0);
  if (dout.ndim() != 2 || dout.shape(0) != R) throw py::value_error("dout: expected shape (R, D)");
  const py::ssize_t D = dout.shape(1);
  auto dW = out<T>({V, D});
  T* p = dW.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::embedding_backward<T>(R, V, D, ids.data(), dout.data(), p);
  }
  return dW;
}

// C (M, N) = op(A) @ op(B) (+ bias (N,) on every row); op = transpose when asked. A (M, K) or
// (K, M), B (K, N) or (N, K). On pyrnn's pool (pgemm), so a training loop that also needs plain
// GEMMs (the affine layers) never wakes NumPy's own BLAS threads, whose spinning after each call
// measured to slow the recurrent kernels by 1.7x in an attention seq2seq step.
template <typename T>
Arr<T> matmul(const Arr<T>& A, const Arr<T>& B, bool ta, bool tb, const Opt<T>& bias) {
  if (A.ndim() != 2 || B.ndim() != 2) throw py::value_error("matmul: A and B must be 2-D");
  const py::ssize_t M = ta ? A.shape(1) : A.shape(0), K = ta ? A.shape(0) : A.shape(1);
  const py::ssize_t N = tb ? B.shape(0) : B.shape(1), KB = tb ? B.shape(1) : B.shape(0);
  if (K != KB) throw py::value_error("matmul: inner dimensions differ");
  expect(bias, {N}, "bias");
  auto C = out<T>({M, N});
  T* pc = C.mutable_data();
  const T* pb = ptr(bias);
  {
    py::gil_scoped_release nogil;
    if (pb)
      for (py::ssize_t r = 0; r < M; ++r) std::memcpy(pc + r * N, pb, sizeof(T) * N);
    pyrnn::pgemm<T>(ta, tb, M, N, K, T(1), A.data(), A.shape(1), B.data(), B.shape(1), pb ? T(1) : T(0), pc, N);
  }
  return C;
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
  m.def("softmax_xent_forward", &softmax_xent_forward<T>, py::arg("xs").noconvert(), py::arg("ts").noconvert(),
        py::arg("ignore").none(true), "softmax cross-entropy rows -> (loss: float, n_valid, rowmax, logz)");
  m.def("softmax_xent_backward", &softmax_xent_backward<T>, py::arg("dloss"), py::arg("xs").noconvert(),
        py::arg("ts").noconvert(), py::arg("ignore").none(true), py::arg("rowmax").noconvert(),
        py::arg("logz").noconvert(), py::arg("n_valid"), "softmax cross-entropy backward -> dxs (R, V)");
  m.def("matmul", &matmul<T>, py::arg("A").noconvert(), py::arg("B").noconvert(), py::arg("transA"),
        py::arg("transB"), py::arg("bias").noconvert().none(true), "op(A) @ op(B) (+ bias) on pyrnn's threads");
  m.def("embedding_forward", &embedding_forward<T>, py::arg("W").noconvert(), py::arg("idx").noconvert(),
        "embedding lookup -> out (R, D)");
  m.def("embedding_backward", &embedding_backward<T>, py::arg("dout").noconvert(), py::arg("idx").noconvert(),
        py::arg("V"), "embedding scatter-add (deterministic) -> dW (V, D)");
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "pyrnn C++ CPU kernels";
  // pyrnn splits its GEMMs across its own threads (cpp/include/pyrnn/threads.hpp), so its private
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
  bind_all<float>(m);
  bind_all<double>(m);
  bind_attention(m);
  bind_norm(m);
}
