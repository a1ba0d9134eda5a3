// Opt-in phase timers for the recurrent kernels: PYRNN_PROFILE=1 in the environment turns them on
// (off, a timer costs one predictable branch); pyrnn._cpu.profile() reads and resets the totals.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>

namespace pyrnn {

enum ProfPhase : int {
  kFwdInputGemm, kFwdStepGemm, kFwdPointwise, kBwdPointwise, kBwdStepGemm, kBwdInputGemm, kBwdWeightGemm,
  kBwdOther, kProfPhases
};
inline const char* prof_name(int p) {
  static const char* names[] = {"fwd input GEMM (x Wx)", "fwd step GEMM (h Wh)", "fwd pointwise",
                                "bwd pointwise", "bwd step GEMM (dA Wh^T)", "bwd input GEMM (dA Wx^T)",
                                "bwd weight GEMMs (dWx, dWh)", "bwd other (hprev, db, copies)"};
  return names[p];
}
inline bool prof_on() {
  static const bool on = [] {
    const char* s = std::getenv("PYRNN_PROFILE");
    return s && *s && *s != '0';
  }();
  return on;
}
inline std::array<std::atomic<long long>, kProfPhases>& prof_ns() {
  static std::array<std::atomic<long long>, kProfPhases> ns{};
  return ns;
}

class ProfTimer {
 public:
  explicit ProfTimer(ProfPhase p) : p_(p), on_(prof_on()) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~ProfTimer() { stop(); }
  void stop() {
    if (on_ && !stopped_)
      prof_ns()[p_] += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_)
                           .count();
    stopped_ = true;
  }

 private:
  ProfPhase p_;
  bool on_, stopped_ = false;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace pyrnn
