// localserver_test — the scalar locals of main at the update point are state: a
// server keeping its epoll instance, listening socket and request counter in them
// (localserver.c) is updated v1 -> v2 (the counter widened) at -O2 (the locals in
// callee-saved registers, written by the supervisor) and -O0 (stack slots, written
// by the agent). A connection opened before the update is answered by v2 after it
// (its registration lives in P's epoll instance, which F now waits on) and the count
// goes on from P's. Without the carried locals the update committed "validated" and
// the held connection hung, the count restarting at 1.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/programs/kvserver/kv_client.h"
#include "tests/util/test_util.h"

using ttst::test::KvClient;
using ttst::test::KvServer;

namespace {

const std::string kDir = "tests/programs/localserver/";

void carried(const std::string& variant) {
  CAPTURE(variant);
  KvServer server = KvServer::start(kDir + "localserver_v1" + variant);
  KvClient held(server.port);  // opened before the update, used after it
  held.set_timeout(std::chrono::seconds(10));
  for (int i = 1; i <= 3; ++i) REQUIRE(held.command("PING") == "SERVED " + std::to_string(i));
  REQUIRE(held.command("VERSION") == "VERSION 1");
  ttst::testutil::Supervised r = ttst::testutil::supervise(server.pid, kDir + "localserver_v2" + variant);
  INFO(r.report.dump(), r.err);
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  waitpid(server.pid, nullptr, 0);
  server.pid = r.report["new_pid"].get<pid_t>();
  CHECK(held.command("VERSION") == "VERSION 2");  // P's epoll instance, where this connection is
  CHECK(held.command("PING") == "SERVED 4");      // P's count, widened
  KvClient fresh(server.port);                    // P's listening socket
  CHECK(fresh.command("PING") == "SERVED 5");
  server.kill_and_wait();
}

}  // namespace

TEST_CASE("main's scalar locals carried at -O2: registers") { carried(""); }

TEST_CASE("main's scalar locals carried at -O0: stack slots") { carried("_O0"); }
