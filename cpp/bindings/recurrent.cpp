// pybind11 bindings of the recurrent kernels (cpp/include/pyrnn/recurrent.hpp): tanh RNN, LSTM, GRU.
// Registered into pyrnn._cpu by bind_recurrent(m) (module.cpp); array rules and checks: arrays.hpp.
#include <pybind11/pybind11.h>

#include "arrays.hpp"
#include "pyrnn/recurrent.hpp"

namespace py = pybind11;

namespace pyrnn::bindings {
namespace {

// Optional: the rows per step of packed sequences (host int64, as PyTorch's PackedSequence holds them)
using BatchSizes = std::optional<py::array_t<int64_t, py::array::c_style>>;

// The sequences' sizes and layout (pyrnn::Steps) from the arguments: xs (N, T, D) whole sequences, or
// xs (P, D) packed with batch_sizes (T,), non-increasing, >= 1, summing to P (N = batch_sizes[0], or
// h0's rows when T = 0). H from Wh (H, gates*H); Wx and Wh checked against them.
struct Layout {
  py::ssize_t N, T, D, H;
  std::vector<index_t> offset;  // packed: T+1 row offsets; empty: whole sequences
  // the shape of an array with one row of width w per step of each sequence
  Shape rows(py::ssize_t w) const { return offset.empty() ? Shape{N, T, w} : Shape{offset.back(), w}; }
  Steps steps() const { return {N, T, offset.empty() ? nullptr : offset.data()}; }
};
template <typename T>
Layout layout(const Array<T>& xs, const Array<T>& Wx, const Array<T>& Wh, py::ssize_t gates,
              const BatchSizes& batch_sizes, const OptionalArray<T>& h0) {
  expect_ndim(Wh, 2, "Wh", "(H, gates*H)");
  Layout d{};
  d.H = Wh.shape(0);
  if (!batch_sizes) {
    expect_ndim(xs, 3, "xs", "(N, T, D)");
    d.N = xs.shape(0), d.T = xs.shape(1), d.D = xs.shape(2);
  } else {
    expect_ndim(xs, 2, "xs", "(P, D) packed rows");
    expect_ndim(*batch_sizes, 1, "batch_sizes", "(T,)");
    d.D = xs.shape(1), d.T = batch_sizes->shape(0);
    const int64_t* bs = batch_sizes->data();
    d.offset.assign(1, 0);
    for (py::ssize_t t = 0; t < d.T; ++t) {
      if (bs[t] < 1 || (t && bs[t] > bs[t - 1]))
        throw py::value_error("batch_sizes: expected non-increasing sizes >= 1");
      d.offset.push_back(d.offset.back() + static_cast<index_t>(bs[t]));
    }
    if (d.offset.back() != xs.shape(0))
      throw py::value_error("xs: expected shape (P, D) with P = sum(batch_sizes) = " + std::to_string(d.offset.back()));
    d.N = d.T ? static_cast<py::ssize_t>(bs[0]) : (h0 ? h0->shape(0) : 0);
  }
  expect(Wx, {d.D, gates * d.H}, "Wx");
  expect(Wh, {d.H, gates * d.H}, "Wh");
  return d;
}

// ---- tanh RNN ------------------------------------------------------------------------------------

template <typename T>
py::tuple rnn_forward(const Array<T>& xs, const Array<T>& Wx, const Array<T>& Wh, const OptionalArray<T>& b,
                      const OptionalArray<T>& h0, const BatchSizes& batch_sizes) {
  const Layout d = layout(xs, Wx, Wh, 1, batch_sizes, h0);
  expect(b, {d.H}, "b");
  expect(h0, {d.N, d.H}, "h0");
  Array<T> hs(d.rows(d.H)), hT({d.N, d.H});
  T *p_hs = hs.mutable_data(), *p_hT = hT.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::rnn_forward<T>(d.steps(), d.D, d.H, xs.data(), Wx.data(), Wh.data(), data_or_null(b), data_or_null(h0),
                          p_hs, p_hT);
  }
  return py::make_tuple(hs, hT);
}

template <typename T>
py::tuple rnn_backward(const Array<T>& dhs, const OptionalArray<T>& dhT, const Array<T>& xs, const Array<T>& Wx,
                       const Array<T>& Wh, const OptionalArray<T>& h0, const Array<T>& hs, bool has_bias,
                       const BatchSizes& batch_sizes) {
  const Layout d = layout(xs, Wx, Wh, 1, batch_sizes, h0);
  expect(h0, {d.N, d.H}, "h0");
  expect(hs, d.rows(d.H), "hs");
  expect(dhs, d.rows(d.H), "dhs");
  expect(dhT, {d.N, d.H}, "dhT");
  Array<T> dxs(d.rows(d.D)), dWx({d.D, d.H}), dWh({d.H, d.H}), db({has_bias ? d.H : 0}), dh0({d.N, d.H});
  T *p_dxs = dxs.mutable_data(), *p_dWx = dWx.mutable_data(), *p_dWh = dWh.mutable_data();
  T *p_db = has_bias ? db.mutable_data() : nullptr, *p_dh0 = dh0.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::rnn_backward<T>(d.steps(), d.D, d.H, xs.data(), Wx.data(), Wh.data(), data_or_null(h0), hs.data(),
                           dhs.data(), data_or_null(dhT), p_dxs, p_dWx, p_dWh, p_db, p_dh0);
  }
  return py::make_tuple(dxs, dWx, dWh, or_none(has_bias, db), dh0);
}

