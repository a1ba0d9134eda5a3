// Buffer: uninitialized, aligned scratch for the kernels' large temporaries.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pyrnn {

// Uninitialized scratch of n elements, for the (N, T, ...) buffers a kernel fully writes before reading.
// std::vector zero-fills, and a fresh 52 MB buffer (LSTM (64,100,512,512) pre-activations) then costs
// the fill plus ~13K 4 KB page faults on every call: measured 30 ms of a 200 ms LSTM forward. Blocks of
// 4 MB and up are 2 MB aligned and asked for transparent huge pages (as NumPy does for its arrays):
// 26 faults instead, and fewer TLB misses in the GEMMs that stream them.
template <typename T>
class Buffer {
 public:
  explicit Buffer(size_t n) : n_(n) {
    if (n == 0) return;
    const size_t bytes = n * sizeof(T);
    constexpr size_t kHuge = size_t(2) << 20;
    const bool huge = bytes >= 2 * kHuge;
    const size_t align = huge ? kHuge : 64;
    void* p = nullptr;
    if (posix_memalign(&p, align, (bytes + align - 1) / align * align) != 0) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (huge) madvise(p, (bytes + kHuge - 1) / kHuge * kHuge, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
    p_ = static_cast<T*>(p);
  }
  ~Buffer() { std::free(p_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }
  T* begin() { return p_; }
  T* end() { return p_ + n_; }

 private:
  T* p_ = nullptr;
  size_t n_;
};

}  // namespace pyrnn
