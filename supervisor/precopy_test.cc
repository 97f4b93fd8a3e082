// precopy_test — ttst-supervise --precopy end to end against a live kvserver
// (README "Pre-copy"): committed from the snapshot when P stayed idle; P written
// during the round (the supervisor paused there by the test variant's hook while
// the test writes a key) -> the delta is found and the transfer runs again in the
// stop, so v2 has the key; rollbacks during the round (the agent crashes, a lossy
// backward transfer) leave P serving, never stopped again; the supervisor killed
// during the round and at the second stop leaves exactly one server, P, untraced,
// with its data; R and F, reaped outside P's stop, gone when the supervisor exits.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "inject/sys/proc_maps.h"
#include "inject/sys/proc_syscall.h"
#include "inject/sys/proc_status.h"
#include "tests/programs/kvserver/kv_client.h"
#include "tests/util/test_util.h"

namespace fs = std::filesystem;
using ttst::sys::proc_status_field;
using ttst::test::KvClient;
using ttst::test::KvServer;
using ttst::testutil::await;
using ttst::testutil::tmpdir;

namespace {

constexpr std::chrono::milliseconds kAwait{10000};
const std::string kSupervise = "supervisor/ttst-supervise";
const std::string kSuperviseTesting = "supervisor/ttst-supervise-testing";
const std::string kV1 = "tests/programs/kvserver/kvserver_v1";
const std::string kV2 = "tests/programs/kvserver/kvserver_v2";

// kvserver v1 holding 50 keys.
struct Filled {
  KvServer server;
  Filled() : server(KvServer::start(kV1)) {
    KvClient c(server.port);
    for (int i = 0; i < 50; ++i) REQUIRE(c.set("key" + std::to_string(i), "value" + std::to_string(i)) == "OK");
  }
  ~Filled() { server.kill_and_wait(); }
  // The version serving on the port has every key, and nobody traces it.
  void check_serving(const std::string& version) {
    KvClient c(server.port);
    CHECK(c.command("VERSION") == version);
    for (int i = 0; i < 50; ++i) CHECK(c.get("key" + std::to_string(i)) == "VALUE value" + std::to_string(i));
    CHECK(proc_status_field(server.pid, "TracerPid") == "0");
  }
};

std::string command(pid_t pid, const std::string& extra, const std::string& binary, const std::string& v2 = kV2) {
  return binary + " --json --report-dir " + tmpdir() + "/reports --pid " + std::to_string(pid) + " --new " + v2 +
         " --precopy " + extra;
}

struct Run {
  int status = -1;
  nlohmann::json report;
  std::string err;
};

Run supervise(pid_t pid, const std::string& extra = "", const std::string& env = "") {
  const std::string errf = tmpdir() + "/supervise.err";
  const std::string binary = env.empty() ? kSupervise : kSuperviseTesting;
  const ttst::testutil::Ran ran = ttst::testutil::run("env XDG_CACHE_HOME=" + tmpdir() + "/cache " + env + " " +
                                                      command(pid, extra, binary) + " 2>" + errf);
  Run r{ran.status, ttst::testutil::json_report(ran.out), ttst::testutil::slurp(errf)};
  MESSAGE(env << " --precopy " << extra << " -> " << r.status << "\n" << r.err);
  return r;
}

std::vector<std::string> phase_names(const Run& r) {
  std::vector<std::string> names;
  for (const auto& p : r.report["phases"]) names.push_back(p["name"]);
  return names;
}

size_t count(const std::vector<std::string>& v, const std::string& s) { return std::count(v.begin(), v.end(), s); }

// After a commit the test, P's parent, reaps it; the server is F from then on.
void take_over(Filled& kv, const Run& r) {
  waitpid(kv.server.pid, nullptr, 0);
  kv.server.pid = r.report["new_pid"].get<pid_t>();
}

char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = s.rfind(')');
  return paren == std::string::npos || paren + 2 >= s.size() ? '?' : s[paren + 2];
}

// The test variant started in the background with `env` (a TTST_SUPERVISE_TEST_PAUSE_AT).
pid_t spawn_supervisor(pid_t pid, const std::string& env, const std::string& out, const std::string& v2 = kV2,
                       const std::string& extra = "") {
  pid_t s = fork();
  if (s == 0) {
    const std::string cmd = "exec env XDG_CACHE_HOME=" + tmpdir() + "/cache " + env + " " +
                            command(pid, extra, kSuperviseTesting, v2) + " >" + out + " 2>" + out + ".err";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return s;
}

bool await_stopped(pid_t pid) { return await([&] { return state_of(pid) == 'T'; }, kAwait); }

// Our children that still run (this process is a subreaper in the kill tests).
std::vector<pid_t> running_children() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  std::vector<pid_t> out;
  for (const auto& t : fs::directory_iterator("/proc/self/task")) {
    std::ifstream in(t.path() / "children");
    for (pid_t c; in >> c;) out.push_back(c);
  }
  return out;
}

// P, untraced, is soon the one child of this subreaper left running (S, K, F and R,
// EXITKILL, died with the supervisor).
bool only_untraced_child(pid_t past) {
  return await([&] {
    const std::vector<pid_t> alive = running_children();
    return alive.size() == 1 && alive[0] == past && proc_status_field(past, "TracerPid") == "0";
  }, kAwait);
}

}  // namespace

