// bankserver_test — the benchmark server (bankserver.c) at a small size: each
// version speaks its protocol; v1 holding 3,000 accounts, transfers between them and
// profiles behind `void *` passes a --validate-only run (v1 serves on, its SUM
// unchanged) and is then updated to v2 (committed): v2's own SUM — every account,
// transaction, profile, policy and the ring of recent transfers, independent of
// layout — equals v1's, on the connection kept open and on a new one.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <string>

#include "tests/programs/bankserver/bank_client.h"
#include "tests/programs/kvserver/kv_client.h"
#include "tests/util/test_util.h"

using ttst::test::BankServer;
using ttst::test::KvClient;

namespace {

const std::string kDir = "tests/programs/bankserver/";

void check_protocol(const std::string& binary, const std::string& version) {
  BankServer server = BankServer::start(kDir + binary, 100);
  {
    KvClient c(server.port);
    CHECK(c.command("VERSION") == "VERSION " + version);
    CHECK(c.command("PING") == "PONG");
    CHECK(c.command("BAL acct7") == "BALANCE 1000");
    CHECK(c.command("BAL nobody") == "NOT_FOUND");
    CHECK(c.command("OPEN alice 50") == "OK");
    CHECK(c.command("OPEN alice 50") == "EXISTS");
    CHECK(c.command("DEPOSIT alice 25") == "BALANCE 75");
    CHECK(c.command("XFER alice acct1 70") == "OK");  // acct1's policy: a flat fee of 0 under 100
    CHECK(c.command("XFER alice acct1 70") == "NO_FUNDS");
    CHECK(c.command("BAL acct1") == "BALANCE 1070");
    CHECK(c.command("TXNS alice") == "TXNS 3");
    CHECK(c.command("VISIT acct3") == "VISITS 1");
    CHECK(c.command("SUM").rfind("SUM accounts=101 txns=104 total=100075 hash=", 0) == 0);
    CHECK(c.command("QUIT") == "BYE");
  }
  server.kill_and_wait();
}

// Transfers in a ring of accounts, profiles visited: lists of several
// transactions, peers across the table, the `void *` ring full.
void exercise(KvClient& c) {
  for (int i = 0; i < 600; ++i) {
    const std::string from = "acct" + std::to_string(i * 7 % 3000), to = "acct" + std::to_string(i * 13 % 2999 + 1);
    REQUIRE(c.command("XFER " + from + " " + to + " " + std::to_string(1 + i % 150)) == "OK");
  }
  for (int i = 0; i < 100; ++i) REQUIRE(c.command("VISIT acct" + std::to_string(i * 3)).rfind("VISITS ", 0) == 0);
  REQUIRE(c.command("OPEN late 5") == "OK");
}

}  // namespace

TEST_CASE("bankserver v1 speaks the protocol") { check_protocol("bankserver_v1", "1"); }
TEST_CASE("bankserver v2 speaks the protocol") { check_protocol("bankserver_v2", "2"); }

TEST_CASE("bankserver v1 -> v2: validated, then committed with the same state by its own checksum") {
  BankServer server = BankServer::start(kDir + "bankserver_v1", 3000);
  KvClient c(server.port);
  exercise(c);
  const std::string before = c.command("SUM");
  REQUIRE(before.rfind("SUM accounts=3001 txns=4201 ", 0) == 0);

  auto v = ttst::testutil::supervise(server.pid, kDir + "bankserver_v2", "--validate-only");
  CHECK(v.status == 0);
  CHECK(v.report["reason"] == "validate_only");
  // The report says where the time went (report.h): the stall, the agents' phases, the limit.
  CHECK(v.report["stall_ms"].get<double>() > 0);
  CHECK(v.report["time_limit_ms"].get<double>() >= 5000);
  REQUIRE(v.report["transfers"].size() == 2);
  for (const auto& t : v.report["transfers"]) {
    CHECK(t["agent_phases"].size() == 5);
    CHECK(t["copy_bytes"].get<uint64_t>() > 0);
    // Every element has its type's compiled plan (engine_plans.cc), the account's
    // POINTS_TO member included: none is walked member by member (once, a plan
    // check took every unannotated member of an annotated struct for a free list's
    // link and walked every account: type and write 2-3x slower at 1 M accounts).
    CHECK(t["walked"].get<uint64_t>() == 0);
  }
  CHECK(c.command("VERSION") == "VERSION 1");
  CHECK(c.command("SUM") == before);

  auto u = ttst::testutil::supervise(server.pid, kDir + "bankserver_v2", "--grace 0");
  REQUIRE(u.status == 0);
  CHECK(u.report["outcome"] == "committed");
  CHECK(u.report["stall_ms"].get<double>() > 0);
  CHECK(c.command("VERSION") == "VERSION 2");
  CHECK(c.command("SUM") == before);
  KvClient d(server.port);
  CHECK(d.command("SUM") == before);
  CHECK(d.command("XFER late acct0 5") == "OK");
  CHECK(d.command("TXNS late") == "TXNS 2");
  waitpid(server.pid, nullptr, 0);  // the old version ended at the commit
  server.pid = u.report["new_pid"].get<pid_t>();  // the new version serves as another pid
  server.kill_and_wait();
}
