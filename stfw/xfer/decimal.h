// decimal.h — the decimal digits of an unsigned number, for freestanding code.
// Why: the agent has no printf, yet its messages name descriptors, errno values,
// counters and /proc/PID paths; this is its one number formatter (header-only, so
// the host build of the engine shares it).
#pragma once

#include <stdint.h>

namespace ttst::stfw {

// Room for the longest number (20 digits) and the NUL.
constexpr int kDecimalDigitsMax = 21;

// Writes the digits of `v` to `out` (at least kDecimalDigitsMax bytes), NUL
// terminated; returns how many digits (1 for zero).
inline int decimal_digits(uint64_t v, char* out) {
  char reversed[kDecimalDigitsMax];
  int n = 0;
  do reversed[n++] = char('0' + v % 10), v /= 10;
  while (v);
  for (int i = 0; i < n; ++i) out[i] = reversed[n - 1 - i];
  out[n] = 0;
  return n;
}

}  // namespace ttst::stfw