TEST_CASE("pre-copy, P idle: committed from the snapshot, P stopped only for the snapshot and the delta") {
  Filled kv;
  Run r = supervise(kv.server.pid);
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  CHECK(r.report["precopy"]["verdict"] == "unchanged");
  CHECK(r.report["precopy"]["pages_total"].get<uint64_t>() > 0);
  CHECK(r.report["precopy"]["bytes_changed"].get<uint64_t>() == 0);
  // No --timeout: the bound derived from P's size (5 s and more) doubled, as pre-copy
  // may transfer twice.
  CHECK(r.report["time_limit_ms"].get<double>() >= 10000);
  const auto names = phase_names(r);
  CHECK(count(names, "snapshot") == 1);
  CHECK(count(names, "stop") == 1);
  CHECK(count(names, "delta") == 1);
  CHECK(count(names, "forward") == 1);  // one transfer each way: no second round
  CHECK(r.report["transfers"].size() == 2);
  // One clock (past_stop.h): the stall is the longer of P's two stops; the second
  // stop's figure ends at the verdict, before the commit's steps.
  const double stall = r.report["stall_ms"].get<double>();
  CHECK(stall >= r.report["precopy"]["first_stop_ms"].get<double>());
  CHECK(stall >= r.report["precopy"]["second_stop_ms"].get<double>());
  CHECK(r.report["precopy"]["second_stop_ms"].get<double>() > 0);
  take_over(kv, r);
  kv.check_serving("VERSION 2");
}

// The paused supervisor `s` let go until it exits (a fallback pauses it again, at
// the backward phase of the transfer in the stop: let go too); its wait status.
int let_go(pid_t s) {
  int st = 0;
  REQUIRE(await([&] {
    if (state_of(s) == 'T') kill(s, SIGCONT);
    return waitpid(s, &st, WNOHANG) == s;
  }, std::chrono::seconds(60)));
  return st;
}

// The supervisor paused as the round's backward phase starts (P serving), while
// `during` runs against P; then let go. Its report.
Run paused_round(Filled& kv, const std::string& env, const std::function<void()>& during,
                 const std::function<void(pid_t)>& then = [](pid_t) {}) {
  const std::string out = tmpdir() + "/paused.json";
  const pid_t s = spawn_supervisor(kv.server.pid, "TTST_SUPERVISE_TEST_PAUSE_AT=backward " + env, out);
  REQUIRE(await_stopped(s));  // in the round: R about to be forked from S, P serving
  during();
  kill(s, SIGCONT);
  then(s);
  const int st = let_go(s);
  REQUIRE(WIFEXITED(st));
  Run r{WEXITSTATUS(st), ttst::testutil::json_report(ttst::testutil::slurp(out)), ttst::testutil::slurp(out + ".err")};
  MESSAGE(env << " -> " << r.status << "\n" << r.err);
  return r;
}

void set_during(Filled& kv) {
  KvClient c(kv.server.port);
  CHECK(c.set("during", "precopy") == "OK");
  CHECK(c.set("key7", "rewritten") == "OK");
  CHECK(c.get("key3") == "VALUE value3");
}

// v2 serves every key, the two written during the round as written.
void check_written(Filled& kv, const Run& r) {
  take_over(kv, r);
  KvClient c(kv.server.port);
  CHECK(c.command("VERSION") == "VERSION 2");
  CHECK(c.get("during") == "VALUE precopy");  // written after the snapshot: in v2 all the same
  CHECK(c.get("key7") == "VALUE rewritten");
  for (int i = 0; i < 50; ++i)
    if (i != 7) CHECK(c.get("key" + std::to_string(i)) == "VALUE value" + std::to_string(i));
  CHECK(proc_status_field(kv.server.pid, "TracerPid") == "0");
}

