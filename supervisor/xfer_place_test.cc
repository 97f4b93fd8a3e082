// xfer_place_test — a transfer plugin that moves carved sub-objects
// (TTST_XFER_TYPE_PLACE, stfw/xfer/PLUGINS.md) end to end through the shipped
// ttst-supervise, on stfw/tests/programs/carve: v1 -> v2_cas grows every slab item by
// a `cas` field (memcached 1.2.3 -> 1.2.4 in small), so the items within 8 bytes
// of their chunk's end no longer fit where they are:
//   - with the plugin (carve_cas_xfer.c): committed; v2 finds every item, the
//     pending item of a half-read `set` with its read pointer, a cursor and iovec
//     entries into item values (pointers into reshaped and moved items), and
//     allocates new items from the free lists and page tails the plugin adjusted;
//   - without its place function: the grown item does not fit, rolled back, named;
//   - a backward slabclass function that does not give the chunks back: rolled
//     back with state_diff naming slabclass.
// P keeps running (untraced) after every rollback.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "inject/sys/proc_status.h"
#include "tests/util/test_util.h"

namespace {

using namespace std::chrono_literals;
namespace tu = ttst::testutil;

const std::string kCarve = "stfw/tests/programs/carve/";

// carve_v1 running, its stdout (then F's, which inherits it) in a file.
struct Carve {
  pid_t pid = -1;
  std::string out = tu::tmpdir() + "/carve.out";
  Carve() {
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (!freopen(out.c_str(), "w", stdout)) _exit(127);
      execl((kCarve + "carve_v1").c_str(), "carve_v1", static_cast<char*>(nullptr));
      _exit(127);
    }
    REQUIRE(tu::await([&] { return tu::slurp(out).find("ready") != std::string::npos; }, 10s));
  }
  ~Carve() {
    if (pid > 0) kill(pid, SIGKILL), waitpid(pid, nullptr, 0);
  }
  // After a rollback: P runs on, untraced, and printed nothing but "ready".
  void check_untouched() {
    CHECK(kill(pid, 0) == 0);
    CHECK(tu::await([&] { return ttst::sys::proc_status_field(pid, "TracerPid") == "0"; }, 10s));
    CHECK(tu::slurp(out) == "ready\n");
  }
};

tu::Supervised update(const Carve& c, const std::string& plugin) {
  return tu::supervise(c.pid, kCarve + "carve_v2_cas", "--xfer " + kCarve + plugin);
}

}  // namespace

TEST_CASE("a place function moves the items the grown header no longer fits: committed, v2 serves them") {
  Carve c;
  tu::Supervised r = update(c, "carve_cas_xfer");
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  REQUIRE(r.report["transfers"].size() == 2);
  for (const auto& t : r.report["transfers"]) {
    CHECK(t["plugin_calls"].get<uint64_t>() > 2 * 74);  // every item placed and written, both ways
    CHECK(t["unvalidated"].empty());
  }
  waitpid(c.pid, nullptr, 0);
  c.pid = r.report["new_pid"].get<pid_t>();
  const std::string want =
      "items:72/72 binary:1 cursor:1 pending:1 iov:1 dead:1 nodes:30 sum:8555 labels:30 sessions:5 "
      "after_new:18,60 clients:1,1,1,1\n";
  CHECK(tu::await([&] { return tu::slurp(c.out).find('\n', 6) != std::string::npos; }, 10s));
  CHECK(tu::slurp(c.out) == "ready\n" + want);
}

TEST_CASE("without the place function: the grown item does not fit its chunk, rolled back, named") {
  Carve c;
  tu::Supervised r = update(c, "carve_cas_xfer_noplace");
  CHECK(r.status == 1);
  CHECK(r.report["outcome"] == "rolled_back");
  const std::string m = r.report["message"];
  CHECK_MESSAGE(m.find("the transfer plugin's fwd_item: the grown item does not fit its chunk") != std::string::npos, m);
  c.check_untouched();
}

TEST_CASE("a backward slabclass function that keeps the moved items' chunks: rolled back, state_diff") {
  Carve c;
  tu::Supervised r = update(c, "carve_cas_xfer_lossy");
  CHECK(r.status == 1);
  CHECK(r.report["reason"] == "state_diff");
  bool named = false;
  for (const auto& d : r.report["differences"])
    named |= d["where"].get<std::string>().rfind("carve.c::slabclass[", 0) == 0;
  CHECK_MESSAGE(named, r.report["differences"].dump());
  c.check_untouched();
}
