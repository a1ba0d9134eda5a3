// pybind11 bindings of the word-level kernels (cpp/include/pyrnn/words.hpp): embedding, the affine's
// matmul, softmax cross-entropy. Registered into pyrnn._cpu by bind_words(m) (module.cpp); array rules
// and checks: arrays.hpp. Labels and indices are int64.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>

#include "arrays.hpp"
#include "pyrnn/words.hpp"

namespace py = pybind11;

namespace pyrnn::bindings {
namespace {

using Ids = py::array_t<int64_t, py::array::c_style>;

// ---- softmax cross-entropy over rows --------------------------------------------------------------

// xs (R, V), ts (R,): returns R. Labels index the rows, so they are checked here too (a direct caller
// must not read out of bounds); the ignored label may be anything.
template <typename T>
py::ssize_t check_scores_and_labels(const Array<T>& xs, const Ids& ts, std::optional<int64_t> ignore) {
  expect_ndim(xs, 2, "xs", "(R, V)");
  const py::ssize_t R = xs.shape(0), V = xs.shape(1);
  expect(ts, {R}, "ts");
  const int64_t* labels = ts.data();
  for (py::ssize_t r = 0; r < R; ++r)
    if (!(ignore && labels[r] == *ignore) && (labels[r] < 0 || labels[r] >= V))
      throw py::value_error("ts: label " + std::to_string(labels[r]) + " out of range [0, " + std::to_string(V) +
                            ")");
  return R;
}

// xs (R,V), ts (R) int64 -> (loss as a double, n_valid, rowmax (R), logz (R))
template <typename T>
py::tuple softmax_cross_entropy_forward(const Array<T>& xs, const Ids& ts, std::optional<int64_t> ignore) {
  const py::ssize_t R = check_scores_and_labels(xs, ts, ignore), V = xs.shape(1);
  Array<T> rowmax(Shape{R}), logz(Shape{R});
  T *p_rowmax = rowmax.mutable_data(), *p_logz = logz.mutable_data();
  double loss;
  int64_t n_valid = 0;
  {
    py::gil_scoped_release nogil;
    loss = pyrnn::softmax_cross_entropy_forward<T>(R, V, xs.data(), ts.data(), ignore.has_value(), ignore.value_or(0),
                                                   p_rowmax, p_logz, &n_valid);
  }
  return py::make_tuple(loss, n_valid, rowmax, logz);
}

// dloss, xs (R,V), ts (R), rowmax, logz (R), n_valid -> dxs (R,V)
template <typename T>
Array<T> softmax_cross_entropy_backward(double dloss, const Array<T>& xs, const Ids& ts, std::optional<int64_t> ignore,
                                        const Array<T>& rowmax, const Array<T>& logz, int64_t n_valid) {
  const py::ssize_t R = check_scores_and_labels(xs, ts, ignore), V = xs.shape(1);
  expect(rowmax, {R}, "rowmax");
  expect(logz, {R}, "logz");
  Array<T> dxs({R, V});
  T* p_dxs = dxs.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::softmax_cross_entropy_backward<T>(R, V, xs.data(), ts.data(), ignore.has_value(), ignore.value_or(0),
                                             rowmax.data(), logz.data(), n_valid, static_cast<T>(dloss), p_dxs);
  }
  return dxs;
}

// ---- embedding ---------------------------------------------------------------------------------------

void check_ids(const Ids& ids, py::ssize_t V) {
  if (ids.ndim() != 1) throw py::value_error("idx: expected a flat (R,) index array");
  const int64_t* index = ids.data();
  for (py::ssize_t r = 0; r < ids.shape(0); ++r)
    if (index[r] < 0 || index[r] >= V)
      throw py::value_error("idx: index " + std::to_string(index[r]) + " out of range [0, " + std::to_string(V) +
                            ")");
}

// W (V,D), idx (R) int64 -> out (R,D)
template <typename T>
Array<T> embedding_forward(const Array<T>& W, const Ids& ids) {
  expect_ndim(W, 2, "W", "(V, D)");
  check_ids(ids, W.shape(0));
  const py::ssize_t R = ids.shape(0), D = W.shape(1);
  Array<T> out({R, D});
  T* p_out = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::embedding_forward<T>(R, D, W.data(), ids.data(), p_out);
  }
  return out;
}