TEST_CASE("pre-copy, P written during the round: only what it wrote is transferred again, and validated") {
  Filled kv;
  Run r = paused_round(kv, "", [&] { set_during(kv); });
  CHECK(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  CHECK(r.report["precopy"]["verdict"] == "delta");
  MESSAGE("delta: " << r.report["precopy"]["detail"].get<std::string>());
  // The keys' bytes (at least a value, "precopy") are in the delta's size.
  CHECK(r.report["precopy"]["bytes_changed"].get<uint64_t>() >= 7);
  CHECK(r.report["precopy"]["ranges_changed"].get<uint64_t>() >= 1);
  CHECK(r.report["precopy"]["pages_delta"].get<uint64_t>() >= 1);
  CHECK(r.report["precopy"]["future_pages_delta"].get<uint64_t>() >= 1);
  const auto names = phase_names(r);
  CHECK(count(names, "forward") == 1);  // the round's: no transfer of everything in the stop
  CHECK(count(names, "forward_delta") == 1);
  CHECK(count(names, "backward_delta") == 1);
  CHECK(count(names, "diff_delta") == 1);
  REQUIRE(r.report["transfers"].size() == 4);  // the round's, then the second runs
  CHECK(r.report["transfers"][2]["direction"] == "forward_delta");
  CHECK(r.report["transfers"][3]["direction"] == "backward_delta");
  // The second runs were given the changed bytes the supervisor's comparisons read
  // (P's, F's): they read no page of their peer (copy_bytes would be whole pages).
  const uint64_t pages = r.report["precopy"]["pages_delta"], future_pages = r.report["precopy"]["future_pages_delta"];
  const uint64_t given = r.report["transfers"][2]["copy_bytes"], given_back = r.report["transfers"][3]["copy_bytes"];
  MESSAGE("second runs given " << given << " / " << given_back << " bytes for " << pages << " / " << future_pages
                               << " pages");
  CHECK(given >= 7);
  CHECK(given < 4096 * pages);
  CHECK(given_back >= 1);
  CHECK(given_back < 4096 * future_pages);
  check_written(kv, r);
}

// When the changed bytes are not given (more than the kept region's input slot
// holds: a long first round's delta at a million accounts), the second runs read
// their peer's changed pages themselves, whole, and the result is the same.
TEST_CASE("pre-copy, the second runs reading the changed pages themselves: the same delta, validated") {
  Filled kv;
  Run r = paused_round(kv, "TTST_SUPERVISE_TEST_AGENTS_READ=1", [&] { set_during(kv); });
  CHECK(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  CHECK(r.report["precopy"]["verdict"] == "delta");
  REQUIRE(r.report["transfers"].size() == 4);
  const uint64_t pages = r.report["precopy"]["pages_delta"], future_pages = r.report["precopy"]["future_pages_delta"];
  CHECK(r.report["transfers"][2]["copy_bytes"].get<uint64_t>() == 4096 * pages);  // read by whole pages
  CHECK(r.report["transfers"][3]["copy_bytes"].get<uint64_t>() == 4096 * future_pages);
  check_written(kv, r);
}

// `server` (v1 of a program other than kvserver) updated to `v2` under --precopy,
// the supervisor paused in the round's backward phase while `during` writes to it:
// committed through the second runs (verdict delta); the server is v2's from then.
void committed_through_second_runs(KvServer& server, const std::string& v2, const std::function<void()>& during) {
  const std::string out = tmpdir() + "/second_runs.json";
  const pid_t s = spawn_supervisor(server.pid, "TTST_SUPERVISE_TEST_PAUSE_AT=backward", out, v2);
  REQUIRE(await_stopped(s));
  during();
  kill(s, SIGCONT);
  const int st = let_go(s);
  const nlohmann::json report = ttst::testutil::json_report(ttst::testutil::slurp(out));
  MESSAGE(ttst::testutil::slurp(out + ".err"));
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  REQUIRE(report["outcome"] == "committed");
  CHECK(report["precopy"]["verdict"] == "delta");
  MESSAGE("pre-copy: " << report["precopy"]["detail"]);
  waitpid(server.pid, nullptr, 0);
  server.pid = report["new_pid"].get<pid_t>();
}

// frameserver (FS_LAST, -O2) keeps the item of the last SET in a local of its loop
// function, in a callee-saved register at its update point. A SET during the round
// changes that register: the second runs follow it (the local written translated
// into F's register), and v2's LAST answers the key set during the round.
TEST_CASE("pre-copy, a pointer local of the update point's frame changed during the round: followed") {
  const std::string dir = "tests/programs/frameserver/";
  KvServer server = KvServer::start(dir + "frameserver_v1_last_O2");
  KvClient c(server.port);
  for (int i = 0; i < 20; ++i) REQUIRE(c.set("key" + std::to_string(i), "value" + std::to_string(i)) == "OK");
  REQUIRE(c.command("LAST") == "LAST key19");
  committed_through_second_runs(server, dir + "frameserver_v2_last_O2", [&] {
    CHECK(c.set("during", "round") == "OK");  // a new item: `last` points at it now
    CHECK(c.command("LAST") == "LAST during");
  });
  CHECK(c.command("VERSION") == "VERSION 2");
  CHECK(c.command("LAST") == "LAST during");
  CHECK(c.get("during") == "VALUE round");
  for (int i = 0; i < 20; ++i) CHECK(c.get("key" + std::to_string(i)) == "VALUE value" + std::to_string(i));
  server.kill_and_wait();
}

// rootserver (RS_STRUCT_LOCAL, -O2) keeps its whole state in a struct local of
// main (`struct server srv_state`, in its stack slot): an item added during the
// round changes its count and items: the second runs follow the struct local
// (written in F's stack slot as the first run writes it), and v2 serves the item.
TEST_CASE("pre-copy, a struct local of the update point's frames changed during the round: followed") {
  const std::string dir = "tests/programs/rootserver/";
  KvServer server = KvServer::start(dir + "rootserver_v1_struct");
  KvClient c(server.port);
  for (int i = 0; i < 10; ++i) REQUIRE(c.command("STR s" + std::to_string(i) + " text" + std::to_string(i)) == "OK");
  committed_through_second_runs(server, dir + "rootserver_v2_struct", [&] {
    CHECK(c.command("NUM during 42") == "OK");  // srv_state.n and its items change
  });
  CHECK(c.command("VERSION") == "VERSION 2");
  const std::string after = c.command("DUMP");
  CHECK(after.rfind("DUMP 11 ", 0) == 0);
  CHECK(after.find("n:during=42") != std::string::npos);
  server.kill_and_wait();
}

// The end of the brk heap of `pid`, 0 if none.
uint64_t heap_end(pid_t pid) {
  for (const ttst::sys::Mapping& m : ttst::sys::read_maps(pid))
    if (m.path == "[heap]") return m.end;
  return 0;
}

TEST_CASE("pre-copy, P's heap grows during the round: the second runs follow it") {
  Filled kv;
  const std::string big(3000, 'v');
  uint64_t before = 0, after = 0;
  Run r = paused_round(kv, "", [&] {
    before = heap_end(kv.server.pid);
    KvClient c(kv.server.port);
    for (int i = 0; i < 1000; ++i) CHECK(c.set("big" + std::to_string(i), big + std::to_string(i)) == "OK");
    after = heap_end(kv.server.pid);
  });
  REQUIRE(after > before);  // the premise: 3 MB of values grew P's brk heap
  CHECK(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  CHECK(r.report["precopy"]["verdict"] == "delta");
  MESSAGE("delta: " << r.report["precopy"]["detail"].get<std::string>() << ", heap " << before << " -> " << after);
  take_over(kv, r);
  KvClient c(kv.server.port);
  CHECK(c.command("VERSION") == "VERSION 2");
  for (int i : {0, 1, 499, 998, 999}) CHECK(c.get("big" + std::to_string(i)) == "VALUE " + big + std::to_string(i));
  for (int i = 0; i < 50; ++i) CHECK(c.get("key" + std::to_string(i)) == "VALUE value" + std::to_string(i));
}

// Processes named `comm` that `tracer` traces.
int traced_by(pid_t tracer, const std::string& comm) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    if (ttst::testutil::slurp("/proc/" + name + "/comm") == comm + "\n" &&
        proc_status_field(pid, "TracerPid") == std::to_string(tracer))
      ++n;
  }
  return n;
}

TEST_CASE("pre-copy: F_key, against which F's second run's writes are found, is forked before P's second stop") {
  // Paused as the second stop starts (P serving yet): F and F_key, a fork of F
  // made when F's round ended, both traced; none of that fork in P's stop.
  Filled kv;
  const std::string out = tmpdir() + "/future_key.json";
  const pid_t s = spawn_supervisor(kv.server.pid, "TTST_SUPERVISE_TEST_PAUSE_AT=backward,stop", out);
  REQUIRE(await_stopped(s));
  set_during(kv);
  kill(s, SIGCONT);
  REQUIRE(await([&] { return state_of(s) == 'T'; }, kAwait));  // at the stop
  CHECK(state_of(kv.server.pid) != 't');                        // P serves
  CHECK(traced_by(s, "kvserver_v2") == 2);
  const int st = let_go(s);
  REQUIRE(WIFEXITED(st));
  const nlohmann::json report = ttst::testutil::json_report(ttst::testutil::slurp(out));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(report["precopy"]["verdict"] == "delta");
  Run r;
  r.report = report;
  check_written(kv, r);
}

TEST_CASE("pre-copy, a second run that loses a write: the diff of P against R shows it, everything runs again") {
  Filled kv;
  // TTST_AGENT_TASK_STFW_DELTA_LOSSY = 104: F's table.count one less after its second run.
  Run r = paused_round(kv, "TTST_SUPERVISE_TEST_DELTA_TASK=104", [&] { set_during(kv); }, [](pid_t s) {
    REQUIRE(await_stopped(s));  // the backward phase of the transfer in the stop
    kill(s, SIGCONT);
  });
  CHECK(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  CHECK(r.report["precopy"]["verdict"] == "changed");
  const std::string detail = r.report["precopy"]["detail"];
  CHECK(detail.find("differences between the old state and its round trip through the second runs") !=
        std::string::npos);
  const auto names = phase_names(r);
  CHECK(count(names, "diff_delta") == 1);
  CHECK(count(names, "forward") == 2);  // the round's, then everything again in the stop
  CHECK(r.report["transfers"].size() == 2);  // the round's and the second runs' dropped with it
  check_written(kv, r);
}

// Rounds on the delta (TTST_SUPERVISE_TEST_ROUND_FAULTS=1: another round once P
// wrote a page since the last snapshot, three at most): P written in the first
// round and in each round on the delta; each round transfers again what P wrote
// before its short stop, and the final stop only what P wrote in the last round.
TEST_CASE("pre-copy, P written in every round: rounds on the delta while P serves, the final stop transfers the last") {
  Filled kv;
  const std::string out = tmpdir() + "/rounds.json";
  const pid_t s = spawn_supervisor(kv.server.pid,
                                   "TTST_SUPERVISE_TEST_PAUSE_AT=backward,forward_round TTST_SUPERVISE_TEST_ROUND_FAULTS=1",
                                   out);
  REQUIRE(await_stopped(s));  // the first round's backward phase, P serving
  set_during(kv);
  kill(s, SIGCONT);
  for (int round = 1; round <= 3; ++round) {  // each round's forward second run about to start, P serving
    REQUIRE(await_stopped(s));
    KvClient c(kv.server.port);
    CHECK(c.set("round" + std::to_string(round), "written" + std::to_string(round)) == "OK");
    kill(s, SIGCONT);
  }
  const int st = let_go(s);
  REQUIRE(WIFEXITED(st));
  const Run r{WEXITSTATUS(st), ttst::testutil::json_report(ttst::testutil::slurp(out)),
              ttst::testutil::slurp(out + ".err")};
  MESSAGE(r.err);
  CHECK(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  CHECK(r.report["precopy"]["verdict"] == "delta");
  CHECK(r.report["precopy"]["rounds"] == 3);
  CHECK(r.report["precopy"]["round_stops_ms"].size() == 3);
  const auto names = phase_names(r);
  CHECK(count(names, "forward") == 1);  // never everything again
  CHECK(count(names, "forward_round") == 3);
  CHECK(count(names, "diff_round") == 3);
  CHECK(count(names, "forward_delta") == 1);
  CHECK(r.report["transfers"].size() == 2 + 2 * 3 + 2);
  check_written(kv, r);
  KvClient c(kv.server.port);
  for (int round = 1; round <= 3; ++round)
    CHECK(c.get("round" + std::to_string(round)) == "VALUE written" + std::to_string(round));
}

// A round on the delta whose second run loses a write (test task 104): its diff of
// K2 against R shows it, the round's transfers are dropped, and P, stopped again,
// is transferred in the stop.
TEST_CASE("pre-copy, a round on the delta that loses a write: everything runs again in the stop") {
  Filled kv;
  Run r = paused_round(kv, "TTST_SUPERVISE_TEST_DELTA_TASK=104 TTST_SUPERVISE_TEST_ROUND_FAULTS=0",
                       [&] { set_during(kv); });
  CHECK(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  CHECK(r.report["precopy"]["verdict"] == "changed");
  const std::string detail = r.report["precopy"]["detail"];
  CHECK(detail.find("a round on the delta did not complete") != std::string::npos);
  const auto names = phase_names(r);
  CHECK(count(names, "diff_round") == 1);
  CHECK(count(names, "forward") == 2);
  CHECK(count(names, "forward_delta") == 0);
  CHECK(r.report["transfers"].size() == 2);
  check_written(kv, r);
}

TEST_CASE("pre-copy, P opened a descriptor during the round: the transfer runs again in the stop") {
  Filled kv;
  std::optional<KvClient> held;  // a connection open at the second stop: P's descriptors changed
  Run r = paused_round(
      kv, "", [&] {
        set_during(kv);
        held.emplace(kv.server.port);
        CHECK(held->get("key3") == "VALUE value3");
      },
      [&](pid_t s) {
        REQUIRE(await_stopped(s));  // the backward phase of the transfer in the stop
        kill(s, SIGCONT);
      });
  CHECK(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  CHECK(r.report["precopy"]["verdict"] == "changed");
  MESSAGE("delta: " << r.report["precopy"]["detail"].get<std::string>());
  CHECK(count(phase_names(r), "forward") == 2);
  CHECK(count(phase_names(r), "forward_delta") == 0);
  CHECK(r.report["transfers"].size() == 2);  // the round's transfers dropped with it
  held.reset();
  check_written(kv, r);
}

TEST_CASE("pre-copy rollbacks in the round: P serves on, never stopped again") {
  const std::pair<const char*, const char*> cases[] = {
      {"TTST_SUPERVISE_TEST_FORWARD_TASK=2", "crash"},         // the agent in F dereferences NULL
      {"TTST_SUPERVISE_TEST_BACKWARD_TASK=102", "state_diff"},  // R loses a write: S vs R differ
  };
  for (const auto& [env, reason] : cases) {
    CAPTURE(env);
    Filled kv;
    Run r = supervise(kv.server.pid, "", env);
    CHECK(r.status == 1);
    CHECK(r.report["outcome"] == "rolled_back");
    CHECK(r.report["reason"] == reason);
    CHECK(r.report["precopy"]["verdict"] == "ended_in_round");
    const auto names = phase_names(r);
    CHECK(count(names, "stop") == 0);  // P was not stopped a second time
    CHECK(count(names, "rollback") == 1);
    kv.check_serving("VERSION 1");
  }
}

TEST_CASE("pre-copy with --validate-only: validated from the snapshot, rolled back, P serves") {
  Filled kv;
  Run r = supervise(kv.server.pid, "--validate-only");
  CHECK(r.status == 0);
  CHECK(r.report["reason"] == "validate_only");
  CHECK(r.report["precopy"]["verdict"] == "unchanged");
  kv.check_serving("VERSION 1");
}

TEST_CASE("pre-copy: the supervisor killed in the round and at the second stop leaves P serving, untouched") {
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  // snapshot: P stopped, S and K not yet forked; startup/forward/diff: P serving,
  // S, K, F (and R) alive; stop: P being seized again; delta: P stopped, compared.
  for (const std::string phase : {"snapshot", "startup", "forward", "diff", "stop", "delta"}) {
    CAPTURE(phase);
    Filled kv;
    const std::string out = tmpdir() + "/killed.json";
    const pid_t s = spawn_supervisor(kv.server.pid, "TTST_SUPERVISE_TEST_PAUSE_AT=" + phase, out);
    REQUIRE(await_stopped(s));
    kill(s, SIGKILL);
    waitpid(s, nullptr, 0);
    // S, K, F and R die with the supervisor (EXITKILL) and come back to this
    // subreaper; P, released by the kernel, is the one process left.
    REQUIRE(only_untraced_child(kv.server.pid));
    CHECK(state_of(kv.server.pid) != 't');
    kv.check_serving("VERSION 1");
    KvClient c(kv.server.port);
    CHECK(c.set("after", "kill") == "OK");
    CHECK(c.get("after") == "VALUE kill");
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// P written during the round (the supervisor paused as its backward phase starts),
// then the supervisor, paused again as `phase` starts, SIGKILLed (`env` more test
// switches); P `stopped` by us there or serving: afterwards P alone, untraced,
// serving v1 with the round's writes.
void killed_after_writes(const std::string& env, const std::string& phase, bool stopped) {
  CAPTURE(phase);
  Filled kv;
  const std::string out = tmpdir() + "/killed.json";
  const pid_t s = spawn_supervisor(kv.server.pid, env + " TTST_SUPERVISE_TEST_PAUSE_AT=backward," + phase, out);
  REQUIRE(await_stopped(s));
  set_during(kv);
  kill(s, SIGCONT);
  REQUIRE(await_stopped(s));
  CHECK((state_of(kv.server.pid) == 't') == stopped);
  kill(s, SIGKILL);
  waitpid(s, nullptr, 0);
  REQUIRE(only_untraced_child(kv.server.pid));
  KvClient c(kv.server.port);
  CHECK(c.command("VERSION") == "VERSION 1");
  CHECK(c.get("during") == "VALUE precopy");
  CHECK(c.get("key7") == "VALUE rewritten");
  CHECK(c.get("key3") == "VALUE value3");
}

TEST_CASE("pre-copy: the supervisor killed in a second run or its diff leaves P serving, untouched, with its writes") {
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  // Killed as the forward second run (F, F_key alive), the backward one (in R) or
  // their diff starts: P stopped at its second stop by us, F, F_key and R EXITKILL.
  for (const std::string phase : {"forward_delta", "backward_delta", "diff_delta"}) killed_after_writes("", phase, true);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_CASE("pre-copy: the supervisor killed in a round on the delta leaves P serving, untouched, with its writes") {
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  // Killed as the round on the delta forks K2 (P stopped by us), or as its forward
  // second run or diff starts (P serving).
  for (const auto& [phase, stopped] : {std::pair{"round_snapshot", true}, {"forward_round", false}, {"diff_round", false}})
    killed_after_writes("TTST_SUPERVISE_TEST_ROUND_FAULTS=0", phase, stopped);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// A process other than P running `exe`, traced by the supervisor `sup` and running
// (not stopped): an agent at work in F or R.
bool agent_running_in(pid_t sup, pid_t past, const std::string& exe) {
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    std::error_code e2;
    if (pid == past || fs::read_symlink(it->path() / "exe", e2).filename().string() != exe) continue;
    if (proc_status_field(pid, "TracerPid") == std::to_string(sup) && state_of(pid) == 'R') return true;
  }
  return false;
}

TEST_CASE("pre-copy: the supervisor killed while an agent of the round runs leaves P serving, untouched") {
  // Kills inside a phase, not at its start: the forward agent reading S in F, or the
  // backward one reading F in R, loops (the test agent's task 5) while P serves.
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  const std::pair<const char*, const char*> cases[] = {
      {"TTST_SUPERVISE_TEST_FORWARD_TASK=5", "kvserver_v2"},   // in F
      {"TTST_SUPERVISE_TEST_BACKWARD_TASK=5", "kvserver_v1"},  // in R (a clone of S)
  };
  for (const auto& [env, exe] : cases) {
    CAPTURE(env);
    Filled kv;
    const pid_t s = spawn_supervisor(kv.server.pid, env, tmpdir() + "/looping.json");
    REQUIRE(await([&] { return agent_running_in(s, kv.server.pid, exe); }, kAwait));
    {  // P serves during the round, the agent at work: a write lands in P
      KvClient c(kv.server.port);
      CHECK(c.set("during", "round") == "OK");
    }
    kill(s, SIGKILL);
    waitpid(s, nullptr, 0);
    REQUIRE(only_untraced_child(kv.server.pid));
    CHECK(state_of(kv.server.pid) != 't');
    kv.check_serving("VERSION 1");
    KvClient c(kv.server.port);
    CHECK(c.get("during") == "VALUE round");
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_CASE("pre-copy: the supervisor killed at any moment of a committing update leaves one server with the data") {
  // Kill times spread over a whole `--precopy` update (snapshot, the round, the second
  // stop, the delta, the commit, the grace period): whichever version then serves has
  // every key, nobody traces it, and no other process of the update is left.
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  double whole_ms = 0;
  {
    Filled kv;
    const auto t0 = std::chrono::steady_clock::now();
    Run r = supervise(kv.server.pid, "--grace 200ms");
    whole_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE(r.status == 0);
    take_over(kv, r);
  }
  MESSAGE("one whole update: " << whole_ms << " ms");
  int v1 = 0, v2 = 0;
  constexpr int kKills = 12;
  for (int k = 0; k < kKills; ++k) {
    const auto delay = std::chrono::microseconds(static_cast<long>(whole_ms * 1000 * k / kKills));
    CAPTURE(k);
    CAPTURE(delay.count());
    Filled kv;
    const pid_t s = fork();
    if (s == 0) {
      const std::string cmd = "exec env XDG_CACHE_HOME=" + tmpdir() + "/cache " +
                              command(kv.server.pid, "--grace 200ms", kSupervise) + " >/dev/null 2>&1";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(delay);
    kill(s, SIGKILL);
    waitpid(s, nullptr, 0);
    // The one process left serves the port: P (rolled back by the kernel's detach)
    // or F (the commit got far enough; P then ended and reaped by us).
    pid_t server = -1;
    REQUIRE(await([&] {
      const std::vector<pid_t> alive = running_children();
      if (alive.size() != 1 || proc_status_field(alive[0], "TracerPid") != "0") return false;
      server = alive[0];
      return true;
    }, kAwait));
    CHECK(state_of(server) != 't');
    KvClient c(kv.server.port);
    const std::string version = c.command("VERSION");
    CHECK((version == "VERSION 1" || version == "VERSION 2"));
    if (version == "VERSION 1") {
      ++v1;
      CHECK(server == kv.server.pid);
    } else {
      ++v2;
      CHECK(server != kv.server.pid);
      kv.server.pid = server;
    }
    kv.check_serving(version);
    CHECK(c.set("after", "kill") == "OK");
    CHECK(c.get("after") == "VALUE kill");
  }
  MESSAGE(v1 << " kills left v1 serving, " << v2 << " left v2");
  CHECK(v1 > 0);  // the earliest kill comes before any commit
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_CASE("pre-copy: R and F, reaped after P or F serves again, are gone when ttst-supervise exits") {
  // end_later (transaction.cc): R at the commit, F and R at a rollback are sent
  // SIGKILL while P is stopped and waited for only once the program serves. As a
  // subreaper this test would inherit any of them left running.
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  for (const std::string extra : {"--validate-only", ""}) {
    CAPTURE(extra);
    Filled kv;
    Run r = supervise(kv.server.pid, extra);
    REQUIRE(r.status == 0);
    CHECK(r.report["stall_ms"].get<double>() > 0);
    if (extra.empty()) take_over(kv, r);
    const std::vector<pid_t> alive = running_children();
    CHECK(alive.size() == 1);
    CHECK(std::count(alive.begin(), alive.end(), kv.server.pid) == 1);
    kv.check_serving(extra.empty() ? "VERSION 2" : "VERSION 1");
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_CASE("pre-copy under a client's back-to-back reads: committed, every reply right before and after") {
  // The second stop may find P mid-request (driven to its update point in another
  // frame): it is released and stopped again (stop_where_snapshot_was), or the
  // transfer runs in the stop. Either way the update commits and the client, on
  // the same connection throughout, never gets a wrong reply.
  Filled kv;
  std::atomic<bool> done{false}, broken{false};
  std::atomic<long> replies{0}, wrong{0};
  std::thread reader([&] {
    try {
      KvClient c(kv.server.port);
      while (!done) (c.get("key3") == "VALUE value3" ? replies : wrong)++;
    } catch (const std::exception&) {
      broken = true;
    }
  });
  REQUIRE(await([&] { return replies > 50 || broken; }, kAwait));
  Run r = supervise(kv.server.pid);
  if (r.status == 0) take_over(kv, r);
  const long at_end = replies;
  const bool served_after = await([&] { return replies > at_end + 50 || broken; }, kAwait);
  done = true;
  if (!served_after) kill(kv.server.pid, SIGKILL);  // unblocks the reader: the check below fails
  reader.join();
  CHECK(served_after);
  CHECK(!broken);
  CHECK(wrong == 0);
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  const std::string verdict = r.report["precopy"]["verdict"];
  CHECK((verdict == "unchanged" || verdict == "delta" || verdict == "changed"));
  MESSAGE("verdict " << verdict << ", stops " << count(phase_names(r), "stop") << ", "
                     << r.report["precopy"]["detail"].get<std::string>());
  kv.check_serving("VERSION 2");
}

// Clients keeping P busy: several connections, each sending 16 reads at a time,
// back to back, so that P hardly ever blocks. Connected (and served once) when
// made: a descriptor opened after a snapshot would be a change of its own.
struct BusyReaders {
  std::atomic<bool> done{false}, broken{false};
  std::atomic<long> replies{0}, wrong{0};
  std::vector<std::unique_ptr<KvClient>> clients;
  std::vector<std::thread> threads;
  explicit BusyReaders(int port) {
    for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<KvClient>(port));
    for (auto& c : clients) REQUIRE(c->get("key1") == "VALUE value1");
  }
  ~BusyReaders() { stop(); }
  void start() {
    for (auto& c : clients) threads.emplace_back([this, &c] { read_back_to_back(*c); });
    REQUIRE(await([&] { return replies > 2000 || broken; }, kAwait));
  }
  void read_back_to_back(KvClient& c) {
    try {
      std::string batch;
      for (int i = 0; i < 16; ++i) batch += "GET key" + std::to_string(i) + "\n";
      while (!done) {
        c.send(batch);
        for (int i = 0; i < 16; ++i) (c.reply() == "VALUE value" + std::to_string(i) ? replies : wrong)++;
      }
    } catch (const std::exception&) {
      broken = true;
    }
  }
  // Served on (2000 more replies) by whichever process serves `pid`'s port; then stopped.
  bool served_on(pid_t server) {
    const long at_end = replies;
    const bool served = await([&] { return replies > at_end + 2000 || broken; }, kAwait);
    if (!served) kill(server, SIGKILL);  // unblocks the readers: the caller's checks fail
    stop();
    return served && !broken && wrong == 0;
  }
  void stop() {
    done = true;
    for (std::thread& t : threads) t.join();
    threads.clear();
  }
};

// The test variant paused as the round's backward phase starts (the snapshot
// taken with P idle) and at `more` phases, with no round on the delta (its page
// threshold out of reach: one stop after the snapshot).
pid_t spawn_busy_round(pid_t pid, const std::string& more, const std::string& out) {
  return spawn_supervisor(pid, "TTST_SUPERVISE_TEST_PAUSE_AT=backward" + more + " TTST_SUPERVISE_TEST_ROUND_FAULTS=100000000",
                          out, kV2, "-v");
}

// The supervisor that ended with status `st` and its report in `out` committed
// through the second runs (verdict delta) after one stop of P since the snapshot
// (never released and stopped again); v2 serves every key.
void committed_in_one_stop(Filled& kv, int st, const std::string& out) {
  const nlohmann::json report = ttst::testutil::json_report(ttst::testutil::slurp(out));
  MESSAGE(ttst::testutil::slurp(out + ".err"));
  REQUIRE(WIFEXITED(st));
  REQUIRE(WEXITSTATUS(st) == 0);
  REQUIRE(report["outcome"] == "committed");
  MESSAGE("pre-copy: " << report["precopy"]["verdict"] << ": " << report["precopy"]["detail"]);
  CHECK(report["precopy"]["verdict"] == "delta");
  Run r;
  r.report = report;
  CHECK(count(phase_names(r), "stop") == 1);
  take_over(kv, r);
  kv.check_serving("VERSION 2");
}

TEST_CASE("pre-copy, P idle at the snapshot and busy at the second stop: stopped again in the snapshot's wait") {
  // The snapshot finds P blocked in epoll_wait; then the readers keep it busy, so
  // the second stop finds it mid-request. Driven to its update point it would stand
  // in another frame than the snapshot's (released and tried again, then everything
  // transferred in the stop: verdict "changed"); driven to the entry of the
  // snapshot's epoll_wait instead, the first stop holds, and the delta (the read
  // counters) is transferred again.
  Filled kv;
  BusyReaders load(kv.server.port);
  const std::string out = tmpdir() + "/busy_second_stop.json";
  const pid_t s = spawn_busy_round(kv.server.pid, "", out);
  REQUIRE(await_stopped(s));  // P serves
  load.start();
  kill(s, SIGCONT);
  const int st = let_go(s);
  CHECK(load.served_on(kv.server.pid));
  committed_in_one_stop(kv, st, out);
}

TEST_CASE("pre-copy, P busy at the snapshot and idle at the second stop: the snapshot at its loop's wait, found again") {
  // The readers keep P busy as the supervisor starts: the first stop finds it
  // mid-request. Driven to its update point's marker, the snapshot would stand
  // where an idle P never is (an idle P is never driven: released and tried again,
  // then everything transferred in the stop, verdict "changed"); driven to the
  // entry of its epoll_wait instead, the second stop, with the readers stopped and
  // P blocked there, finds it where the snapshot was at once.
  Filled kv;
  BusyReaders load(kv.server.port);
  load.start();
  const std::string out = tmpdir() + "/busy_snapshot.json";
  const pid_t s = spawn_busy_round(kv.server.pid, "", out);
  REQUIRE(await_stopped(s));  // in the round, P serving
  CHECK(load.served_on(kv.server.pid));
  kill(s, SIGCONT);
  committed_in_one_stop(kv, let_go(s), out);
}

TEST_CASE("pre-copy: the supervisor killed with busy P stopped at the entry of the snapshot's wait: P serves on") {
  // As above, the supervisor paused again as the delta phase starts — P stopped
  // at the entry of its epoll_wait, nothing of ours written into it — and killed
  // there: P makes the call and serves every reader on, untraced, with its data.
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  {
    Filled kv;
    BusyReaders load(kv.server.port);
    const std::string out = tmpdir() + "/busy_killed.json";
    const pid_t s = spawn_busy_round(kv.server.pid, ",delta", out);
    REQUIRE(await_stopped(s));
    load.start();
    kill(s, SIGCONT);
    REQUIRE(await_stopped(s));  // at the delta: P stopped by us
    CHECK(state_of(kv.server.pid) == 't');
    const std::optional<ttst::sys::BlockedIn> at = ttst::sys::blocked_in(kv.server.pid, kv.server.pid);
    REQUIRE(at);
    CHECK(at->nr == SYS_epoll_wait);  // in its wait, not at its update point's marker
    kill(s, SIGKILL);
    waitpid(s, nullptr, 0);
    REQUIRE(only_untraced_child(kv.server.pid));
    CHECK(load.served_on(kv.server.pid));
    kv.check_serving("VERSION 1");
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}
