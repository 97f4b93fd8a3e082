// keep_new_test — TTST_KEEP_NEW's structural pairing on real processes
// (stfw/tests/programs/keepnew): a configuration carved out of a pool block at
// start-up, kept with v2's layout inside the block (a member added in front, every
// offset moved, one route more), and run-time sessions pointing at routes: each
// session's route lands on v2's route of the same index (v2's weights), and R == P.
// Without the annotation the moved layout is refused (needs transfer code); a
// session on a route v2's configuration lacks is refused, naming it.
#include <doctest/doctest.h>

#include <string>

#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/transfer_checks.h"
#include "stfw/tests/xfer_fixture.h"

using namespace ttst;
using namespace ttst::stfw::testing;

namespace {

inject::AgentOutcome forward_to(RoundTrip& rt, const std::string& v2, const std::string& v1 = "keepnew_pool_v1") {
  rt.v1 = inject::testing::runfile("stfw/tests/programs/keepnew/" + v1);
  rt.v2 = inject::testing::runfile("stfw/tests/programs/keepnew/" + v2);
  rt.start();
  return rt.forward();
}

}  // namespace

TEST_CASE("kept configuration in a pool block with v2's layout: sessions land on v2's routes, R == P") {
  RoundTrip rt;
  inject::AgentOutcome fw = forward_to(rt, "keepnew_pool_v2_keep");
  require_transferred(fw);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  CHECK(f.find("routes:4 alpha:0:1000 beta:100:2000 gamma:200:3000 alpha:300:1000 beta:400:2000 gamma:500:3000 omega:600:9000") == 0);
}

TEST_CASE("TTST_KEEP_NEW_AT(cycle, conf): the root is a member of a transferred struct; the same pairing") {
  RoundTrip rt;
  inject::AgentOutcome fw = forward_to(rt, "keepnew_pool_v2_cycle_keep", "keepnew_pool_v1_cycle");
  require_transferred(fw);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  CHECK(f.find("routes:4 alpha:0:1000 beta:100:2000 gamma:200:3000 alpha:300:1000 beta:400:2000 gamma:500:3000 "
               "omega:600:9000") == 0);
}

TEST_CASE("without TTST_KEEP_NEW the routes' moved layout is refused") {
  RoundTrip rt;
  check_refusal(forward_to(rt, "keepnew_pool_v2"),
                {TTST_STFW_STATUS_AMBIGUOUS, nullptr, nullptr, {"whose layout differs in v2"}});
}

TEST_CASE("a session on a route v2's kept configuration lacks is refused, naming it") {
  RoundTrip rt;
  check_refusal(forward_to(rt, "keepnew_pool_v2_fewer"),
                {TTST_STFW_STATUS_INVARIANT, nullptr, "invariant: ",
                 {"in the start-up state TTST_KEEP_NEW(conf) keeps, which has no counterpart in v2's"},
                 "add TTST_NO_TRANSFER("});
}

TEST_CASE("KEEP_NEW_AT on an embedded table header and a void *: v2's untyped arrays kept, P's pool tail accepted") {
  // The cycle is carved out of the pool and followed by its names array (char *
  // into the routes), reached only through `void *names.elts`: a tail whose words
  // look like pointers, accepted because the kept walk reaches it; `names` keeps
  // v2's count (4) and elements, `blob` (an untyped block) is v2's, and the
  // sessions' void * tags at their starts land on v2's.
  RoundTrip rt;
  inject::AgentOutcome fw = forward_to(rt, "keepnew_pool_v2_void_keep", "keepnew_pool_v1_void");
  require_transferred(fw);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  CHECK(f.find("routes:4 alpha:0:1000 beta:100:2000 gamma:200:3000 alpha:300:1000 beta:400:2000 gamma:500:3000 "
               "omega:600:9000 names:4:delta blob:v2blob") == 0);
}

TEST_CASE("a carved pointer array in the kept graph is walked as one value, not its tail as more elements") {
  // conf->order, a struct route ** into the pool, points where conf->head carves a
  // one-member struct whose extent runs to the end of the pool. Walked as that extent
  // of struct route * elements (before), the array's other elements had no
  // counterpart (v2's value is one element) and unpaired the routes they point to,
  // which the sessions' pointers then could not reach (refused); in nginx the words
  // after an ngx_array_t took the cycle's pool header in.
  RoundTrip rt;
  inject::AgentOutcome fw = forward_to(rt, "keepnew_pool_v2_order_keep", "keepnew_pool_v1_order");
  require_transferred(fw);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  CHECK(f.find("routes:4 alpha:0:1000 beta:100:2000 gamma:200:3000 alpha:300:1000 beta:400:2000 gamma:500:3000 "
               "omega:600:9000 names:4:delta blob:v2blob order:alpha,delta,1") == 0);
}

