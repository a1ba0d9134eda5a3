// pybind11 bindings of the attention kernels (cpp/include/pyrnn/attention.hpp), registered into
// pyrnn._cpu by bind_attention(m) (called from cpu_module.cpp).
//
// Same rules as cpu_module.cpp: arrays are C-contiguous and exactly the kernel's dtype (noconvert), the
// bindings re-check every shape (a direct caller gets a ValueError, never an out-of-bounds read), then
// release the GIL around the kernel. Masks are uint8 (1 = attend; pyrnn/backends/cpp_attention.py
// passes a bool mask as a zero-copy uint8 view). Each op is bound for float32 and float64.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "pyrnn/attention.hpp"

namespace py = pybind11;

namespace {

template <typename T>
using Arr = py::array_t<T, py::array::c_style>;
using Mask = py::array_t<uint8_t, py::array::c_style>;
using OptMask = std::optional<Mask>;
using Shape = std::vector<py::ssize_t>;
using pyrnn::attn::idx;

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

template <typename A>
void expect(const A& a, const Shape& shape, const char* name) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t k = 0; ok && k < shape.size(); ++k) ok = a.shape(k) == shape[k];
  if (!ok) throw py::value_error(std::string(name) + ": expected shape " + shape_str(shape));
}

template <typename T>
void expect_ndim(const Arr<T>& a, int ndim, const char* name, const char* what) {
  if (a.ndim() != ndim) throw py::value_error(std::string(name) + ": expected shape " + what);
}

const uint8_t* mask_ptr(const OptMask& m) { return m ? m->data() : nullptr; }

// ---- seq2seq attention ---------------------------------------------------------------------------

struct S2S {
  idx N, Te, Td, H;
};
template <typename T>
S2S s2s_dims(const Arr<T>& hs, const Arr<T>& hq) {
  expect_ndim(hs, 3, "hs", "(N, Te, H)");
  expect_ndim(hq, 3, "hq", "(N, Td, H)");
  S2S d{hs.shape(0), hs.shape(1), hq.shape(1), hs.shape(2)};
  expect(hq, {d.N, d.Td, d.H}, "hq");
  return d;
}

// hs (N,Te,H), hq (N,Td,H), mask (N,Te)|None -> (c (N,Td,H), a (N,Td,Te))
template <typename T>
py::tuple attention_forward(const Arr<T>& hs, const Arr<T>& hq, const OptMask& mask) {
  const S2S d = s2s_dims(hs, hq);
  if (mask) expect(*mask, {d.N, d.Te}, "mask");
  Arr<T> c({d.N, d.Td, d.H}), a({d.N, d.Td, d.Te});
  T *pc = c.mutable_data(), *pa = a.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::attn::attention_forward<T>(d.N, d.Te, d.Td, d.H, hs.data(), hq.data(), mask_ptr(mask), pa, pc);
  }
  return py::make_tuple(c, a);
}

// dc (N,Td,H), hs, hq, a (N,Td,Te) -> (dhs, dhq)
template <typename T>
py::tuple attention_backward(const Arr<T>& dc, const Arr<T>& hs, const Arr<T>& hq, const Arr<T>& a) {
  const S2S d = s2s_dims(hs, hq);
  expect(a, {d.N, d.Td, d.Te}, "a");
  expect(dc, {d.N, d.Td, d.H}, "dc");
  Arr<T> dhs({d.N, d.Te, d.H}), dhq({d.N, d.Td, d.H});
  T *p1 = dhs.mutable_data(), *p2 = dhq.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::attn::attention_backward<T>(d.N, d.Te, d.Td, d.H, hs.data(), hq.data(), a.data(), dc.data(), p1, p2);
  }
  return py::make_tuple(dhs, dhq);
}

// hs, hq, mask -> a (N,Td,Te)
template <typename T>
Arr<T> attention_weights_forward(const Arr<T>& hs, const Arr<T>& hq, const OptMask& mask) {
  const S2S d = s2s_dims(hs, hq);
  if (mask) expect(*mask, {d.N, d.Te}, "mask");
  Arr<T> a({d.N, d.Td, d.Te});
  T* pa = a.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::attn::attention_forward<T>(d.N, d.Te, d.Td, d.H, hs.data(), hq.data(), mask_ptr(mask), pa, nullptr);
  }
  return a;
}

