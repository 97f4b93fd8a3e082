// hex_test — hexadecimal rendering of 64-bit values.
#include <doctest/doctest.h>

#include <cstdint>

#include "inject/sys/hex.h"

using ttst::sys::hex;
using ttst::sys::hex_digits;

TEST_CASE("addresses with the 0x prefix, no padding") {
  CHECK(hex(0) == "0x0");
  CHECK(hex(0x10) == "0x10");
  CHECK(hex(0x7f12ab000000) == "0x7f12ab000000");
  CHECK(hex(UINT64_MAX) == "0xffffffffffffffff");
}

TEST_CASE("bare digits, as in /proc/PID/map_files names") {
  CHECK(hex_digits(0) == "0");
  CHECK(hex_digits(0x55d0c0de1000) == "55d0c0de1000");
  CHECK(hex_digits(UINT64_MAX) == "ffffffffffffffff");
}
