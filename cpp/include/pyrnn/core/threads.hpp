// pyrnn's own threads: one persistent pool of worker_threads() - 1 workers plus the caller.
//
// Why not OpenBLAS's threads: on the small per-step GEMMs its fork/join costs more than it saves, its
// idle workers spin for a long time after each call (perf: 60% of a (32,35,128,128) LSTM run was
// `inner_thread`/`blas_thread_server` spinning), and under load a descheduled BLAS worker stalls the
// caller. So the BLAS runs single-threaded and pyrnn splits its GEMMs and loops into fixed chunks here:
// workers spin briefly between the steps of a sequence (a step is microseconds), then sleep.
//
// Determinism: a job is `fn(chunk)` for chunk = 0..n-1, chunk boundaries depend only on the sizes and
// the thread count, and every chunk writes its own outputs. Which thread runs a chunk never changes a
// result, so every kernel built on this is bitwise reproducible at a given thread count.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <type_traits>
#include <vector>

#include "pyrnn/core/index.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PYRNN_PAUSE() _mm_pause()
#else
#define PYRNN_PAUSE() ((void)0)
#endif

namespace pyrnn {

// Threads for pyrnn's own loops and GEMMs: PYRNN_NUM_THREADS when set (>= 1), else the hardware's.
inline int worker_threads() {
  static const int n = [] {
    if (const char* s = std::getenv("PYRNN_NUM_THREADS")) {
      const int v = std::atoi(s);
      if (v >= 1) return v;
    }
    const unsigned hw = std::thread::hardware_concurrency();
    return hw ? static_cast<int>(hw) : 1;
  }();
  return n;
}

class ThreadPool {
 public:
  static ThreadPool& instance() {
    // never destroyed: workers blocked at interpreter exit are simply ended with the process
    static ThreadPool* pool = new ThreadPool(worker_threads() - 1);
    return *pool;
  }
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // fn(chunk) for chunk in [0, n), on the caller and the workers; returns when all are done.
  template <typename F>
  void run(int n, F&& fn) {
    if (n <= 0) return;
    if (n == 1 || workers_.empty() || forked_child().load(std::memory_order_relaxed)) {
      for (int c = 0; c < n; ++c) fn(c);
      return;
    }
    std::unique_lock<std::mutex> one_job(job_mutex_, std::try_to_lock);
    if (!one_job.owns_lock()) {  // another Python thread is using the pool: run inline, same chunks
      for (int c = 0; c < n; ++c) fn(c);
      return;
    }
    using Fn = std::remove_reference_t<F>;
    ctx_.store(static_cast<void*>(&fn), std::memory_order_relaxed);
    call_.store(+[](void* ctx, int c) { (*static_cast<Fn*>(ctx))(c); }, std::memory_order_relaxed);
    n_.store(n, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    const uint64_t job = ++job_id_;
    next_.store(job << 32, std::memory_order_relaxed);
    gen_.store(job, std::memory_order_release);
    if (sleepers_.load(std::memory_order_acquire) > 0) {
      std::lock_guard<std::mutex> lk(sleep_mutex_);
      cv_.notify_all();
    }
    const int mine = work(job, n, call_.load(std::memory_order_relaxed), &fn);
    // wait for the chunks a worker took: spin (they take microseconds), then yield the core
    int spins = 0;
    while (done_.load(std::memory_order_acquire) + mine < n) {
      if (++spins < 4000)
        PYRNN_PAUSE();
      else
        std::this_thread::yield();
    }
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(sleep_mutex_);
      stop_.store(true);
      gen_.store(~uint64_t(0), std::memory_order_release);
      cv_.notify_all();
    }
    for (auto& t : workers_) t.join();
  }

 private:
  using Call = void (*)(void*, int);

  // In a child forked from this process the workers do not exist (only the forking thread is copied),
  // and a mutex they held may be locked forever: the child runs every job inline.
  static std::atomic<bool>& forked_child() {
    static std::atomic<bool> f{false};
    return f;
  }

