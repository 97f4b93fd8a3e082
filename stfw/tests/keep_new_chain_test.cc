// keep_new_chain_test — TTST_KEEP_NEW across two updates in a row, through
// ttst-supervise (stfw/tests/programs/keepnew, -DKN_STALE): the second update's past
// version is the first one's committed F, which holds blocks the first transfer
// allocated (origin_id set) — one of them where v2's start-up freed a temporary pool
// that its kept configuration still points to (`conf->temp`; nginx: the arrays of
// cf->temp_pool). The second forward run's kept walk must not take that transferred
// block in as start-up state (it refused `conf_pool`, "no counterpart in v2's"; nginx:
// `cycle->connections[1].pool` on 1.26.1 -> 1.26.2 under load). Both updates commit
// and the sessions read v2's routes and their own pools after each.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "inject/tests/test_util.h"
#include "tests/util/test_util.h"

namespace it = ttst::inject::testing;

namespace {

const std::string kDir = "stfw/tests/programs/keepnew/";
const std::string kAfter =
    "routes:4 alpha:0:1000 beta:100:2000 gamma:200:3000 alpha:300:1000 beta:400:2000 gamma:500:3000 omega:600:9000 "
    "pools:4305 live:1";

}  // namespace

TEST_CASE("a committed F whose kept start-up state points stale into a transferred block updates again") {
  it::become_subreaper();  // each new version, once its past is gone, is reaped here
  it::Spawned p = it::spawn({it::runfile(kDir + "keepnew_pool_v1_stale")});
  REQUIRE(it::read_line(p.from_child) == "ready");
  pid_t serving = p.pid;
  for (int update = 1; update <= 2; ++update) {
    CAPTURE(update);
    ttst::testutil::Supervised r = ttst::testutil::supervise(serving, it::runfile(kDir + "keepnew_pool_v2_stale_keep"));
    INFO(r.err);
    REQUIRE(r.status == 0);
    REQUIRE(r.report["outcome"] == "committed");
    CHECK(it::read_line(p.from_child, std::chrono::seconds(10)) == kAfter);  // F prints once, after its transfer
    it::gone(serving);
    serving = r.report["new_pid"].get<pid_t>();
    REQUIRE(serving > 0);
  }
  it::kill_and_reap(serving);
}
