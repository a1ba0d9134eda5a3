// What every op needs: the Session it runs in, idx (the type of every size and offset), PYRNN_CUDA_ARGS,
// which makes an op's argument struct out of its argument list, and PYRNN_CUDA_INSTANTIATE.
//
// An op is `void op(const Session&, const OpArgs<T>&)`, T float or double. Its arguments are listed
// once, as an X-macro of X(kind, name) entries, in the order and with the names the Python side uses:
//   #define PYRNN_CUDA_RNN_FORWARD_ARGS(X) X(size, N) X(size, T) ... X(in, xs) ... X(out, hs) X(out, hT)
//   PYRNN_CUDA_ARGS(RnnForwardArgs, PYRNN_CUDA_RNN_FORWARD_ARGS)
// declares the struct RnnForwardArgs<T> { idx N; idx T; ...; const T* xs; ...; T* hs; T* hT; } and
// its visit(visitor), which calls visitor(ArgKind::size, "N", N), ... for each field in order: how the
// bindings (kernels/bindings) fill the struct from Python's keyword arguments and check each by its kind.
#pragma once
#include <cstdint>

#include "pyrnn_cuda/core/session.cuh"

namespace pyrnn_cuda {

using idx = std::int64_t;

// What an argument holds (and what the bindings take from Python for it)
enum class ArgKind {
  size,      // a size >= 0 (int)
  positive,  // a size >= 1 (int)
  flag,      // a bool (bool)
  real,      // a host scalar, double (float)
  in,        // a device array of T the op reads (int: its address; 0: an absent optional array)
  in_mask,   // a device array of bool the op reads (int, as in)
  out,       // a device array of T the op writes: an output or a workspace (int, as in)
  out_f64,   // a device array of double the op writes, a workspace (int, as in)
};

// the field type of each kind, for element type T
template <typename T>
struct ArgType {
  using size = idx;
  using positive = idx;
  using flag = bool;
  using real = double;
  using in = const T*;
  using in_mask = const bool*;
  using out = T*;
  using out_f64 = double*;
};

}  // namespace pyrnn_cuda

// Name<T>: one field per entry of LIST (an X-macro of X(kind, name)), and visit(visitor). The fields
// are reached as this->name: an argument may share its name with anything in scope (SDPA's v).
#define PYRNN_CUDA_ARG_FIELD(kind, name) typename ::pyrnn_cuda::ArgType<Elem>::kind name;
#define PYRNN_CUDA_ARG_VISIT(kind, name) pyrnn_cuda_visitor(::pyrnn_cuda::ArgKind::kind, #name, this->name);
#define PYRNN_CUDA_ARGS(Name, LIST)            \
  template <typename Elem>                     \
  struct Name {                                \
    LIST(PYRNN_CUDA_ARG_FIELD)                 \
    template <typename Visitor>                \
    void visit(Visitor&& pyrnn_cuda_visitor) { \
      LIST(PYRNN_CUDA_ARG_VISIT)               \
    }                                          \
  };

// An op's declaration in its family's header: its argument struct Args (PYRNN_CUDA_ARGS of LIST) and
// template <typename T> void op(const Session&, const Args<T>&), which the op's source defines
#define PYRNN_CUDA_DECLARE_OP(op, Args, LIST) \
  PYRNN_CUDA_ARGS(Args, LIST)                 \
  template <typename T>                       \
  void op(const ::pyrnn_cuda::Session& s, const Args<T>& args)

// In the op's source, after its definition: the float and double instances the bindings call
#define PYRNN_CUDA_INSTANTIATE(op, Args)                                      \
  template void op<float>(const ::pyrnn_cuda::Session&, const Args<float>&); \
  template void op<double>(const ::pyrnn_cuda::Session&, const Args<double>&);
