// valuestore_test — issue 17's first "Done when": valuestore (valuestore.c) keeps
// integers and four pointer types in one tagged `void *` member, a free list of
// recycled values with stale pointers, an argument vector with freed slots, an
// event table with stale clientData, query buffers with stale tails and a command
// table whose names share suffixes. Updated v1 → v2 by ttst-supervise under client
// load, v2's own DUMP after the update equals v1's before it; a validate-only run
// reports the integers, dead pointers and literals it carried; without the one
// TTST_TAGGED line, a client-chosen integer equal to a live address is refused
// naming the member, and v1 serves on unchanged. After a commit, argv[0] is v2's path
// and v1's pointers into it (the path, its base name) point into v2's.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/programs/kvserver/kv_client.h"
#include "tests/util/advised_fix.h"
#include "tests/util/test_util.h"

using ttst::test::KvClient;
using ttst::test::KvServer;

namespace {

using ttst::testutil::tmpdir;

const std::string kDir = "tests/programs/valuestore/";

using Run = ttst::testutil::Supervised;

Run supervise(pid_t pid, const std::string& v2, const std::string& extra = "") {
  return ttst::testutil::supervise(pid, kDir + v2, extra);
}

// Every kind of value, values deleted onto the free list (their ptr stale), a
// closed connection (its clientData stale), a long line whose bytes stay in the
// query buffer's tail (among them the address of a live value), commands whose
// names share suffixes.
void fill(KvClient& c, int port) {
  for (int i = 0; i < 30; ++i) {
    std::string k = std::to_string(i);
    REQUIRE(c.set("ks" + k, "hello" + k) == "OK");
    REQUIRE(c.command("SETINT ki" + k + " " + std::to_string(99000 + i)) == "OK");
    REQUIRE(c.command("INCRBY ki" + k + " 7") == "VALUE " + std::to_string(99007 + i));
    REQUIRE(c.command("RPUSH kl" + k + " a b c" + k) == "OK 3");
    REQUIRE(c.command("SADD kz" + k + " x y z" + k) == "OK 3");
    REQUIRE(c.command("HSET kh" + k + " f" + k + " v" + k) == "OK");
    REQUIRE(c.command("HINCRBY kh" + k + " n 5") == "VALUE 5");
  }
  for (int i = 0; i < 30; i += 3) {
    std::string k = std::to_string(i);
    for (const char* kind : {"ks", "kl", "kz", "kh"}) REQUIRE(c.command(std::string("DEL ") + kind + k) == "DELETED");
  }
  std::string addr = c.command("ADDR kl1").substr(5);
  uint64_t a = std::stoull(addr, nullptr, 16);
  std::string raw(reinterpret_cast<const char*>(&a), 6);  // the address's bytes, low first (no NUL)
  if (raw.find_first_of("\n\r ") == std::string::npos)
    CHECK(c.command("SET kb " + std::string(200, 'x') + raw) == "OK");
  CHECK(c.command("GETSET kg old") == "OK");  // "getset", whose tail is "set"
  CHECK(c.command("LAST") == "LAST getset");
  KvClient gone(port);
  CHECK(gone.command("VERSION") == "VERSION 1");
  CHECK(gone.command("QUIT") == "BYE");  // its client freed; events[fd].clientData kept
  CHECK(c.command("LAST") == "LAST quit");  // the last command of any connection
}

// The state fill() builds, plus the key kx holding (SETINT) the live address of
// list kl1 as an integer: what the mixed-member refusal is about. Returns it.
std::string store_live_address_as_integer(KvClient& c, int port) {
  fill(c, port);
  std::string addr = c.command("ADDR kl1").substr(5);
  REQUIRE(c.command("SETINT kx " + addr) == "OK");
  return addr;
}

const nlohmann::json* forward(const Run& r) {
  for (const auto& t : r.report["transfers"])
    if (t["direction"] == "forward") return &t;
  return nullptr;
}

void reap(pid_t old) { waitpid(old, nullptr, 0); }

}  // namespace