// ---- LSTM ----------------------------------------------------------------------------------------

template <typename T>
py::tuple lstm_forward(const Array<T>& xs, const Array<T>& Wx, const Array<T>& Wh, const OptionalArray<T>& b,
                       const OptionalArray<T>& h0, const OptionalArray<T>& c0, bool train,
                       const BatchSizes& batch_sizes) {
  const Layout d = layout(xs, Wx, Wh, 4, batch_sizes, h0);
  expect(b, {4 * d.H}, "b");
  expect(h0, {d.N, d.H}, "h0");
  expect(c0, {d.N, d.H}, "c0");
  Array<T> hs(d.rows(d.H)), hT({d.N, d.H}), cT({d.N, d.H});
  Array<T> cs(train ? d.rows(d.H) : Shape{0}), gates(train ? d.rows(4 * d.H) : Shape{0});
  T *p_hs = hs.mutable_data(), *p_hT = hT.mutable_data(), *p_cT = cT.mutable_data();
  T *p_cs = train ? cs.mutable_data() : nullptr, *p_gates = train ? gates.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    pyrnn::lstm_forward<T>(d.steps(), d.D, d.H, xs.data(), Wx.data(), Wh.data(), data_or_null(b), data_or_null(h0),
                           data_or_null(c0), p_hs, p_hT, p_cT, p_cs, p_gates);
  }
  return py::make_tuple(hs, hT, cT, or_none(train, cs), or_none(train, gates));
}

template <typename T>
py::tuple lstm_backward(const Array<T>& dhs, const OptionalArray<T>& dhT, const OptionalArray<T>& dcT,
                        const Array<T>& xs, const Array<T>& Wx, const Array<T>& Wh, const OptionalArray<T>& h0,
                        const OptionalArray<T>& c0, const Array<T>& hs, const Array<T>& cs, const Array<T>& gates,
                        bool has_bias, const BatchSizes& batch_sizes) {
  const Layout d = layout(xs, Wx, Wh, 4, batch_sizes, h0);
  expect(h0, {d.N, d.H}, "h0");
  expect(c0, {d.N, d.H}, "c0");
  expect(hs, d.rows(d.H), "hs");
  expect(cs, d.rows(d.H), "cs");
  expect(gates, d.rows(4 * d.H), "gates");
  expect(dhs, d.rows(d.H), "dhs");
  expect(dhT, {d.N, d.H}, "dhT");
  expect(dcT, {d.N, d.H}, "dcT");
  Array<T> dxs(d.rows(d.D)), dWx({d.D, 4 * d.H}), dWh({d.H, 4 * d.H}), db({has_bias ? 4 * d.H : 0});
  Array<T> dh0({d.N, d.H}), dc0({d.N, d.H});
  T *p_dxs = dxs.mutable_data(), *p_dWx = dWx.mutable_data(), *p_dWh = dWh.mutable_data();
  T *p_db = has_bias ? db.mutable_data() : nullptr, *p_dh0 = dh0.mutable_data(), *p_dc0 = dc0.mutable_data();
  {
    py::gil_scoped_release nogil;
    pyrnn::lstm_backward<T>(d.steps(), d.D, d.H, xs.data(), Wx.data(), Wh.data(), data_or_null(h0), data_or_null(c0),
                            hs.data(), cs.data(), gates.data(), dhs.data(), data_or_null(dhT), data_or_null(dcT),
                            p_dxs, p_dWx, p_dWh, p_db, p_dh0, p_dc0);
  }
  return py::make_tuple(dxs, dWx, dWh, or_none(has_bias, db), dh0, dc0);
}

