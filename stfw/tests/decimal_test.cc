// decimal_test — the agent's decimal formatter (stfw/xfer/decimal.h).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "stfw/xfer/decimal.h"

using ttst::stfw::decimal_digits;
using ttst::stfw::kDecimalDigitsMax;

namespace {

std::string digits_of(uint64_t v) {
  char out[kDecimalDigitsMax + 1];
  std::memset(out, '#', sizeof out);
  int n = decimal_digits(v, out);
  CHECK(out[n] == 0);
  CHECK(out[kDecimalDigitsMax] == '#');  // nothing written past the documented room
  CHECK(static_cast<size_t>(n) == std::strlen(out));
  return out;
}

}  // namespace

TEST_CASE("digits of small, round and extreme numbers") {
  CHECK(digits_of(0) == "0");
  CHECK(digits_of(7) == "7");
  CHECK(digits_of(10) == "10");
  CHECK(digits_of(4096) == "4096");
  CHECK(digits_of(2147483647) == "2147483647");
  CHECK(digits_of(UINT64_MAX) == "18446744073709551615");
}

TEST_CASE("agrees with std::to_string on a sweep") {
  for (uint64_t v = 1; v < UINT64_MAX / 3; v = v * 3 + 1) CHECK(digits_of(v) == std::to_string(v));
}
