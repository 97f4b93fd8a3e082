// loggers_test.cc — per-thread start-up objects on a list (loggers.c, memcached 1.6's
// loggers): v1 and v2 link their workers' loggers in opposite orders, so the list's
// head global and a worker's own frame pair the same start-up logger of F with two
// different objects of P. The thread's identity decides (its pthread_getspecific
// value, paired with P's thread's): before, the update was refused as ambiguous
// ("no unique counterpart"), as memcached 1.6's was when its threads happened to
// link their loggers in another order in F than in P. After the commit each worker
// must still count in its own logger, the one its key names, on the list, carrying
// on from P's count.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "inject/tests/test_util.h"
#include "tests/util/test_util.h"

using namespace ttst::inject::testing;
using std::chrono::milliseconds;

namespace {

struct Logs {
  int n = -1;
  long alpha = -1, beta = -1;
  std::string alpha_ok, beta_ok;
};

Logs ask(const Spawned& p) {
  REQUIRE(write(p.to_child, "LOGS\n", 5) == 5);
  const std::string line = read_line(p.from_child, milliseconds(10000));
  Logs l;
  char a[16] = {0}, b[16] = {0};
  REQUIRE_MESSAGE(std::sscanf(line.c_str(), "LOGS n=%d alpha=%ld/%15s beta=%ld/%15s", &l.n, &l.alpha, a, &l.beta, b) == 5,
                  line);
  l.alpha_ok = a, l.beta_ok = b;
  return l;
}

// loggers v1 started and ready; killed at the end.
struct Started {
  Started() : p(start()), kill_p{p.pid} { REQUIRE(read_line(p.from_child, milliseconds(20000)) == "READY"); }
  static Spawned start() {
    become_subreaper();
    return spawn({runfile("tests/threads/loggers_v1")});
  }
  Spawned p;
  struct KillAtEnd {
    pid_t pid;
    ~KillAtEnd() { kill_and_reap(pid); }
  } kill_p;
};

}  // namespace

TEST_CASE("each thread keeps its own logger when the versions link their threads' loggers in another order") {
  const Started started;
  const Spawned& p = started.p;
  usleep(100 * 1000);
  const Logs before = ask(p);
  REQUIRE(before.n == 3);
  REQUIRE(before.alpha_ok == "ok");
  REQUIRE(before.beta_ok == "ok");
  const ttst::testutil::Supervised r =
      ttst::testutil::supervise(p.pid, runfile("tests/threads/loggers_v2"), "--timeout 60s");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.report.value("outcome", "") == "committed");
  const pid_t f = r.report.value("new_pid", 0);
  usleep(100 * 1000);  // some ticks of v2's workers
  const Logs after = ask(p);  // F reads P's stdin now
  CHECK(after.n == 3);  // P's three loggers, not v2's start-up ones
  CHECK(after.alpha > before.alpha);  // carried on from P's count, in the logger on the list
  CHECK(after.beta > before.beta);
  CHECK(after.alpha_ok == "ok");  // the worker's local is its own logger, its key's
  CHECK(after.beta_ok == "ok");
  if (f > 0) kill(f, SIGKILL);
}

// The threads' stacks (8 MiB each, a few pages of them used) are mostly pages
// never touched: the agents leave them out of their copy of the peer (zeros) —
// before, memcached 1.6's ten stacks were 80 of the 94 MiB each agent copied and
// faulted in — and put the sparse 2 MiB windows holding their used pages on small
// pages (before, each cost a huge page, zeroed whole: memcached 1.6's F and R
// faulted 78 huge pages per update, now 62). The update validates all the same.
TEST_CASE("the agents do not copy the pages of their peer's thread stacks that were never touched") {
  const Started started;
  const Spawned& p = started.p;
  const ttst::testutil::Supervised r =
      ttst::testutil::supervise(p.pid, runfile("tests/threads/loggers_v2"), "--validate-only --timeout 60s");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.report.value("reason", "") == "validate_only");
  REQUIRE(r.report["transfers"].size() == 2);
  for (const auto& t : r.report["transfers"]) {  // P's two worker stacks, then F's
    CAPTURE(t.dump());
    const uint64_t copied = t.value("copy_bytes", uint64_t{0}), untouched = t.value("copy_untouched_bytes", uint64_t{0});
    CHECK(untouched >= uint64_t{12} << 20);  // of 2 x 8 MiB of stacks
    CHECK(untouched < copied);
    const uint64_t small = t.value("copy_small_page_bytes", uint64_t{0});
    CHECK(small >= uint64_t{2} << 20);  // at least the window of one stack's used pages
    CHECK(small <= copied);
  }
  const Logs after = ask(p);  // P serves on, unchanged
  CHECK(after.n == 3);
  CHECK(after.alpha_ok == "ok");
}
