// hex.cc — see hex.h.
#include "inject/sys/hex.h"

#include <cinttypes>
#include <cstdio>

namespace ttst::sys {

std::string hex(uint64_t v) { return "0x" + hex_digits(v); }

std::string hex_digits(uint64_t v) {
  char digits[17];
  std::snprintf(digits, sizeof digits, "%" PRIx64, v);
  return digits;
}

}  // namespace ttst::sys