// dout (R,D), idx (R) int64 -> dW (V,D)
template <typename T>
Array<T> embedding_backward(const Array<T>& dout, const Ids& ids, py::ssize_t V) {
  check_ids(ids, V);
  const py::ssize_t R = ids.shape(0);
  if (dout.ndim() != 2 || dout.shape(0) != R) throw py::value_error("dout: expected shape (R, D)");
  const py::ssize_t D = dout.shape(1);
  Array<T> dW({V, D});
  T* p_dW = dW.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::embedding_backward<T>(R, V, D, ids.data(), dout.data(), p_dW);
  }
  return dW;
}

// ---- affine ------------------------------------------------------------------------------------------

// A (M, K) or (K, M), B (K, N) or (N, K), bias (N,)|None -> C (M, N) = op(A) @ op(B) (+ bias);
// op = transpose when asked
template <typename T>
Array<T> matmul(const Array<T>& A, const Array<T>& B, bool transA, bool transB, const OptionalArray<T>& bias) {
  if (A.ndim() != 2 || B.ndim() != 2) throw py::value_error("matmul: A and B must be 2-D");
  const py::ssize_t M = transA ? A.shape(1) : A.shape(0), K = transA ? A.shape(0) : A.shape(1);
  const py::ssize_t N = transB ? B.shape(0) : B.shape(1), KB = transB ? B.shape(1) : B.shape(0);
  if (K != KB) throw py::value_error("matmul: inner dimensions differ");
  expect(bias, {N}, "bias");
  Array<T> C({M, N});
  T* p_C = C.mutable_data();
  const T* p_bias = data_or_null(bias);
  {
    py::gil_scoped_release nogil;
    pyrnn::affine_matmul<T>(transA, transB, M, N, K, A.data(), A.shape(1), B.data(), B.shape(1), p_bias, p_C);
  }
  return C;
}

template <typename T>
void bind_typed(py::module_& m) {
  m.def("softmax_cross_entropy_forward", &softmax_cross_entropy_forward<T>, py::arg("xs").noconvert(),
        py::arg("ts").noconvert(), py::arg("ignore").none(true),
        "softmax cross-entropy rows -> (loss: float, n_valid, rowmax, logz)");
  m.def("softmax_cross_entropy_backward", &softmax_cross_entropy_backward<T>, py::arg("dloss"),
        py::arg("xs").noconvert(), py::arg("ts").noconvert(), py::arg("ignore").none(true),
        py::arg("rowmax").noconvert(), py::arg("logz").noconvert(), py::arg("n_valid"),
        "softmax cross-entropy backward -> dxs (R, V)");
  m.def("matmul", &matmul<T>, py::arg("A").noconvert(), py::arg("B").noconvert(), py::arg("transA"),
        py::arg("transB"), py::arg("bias").noconvert().none(true), "op(A) @ op(B) (+ bias) on pyrnn's threads");
  m.def("embedding_forward", &embedding_forward<T>, py::arg("W").noconvert(), py::arg("idx").noconvert(),
        "embedding lookup -> out (R, D)");
  m.def("embedding_backward", &embedding_backward<T>, py::arg("dout").noconvert(), py::arg("idx").noconvert(),
        py::arg("V"), "embedding scatter-add (deterministic) -> dW (V, D)");
}

}  // namespace
}  // namespace pyrnn::bindings

void bind_words(py::module_& m) {
  pyrnn::bindings::bind_typed<float>(m);
  pyrnn::bindings::bind_typed<double>(m);
}