// ---- GRU -----------------------------------------------------------------------------------------
// What the backward needs of n's recurrent part depends on the variant: r_hprev = r * h_{t-1} without
// reset_after, hprev_Whn = h_{t-1} Whn + b1n with it. The forward returns both slots, the other one
// None; the backward takes both and needs the variant's.

template <typename T>
py::tuple gru_forward(const Array<T>& xs, const Array<T>& Wx, const Array<T>& Wh, const OptionalArray<T>& b,
                      const OptionalArray<T>& h0, bool reset_after, bool train, const BatchSizes& batch_sizes) {
  const Layout d = layout(xs, Wx, Wh, 3, batch_sizes, h0);
  if (reset_after)
    expect(b, {2, 3 * d.H}, "b");
  else
    expect(b, {3 * d.H}, "b");
  expect(h0, {d.N, d.H}, "h0");
  Array<T> hs(d.rows(d.H)), hT({d.N, d.H});
  Array<T> gates(train ? d.rows(3 * d.H) : Shape{0}), n_saved(train ? d.rows(d.H) : Shape{0});
  T *p_hs = hs.mutable_data(), *p_hT = hT.mutable_data();
  T *p_gates = train ? gates.mutable_data() : nullptr, *p_n = train ? n_saved.mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    pyrnn::gru_forward<T>(d.steps(), d.D, d.H, reset_after, xs.data(), Wx.data(), Wh.data(), data_or_null(b),
                          data_or_null(h0), p_hs, p_hT, p_gates, reset_after ? nullptr : p_n,
                          reset_after ? p_n : nullptr);
  }
  return py::make_tuple(hs, hT, or_none(train, gates), or_none(train && !reset_after, n_saved),
                        or_none(train && reset_after, n_saved));
}

template <typename T>
py::tuple gru_backward(const Array<T>& dhs, const OptionalArray<T>& dhT, const Array<T>& xs, const Array<T>& Wx,
                       const Array<T>& Wh, const OptionalArray<T>& h0, const Array<T>& hs, const Array<T>& gates,
                       const OptionalArray<T>& r_hprev, const OptionalArray<T>& hprev_Whn, bool reset_after,
                       bool has_bias, const BatchSizes& batch_sizes) {
  const Layout d = layout(xs, Wx, Wh, 3, batch_sizes, h0);
  expect(h0, {d.N, d.H}, "h0");
  expect(hs, d.rows(d.H), "hs");
  expect(gates, d.rows(3 * d.H), "gates");
  const OptionalArray<T>& n_saved = reset_after ? hprev_Whn : r_hprev;
  const char* n_name = reset_after ? "hprev_Whn" : "r_hprev";
  if (!n_saved)
    throw py::value_error(std::string(n_name) + ": needed " + (reset_after ? "with" : "without") + " reset_after");
  expect(*n_saved, d.rows(d.H), n_name);
  expect(dhs, d.rows(d.H), "dhs");
  expect(dhT, {d.N, d.H}, "dhT");
  Array<T> dxs(d.rows(d.D)), dWx({d.D, 3 * d.H}), dWh({d.H, 3 * d.H}), dh0({d.N, d.H});
  Array<T> db(reset_after ? Shape{has_bias ? 2 : 0, 3 * d.H} : Shape{has_bias ? 3 * d.H : 0});
  T *p_dxs = dxs.mutable_data(), *p_dWx = dWx.mutable_data(), *p_dWh = dWh.mutable_data();
  T *p_db = has_bias ? db.mutable_data() : nullptr, *p_dh0 = dh0.mutable_data();
  const T* p_n = n_saved->data();
  {
    py::gil_scoped_release nogil;
    pyrnn::gru_backward<T>(d.steps(), d.D, d.H, reset_after, xs.data(), Wx.data(), Wh.data(), data_or_null(h0),
                           hs.data(), gates.data(), reset_after ? nullptr : p_n, reset_after ? p_n : nullptr,
                           dhs.data(), data_or_null(dhT), p_dxs, p_dWx, p_dWh, p_db, p_dh0);
  }
  return py::make_tuple(dxs, dWx, dWh, or_none(has_bias, db), dh0);
}

