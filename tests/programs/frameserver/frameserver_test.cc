// frameserver_test — issue 13's "a server whose update-point frame holds a pointer to
// a start-up object commits and serves": frameserver's loop function keeps the event
// loop object v2's start-up created in a local (a stack slot at -O0, a register at
// -O2). ttst-supervise must commit, and the new version must serve the old one's
// data on connections opened before the update and after it, never touching the
// start-up loop the transfer replaced and freed. A variant whose local has no unique
// counterpart is refused, the frame named, and the old version serves on.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "inject/sys/proc_status.h"
#include "tests/programs/kvserver/kv_client.h"
#include "tests/util/test_util.h"

using ttst::test::KvServer;

namespace {

using ttst::testutil::tmpdir;

// A client whose every reply is awaited at most 10 s: a new version that spins on
// freed memory instead of answering fails the test quickly, not by its time limit.
struct KvClient : ttst::testutil::LineClient {
  explicit KvClient(int port) : LineClient(port, std::chrono::seconds(10)) {}
};

const std::string kDir = "tests/programs/frameserver/";

using Run = ttst::testutil::Supervised;

Run supervise(pid_t pid, const std::string& v2) { return ttst::testutil::supervise(pid, kDir + v2); }

// The old version (our child) has ended after a commit: reap it.
void reap(pid_t old) { waitpid(old, nullptr, 0); }

bool alive(pid_t pid) {
  std::string state = ttst::sys::proc_status_field(pid, "State");
  return !state.empty() && state[0] != 'Z' && state[0] != 'X';
}

void fill(KvClient& c, const std::string& tag) {
  for (int i = 0; i < 40; ++i) REQUIRE(c.set(tag + std::to_string(i), "v" + std::to_string(i * 3)) == "OK");
}

void check_data(KvClient& c, const std::string& tag) {
  for (int i = 0; i < 40; ++i) REQUIRE(c.get(tag + std::to_string(i)) == "VALUE v" + std::to_string(i * 3));
}

void commits_and_serves(const std::string& opt, const std::string& v2 = "", int loops = 1) {
  KvServer server = KvServer::start(kDir + "frameserver_v1_" + opt);
  KvClient early(server.port);  // opened before the update, used after it
  fill(early, "k");
  CHECK(early.command("VERSION") == "VERSION 1");
  Run r = supervise(server.pid, v2.empty() ? "frameserver_v2_" + opt : v2);
  INFO(r.report.value("message", std::string()));
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  reap(server.pid);
  server.pid = r.report["new_pid"].get<pid_t>();
  // v2 serves P's table through its loop function's local: remapped to P's loop.
  CHECK(early.command("VERSION") == "VERSION 2");
  check_data(early, "k");
  CHECK(early.command("LOOPS") == "LOOPS " + std::to_string(loops));
  KvClient late(server.port);  // accepted by v2 on P's listening socket
  check_data(late, "k");
  fill(late, "n");  // new items, allocated by v2 into P's (transferred) table
  check_data(early, "n");
  for (int round = 0; round < 5; ++round) check_data(late, "k");
  CHECK(alive(server.pid));
  server.kill_and_wait();
}

void refused_naming_the_frame(const std::string& opt, const std::string& expect_in_message,
                              const std::string& v2 = "") {
  KvServer server = KvServer::start(kDir + "frameserver_v1_split_" + opt);
  KvClient c(server.port);
  fill(c, "k");
  CHECK(c.command("LOOPS") == "LOOPS 2");
  Run r = supervise(server.pid, v2.empty() ? "frameserver_v2_" + opt : v2);
  CHECK(r.status == 1);
  CHECK(r.report["outcome"] == "rolled_back");
  CHECK(r.report["reason"] == "invariant");
  const std::string message = r.report["message"].get<std::string>();
  INFO(message);
  CHECK(message.find("no unique counterpart") != std::string::npos);
  CHECK(message.find(expect_in_message) != std::string::npos);
  // The fix says what to change in v2's source (no annotation moves a local of F):
  // the change the _reads_global variants make, which then commit.
  const std::string advice = r.report.value("advice", std::string());
  INFO(advice);
  CHECK(advice.find("create that object at start-up only when not updating (if (!ttst_is_updating()) ") !=
        std::string::npos);
  CHECK(advice.find("after the update point, in the loop's body") != std::string::npos);
  if (advice.find("T *p = global;") == std::string::npos)  // else the supervisor's (a register)
    CHECK(advice.find("(TTST_UPDATE_POINT(); struct loop *p = g_") != std::string::npos);  // the engine's, named
  if (opt == "O0")  // the slot is a local DWARF places in serve's frame: named
    CHECK((message.find("local 'l'") != std::string::npos || message.find("local 'loop'") != std::string::npos));
  // P serves on, unchanged.
  CHECK(c.command("VERSION") == "VERSION 1");
  check_data(c, "k");
  server.kill_and_wait();
}

}  // namespace

