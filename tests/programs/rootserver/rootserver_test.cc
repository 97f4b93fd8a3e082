// rootserver_test — issue 17's test program of the roots on the stack and of C
// inheritance (rootserver.c): a server whose whole state hangs off a local of main
// (-O2: a register), holding an array of base pointers to three derived struct
// types, is updated v1 -> v2 (one derived type gains a member) with ttst-supervise
// and v2's own dump afterwards equals v1's before. Each bullet fails on a main
// without it: without the stack roots nothing under main's local is typed (the
// server object is refused as untyped); without the prefix views the derived items
// reached as `struct item *` stay untyped. The refusals name what they refuse: an
// item no constructor types (its wording says why, and its path from the root:
// `main::srv->items[0]`), and two struct types that are not prefixes of one another.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "inject/sys/proc_status.h"
#include "tests/programs/kvserver/kv_client.h"
#include "tests/util/advised_fix.h"
#include "tests/util/test_util.h"

using ttst::test::KvClient;
using ttst::test::KvServer;

namespace {

using ttst::testutil::tmpdir;

const std::string kDir = "tests/programs/rootserver/";

using Run = ttst::testutil::Supervised;

Run supervise(pid_t pid, const std::string& v2, const std::string& extra = "") {
  return ttst::testutil::supervise(pid, kDir + v2, extra);
}

bool alive(pid_t pid) {
  std::string state = ttst::sys::proc_status_field(pid, "State");
  return !state.empty() && state[0] != 'Z' && state[0] != 'X';
}

// Items of the three derived types, interleaved.
void fill(KvClient& c, const std::string& tag, int count) {
  for (int i = 0; i < count; ++i) {
    const std::string k = tag + std::to_string(i);
    REQUIRE(c.command("STR s" + k + " text" + std::to_string(i * 7)) == "OK");
    REQUIRE(c.command("NUM n" + k + " " + std::to_string(i * 1000 - 5)) == "OK");
    REQUIRE(c.command("LIST l" + k + " a" + std::to_string(i) + ",b,c" + std::to_string(i % 3)) == "OK");
  }
}

void commits_with_equal_state(const std::string& variant) {
  KvServer server = KvServer::start(kDir + "rootserver_v1" + variant);
  KvClient early(server.port);  // opened before the update, used after it
  fill(early, "k", 40);
  const std::string before = early.command("DUMP");
  REQUIRE(before.rfind("DUMP 120 ", 0) == 0);
  Run r = supervise(server.pid, "rootserver_v2" + variant);
  INFO(r.report.dump(), r.err);
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  waitpid(server.pid, nullptr, 0);
  server.pid = r.report["new_pid"].get<pid_t>();
  CHECK(early.command("VERSION") == "VERSION 2");
  CHECK(early.command("DUMP") == before);  // v2's own dump of the transferred state
  KvClient late(server.port);  // accepted by v2 on P's listening socket
  CHECK(late.command("DUMP") == before);
  fill(late, "n", 5);  // v2 adds to the transferred array (realloc'd by v2)
  const std::string after = late.command("DUMP");
  CHECK(after.rfind("DUMP 135 ", 0) == 0);
  CHECK(after.find(before.substr(9)) != std::string::npos);
  CHECK(alive(server.pid));
  server.kill_and_wait();
}

std::string refused(const std::string& variant, const std::string& v2_variant = "-", const std::string& extra = "") {
  KvServer server = KvServer::start(kDir + "rootserver_v1" + variant);
  KvClient c(server.port);
  for (int i = 0; i < 3; ++i) REQUIRE(c.command("STR s" + std::to_string(i) + " text") == "OK");
  if (!extra.empty()) REQUIRE(c.command(extra) == "OK");
  const std::string before = c.command("DUMP");
  Run r = supervise(server.pid, "rootserver_v2" + (v2_variant == "-" ? variant : v2_variant));
  INFO(r.report.dump(), r.err);
  CHECK(r.status == 1);
  CHECK(r.report["outcome"] == "rolled_back");
  const std::string message = r.report.value("message", std::string());
  CHECK(c.command("VERSION") == "VERSION 1");  // P serves on, unchanged
  CHECK(c.command("DUMP") == before);
  server.kill_and_wait();
  return message;
}

// A refusal's advised fix fed back (stfw/xfer/refusal_advice.cc): the update of
// v1`variant` to v2`variant` refused, its advice's first `kind` line parsed, v2
// rebuilt from rootserver.c with it (as a ttst.h line after the source, or through
// ttst-cc's TTST_ANNOTATIONS), and the same P updated again: committed, v2's dump
// equal to v1's.
void fixed_by_advice(const std::string& variant, const std::string& defines, const std::string& extra,
                     const std::string& kind, bool in_source, const std::string& v2_variant = "-") {
  KvServer server = KvServer::start(kDir + "rootserver_v1" + variant);
  KvClient c(server.port);
  fill(c, "k", 5);
  if (!extra.empty()) REQUIRE(c.command(extra) == "OK");
  const std::string before = c.command("DUMP");
  Run r = supervise(server.pid, "rootserver_v2" + (v2_variant == "-" ? variant : v2_variant));
  REQUIRE(r.status == 1);
  const std::string advice = r.report.value("advice", std::string());
  INFO(r.report.value("message", std::string()));
  INFO(advice);
  const ttst::testutil::AdvisedFix fix = ttst::testutil::advised_fix(advice, kind);
  REQUIRE(!fix.header_line.empty());
  const std::string v2 = ttst::testutil::build_with_fix(kDir + "rootserver.c", "-O2 -Wall -Wextra -Werror -DRS_VERSION=2 " + defines,
                                                        fix, in_source, "rootserver_v2_fixed");
  REQUIRE(!v2.empty());
  Run again = ttst::testutil::supervise(server.pid, v2);
  INFO(again.report.value("message", std::string()));
  REQUIRE(again.status == 0);
  CHECK(again.report["outcome"] == "committed");
  waitpid(server.pid, nullptr, 0);
  server.pid = again.report["new_pid"].get<pid_t>();
  CHECK(c.command("VERSION") == "VERSION 2");
  CHECK(c.command("DUMP") == before);
  server.kill_and_wait();
}

}  // namespace