TEST_CASE("validate-only: integers, dead pointers and literals counted; v1 unchanged") {
  // v1's TTST_TAGGED given through ttst-cc's TTST_ANNOTATIONS, v2's in its source.
  KvServer server = KvServer::start(kDir + "valuestore_v1_env");
  KvClient c(server.port);
  fill(c, server.port);
  std::string before = c.command("DUMP");
  Run r = supervise(server.pid, "valuestore_v2", "--validate-only");
  CHECK(r.status == 0);
  CHECK(r.report["outcome"] == "rolled_back");
  const nlohmann::json* f = forward(r);
  REQUIRE(f != nullptr);
  MESSAGE(f->dump());
  CHECK((*f)["integers"].get<uint64_t>() >= 50);       // 30 ki* plus the 20 freed lists/tables/strings/sets' stale ptr
  CHECK((*f)["dead_pointers"].get<uint64_t>() >= 1);   // freed argv slots, the closed client's clientData
  CHECK((*f)["literals"].get<uint64_t>() >= 16);       // 15 command names and last_name
  CHECK(c.command("DUMP") == before);
  CHECK(c.command("VERSION") == "VERSION 1");
  server.kill_and_wait();
}

TEST_CASE("committed: v2's own dump equals v1's; a half-sent line completes in v2") {
  KvServer server = KvServer::start(kDir + "valuestore_v1");
  KvClient c(server.port);
  KvClient half(server.port);  // opened first: the connection fill() closes keeps its own slot
  REQUIRE(half.command("VERSION") == "VERSION 1");
  fill(c, server.port);
  half.send("SET kp par");  // in its query buffer across the update
  CHECK(c.command("PROG") == "PROG " + kDir + "valuestore_v1 valuestore_v1");
  std::string before = c.command("DUMP");
  std::string events = c.command("EVENTS");
  CHECK(events.find(":0:r") != std::string::npos);  // the closed connection's stale clientData
  Run r = supervise(server.pid, "valuestore_v2");
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  reap(server.pid);
  server.pid = r.report["new_pid"].get<pid_t>();
  CHECK(c.command("DUMP") == before);  // not only P == R: v2 reads back v1's state
  CHECK(c.command("LAST") == "LAST dump");
  CHECK(c.command("EVENTS") == events);
  CHECK(c.command("VERSION") == "VERSION 2");
  half.send("tial\n");
  CHECK(half.reply() == "OK");
  CHECK(half.get("kp") == "VALUE \"partial\"");
  // v2 serves on: recycled values (the free list), integers, the tables.
  CHECK(c.command("SETINT kn 5") == "OK");
  CHECK(c.command("RPUSH kl0 q") == "OK 1");
  CHECK(c.command("HINCRBY kh1 n 2") == "VALUE 7");
  CHECK(c.command("INCRBY ki2 1") == "VALUE 99010");
  // argv[0] is v2's (what `ps` shows), and v1's pointers into it now point into v2's:
  // the whole path, and the base name after the last '/'.
  std::ifstream cmdline("/proc/" + std::to_string(server.pid) + "/cmdline");
  std::string argv0;
  std::getline(cmdline, argv0, '\0');
  REQUIRE(argv0.size() > kDir.size() + 13);
  CHECK(argv0.substr(argv0.size() - kDir.size() - 13) == kDir + "valuestore_v2");
  CHECK(c.command("PROG") == "PROG " + argv0 + " valuestore_v2");
  server.kill_and_wait();
}