TEST_CASE("a kept header at a pool block's base: the block goes into v2's, the cycle where v2's start-up one is") {
  // nginx's cycle->pool: the pool's header struct at the block's base, reached from
  // the transferred cycle and from the kept configuration (conf->pool), is kept and
  // paired with v2's at the base of v2's block (before: a kept value at a block's
  // base was unpaired, and cycle->pool refused). The block goes into v2's block:
  // the cycle replaces v2's start-up cycle at the same offset (+32), v2's routes after
  // it stay v2's, and cycle->pool is v2's header; backward the same, R == P.
  RoundTrip rt;
  inject::AgentOutcome fw = forward_to(rt, "keepnew_pool_v2_header_keep", "keepnew_pool_v1_header");
  require_transferred(fw);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  CHECK(f.find("routes:4 alpha:0:1000 beta:100:2000 gamma:200:3000 alpha:300:1000 beta:400:2000 gamma:500:3000 "
               "omega:600:9000 names:4:delta blob:v2blob pool:2,1,1") == 0);
}

TEST_CASE("a kept header at a pool block's base: a cycle that would land off v2's start-up one is refused") {
  RoundTrip rt;
  check_refusal(forward_to(rt, "keepnew_pool_v2_header_moved_keep", "keepnew_pool_v1_header"),
                {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: cycle at +32 of heap object #",
                 {"lies in a block whose first value TTST_KEEP_NEW keeps, so the block goes into v2's block",
                  "this value would overwrite start-up state there"}});
}

TEST_CASE("without KEEP_NEW_AT the pool bytes after the cycle (its untyped names array) are refused") {
  RoundTrip rt;
  check_refusal(forward_to(rt, "keepnew_pool_v2_void", "keepnew_pool_v1_void"),
                {TTST_STFW_STATUS_AMBIGUOUS, nullptr, nullptr,
                 {"bytes of its container that no typed pointer reaches, and the word at +"}});
}

TEST_CASE("a stale pointer of v2's kept start-up state to a block the forward transfer reused is not followed back") {
  // conf->temp points at a temporary pool v2's start-up freed (nginx: the arrays of
  // cf->temp_pool); the forward transfer allocates its first block (P's copy of the
  // pool block, `conf_pool`'s target) there in F. The backward run walked F's kept
  // graph into that block and kept it, without a counterpart in P's, and refused
  // `conf_pool` (nginx: F's first connection pool there, `cycle->connections[1].pool`).
  // F's kept graph is v2's start-up state only: a block the transfer allocated goes
  // back by its origin. The sessions' own pools (run time, same site) come back too.
  RoundTrip rt;
  inject::AgentOutcome fw = forward_to(rt, "keepnew_pool_v2_stale_keep", "keepnew_pool_v1_stale");
  require_transferred(fw);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  // 7 pools of 512 bytes, versions 100..106: 7 * 512 + 721.
  CHECK(f.find("routes:4 alpha:0:1000 beta:100:2000 gamma:200:3000 alpha:300:1000 beta:400:2000 gamma:500:3000 "
               "omega:600:9000 pools:4305 live:1") == 0);
}

TEST_CASE("run-time state start-up made under the KEEP_NEW_AT struct: v2's is freed, the kept pointer takes P's") {
  // cycle->made (nginx: cycle->connections) is v2's start-up array until the
  // transferred cycle lands on v2's start-up cycle with P's: v2's array is superseded
  // and freed (it stayed, garbage that a second update refused as untyped), and
  // conf->live (nginx: ls->connection, in the kept configuration) points at P's array,
  // translated (it kept pointing at v2's start-up array).
  RoundTrip rt;
  inject::AgentOutcome fw = forward_to(rt, "keepnew_pool_v2_live_keep", "keepnew_pool_v1_live");
  require_transferred(fw);
  std::string figures = message(fw);
  INFO(figures);
  CHECK(figures.find(" startup_freed=1") != std::string::npos);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  CHECK(f.find("routes:4 alpha:0:1000 beta:100:2000 gamma:200:3000 alpha:300:1000 beta:400:2000 gamma:500:3000 "
               "omega:600:9000 names:4:delta blob:v2blob pool:2,1,1 live:1") == 0);
}

TEST_CASE("a stale pointer of v2's kept start-up state types nothing the forward transfer allocated") {
  // As -DKN_STALE, but the hole v2's temporary pool left takes P's sessions array in F:
  // conf->temp (struct pool_hdr *) points at a struct session array there, and the
  // backward typing refused it as reached as both (nginx: `cscf->server_names.pool`
  // at F's epoll `event_list`, "epoll_event ... reached as ngx_pool_s * too").
  RoundTrip rt;
  inject::AgentOutcome fw = forward_to(rt, "keepnew_pool_v2_guard_keep", "keepnew_pool_v1_guard");
  require_transferred(fw);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  CHECK(f.find("routes:4 alpha:0:1000 beta:100:2000 gamma:200:3000 alpha:300:1000 beta:400:2000 gamma:500:3000 "
               "omega:600:9000 names:4:delta blob:v2blob pool:2,1,1 pools:4305 live:1") == 0);
}