// every op takes whole sequences, or packed ones when given batch_sizes (the layout above)
inline py::arg_v batch_sizes_arg() { return py::arg("batch_sizes").noconvert().none(true) = py::none(); }

template <typename T>
void bind_typed(py::module_& m) {
  m.def("rnn_forward", &rnn_forward<T>, py::arg("xs").noconvert(), py::arg("Wx").noconvert(),
        py::arg("Wh").noconvert(), py::arg("b").noconvert().none(true), py::arg("h0").noconvert().none(true),
        batch_sizes_arg(), "tanh RNN forward -> (hs, hT)");
  m.def("rnn_backward", &rnn_backward<T>, py::arg("dhs").noconvert(), py::arg("dhT").noconvert().none(true),
        py::arg("xs").noconvert(), py::arg("Wx").noconvert(), py::arg("Wh").noconvert(),
        py::arg("h0").noconvert().none(true), py::arg("hs").noconvert(), py::arg("has_bias"),
        batch_sizes_arg(), "tanh RNN backward -> (dxs, dWx, dWh, db|None, dh0)");
  m.def("lstm_forward", &lstm_forward<T>, py::arg("xs").noconvert(), py::arg("Wx").noconvert(),
        py::arg("Wh").noconvert(), py::arg("b").noconvert().none(true), py::arg("h0").noconvert().none(true),
        py::arg("c0").noconvert().none(true), py::arg("train"),
        batch_sizes_arg(), "LSTM forward, gates [f,g,i,o] -> (hs, hT, cT, cs|None, gates|None)");
  m.def("lstm_backward", &lstm_backward<T>, py::arg("dhs").noconvert(), py::arg("dhT").noconvert().none(true),
        py::arg("dcT").noconvert().none(true), py::arg("xs").noconvert(), py::arg("Wx").noconvert(),
        py::arg("Wh").noconvert(), py::arg("h0").noconvert().none(true), py::arg("c0").noconvert().none(true),
        py::arg("hs").noconvert(), py::arg("cs").noconvert(), py::arg("gates").noconvert(), py::arg("has_bias"),
        batch_sizes_arg(), "LSTM backward -> (dxs, dWx, dWh, db|None, dh0, dc0)");
  m.def("gru_forward", &gru_forward<T>, py::arg("xs").noconvert(), py::arg("Wx").noconvert(),
        py::arg("Wh").noconvert(), py::arg("b").noconvert().none(true), py::arg("h0").noconvert().none(true),
        py::arg("reset_after"), py::arg("train"),
        batch_sizes_arg(), "GRU forward, gates [z,r,n] -> (hs, hT, gates|None, r_hprev|None, hprev_Whn|None): in training "
        "r_hprev = r * h_{t-1} without reset_after, hprev_Whn = h_{t-1} Whn + b1n with it");
  m.def("gru_backward", &gru_backward<T>, py::arg("dhs").noconvert(), py::arg("dhT").noconvert().none(true),
        py::arg("xs").noconvert(), py::arg("Wx").noconvert(), py::arg("Wh").noconvert(),
        py::arg("h0").noconvert().none(true), py::arg("hs").noconvert(), py::arg("gates").noconvert(),
        py::arg("r_hprev").noconvert().none(true), py::arg("hprev_Whn").noconvert().none(true),
        py::arg("reset_after"), py::arg("has_bias"), batch_sizes_arg(), "GRU backward -> (dxs, dWx, dWh, db|None, dh0)");
}

}  // namespace
}  // namespace pyrnn::bindings

void bind_recurrent(py::module_& m) {
  pyrnn::bindings::bind_typed<float>(m);
  pyrnn::bindings::bind_typed<double>(m);
}
