// pybind11 bindings of the attention kernels (cpp/include/pyrnn/attention.hpp): the book's seq2seq
// attention and scaled dot-product attention. Registered into pyrnn._cpu by bind_attention(m)
// (module.cpp); array rules and checks: arrays.hpp. Masks are uint8 (1 = attend;
// pyrnn/backends/cpp/attention.py passes a bool mask as a zero-copy uint8 view).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>

#include "arrays.hpp"
#include "pyrnn/attention.hpp"

namespace py = pybind11;

namespace pyrnn::bindings {
namespace {

using Mask = py::array_t<uint8_t, py::array::c_style>;
using OptionalMask = std::optional<Mask>;

// ---- seq2seq attention ---------------------------------------------------------------------------

struct Seq2SeqDims {
  index_t N, Te, Td, H;
};
// N, Te, H from hs (N, Te, H) and Td from the other array: the queries hq (N, Td, H), or with
// `weights` the attention weights a (N, Td, Te); the other array is checked against them
template <typename T>
Seq2SeqDims seq2seq_dims(const Array<T>& hs, const Array<T>& other, bool weights = false) {
  const char* name = weights ? "a" : "hq";
  expect_ndim(hs, 3, "hs", "(N, Te, H)");
  expect_ndim(other, 3, name, weights ? "(N, Td, Te)" : "(N, Td, H)");
  Seq2SeqDims d{hs.shape(0), hs.shape(1), other.shape(1), hs.shape(2)};
  expect(other, {d.N, d.Td, weights ? d.Te : d.H}, name);
  return d;
}

// hs, hq, mask -> a (N,Td,Te), and c (N,Td,H) when with_context (else None)
template <typename T>
std::pair<Array<T>, py::object> seq2seq_forward(const Array<T>& hs, const Array<T>& hq, const OptionalMask& mask,
                                                bool with_context) {
  const Seq2SeqDims d = seq2seq_dims(hs, hq);
  expect(mask, {d.N, d.Te}, "mask");
  Array<T> a({d.N, d.Td, d.Te}), c({with_context ? d.N : 0, d.Td, d.H});
  T *p_a = a.mutable_data(), *p_c = with_context ? c.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    pyrnn::attention_forward<T>(d.N, d.Te, d.Td, d.H, hs.data(), hq.data(), data_or_null(mask), p_a, p_c);
  }
  return {a, or_none(with_context, c)};
}

// The two backwards of the weights: grad is dc (N,Td,H) of the whole attention (weights_only false) or
// da (N,Td,Te) of the weights alone -> (dhs, dhq)
template <typename T>
py::tuple seq2seq_backward(const Array<T>& grad, const Array<T>& hs, const Array<T>& hq, const Array<T>& a,
                           bool weights_only) {
  const Seq2SeqDims d = seq2seq_dims(hs, hq);
  expect(a, {d.N, d.Td, d.Te}, "a");
  if (weights_only)
    expect(grad, {d.N, d.Td, d.Te}, "da");
  else
    expect(grad, {d.N, d.Td, d.H}, "dc");
  Array<T> dhs({d.N, d.Te, d.H}), dhq({d.N, d.Td, d.H});
  T *p_dhs = dhs.mutable_data(), *p_dhq = dhq.mutable_data();
  {
    py::gil_scoped_release nogil;
    if (weights_only)
      pyrnn::attention_weights_backward<T>(d.N, d.Te, d.Td, d.H, hs.data(), hq.data(), a.data(), grad.data(), p_dhs,
                                           p_dhq);
    else
      pyrnn::attention_backward<T>(d.N, d.Te, d.Td, d.H, hs.data(), hq.data(), a.data(), grad.data(), p_dhs, p_dhq);
  }
  return py::make_tuple(dhs, dhq);
}

// hs (N,Te,H), hq (N,Td,H), mask (N,Te)|None -> (c (N,Td,H), a (N,Td,Te))
template <typename T>
py::tuple attention_forward(const Array<T>& hs, const Array<T>& hq, const OptionalMask& mask) {
  auto [a, c] = seq2seq_forward(hs, hq, mask, true);
  return py::make_tuple(c, a);
}

// dc (N,Td,H), hs, hq, a (N,Td,Te) -> (dhs, dhq)
template <typename T>
py::tuple attention_backward(const Array<T>& dc, const Array<T>& hs, const Array<T>& hq, const Array<T>& a) {
  return seq2seq_backward(dc, hs, hq, a, false);
}

// hs, hq, mask -> a (N,Td,Te)
template <typename T>
Array<T> attention_weights_forward(const Array<T>& hs, const Array<T>& hq, const OptionalMask& mask) {
  return seq2seq_forward(hs, hq, mask, false).first;
}

// da (N,Td,Te), hs, hq, a -> (dhs, dhq)
template <typename T>
py::tuple attention_weights_backward(const Array<T>& da, const Array<T>& hs, const Array<T>& hq, const Array<T>& a) {
  return seq2seq_backward(da, hs, hq, a, true);
}

// hs (N,Te,H), a (N,Td,Te) -> c (N,Td,H)
template <typename T>
Array<T> weighted_sum_forward(const Array<T>& hs, const Array<T>& a) {
  const Seq2SeqDims d = seq2seq_dims(hs, a, true);
  Array<T> c({d.N, d.Td, d.H});
  T* p_c = c.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::weighted_sum_forward<T>(d.N, d.Te, d.Td, d.H, hs.data(), a.data(), p_c);
  }
  return c;
}

