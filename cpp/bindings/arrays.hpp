// What the binding files share: the array types they take and make, and the shape checks.
//
// Every array argument is a C-contiguous array of exactly the kernel's dtype: the casters run with
// noconvert, so a wrong dtype or layout is rejected instead of silently copied or cast (the Python
// side, pyrnn/backends/cpp/, makes inputs contiguous, only when they are not already). The kernels
// trust their shapes, so the bindings re-check them: a direct caller of pyrnn._cpu gets a ValueError,
// never an out-of-bounds read.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace pyrnn::bindings {

namespace py = pybind11;

template <typename T>
using Array = py::array_t<T, py::array::c_style>;
template <typename T>
using OptionalArray = std::optional<Array<T>>;
using Shape = std::vector<py::ssize_t>;

// "(2, 3)", "(5,)" as Python writes a shape
inline std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// a (any py::array_t) must have exactly this shape
template <typename A>
void expect(const A& a, const Shape& shape, const char* name) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t k = 0; ok && k < shape.size(); ++k) ok = a.shape(k) == shape[k];
  if (!ok) throw py::value_error(std::string(name) + ": expected shape " + shape_str(shape));
}
template <typename A>
void expect(const std::optional<A>& a, const Shape& shape, const char* name) {
  if (a) expect(*a, shape, name);
}

// a must have ndim dimensions (the array that fixes the sizes the others are checked against);
// `what` spells the expected shape, e.g. "(N, T, D)"
template <typename A>
void expect_ndim(const A& a, int ndim, const char* name, const char* what) {
  if (a.ndim() != ndim) throw py::value_error(std::string(name) + ": expected shape " + what);
}

template <typename A>
auto data_or_null(const std::optional<A>& a) -> decltype(a->data()) {
  return a ? a->data() : nullptr;
}

// an output the call did not compute (training-only results in inference, an absent bias) is None
inline py::object or_none(bool keep, py::object o) { return keep ? o : py::none(); }

}  // namespace pyrnn::bindings
