// The one index type of every kernel: sizes, strides, offsets and loop counters. Signed, so reverse
// loops (t >= 0) and differences need no casts; pointer-sized, so products like N*T*4H never overflow.
#pragma once
#include <cstddef>

namespace pyrnn {

using index_t = std::ptrdiff_t;

}  // namespace pyrnn