TEST_CASE("committed under client load: the dataset's dump equal, the load served throughout") {
  KvServer server = KvServer::start(kDir + "valuestore_v1");
  KvClient c(server.port);
  fill(c, server.port);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, done{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 2; ++t)
    load.emplace_back([&, t] {
      try {
        KvClient l(server.port);
        for (int i = 0; !stop; ++i) {
          std::string k = "L" + std::to_string(t) + "_" + std::to_string(i % 50);
          bad += l.command("SETINT " + k + "i " + std::to_string(i)) != "OK";
          bad += l.command("RPUSH " + k + "l a") .rfind("OK", 0) != 0;
          bad += l.command("SET " + k + "s v") != "OK";
          bad += l.command("DEL " + k + "s") != "DELETED";
          bad += l.command("GET " + k + "i").rfind("VALUE", 0) != 0;
          ++done;
        }
      } catch (const std::exception&) {
        ++bad;
      }
    });
  while (done < 20) std::this_thread::yield();
  std::string before = c.command("DUMP k");
  Run r = supervise(server.pid, "valuestore_v2");
  int done_at_commit = done;
  CHECK(r.status == 0);
  if (r.status == 0) {
    reap(server.pid);
    server.pid = r.report["new_pid"].get<pid_t>();
  }
  while (done < done_at_commit + 20) std::this_thread::yield();  // v2 serves the load
  stop = true;
  for (auto& th : load) th.join();
  CHECK(bad == 0);
  CHECK(c.command("VERSION") == (r.status == 0 ? "VERSION 2" : "VERSION 1"));
  CHECK(c.command("DUMP k") == before);
  server.kill_and_wait();
}

TEST_CASE("refused: a client's integer equal to a live address in the mixed member, no TTST_TAGGED") {
  KvServer server = KvServer::start(kDir + "valuestore_v1_plain");
  KvClient c(server.port);
  const std::string addr = store_live_address_as_integer(c, server.port);
  std::string before = c.command("DUMP");
  Run r = supervise(server.pid, "valuestore_v2_plain");
  CHECK(r.status == 1);
  CHECK(r.report["outcome"] == "rolled_back");
  const std::string message = r.report["message"].get<std::string>();
  INFO(message);
  CHECK(message.find("value.ptr holds integers in other objects") != std::string::npos);
  CHECK(message.find("TTST_TAGGED(struct value.ptr, type|encoding,") != std::string::npos);
  CHECK(c.command("DUMP") == before);
  CHECK(c.command("GET kx") == "VALUE " + std::to_string(std::stoull(addr, nullptr, 16)));
  CHECK(c.command("VERSION") == "VERSION 1");
  server.kill_and_wait();
}

// A `void *` global array and a heap array of `void *` (no member, so no sibling
// field can say what an element holds): holding integers only, they are carried
// and the update commits; holding integers and a value's address too, the array is
// mixed (the address may be a client's integer equal to a live address) and the
// update is refused naming the array and the transfer code that resolves it, v1
// unchanged.
static void mixed_elements(const std::string& where, bool with_pointer, const std::string& named,
                           const std::string& fix) {
  KvServer server = KvServer::start(kDir + "valuestore_v1");
  KvClient c(server.port);
  fill(c, server.port);
  REQUIRE(c.command("SLOT " + where + " 0 99000") == "OK");
  REQUIRE(c.command("SLOT " + where + " 1 42") == "OK");
  if (with_pointer) REQUIRE(c.command("SLOT " + where + " 2 @kl1") == "OK");
  std::string before = c.command("DUMP");
  Run r = supervise(server.pid, "valuestore_v2");
  const std::string message = r.report["message"].is_string() ? r.report["message"].get<std::string>() : "";
  INFO(message);
  if (!with_pointer) {
    REQUIRE(r.status == 0);
    CHECK(r.report["outcome"] == "committed");
    reap(server.pid);
    server.pid = r.report["new_pid"].get<pid_t>();
    CHECK(c.command("DUMP") == before);
    CHECK(c.command("SLOT " + where + " 0") == "SLOT 99000");
    CHECK(c.command("SLOT " + where + " 1") == "SLOT 42");
  } else {
    CHECK(r.status == 1);
    CHECK(r.report["outcome"] == "rolled_back");
    CHECK(message.find(named + " holds integers in other elements") != std::string::npos);
    CHECK(message.find("99000 = 0x182b8, in no mapping") != std::string::npos);
    CHECK(r.report["advice"].get<std::string>().find(fix) != std::string::npos);
    CHECK(c.command("DUMP") == before);
    CHECK(c.command("VERSION") == "VERSION 1");
  }
  server.kill_and_wait();
}

