// Tuning knobs read from the environment (for measuring): each kernel header keeps its knob in a
// function-local static, so the variable is read once, on first use.
#pragma once
#include <cstdlib>

namespace pyrnn {

// The number in environment variable `name` (std::atof), or `fallback` when it is not set.
inline double env_number(const char* name, double fallback) {
  const char* s = std::getenv(name);
  return s ? std::atof(s) : fallback;
}

}  // namespace pyrnn
