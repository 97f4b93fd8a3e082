// tsd_test.cc — the main thread's descriptor remapped also when the program has
// no other thread (issue 19). tsd.c keeps its box in a global and names it by a
// pthread_setspecific key; v2's start-up makes its own box and key value. After
// the update, the key in F must name the box transferred from P (its count goes
// on from P's), not v2's start-up box (whose count starts again at 1).
// Before, the thread descriptors were given to the transfer only when P or F had
// threads besides the main one (supervisor/transaction.cc, forward()).
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "inject/tests/test_util.h"
#include "tests/util/test_util.h"

using namespace ttst::inject::testing;
using std::chrono::milliseconds;

TEST_CASE("a single-threaded program's pthread_setspecific value follows the update to P's object") {
  become_subreaper();
  Spawned p = spawn({runfile("tests/threads/tsd_v1")});
  struct KillAtEnd {
    pid_t pid;
    ~KillAtEnd() { kill_and_reap(pid); }
  } kill_p{p.pid};
  REQUIRE(read_line(p.from_child, milliseconds(20000)) == "READY");
  for (int i = 1; i <= 3; ++i) {
    REQUIRE(write(p.to_child, "inc\n", 4) == 4);
    REQUIRE(read_line(p.from_child) == "count=" + std::to_string(i) + " same=1");
  }
  const ttst::testutil::Supervised r =
      ttst::testutil::supervise(p.pid, runfile("tests/threads/tsd_v2"), "--timeout 60s");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.report.value("outcome", "") == "committed");
  REQUIRE(write(p.to_child, "inc\n", 4) == 4);  // F reads P's stdin now
  CHECK(read_line(p.from_child, milliseconds(10000)) == "count=4 same=1");
  const pid_t f = r.report.value("new_pid", 0);
  if (f > 0) kill(f, SIGKILL);
}