TEST_CASE("committed: the whole state hangs off main's local (-O2), items are derived structs behind base pointers") {
  commits_with_equal_state("");
}

// A struct local of main (`struct server srv_state`, its address taken) in its stack
// slot: its pointer members type the state and F's local is written in place.
TEST_CASE("committed: the whole state hangs off a struct local of main in its stack slot (-O2)") {
  commits_with_equal_state("_struct");
}

TEST_CASE("committed: the whole state hangs off a struct local of main in its stack slot (-O0)") {
  commits_with_equal_state("_struct_O0");
}

TEST_CASE("committed: derived structs behind base pointers, the state also under a global") {
  commits_with_equal_state("_global");
}

TEST_CASE("refused: derived items no constructor types, the refusal says why (not 'reached only through void *')") {
  const std::string message = refused("_anon");
  INFO(message);
  CHECK(message.find("whose size does not divide its size") != std::string::npos);
  CHECK(message.find("reached only through void *") == std::string::npos);
  CHECK(message.find("(reached as g_server->items[") != std::string::npos);  // a path from the root
}

TEST_CASE("refused: the refusal names the object by its path from main's local") {
  const std::string message = refused("_anon_local");
  INFO(message);
  CHECK(message.find("whose size does not divide its size") != std::string::npos);
  CHECK(message.find("(reached as main::srv->items[") != std::string::npos);
}

TEST_CASE("refused: two struct types that are not prefixes of one another claim one item") {
  const std::string message = refused("_clash");
  INFO(message);
  CHECK((message.find("reached as other * and as item_str *") != std::string::npos ||
         message.find("reached as item_str * and as other *") != std::string::npos));
  CHECK(message.find("(reached as g_server->") != std::string::npos);
  CHECK(message.find("not prefixes of one another") != std::string::npos);
}

TEST_CASE("refused: v2 renames main's local, so P's only root of the state has no local in F to go to") {
  const std::string message = refused("", "_renamed");
  INFO(message);
  CHECK(message.find("local 'srv' (frame of main) is the only root of heap object") != std::string::npos);
  CHECK(message.find("have no local 'srv' in a frame of main") != std::string::npos);
}

// The same with the state in a struct local of main (`struct server srv_state`):
// unpaired, it is no root, and the objects only it reaches are refused naming it.
TEST_CASE("refused: v2 renames main's struct local, so P's only root of the state has no local in F to go to") {
  const std::string message = refused("_struct", "_struct_renamed");
  INFO(message);
  CHECK(message.find("local 'srv_state' (frame of main) is the only root of heap object") != std::string::npos);
  CHECK(message.find("have no local 'srv_state' in a frame of main") != std::string::npos);
}

// A struct local of two pointers GCC splits into two registers at -O2 (DW_OP_reg13
// DW_OP_piece 8 DW_OP_reg3 DW_OP_piece 8), no annotation: each register piece is
// read from P's frame (the registers the unwinder recovers), typed by its member,
// paired with F's piece and superseded there; committed, v2's dump equal.
TEST_CASE("committed: the state hangs off a struct local split in register pieces at -O2") {
  commits_with_equal_state("_piece");
}