// da (N,Td,Te), hs, hq, a -> (dhs, dhq)
template <typename T>
py::tuple attention_weights_backward(const Arr<T>& da, const Arr<T>& hs, const Arr<T>& hq, const Arr<T>& a) {
  const S2S d = s2s_dims(hs, hq);
  expect(a, {d.N, d.Td, d.Te}, "a");
  expect(da, {d.N, d.Td, d.Te}, "da");
  Arr<T> dhs({d.N, d.Te, d.H}), dhq({d.N, d.Td, d.H});
  T *p1 = dhs.mutable_data(), *p2 = dhq.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::attn::attention_weights_backward<T>(d.N, d.Te, d.Td, d.H, hs.data(), hq.data(), a.data(), da.data(), p1,
                                               p2);
  }
  return py::make_tuple(dhs, dhq);
}

// hs (N,Te,H), a (N,Td,Te) -> c (N,Td,H)
template <typename T>
Arr<T> weighted_sum_forward(const Arr<T>& hs, const Arr<T>& a) {
  expect_ndim(hs, 3, "hs", "(N, Te, H)");
  expect_ndim(a, 3, "a", "(N, Td, Te)");
  const idx N = hs.shape(0), Te = hs.shape(1), H = hs.shape(2), Td = a.shape(1);
  expect(a, {N, Td, Te}, "a");
  Arr<T> c({N, Td, H});
  T* pc = c.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::attn::weighted_sum_forward<T>(N, Te, Td, H, hs.data(), a.data(), pc);
  }
  return c;
}

// dc (N,Td,H), hs, a -> (dhs, da)
template <typename T>
py::tuple weighted_sum_backward(const Arr<T>& dc, const Arr<T>& hs, const Arr<T>& a) {
  expect_ndim(hs, 3, "hs", "(N, Te, H)");
  expect_ndim(a, 3, "a", "(N, Td, Te)");
  const idx N = hs.shape(0), Te = hs.shape(1), H = hs.shape(2), Td = a.shape(1);
  expect(a, {N, Td, Te}, "a");
  expect(dc, {N, Td, H}, "dc");
  Arr<T> dhs({N, Te, H}), da({N, Td, Te});
  T *p1 = dhs.mutable_data(), *p2 = da.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::attn::weighted_sum_backward<T>(N, Te, Td, H, hs.data(), a.data(), dc.data(), p1, p2);
  }
  return py::make_tuple(dhs, da);
}

// ---- scaled dot-product attention ------------------------------------------------------------------

struct Sd {
  idx N, Hh, Tq, Tk, dk, dv;
};
template <typename T>
Sd sdpa_dims(const Arr<T>& q, const Arr<T>& k, const Arr<T>& v, const OptMask& mask, bool causal) {
  expect_ndim(q, 4, "q", "(N, Hh, Tq, dk)");
  expect_ndim(k, 4, "k", "(N, Hh, Tk, dk)");
  expect_ndim(v, 4, "v", "(N, Hh, Tk, dv)");
  Sd d{q.shape(0), q.shape(1), q.shape(2), k.shape(2), q.shape(3), v.shape(3)};
  expect(k, {d.N, d.Hh, d.Tk, d.dk}, "k");
  expect(v, {d.N, d.Hh, d.Tk, d.dv}, "v");
  if (mask) expect(*mask, {d.N, d.Tk}, "mask");
  if (causal && d.Tq != d.Tk) throw py::value_error("causal: needs Tq == Tk");
  return d;
}
template <typename T>
T sdpa_scale(idx dk) {
  return dk ? static_cast<T>(1.0 / std::sqrt(static_cast<double>(dk))) : T(1);
}

