// dead_value_xfer_test.cc — dangling pointers into memory unmapped since, beside
// live pointers in the same member (stfw/tests/programs/deadval, -O2; the rule:
// stfw/xfer/engine_dead_values.cc). nginx's events of closed connections keep
// `log` pointers into a destroyed pool, and after one live update into the old
// process's memory: values in no mapping that are no integers. The member is not
// mixed: the live logs are translated, the dead values carried bit for bit (R == P,
// F keeps them equal to the connections' own stale copies); so is stale text
// (a string's bytes left in malloc'd memory, in no mapping). An integer in no
// mapping in a `void *` member (far from every mapping) still makes that member
// mixed: refused, naming it. A member dead while its pointer sibling is NULL
// (nginx's ngx_http_log_ctx_t.current_request, pointing at a freed request whose
// block now holds another struct): TTST_TAGGED(struct ctx.current, request, 0:int,
// *:struct req) carries it as bits then and types it otherwise; without it the
// block is reached as two struct types, refused.
#include <doctest/doctest.h>

#include <string>

#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/transfer_checks.h"
#include "stfw/tests/xfer_fixture.h"

using namespace ttst;
using namespace ttst::stfw::testing;

namespace {
std::string prog(const std::string& name) { return inject::testing::runfile("stfw/tests/programs/deadval/" + name); }
}  // namespace

TEST_CASE("dead pointers into unmapped memory beside live ones: no integers, carried; R == P, F serves") {
  RoundTrip rt;
  rt.v1 = prog("deadval_v1");
  rt.v2 = prog("deadval_v2");
  rt.start();
  inject::AgentOutcome fw = rt.forward();
  require_transferred(fw);
  INFO(message(fw));
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  CHECK(f.find("live:4 dead_kept:4 level:4 ctx:1") == 0);
}

TEST_CASE("an integer in no mapping, far from every mapping, still makes its member mixed: refused") {
  RoundTrip rt;
  rt.v1 = prog("deadval_v1_int");
  rt.v2 = prog("deadval_v2_int");
  rt.start();
  check_refusal(rt.forward(), {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: ",
                               {"looks like a pointer, but ev.data holds integers in other objects (",
                                "holds 21474836480 = 0x500000000, in no mapping)"}});
}

TEST_CASE("a member dead while its pointer sibling is NULL: without TTST_TAGGED's `*` form, two types: refused") {
  RoundTrip rt;
  rt.v1 = prog("deadval_v1_notag");
  rt.v2 = prog("deadval_v2_notag");
  rt.start();
  check_refusal(rt.forward(), {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: ", {"is reached as other * and as req * (from heap object #", "[1].current)"}});
}
