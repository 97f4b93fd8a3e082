// blind_spot_test.cc — two former blind spots of the automatic transfer, on real
// processes (stfw/tests/programs/blind): a global array that shrinks
// (branches[4] -> branches[3]) under a pointer to its dropped element is refused
// naming both ends, while a true one-past-the-end pointer stays one past the end;
// a struct member renamed (account.next -> nxt) is refused as a suspected rename
// unless TTST_RENAMED_FROM (lists intact) says which; a genuine drop (balance -> credit)
// likewise unless TTST_DROPPED.
#include <doctest/doctest.h>

#include <string>

#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/transfer_checks.h"
#include "stfw/tests/xfer_fixture.h"

using namespace ttst;
using namespace ttst::stfw::testing;

namespace {

inject::AgentOutcome forward_to(RoundTrip& rt, const std::string& v2, const char* v1_arg = nullptr) {
  rt.v1 = inject::testing::runfile("stfw/tests/programs/blind/blind_v1");
  rt.v2 = inject::testing::runfile("stfw/tests/programs/blind/" + v2);
  if (v1_arg) rt.args = {v1_arg};
  rt.start();
  return rt.forward();
}

// A transfer that must succeed, R == P, and what v2 prints from the state it got.
void check_transferred(const std::string& v2, const char* v1_arg, const char* want) {
  RoundTrip rt;
  inject::AgentOutcome fw = forward_to(rt, v2, v1_arg);
  require_transferred(fw);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  CHECK(f.find(want) == 0);
}

}  // namespace

TEST_CASE("array shrunk: a pointer to the element v2 no longer has is refused, naming both ends") {
  RoundTrip rt;
  // &branches[3] in v1 (sizeof(struct branch) == 16) is no "one past the end" of v2's branches[3].
  check_refusal(forward_to(rt, "blind_v2_shrink", "dropped"),
                {TTST_STFW_STATUS_INVARIANT, "invariant: cur points to branches+48, which does not exist in v2"});
}

TEST_CASE("array shrunk: a pointer one past the end in v1 is one past the end in v2, and back") {
  check_transferred("blind_v2_shrink", nullptr, "accounts:100 counted:100 end:3 money:49500");
}

TEST_CASE("member renamed without an annotation: refused as a suspected rename, naming struct and members") {
  RoundTrip rt;
  check_refusal(forward_to(rt, "blind_v2_rename"),
                {TTST_STFW_STATUS_AMBIGUOUS,
                 "ambiguous: struct account drops member next and adds nxt of the same type (struct account *): a "
                 "suspected rename; say which with TTST_RENAMED_FROM(struct account.nxt, next) or "
                 "TTST_DROPPED(struct account.next)"});
}

TEST_CASE("member renamed with TTST_RENAMED_FROM: the lists stay whole") {
  check_transferred("blind_v2_renamed_from", nullptr, "accounts:100 counted:100 end:4 money:49500");
}

TEST_CASE("member dropped while one of its type is added: refused without TTST_DROPPED, a drop with it") {
  {
    RoundTrip rt;
    check_refusal(forward_to(rt, "blind_v2_drop"),
                  {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: struct account drops member balance and adds credit "});
  }
  // With TTST_DROPPED(struct account.balance): the new credit starts at 0, balance
  // vanishes from F and comes back unchanged in R (R == P).
  check_transferred("blind_v2_dropped", nullptr, "accounts:100 counted:100 end:4 money:0");
}