// q, k, v, mask|None, causal, train -> (out (N,Hh,Tq,dv), lse (N,Hh,Tq)|None)
template <typename T>
py::tuple sdpa_forward(const Arr<T>& q, const Arr<T>& k, const Arr<T>& v, const OptMask& mask, bool causal,
                       bool train) {
  const Sd d = sdpa_dims(q, k, v, mask, causal);
  Arr<T> out({d.N, d.Hh, d.Tq, d.dv}), lse({train ? d.N : 0, d.Hh, d.Tq});
  T *po = out.mutable_data(), *pl = train ? lse.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    pyrnn::attn::sdpa_forward<T>(d.N * d.Hh, d.Hh, d.Tq, d.Tk, d.dk, d.dv, sdpa_scale<T>(d.dk), q.data(), k.data(),
                                 v.data(), mask_ptr(mask), causal, po, pl);
  }
  return py::make_tuple(out, train ? py::object(lse) : py::none());
}

// dout, q, k, v, mask|None, causal, out, lse -> (dq, dk, dv)
template <typename T>
py::tuple sdpa_backward(const Arr<T>& dout, const Arr<T>& q, const Arr<T>& k, const Arr<T>& v, const OptMask& mask,
                        bool causal, const Arr<T>& out, const Arr<T>& lse) {
  const Sd d = sdpa_dims(q, k, v, mask, causal);
  expect(out, {d.N, d.Hh, d.Tq, d.dv}, "out");
  expect(dout, {d.N, d.Hh, d.Tq, d.dv}, "dout");
  expect(lse, {d.N, d.Hh, d.Tq}, "lse");
  Arr<T> dq({d.N, d.Hh, d.Tq, d.dk}), dk({d.N, d.Hh, d.Tk, d.dk}), dv({d.N, d.Hh, d.Tk, d.dv});
  T *p1 = dq.mutable_data(), *p2 = dk.mutable_data(), *p3 = dv.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::attn::sdpa_backward<T>(d.N * d.Hh, d.Hh, d.Tq, d.Tk, d.dk, d.dv, sdpa_scale<T>(d.dk), q.data(),
                                  k.data(), v.data(), mask_ptr(mask), causal, out.data(), lse.data(), dout.data(), p1,
                                  p2, p3);
  }
  return py::make_tuple(dq, dk, dv);
}

template <typename T>
void bind_typed(py::module_& m) {
  auto mask = [] { return py::arg("mask").noconvert().none(true); };
  m.def("attention_forward", &attention_forward<T>, py::arg("hs").noconvert(), py::arg("hq").noconvert(), mask(),
        "time-batched seq2seq attention -> (c (N,Td,H), a (N,Td,Te))");
  m.def("attention_backward", &attention_backward<T>, py::arg("dc").noconvert(), py::arg("hs").noconvert(),
        py::arg("hq").noconvert(), py::arg("a").noconvert(), "seq2seq attention backward -> (dhs, dhq)");
  m.def("attention_weights_forward", &attention_weights_forward<T>, py::arg("hs").noconvert(),
        py::arg("hq").noconvert(), mask(), "attention weights -> a (N,Td,Te)");
  m.def("attention_weights_backward", &attention_weights_backward<T>, py::arg("da").noconvert(),
        py::arg("hs").noconvert(), py::arg("hq").noconvert(), py::arg("a").noconvert(),
        "attention weights backward -> (dhs, dhq)");
  m.def("weighted_sum_forward", &weighted_sum_forward<T>, py::arg("hs").noconvert(), py::arg("a").noconvert(),
        "weighted sum c = a @ hs -> c (N,Td,H)");
  m.def("weighted_sum_backward", &weighted_sum_backward<T>, py::arg("dc").noconvert(), py::arg("hs").noconvert(),
        py::arg("a").noconvert(), "weighted sum backward -> (dhs, da)");
  m.def("sdpa_forward", &sdpa_forward<T>, py::arg("q").noconvert(), py::arg("k").noconvert(),
        py::arg("v").noconvert(), mask(), py::arg("causal"), py::arg("train"),
        "scaled dot-product attention, streaming softmax -> (out, lse|None)");
  m.def("sdpa_backward", &sdpa_backward<T>, py::arg("dout").noconvert(), py::arg("q").noconvert(),
        py::arg("k").noconvert(), py::arg("v").noconvert(), mask(), py::arg("causal"), py::arg("out").noconvert(),
        py::arg("lse").noconvert(), "scaled dot-product attention backward (recomputes P) -> (dq, dk, dv)");
}

}  // namespace

void bind_attention(py::module_& m) {
  bind_typed<float>(m);
  bind_typed<double>(m);
}
