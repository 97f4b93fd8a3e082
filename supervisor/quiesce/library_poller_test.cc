// The library poller rule (ttst_abi.h §7: a declared path that ends in a function a
// shared library exports) against evprog, a memcached-1.2-shaped loop whose idle
// wait is inside libevent (Debian's shared library, no debug info):
// main (update point) -> event_base_loop -> epoll_dispatch (static) -> epoll_wait.
//  - the path is read from .ttst.pollers and recognised as a library path because
//    the program imports the name; a name it does not import stays unresolved;
//  - idle, called from main: quiescent at the first probe;
//  - the same through the program's own wrapper (main -> loop_once ->
//    event_base_loop: the simple rule alone calls it blocked, the declared path
//    "loop_once, event_base_loop" makes it quiescent); a path naming another
//    function of the library (event_base_dispatch) does not match;
//  - a callback blocked in read() inside event_base_loop, or in event_base_loop of
//    a second event base (the same library function as the poller): not quiescent,
//    directly from main or through the wrapper.
#include <doctest/doctest.h>

#include <sys/syscall.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "inject/tests/test_util.h"
#include "stfw/runtime/tests/child.h"
#include "supervisor/quiesce/quiesce.h"

using namespace ttst::quiesce;
using ttst::test::Child;

namespace {

const std::string kDir = "supervisor/quiesce/tests/";

// Starts evprog in `mode`; sends its first line when `first_line`; waits until it
// blocks in `nr` (by /proc); probes once; then ends it with one more line.
Verdict probe(const std::string& prog, const std::string& mode, bool first_line, const std::set<long>& nrs,
              bool wrapped = false) {
  UpdatePointMap map = UpdatePointMap::load(kDir + prog);
  REQUIRE(map.scopes_complete());
  Child c(wrapped ? std::vector<std::string>{kDir + prog, mode, "wrapped"} : std::vector<std::string>{kDir + prog, mode});
  REQUIRE(c.line().rfind("READY", 0) == 0);
  if (first_line) {
    c.send("first\n");
    REQUIRE(c.line() == "WAITING");
  }
  ttst::inject::testing::wait_in_syscall(c.pid(), nrs, std::chrono::seconds(30));
  Verdict v = check(c.pid(), map);
  MESSAGE(prog << " " << mode << ": " << v.message << " — " << (v.threads.empty() ? "" : v.threads[0].where));
  c.send("last\n");
  CHECK(c.line() == "RESULT ok");
  CHECK(c.wait() == 0);
  return v;
}

const std::set<long> kEpoll = {SYS_epoll_wait, SYS_epoll_pwait};

}  // namespace

TEST_CASE("a path ending in a function the program imports is a library poller path") {
  UpdatePointMap map = UpdatePointMap::load(kDir + "evprog");
  CHECK(map.poller_paths() ==
        std::vector<std::vector<std::string>>{{"event_base_loop"}, {"loop_once", "event_base_loop"}});
  CHECK(map.poller_library_function() == std::vector<std::string>{"event_base_loop", "event_base_loop"});
  REQUIRE(map.poller_origins().size() == 2);
  CHECK(map.poller_origins()[0].empty());
  CHECK(map.poller_origins()[1].size() == 1);
  CHECK(map.pollers_unresolved().empty());
  CHECK(UpdatePointMap::load(kDir + "evprog_undeclared").poller_paths().empty());
}

TEST_CASE("idle through the program's own wrapper: quiescent only by the declared library path") {
  Verdict v = probe("evprog", "idle", false, kEpoll, true);
  CHECK_MESSAGE(v.quiescent, v.message);
  REQUIRE(v.threads.size() == 1);
  CHECK(v.threads[0].state == ThreadState::kQuiescent);
  CHECK(v.threads[0].where.find("declared poller path") != std::string::npos);
  // named by the program frame the unwind proved (a stale word the stack scan may
  // meet inside libevent's frames names a function not on the stack)
  CHECK(v.threads[0].function.rfind("loop_once", 0) == 0);
  Verdict u = probe("evprog_undeclared", "idle", false, kEpoll, true);
  CHECK_FALSE(u.quiescent);
  REQUIRE(u.threads.size() == 1);
  CHECK(u.threads[0].state == ThreadState::kBlocked);
  CHECK(u.threads[0].function.rfind("loop_once", 0) == 0);  // loop_once or a clone (.isra)
  Verdict w = probe("evprog_otherfn", "idle", false, kEpoll, true);
  CHECK_FALSE(w.quiescent);
  CHECK(w.message.find("did not enter it through event_base_dispatch") != std::string::npos);
}

TEST_CASE("through the wrapper, a callback blocked in read() or in a second base's event_base_loop: not quiescent") {
  for (std::string mode : {"callback", "nested"}) {
    CAPTURE(mode);
    Verdict v = probe("evprog", mode, true, mode == "callback" ? std::set<long>{SYS_read} : kEpoll, true);
    CHECK_FALSE(v.quiescent);
    REQUIRE(v.threads.size() == 1);
    CHECK(v.threads[0].state == ThreadState::kBlocked);
    CHECK(v.threads[0].function == "on_line");
    CHECK(v.message.find("is no declared poller path") != std::string::npos);
  }
}

TEST_CASE("idle inside libevent's event_base_loop: quiescent at the first probe") {
  Verdict v = probe("evprog", "idle", false, kEpoll);
  CHECK_MESSAGE(v.quiescent, v.message);
  REQUIRE(v.threads.size() == 1);
  CHECK(v.threads[0].state == ThreadState::kQuiescent);
  CHECK(v.threads[0].function == "main");  // the proved frame (main called event_base_loop)
  CHECK(v.threads[0].where.find("called from main+") != std::string::npos);
}

TEST_CASE("a callback blocked inside event_base_loop is mid-request: not quiescent") {
  for (std::string prog : {"evprog", "evprog_undeclared"}) {
    CAPTURE(prog);
    Verdict v = probe(prog, "callback", true, {SYS_read});
    CHECK_FALSE(v.quiescent);
    REQUIRE(v.threads.size() == 1);
    CHECK(v.threads[0].state == ThreadState::kBlocked);
    CHECK(v.threads[0].function == "on_line");
  }
}

TEST_CASE("a callback blocked in event_base_loop of a second base (the poller's own function) is not quiescent") {
  for (std::string prog : {"evprog", "evprog_undeclared"}) {
    CAPTURE(prog);
    Verdict v = probe(prog, "nested", true, kEpoll);
    CHECK_FALSE(v.quiescent);
    REQUIRE(v.threads.size() == 1);
    CHECK(v.threads[0].state == ThreadState::kBlocked);
  }
}