  explicit ThreadPool(int workers) {
    pthread_atfork(nullptr, nullptr, [] { forked_child().store(true); });
    for (int k = 0; k < workers; ++k) workers_.emplace_back([this] { loop(); });
  }

  // Take chunks of `job` until none are left (or a newer job replaced it); returns how many ran here.
  int work(uint64_t job, int n, Call call, void* ctx) {
    int ran = 0;
    uint64_t v = next_.load(std::memory_order_acquire);
    for (;;) {
      if ((v >> 32) != job || static_cast<int>(v & 0xffffffffu) >= n) break;
      if (!next_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) continue;
      call(ctx, static_cast<int>(v & 0xffffffffu));
      ++ran;
      v = next_.load(std::memory_order_acquire);
    }
    return ran;
  }

  void loop() {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = gen_.load(std::memory_order_acquire);
      // spin ~50 us for the next job (the next step of a sequence), then sleep
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; g == seen; ++i) {
        PYRNN_PAUSE();
        g = gen_.load(std::memory_order_acquire);
        if ((i & 255) == 255 && std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(50)) break;
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lk(sleep_mutex_);
        sleepers_.fetch_add(1, std::memory_order_acq_rel);
        cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_acq_rel);
        g = gen_.load(std::memory_order_acquire);
      }
      if (stop_.load()) return;
      seen = g;
      const Call call = call_.load(std::memory_order_relaxed);
      void* ctx = ctx_.load(std::memory_order_relaxed);
      const int n = n_.load(std::memory_order_relaxed);
      if (gen_.load(std::memory_order_acquire) != g) continue;  // replaced while reading: skip it
      const int ran = work(g, n, call, ctx);
      if (ran) done_.fetch_add(ran, std::memory_order_acq_rel);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex job_mutex_, sleep_mutex_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> gen_{0};
  std::atomic<uint64_t> next_{0};  // (job id << 32) | next chunk
  std::atomic<Call> call_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int> n_{0};
  std::atomic<int> done_{0};
  uint64_t job_id_ = 0;
};

// fn(begin, end) over [0, n) in up to threads contiguous chunks; inline when the work (n *
// cost_per_item, in rough element operations) is too small to pay for waking a worker.
template <typename F>
void parallel_for(index_t n, double cost_per_item, F&& fn) {
  constexpr double kMinWorkPerThread = 1 << 14;
  auto& pool = ThreadPool::instance();
  int nt = pool.threads();
  const double work = static_cast<double>(n) * cost_per_item;
  nt = static_cast<int>(std::min<double>(nt, std::max(1.0, work / kMinWorkPerThread)));
  nt = static_cast<int>(std::min<index_t>(nt, std::max<index_t>(n, 1)));
  if (nt <= 1) {
    fn(index_t(0), n);
    return;
  }
  const index_t chunk = (n + nt - 1) / nt;
  pool.run(nt, [&](int k) {
    const index_t b = std::min(n, k * chunk), e = std::min(n, (k + 1) * chunk);
    if (b < e) fn(b, e);
  });
}

// fn(task) for task in [0, n) on the pool, taken first-come (inline when there is one task or the work,
// in rough element operations, is too small to pay for waking a worker). Unlike parallel_for the tasks
// are the caller's, so a caller that fixes them independently of the thread count gets results that do
// not depend on it.
// The pool counts tasks in an int: more than INT_MAX go in consecutive rounds of at most INT_MAX.
template <typename F>
void run_tasks(index_t n, double work, F&& fn) {
  if (n <= 0) return;
  if (n == 1 || work < 65536.0) {
    for (index_t t = 0; t < n; ++t) fn(t);
    return;
  }
  constexpr index_t kMaxRound = std::numeric_limits<int>::max();
  for (index_t t0 = 0; t0 < n; t0 += kMaxRound) {
    const int m = static_cast<int>(std::min(n - t0, kMaxRound));
    ThreadPool::instance().run(m, [&](int t) { fn(t0 + static_cast<index_t>(t)); });
  }
}

}  // namespace pyrnn
