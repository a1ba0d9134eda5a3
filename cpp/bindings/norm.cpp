// pybind11 bindings of layer normalisation (cpp/include/pyrnn/norm.hpp), registered into pyrnn._cpu by
// bind_norm(m) (module.cpp); array rules and checks: arrays.hpp. The Python side
// (pyrnn/backends/cpp/norm.py) flattens (..., D) to (R, D).
// CMakeLists.txt compiles this file with -ffp-contract=off (no fused multiply-adds): see norm.hpp.
#include <pybind11/pybind11.h>

#include <cmath>

#include "arrays.hpp"
#include "pyrnn/norm.hpp"

namespace py = pybind11;

namespace pyrnn::bindings {
namespace {

// x (R,D), gamma (D,), beta (D,), eps, train -> (y (R,D), mean (R,)|None, rstd (R,)|None)
template <typename T>
py::tuple layer_norm_forward(const Array<T>& x, const Array<T>& gamma, const Array<T>& beta, double eps, bool train) {
  expect_ndim(x, 2, "x", "(R, D)");
  const index_t R = x.shape(0), D = x.shape(1);
  expect(gamma, {D}, "gamma");
  expect(beta, {D}, "beta");
  if (!(eps > 0) || !std::isfinite(eps)) throw py::value_error("eps: expected a finite number > 0");
  Array<T> y({R, D}), mean(Shape{train ? R : 0}), rstd(Shape{train ? R : 0});
  T *p_y = y.mutable_data(), *p_mean = train ? mean.mutable_data() : nullptr;
  T* p_rstd = train ? rstd.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    pyrnn::layer_norm_forward<T>(R, D, x.data(), gamma.data(), beta.data(), eps, p_y, p_mean, p_rstd);
  }
  return py::make_tuple(y, or_none(train, mean), or_none(train, rstd));
}

// dy (R,D), x (R,D), mean (R,), rstd (R,), gamma (D,) -> (dx (R,D), dgamma (D,), dbeta (D,))
template <typename T>
py::tuple layer_norm_backward(const Array<T>& dy, const Array<T>& x, const Array<T>& mean, const Array<T>& rstd,
                              const Array<T>& gamma) {
  expect_ndim(x, 2, "x", "(R, D)");
  const index_t R = x.shape(0), D = x.shape(1);
  expect(dy, {R, D}, "dy");
  expect(mean, {R}, "mean");
  expect(rstd, {R}, "rstd");
  expect(gamma, {D}, "gamma");
  Array<T> dx({R, D}), dgamma(Shape{D}), dbeta(Shape{D});
  T *p_dx = dx.mutable_data(), *p_dgamma = dgamma.mutable_data(), *p_dbeta = dbeta.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::layer_norm_backward<T>(R, D, dy.data(), x.data(), mean.data(), rstd.data(), gamma.data(), p_dx, p_dgamma,
                                  p_dbeta);
  }
  return py::make_tuple(dx, dgamma, dbeta);
}

template <typename T>
void bind_typed(py::module_& m) {
  m.def("layer_norm_forward", &layer_norm_forward<T>, py::arg("x").noconvert(), py::arg("gamma").noconvert(),
        py::arg("beta").noconvert(), py::arg("eps"), py::arg("train"),
        "layer norm over the last axis of x (R,D) -> (y, mean|None, rstd|None)");
  m.def("layer_norm_backward", &layer_norm_backward<T>, py::arg("dy").noconvert(), py::arg("x").noconvert(),
        py::arg("mean").noconvert(), py::arg("rstd").noconvert(), py::arg("gamma").noconvert(),
        "layer norm backward -> (dx, dgamma, dbeta)");
}

}  // namespace
}  // namespace pyrnn::bindings

void bind_norm(py::module_& m) {
  pyrnn::bindings::bind_typed<float>(m);
  pyrnn::bindings::bind_typed<double>(m);
}
