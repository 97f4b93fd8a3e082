// literal_roundtrip_test.cc — pointers to string literals whose bytes occur at
// several places (stfw/tests/programs/literals: "incrby" and "hincrby", "set",
// "hset" and "getset", a second file with its own "set" and "incrby"): the forward
// transfer maps each to the same position in v2 (v2 prints the names and whether the
// pointers inside strings still point inside the same names), and the backward one
// brings each back to the very byte it held in P (R == P). Built -O0 (every literal
// a string of its own) and -O2 (the linker merges tails).
#include <doctest/doctest.h>

#include <string>

#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/transfer_checks.h"
#include "stfw/tests/xfer_fixture.h"

using namespace ttst;
using namespace ttst::stfw::testing;

namespace {

void round_trip(const std::string& opt) {
  RoundTrip rt;
  rt.v1 = inject::testing::runfile("stfw/tests/programs/literals/literals_v1_" + opt);
  rt.v2 = inject::testing::runfile("stfw/tests/programs/literals/literals_v2_" + opt);
  rt.start();
  require_transferred(rt.forward());
  check_backward_restores_past(rt);
  CHECK(rt.release_future() == "hincrby incrby hset getset set | set incrby hset | inside:1,1");
}

}  // namespace

TEST_CASE("string literals sharing suffixes, -O0: positions kept, P == R") { round_trip("O0"); }

TEST_CASE("string literals sharing suffixes, -O2 (tails merged): positions kept, P == R") { round_trip("O2"); }