// dc (N,Td,H), hs, a -> (dhs, da)
template <typename T>
py::tuple weighted_sum_backward(const Array<T>& dc, const Array<T>& hs, const Array<T>& a) {
  const Seq2SeqDims d = seq2seq_dims(hs, a, true);
  expect(dc, {d.N, d.Td, d.H}, "dc");
  Array<T> dhs({d.N, d.Te, d.H}), da({d.N, d.Td, d.Te});
  T *p_dhs = dhs.mutable_data(), *p_da = da.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::weighted_sum_backward<T>(d.N, d.Te, d.Td, d.H, hs.data(), a.data(), dc.data(), p_dhs, p_da);
  }
  return py::make_tuple(dhs, da);
}

// ---- scaled dot-product attention ------------------------------------------------------------------

struct SdpaDims {
  index_t N, Hh, Tq, Tk, dk, dv;
};
template <typename T>
SdpaDims sdpa_dims(const Array<T>& q, const Array<T>& k, const Array<T>& v, const OptionalMask& mask, bool causal) {
  expect_ndim(q, 4, "q", "(N, Hh, Tq, dk)");
  expect_ndim(k, 4, "k", "(N, Hh, Tk, dk)");
  expect_ndim(v, 4, "v", "(N, Hh, Tk, dv)");
  SdpaDims d{q.shape(0), q.shape(1), q.shape(2), k.shape(2), q.shape(3), v.shape(3)};
  expect(k, {d.N, d.Hh, d.Tk, d.dk}, "k");
  expect(v, {d.N, d.Hh, d.Tk, d.dv}, "v");
  expect(mask, {d.N, d.Tk}, "mask");
  if (causal && d.Tq != d.Tk) throw py::value_error("causal: needs Tq == Tk");
  return d;
}
template <typename T>
T sdpa_scale(index_t dk) {
  return dk ? static_cast<T>(1.0 / std::sqrt(static_cast<double>(dk))) : T(1);
}

// q, k, v, mask|None, causal, train -> (out (N,Hh,Tq,dv), lse (N,Hh,Tq)|None)
template <typename T>
py::tuple sdpa_forward(const Array<T>& q, const Array<T>& k, const Array<T>& v, const OptionalMask& mask, bool causal,
                       bool train) {
  const SdpaDims d = sdpa_dims(q, k, v, mask, causal);
  Array<T> out({d.N, d.Hh, d.Tq, d.dv}), lse({train ? d.N : 0, d.Hh, d.Tq});
  T *p_out = out.mutable_data(), *p_lse = train ? lse.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    pyrnn::sdpa_forward<T>(d.N * d.Hh, d.Hh, d.Tq, d.Tk, d.dk, d.dv, sdpa_scale<T>(d.dk), q.data(), k.data(),
                           v.data(), data_or_null(mask), causal, p_out, p_lse);
  }
  return py::make_tuple(out, or_none(train, lse));
}

// dout, q, k, v, mask|None, causal, out, lse -> (dq, dk, dv)
template <typename T>
py::tuple sdpa_backward(const Array<T>& dout, const Array<T>& q, const Array<T>& k, const Array<T>& v,
                        const OptionalMask& mask, bool causal, const Array<T>& out, const Array<T>& lse) {
  const SdpaDims d = sdpa_dims(q, k, v, mask, causal);
  expect(out, {d.N, d.Hh, d.Tq, d.dv}, "out");
  expect(dout, {d.N, d.Hh, d.Tq, d.dv}, "dout");
  expect(lse, {d.N, d.Hh, d.Tq}, "lse");
  Array<T> dq({d.N, d.Hh, d.Tq, d.dk}), dk({d.N, d.Hh, d.Tk, d.dk}), dv({d.N, d.Hh, d.Tk, d.dv});
  T *p_dq = dq.mutable_data(), *p_dk = dk.mutable_data(), *p_dv = dv.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::sdpa_backward<T>(d.N * d.Hh, d.Hh, d.Tq, d.Tk, d.dk, d.dv, sdpa_scale<T>(d.dk), q.data(), k.data(),
                            v.data(), data_or_null(mask), causal, out.data(), lse.data(), dout.data(), p_dq, p_dk,
                            p_dv);
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
}  // namespace pyrnn::bindings

void bind_attention(py::module_& m) {
  pyrnn::bindings::bind_typed<float>(m);
  pyrnn::bindings::bind_typed<double>(m);
}