TEST_CASE("mixed elements: a void * global array of integers commits; with a pointer too it is refused, named") {
  mixed_elements("g", false, "", "");
  mixed_elements("g", true, "the global slots", "fwd_slots");
}

TEST_CASE("mixed elements: a heap array of void * of integers commits; with a pointer too it is refused, named") {
  mixed_elements("h", false, "", "");
  mixed_elements("h", true, "the heap arrays of void *", "fwd_cells");
}

TEST_CASE("refused: a TTST_TAGGED whose tag names no member is bad input, named") {
  KvServer server = KvServer::start(kDir + "valuestore_v1");
  KvClient c(server.port);
  REQUIRE(c.command("SETINT ki 99000") == "OK");
  Run r = supervise(server.pid, "valuestore_v2_badtag");
  CHECK(r.status == 1);  // the user's input, not ttst's fault (exit 3 would say "report this")
  CHECK(r.report["outcome"] == "rolled_back");
  CHECK(r.report["reason"] == "bad_input");
  const std::string message = r.report["message"].get<std::string>();
  INFO(message);
  CHECK(message.find("annotation TTST_TAGGED(struct value.ptr) in ttst-cc names nothing in v2") != std::string::npos);
  CHECK(c.command("GET ki") == "VALUE 99000");
  server.kill_and_wait();
}

TEST_CASE("advised fix: the mixed member's TTST_TAGGED line, with the tag values seen, lets the update commit") {
  // The refusal's advice names the line with every tag value the source's values
  // show (stfw/xfer/refusal_advice.cc); v2 rebuilt with it through ttst-cc's
  // TTST_ANNOTATIONS, the same P is updated, the client's integer intact.
  KvServer server = KvServer::start(kDir + "valuestore_v1_plain");
  KvClient c(server.port);
  const std::string addr = store_live_address_as_integer(c, server.port);
  std::string before = c.command("DUMP");
  Run r = supervise(server.pid, "valuestore_v2_plain");
  REQUIRE(r.status == 1);
  const std::string advice = r.report.value("advice", std::string());
  INFO(advice);
  const ttst::testutil::AdvisedFix fix = ttst::testutil::advised_fix(advice, "TAGGED");
  REQUIRE(!fix.annotations.empty());
  CHECK(fix.annotations.find("TAGGED(struct value.ptr, ") == 0);  // by `type` or `encoding`: equal in live values
  CHECK(fix.annotations.find(", 0:int, 1:char, 2:struct list, 3:struct set, 4:struct table") != std::string::npos);
  const std::string v2 = ttst::testutil::build_with_fix(kDir + "valuestore.c", "-O0 -Wall -Wextra -Werror -DVS_VERSION=2",
                                                        fix, false, "valuestore_v2_fixed");
  REQUIRE(!v2.empty());
  Run again = ttst::testutil::supervise(server.pid, v2);
  INFO(again.report.value("message", std::string()));
  REQUIRE(again.status == 0);
  CHECK(again.report["outcome"] == "committed");
  reap(server.pid);
  server.pid = again.report["new_pid"].get<pid_t>();
  const std::string after = c.command("DUMP");
  CHECK(after.substr(0, after.find("|calls=")) == before.substr(0, before.find("|calls=")));  // the dataset
  CHECK(c.command("VERSION") == "VERSION 2");
  CHECK(c.command("GET kx") == "VALUE " + std::to_string(std::stoull(addr, nullptr, 16)));
  server.kill_and_wait();
}
