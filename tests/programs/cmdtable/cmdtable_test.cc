// cmdtable_test — issue 18's "a test program whose v2 adds a command to a start-up-built
// table", driven through the real supervisor (ttst-supervise --pid N --new v2) with a
// client connected before the update and one after:
//  - with TTST_KEEP_NEW(commands) (in v2's source, or given to ttst-cc) the update
//    commits, v2's new command COUNT works, every key stored before it is still
//    found (the store's hash seed is v1's: a v2 seed would hash the keys elsewhere)
//    and each item's pointer into the command table lands on v2's entry of the same
//    command (BY key answers "BY SET");
//  - without it the update commits too but keeps v1's table: COUNT is unknown.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/programs/kvserver/kv_client.h"
#include "tests/util/test_util.h"

using ttst::test::KvServer;

namespace {

using ttst::testutil::tmpdir;

// A client whose every reply is awaited at most 10 s: a new version that does not
// answer fails the test quickly, not by its time limit.
struct KvClient : ttst::testutil::LineClient {
  explicit KvClient(int port) : LineClient(port, std::chrono::seconds(10)) {}
};

const std::string kDir = "tests/programs/cmdtable/";

using Run = ttst::testutil::Supervised;

Run supervise(pid_t pid, const std::string& v2, const std::string& extra = "") {
  return ttst::testutil::supervise(pid, kDir + v2, extra);
}

void fill(KvClient& c, const std::string& tag) {
  for (int i = 0; i < 40; ++i) REQUIRE(c.set(tag + std::to_string(i), "v" + std::to_string(i * 7)) == "OK");
}

void check_data(KvClient& c, const std::string& tag) {
  for (int i = 0; i < 40; ++i) REQUIRE(c.get(tag + std::to_string(i)) == "VALUE v" + std::to_string(i * 7));
}

// v1 running with 40 keys and a connection held open; updated to `v2`; returns the
// server (now v2) and leaves `early` connected.
KvServer updated(const std::string& v2, KvClient*& early) {
  KvServer server = KvServer::start(kDir + "cmdtable_v1");
  early = new KvClient(server.port);
  fill(*early, "k");
  CHECK(early->command("COUNT") == "ERROR unknown command");
  CHECK(early->command("BY k3") == "BY SET");
  CHECK(early->command("BANNER") == "BANNER cmdtable one sets=40 motd=-");
  Run r = supervise(server.pid, v2);
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  waitpid(server.pid, nullptr, 0);  // the old version (our child) ended at the commit
  server.pid = r.report["new_pid"].get<pid_t>();
  CHECK(early->command("VERSION") == "VERSION 2");
  return server;
}

void keeps_the_new_table(const std::string& v2) {
  KvClient* early = nullptr;
  KvServer server = updated(v2, early);
  CHECK(early->command("COUNT") == "COUNT 40");  // v2's table: the new command works
  check_data(*early, "k");                      // v1's seed kept: every key still found
  CHECK(early->command("BY k3") == "BY SET");    // item->by paired with v2's SET entry
  KvClient late(server.port);
  check_data(late, "k");
  fill(late, "n");
  CHECK(late.command("COUNT") == "COUNT 80");
  CHECK(late.command("BY n5") == "BY SET");
  delete early;
  server.kill_and_wait();
}

}  // namespace

TEST_CASE("TTST_KEEP_NEW(commands) in v2's source: v2's table is kept, the new command works, the store is intact") {
  keeps_the_new_table("cmdtable_v2_keep");
}

TEST_CASE("TTST_KEEP_NEW given to ttst-cc (TTST_ANNOTATIONS): the same") { keeps_the_new_table("cmdtable_v2_keep_env"); }

TEST_CASE("validate-only without the annotation: the report lists the table (not the seeded store) as a candidate") {
  KvServer server = KvServer::start(kDir + "cmdtable_v1");
  KvClient c(server.port);
  fill(c, "k");
  Run r = supervise(server.pid, "cmdtable_v2", "--validate-only");
  CHECK(r.status == 0);
  CHECK(r.report["reason"] == "validate_only");
  REQUIRE(r.report["transfers"].size() == 2);
  CHECK(r.report["transfers"][0]["direction"] == "forward");
  CHECK(r.report["transfers"][0]["keep_new_candidates"] == nlohmann::json::array({"commands"}));
  CHECK(r.report["transfers"][1]["keep_new_candidates"].empty());
  // Annotated: nothing left to suggest.
  Run kept = supervise(server.pid, "cmdtable_v2_keep", "--validate-only");
  CHECK(kept.status == 0);
  CHECK(kept.report["transfers"][0]["keep_new_candidates"].empty());
  CHECK(c.command("COUNT") == "ERROR unknown command");  // P serves on, unchanged
  check_data(c, "k");
  server.kill_and_wait();
}

TEST_CASE("without the annotation: v1's table is carried over and the new command is unknown") {
  KvClient* early = nullptr;
  KvServer server = updated("cmdtable_v2", early);
  CHECK(early->command("COUNT") == "ERROR unknown command");
  // Globals still equal to v1's ELF initializer (banner in .data, motd in .bss) take
  // v2's start-up values; the counter v1 wrote is carried over.
  CHECK(early->command("BANNER") == "BANNER cmdtable two sets=40 motd=welcome");
  check_data(*early, "k");
  CHECK(early->command("BY k3") == "BY SET");
  delete early;
  server.kill_and_wait();
}
