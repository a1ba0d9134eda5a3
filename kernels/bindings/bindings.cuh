// What the binding files share: each family's bind_<family>(module) (kernels/bindings/<family>.cu),
// which module.cu calls, and bind_op, which makes one op of kernels/include/pyrnn_cuda a function of
// pyrnn._cuda.
//
// Thin on purpose: the caller (pyrnn/backends/cuda/) owns every buffer. It allocates outputs and
// workspaces with CuPy (so CuPy's memory pool serves them), checks shapes, dtypes and devices, and
// passes raw device pointers as integers (0 = an absent optional array), the sizes, the device and the
// stream (CuPy's current stream) here. The kernels only queue work on that stream; nothing here
// synchronizes. The GIL is released while they queue.
#pragma once
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "pyrnn_cuda/core/op.cuh"
#include "pyrnn_cuda/core/session.cuh"

namespace pyrnn_cuda {

void bind_recurrent(pybind11::module_& m);
void bind_attention(pybind11::module_& m);
void bind_norm(pybind11::module_& m);

namespace binding {

namespace py = pybind11;

// how the Python side passes an argument of each kind (for the error messages)
inline const char* expected(ArgKind kind) {
  switch (kind) {
    case ArgKind::size:
    case ArgKind::positive:
      return "an int";
    case ArgKind::flag:
      return "a bool";
    case ArgKind::real:
      return "a float";
    default:
      return "a device address (an int >= 0; 0: none)";
  }
}

// One call's keyword arguments, taken by name: each converted as pybind11 converts a declared
// argument (an int for a size, ...), with TypeError naming a missing or mistyped one; the sizes are
// kept for the range check, the names for the check that nothing else was passed.
class Call {
 public:
  Call(const char* op, const py::args& positional, const py::kwargs& kwargs) : op_(op), kwargs_(kwargs.ptr()) {
    if (!positional.empty())
      throw py::type_error(op_ + "() takes keyword arguments only, got " + std::to_string(positional.size()) +
                           " positional");
  }

  template <typename V>
  V take(const char* name, const char* want) {
    if (!kwargs().contains(name)) throw py::type_error(op_ + "() missing keyword argument '" + name + "'");
    taken_.emplace_back(name);
    const py::object value = kwargs()[name];
    py::detail::make_caster<V> caster;
    if (!caster.load(value, true))
      throw py::type_error(op_ + "(): argument '" + name + "' must be " + want + ", got " + describe(value));
    return py::detail::cast_op<V>(std::move(caster));
  }

  // the visitor of an argument struct (core/op.cuh): fills each field
  template <typename Field>
  void operator()(ArgKind kind, const char* name, Field& field) {
    if constexpr (std::is_pointer_v<Field>) {
      field = reinterpret_cast<Field>(take<std::uintptr_t>(name, expected(kind)));
    } else {
      field = take<Field>(name, expected(kind));
      if (kind == ArgKind::size || kind == ArgKind::positive)
        sizes_.push_back({name, static_cast<idx>(field), kind == ArgKind::positive});
    }
  }

  // after the last take: TypeError for an argument the op does not take; ValueError for a size out
  // of range, naming them all: "expected N, T, D >= 0 and H >= 1, got N=1 T=1 D=1 H=0"
  void check() const {
    for (const auto& item : kwargs()) {
      const std::string key = py::str(item.first);
      if (std::find(taken_.begin(), taken_.end(), key) == taken_.end())
        throw py::type_error(op_ + "() got an unexpected keyword argument '" + key + "'");
    }
    bool ok = true;
    std::string at_least_0, at_least_1, got;
    for (const Size& size : sizes_) {
      ok = ok && size.value >= (size.positive ? 1 : 0);
      std::string& group = size.positive ? at_least_1 : at_least_0;
      group += (group.empty() ? "" : ", ") + std::string(size.name);
      got += (got.empty() ? "" : " ") + std::string(size.name) + "=" + std::to_string(size.value);
    }
    if (ok) return;
    std::string want = at_least_0.empty() ? "" : at_least_0 + " >= 0";
    if (!at_least_1.empty()) want += (want.empty() ? "" : " and ") + at_least_1 + " >= 1";
    throw py::value_error("pyrnn._cuda: expected " + want + ", got " + got);
  }

