// pybind11 bindings of layer normalisation (cpp/include/pyrnn/layer_norm.hpp), registered into
// pyrnn._cpu by bind_norm(m) (called from cpu_module.cpp). Same rules as the other bindings: C-contiguous
// arrays of exactly the kernel's dtype (noconvert), every shape re-checked, GIL released around the kernel.
// The Python side (pyrnn/backends/cpp_norm.py) flattens (..., D) to (R, D).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>

#include "pyrnn/layer_norm.hpp"

namespace py = pybind11;

namespace {

template <typename T>
using Arr = py::array_t<T, py::array::c_style>;
using pyrnn::ln::idx;

template <typename T>
void expect_vec(const Arr<T>& a, idx D, const char* name) {
  if (a.ndim() != 1 || a.shape(0) != D)
    throw py::value_error(std::string(name) + ": expected shape (" + std::to_string(D) + ",)");
}

template <typename T>
void expect_rows(const Arr<T>& a, idx R, idx D, const char* name) {
  if (a.ndim() != 2 || a.shape(0) != R || a.shape(1) != D)
    throw py::value_error(std::string(name) + ": expected shape (" + std::to_string(R) + ", " + std::to_string(D) +
                          ")");
}

// x (R,D), gamma (D,), beta (D,), eps, train -> (y (R,D), mean (R,)|None, rstd (R,)|None)
template <typename T>
py::tuple layer_norm_forward(const Arr<T>& x, const Arr<T>& gamma, const Arr<T>& beta, double eps, bool train) {
  if (x.ndim() != 2) throw py::value_error("x: expected shape (R, D)");
  const idx R = x.shape(0), D = x.shape(1);
  expect_vec(gamma, D, "gamma");
  expect_vec(beta, D, "beta");
  if (!(eps > 0) || !std::isfinite(eps)) throw py::value_error("eps: expected a finite number > 0");
  Arr<T> y({R, D});
  py::object mean = py::none(), rstd = py::none();
  T *pm = nullptr, *pr = nullptr;
  if (train) {
    Arr<T> m({R}), r({R});
    pm = m.mutable_data();
    pr = r.mutable_data();
    mean = m;
    rstd = r;
  }
  T* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::ln::forward<T>(R, D, x.data(), gamma.data(), beta.data(), eps, py_, pm, pr);
  }
  return py::make_tuple(y, mean, rstd);
}

// dy (R,D), x (R,D), mean (R,), rstd (R,), gamma (D,) -> (dx (R,D), dgamma (D,), dbeta (D,))
template <typename T>
py::tuple layer_norm_backward(const Arr<T>& dy, const Arr<T>& x, const Arr<T>& mean, const Arr<T>& rstd,
                              const Arr<T>& gamma) {
  if (x.ndim() != 2) throw py::value_error("x: expected shape (R, D)");
  const idx R = x.shape(0), D = x.shape(1);
  expect_rows(dy, R, D, "dy");
  expect_vec(mean, R, "mean");
  expect_vec(rstd, R, "rstd");
  expect_vec(gamma, D, "gamma");
  Arr<T> dx({R, D}), dgamma({D}), dbeta({D});
  T *p1 = dx.mutable_data(), *p2 = dgamma.mutable_data(), *p3 = dbeta.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::ln::backward<T>(R, D, dy.data(), x.data(), mean.data(), rstd.data(), gamma.data(), p1, p2, p3);
  }
  return py::make_tuple(dx, dgamma, dbeta);
}

template <typename T>
void bind_typed(py::module_& m) {
  m.def("layer_norm_forward", &layer_norm_forward<T>, py::arg("x").noconvert(), py::arg("gamma").noconvert(),
        py::arg("beta").noconvert(), py::arg("eps"), py::arg("train"),
        "layer norm over the last axis of x (R,D) -> (y, mean|None, rstd|None)");
  m.def("layer_norm_backward", &layer_norm_backward<T>, py::arg("dy").noconvert(), py::arg("x").noconvert(),
        py::arg("mean").noconvert(), py::arg("rstd").noconvert(), py::arg("gamma").noconvert(), "layer norm backward -> (dx, dgamma, dbeta)");
}

}  // namespace

void bind_norm(py::module_& m) {
  bind_typed<float>(m);
  bind_typed<double>(m);
}
