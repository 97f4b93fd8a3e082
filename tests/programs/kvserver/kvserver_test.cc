// kvserver, the integration test program, behaves as its protocol says in every
// version: the live-update tests rely on it.
#include <doctest/doctest.h>

#include <string>

#include "tests/programs/kvserver/kv_client.h"

using ttst::test::KvClient;
using ttst::test::KvServer;

static void check_protocol(const std::string& binary, const std::string& version) {
  KvServer server = KvServer::start(binary);
  {
    KvClient c(server.port);
    CHECK(c.command("VERSION") == "VERSION " + version);
    CHECK(c.set("alpha", "one two three") == "OK");
    CHECK(c.get("alpha") == "VALUE one two three");
    CHECK(c.get("missing") == "NOT_FOUND");
    CHECK(c.set("alpha", "replaced") == "OK");
    CHECK(c.get("alpha") == "VALUE replaced");
    CHECK(c.command("DEL alpha") == "DELETED");
    CHECK(c.command("DEL alpha") == "NOT_FOUND");
    CHECK(c.command("BOGUS") == "ERROR unknown command");
    CHECK(c.command("GET") == "ERROR wrong number of arguments");
    for (int i = 0; i < 5000; i++) REQUIRE(c.set("k" + std::to_string(i), "v" + std::to_string(i * 7)) == "OK");
    for (int i = 0; i < 5000; i += 97) CHECK(c.get("k" + std::to_string(i)) == "VALUE v" + std::to_string(i * 7));
    CHECK(c.command("STATS").rfind("STATS count=5000 ", 0) == 0);
    // A second client sees the same state.
    KvClient d(server.port);
    CHECK(d.get("k42") == "VALUE v294");
    CHECK(c.command("QUIT") == "BYE");
  }
  server.kill_and_wait();
}

TEST_CASE("kvserver v1 speaks the protocol") { check_protocol("tests/programs/kvserver/kvserver_v1", "1"); }
TEST_CASE("kvserver v2 speaks the protocol") { check_protocol("tests/programs/kvserver/kvserver_v2", "2"); }
TEST_CASE("kvserver v3 speaks the protocol") { check_protocol("tests/programs/kvserver/kvserver_v3", "3"); }