TEST_CASE("committed: the loop function's local holds the start-up loop (-O0: a stack slot)") {
  commits_and_serves("O0");
}

TEST_CASE("committed: the loop function's local holds the start-up loop (-O2: a register)") {
  commits_and_serves("O2");
}

TEST_CASE("refused: the local's start-up loop has two counterparts; the frame is named (-O0)") {
  refused_naming_the_frame("O0", "frame of frameserver.c::serve");
}

TEST_CASE("refused: the local's start-up loop has two counterparts (-O2: a register or a saved register)") {
  refused_naming_the_frame("O2", "start-up object");
}

TEST_CASE("committed: only a register of the loop function holds the start-up loop (-O2, main keeps none)") {
  commits_and_serves("O2", "frameserver_v2_regonly_O2");
}

// The remap refusal's advice followed: v2's start-up creates the loop only when not
// updating and its loop body reads g_loop after the update point: the same split
// state (two loops) commits, v2 serves P's data.
TEST_CASE("advised fix: v2 skips the start-up loop when updating and reads g_loop after the update point (-O0)") {
  commits_and_serves("split_O0", "frameserver_v2_reads_global_O0", 2);
}

TEST_CASE("advised fix: v2 skips the start-up loop when updating and reads g_loop after the update point (-O2)") {
  commits_and_serves("split_O2", "frameserver_v2_reads_global_O2", 2);
}

// A pointer local that is no start-up object: serve's `last` (the item of the last
// SET) points at one of P's items; v2's, at its update point, is NULL. The transfer
// writes it translated into F's frame (a stack slot at -O0, a callee-saved register
// at -O2): v2's LAST answers P's last key, and the item is P's, carried.
void carries_the_last_item(const std::string& opt) {
  KvServer server = KvServer::start(kDir + "frameserver_v1_last_" + opt);
  KvClient c(server.port);
  fill(c, "k");
  REQUIRE(c.set("latest", "item") == "OK");
  CHECK(c.command("LAST") == "LAST latest");
  Run r = supervise(server.pid, "frameserver_v2_last_" + opt);
  INFO(r.report.value("message", std::string()));
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  reap(server.pid);
  server.pid = r.report["new_pid"].get<pid_t>();
  CHECK(c.command("VERSION") == "VERSION 2");
  CHECK(c.command("LAST") == "LAST latest");
  check_data(c, "k");
  REQUIRE(c.set("after", "update") == "OK");  // v2's own requests move it on
  CHECK(c.command("LAST") == "LAST after");
  server.kill_and_wait();
}

TEST_CASE("committed: a pointer local requests change, no start-up object, carried into v2's frame (-O0)") {
  carries_the_last_item("O0");
}

TEST_CASE("committed: a pointer local requests change, no start-up object, carried into v2's frame (-O2)") {
  carries_the_last_item("O2");
}
