// future_frames_test — the forward transfer's list of superseded start-up objects as
// the supervisor reads it from the agent's output (stfw_task.h): the figures line
// skipped, each "superseded" line parsed, a garbled one an internal error (never a
// silently shorter list, which would weaken the check of F's stack).
#include "supervisor/future_frames.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "supervisor/transaction_end.h"

using ttst::supervisor::parse_superseded;
using ttst::supervisor::TransactionEnd;

namespace {

std::vector<uint8_t> output(const std::vector<std::string>& lines) {
  std::vector<uint8_t> out;
  for (const std::string& l : lines) out.insert(out.end(), l.begin(), l.end()), out.push_back(0);
  out.push_back(0);
  return out;
}

}  // namespace

TEST_CASE("the superseded objects are read from the lines after the figures") {
  auto list = parse_superseded(output({"copy_cycles=1 superseded 0x1 0x2 0x3 1", "superseded 0x55f0 0x218 0x7700 1",
                                       "superseded 0x6000 0x10 0x0 0"}));
  REQUIRE(list.size() == 2);
  CHECK(list[0].addr == 0x55f0);
  CHECK(list[0].size == 0x218);
  CHECK(list[0].counterpart == 0x7700);
  CHECK(list[0].freed);
  CHECK(list[1].counterpart == 0);
  CHECK(!list[1].freed);
  CHECK(parse_superseded(output({"copy_cycles=1"})).empty());
}

TEST_CASE("a garbled superseded line ends the transaction as internal") {
  try {
    parse_superseded(output({"figures", "superseded 0x55f0 zz"}));
    FAIL("no error");
  } catch (const TransactionEnd& end) {
    CHECK(end.reason == ttst::supervisor::Reason::kInternal);
    CHECK(end.message.find("superseded 0x55f0 zz") != std::string::npos);
  }
}