// The same local with its pieces in stack slots (rbx, r12-r15 kept from the
// compiler: DW_OP_fbreg -216 DW_OP_piece 8 DW_OP_fbreg -232 DW_OP_piece 8).
TEST_CASE("committed: the state hangs off a struct local split in stack-slot pieces at -O2") {
  commits_with_equal_state("_piece_slot");
}

// The two versions built differently: v1 keeps main::roots whole in its stack slot
// (its address used once), v2 lets GCC split it into registers: P's members are
// paired with F's pieces member by member; committed, v2's dump equal.
TEST_CASE("committed: the struct local whole in P's stack slot, split in pieces in v2 (-O2)") {
  KvServer server = KvServer::start(kDir + "rootserver_v1_piece_kept");
  KvClient early(server.port);
  fill(early, "k", 10);
  const std::string before = early.command("DUMP");
  Run r = supervise(server.pid, "rootserver_v2_piece");
  INFO(r.report.value("message", std::string()));
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  waitpid(server.pid, nullptr, 0);
  server.pid = r.report["new_pid"].get<pid_t>();
  CHECK(early.command("VERSION") == "VERSION 2");
  CHECK(early.command("DUMP") == before);
  server.kill_and_wait();
}

// What cannot be done: v2 no longer uses roots.wakeups, so F's frame has no place
// for that member, and P's counter, reached only through P's piece, would be lost:
// refused naming the local and member, with the fix (keep the local whole).
TEST_CASE("refused: a split struct local's member that the new version's frame has no place for") {
  KvServer server = KvServer::start(kDir + "rootserver_v1_piece");
  KvClient c(server.port);
  fill(c, "k", 3);
  const std::string before = c.command("DUMP");
  Run r = supervise(server.pid, "rootserver_v2_piece_dropped");
  CHECK(r.status == 1);
  CHECK(r.report["outcome"] == "rolled_back");
  const std::string message = r.report.value("message", std::string());
  const std::string advice = r.report.value("advice", std::string());
  INFO(message);
  INFO(advice);
  CHECK(message.find("local 'main::roots.wakeups' (frame of main) is the only root of heap object") != std::string::npos);
  CHECK(message.find("split in pieces at -O2") != std::string::npos);
  CHECK(message.find("has no readable place for that member") != std::string::npos);
  CHECK(advice.find("keep main::roots whole in memory in both versions") != std::string::npos);
  CHECK(advice.find("__asm__ volatile(\"\" : : \"r\"(&roots) : \"memory\");") != std::string::npos);
  CHECK(c.command("VERSION") == "VERSION 1");  // P serves on, unchanged
  CHECK(c.command("DUMP") == before);
  server.kill_and_wait();
}

// The advised fix applied to both versions (-DRS_PIECE_KEPT: the local's address
// used once): the local stays whole in its stack slot, a root; committed, state equal.
TEST_CASE("committed: the struct local kept in memory as advised (-O2)") {
  commits_with_equal_state("_piece_kept");
}

TEST_CASE("refused: any refusal of a value names its object's path from the root (a dangling stack pointer)") {
  const std::string message = refused("_stackptr", "-", "LIST l a,b");
  INFO(message);
  CHECK(message.find(".where = 0x") != std::string::npos);
  CHECK(message.find("(reached as main::srv->items[3])") != std::string::npos);
}

TEST_CASE("advised fix: a dangling stack pointer's TTST_IXFER line, in v2's source, lets the update commit") {
  fixed_by_advice("_stackptr", "-DRS_STACK_POINTER", "LIST l a,b", "IXFER", true);
}

TEST_CASE("advised fix: two struct types for one item, the advised TTST_NO_TRANSFER through TTST_ANNOTATIONS") {
  fixed_by_advice("_clash", "-DRS_CLASH -DRS_GLOBAL_ROOT", "", "NO_TRANSFER", false);
}

TEST_CASE("advised fix: main's local renamed in v2, the advised TTST_RENAMED_FROM(main::state, srv) pairs it") {
  fixed_by_advice("", "-DRS_RENAMED_LOCAL", "", "RENAMED_FROM", false, "_renamed");
}

TEST_CASE("advised fix: main's struct local renamed in v2, the advised TTST_RENAMED_FROM(main::state, srv_state) pairs it") {
  fixed_by_advice("_struct", "-DRS_STRUCT_LOCAL -DRS_RENAMED_LOCAL", "", "RENAMED_FROM", false, "_struct_renamed");
}