 private:
  // "str 'abc'", "int -1": the type, and the value when it is a short scalar
  static std::string describe(const py::handle value) {
    std::string text = Py_TYPE(value.ptr())->tp_name;
    if (PyLong_Check(value.ptr()) || PyFloat_Check(value.ptr()) || PyUnicode_Check(value.ptr()))
      text += " " + std::string(py::repr(value)).substr(0, 40);
    return text;
  }

  struct Size {
    const char* name;
    idx value;
    bool positive;
  };
  py::dict kwargs() const { return py::reinterpret_borrow<py::dict>(kwargs_); }

  std::string op_;
  PyObject* kwargs_;  // the call's, borrowed (a pybind11 type here would not share this class's visibility)
  std::vector<std::string> taken_;
  std::vector<Size> sizes_;
};

// the docstring: "op(*, dtype, N, T, ..., device, stream)\n--\n\n" (the signature help() and
// inspect.signature show), then what the arguments are
template <typename Args>
std::string doc(const char* op) {
  std::string names;
  Args{}.visit([&](ArgKind, const char* name, auto&) { names += std::string(", ") + name; });
  return std::string(op) + "(*, dtype" + names + ", device, stream)\n--\n\n" +
         "Queues the kernel on `stream` (a cudaStream_t) of `device`. dtype: 'float32' or 'float64'; arrays: "
         "device addresses (0: none); shapes: kernels/include/pyrnn_cuda. Internal: pyrnn.backends.cuda calls it.";
}

}  // namespace binding

// Binds m.<name>(*, dtype, <the op's arguments>, device, stream): fills Args<float> or Args<double>
// (dtype 'float32' or 'float64') from the keyword arguments by the names and kinds of the op's argument
// list, checks them, then runs kernel(session, args) on `device`'s `stream` with the GIL released. A
// missing, unexpected or mistyped argument raises TypeError naming it; a bad dtype or size ValueError;
// a failing CUDA or cuBLAS call pyrnn._cuda.CudaError (a RuntimeError) naming the call and its status.
template <template <typename> class Args, typename Kernel>
void bind_op(pybind11::module_& m, const char* name, Kernel kernel) {
  namespace py = pybind11;
  py::options options;
  options.disable_function_signatures();  // the doc's first line is the signature
  m.def(
      name,
      [name, kernel](const py::args& positional, const py::kwargs& kwargs) {
        binding::Call call(name, positional, kwargs);
        const auto dtype = call.take<std::string>("dtype", "a str");
        auto run = [&](auto element) {
          using T = decltype(element);
          Args<T> args{};
          args.visit(call);
          const auto device = call.take<int>("device", "an int");
          const auto stream = call.take<std::uintptr_t>("stream", "an int (a cudaStream_t)");
          call.check();
          py::gil_scoped_release nogil;
          Session s(device, stream);
          kernel(s, args);
        };
        if (dtype == "float32")
          run(float{});
        else if (dtype == "float64")
          run(double{});
        else
          throw py::value_error("pyrnn._cuda: dtype must be 'float32' or 'float64', got '" + dtype + "'");
      },
      binding::doc<Args<float>>(name).c_str());
}

}  // namespace pyrnn_cuda

// bind_op for op(const Session&, const Args<T>&), under the op's own name
#define PYRNN_CUDA_BIND_OP(m, op, Args) \
  ::pyrnn_cuda::bind_op<Args>(m, #op, [](const ::pyrnn_cuda::Session& s, const auto& args) { op(s, args); })

// an op's forward and backward (the contract's pair): op_forward with OpForwardArgs, op_backward with
// OpBackwardArgs, e.g. PYRNN_CUDA_BIND_PAIR(m, lstm, Lstm)
#define PYRNN_CUDA_BIND_PAIR(m, op, Op)                 \
  PYRNN_CUDA_BIND_OP(m, op##_forward, Op##ForwardArgs); \
  PYRNN_CUDA_BIND_OP(m, op##_backward, Op##BackwardArgs)
