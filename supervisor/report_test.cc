// Reports round-trip through JSON, say what happened first, and are written
// atomically where the administrator looks for them.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "supervisor/report.h"
#include "tests/util/test_util.h"

using namespace ttst::supervisor;

static Report sample_rollback() {
  Report r;
  r.outcome = Outcome::kRolledBack;
  r.reason = Reason::kStateDiff;
  r.message = "the state did not survive the round trip: 2 differences";
  r.advice = "the update needs transfer code for table.count; v1 keeps running";
  r.started_at = "2026-11-25T16:00:00Z";
  r.old_pid = 4242;
  r.new_pid = 4242;
  r.old_binary = {"/srv/kv-v1", "abcdef01"};
  r.new_binary = {"/srv/kv-v2", "12345678"};
  r.phases = {{"plan", 1.5}, {"quiesce", 0.25}, {"diff", 3.0}};
  r.crash = Crash{"future", SIGSEGV, 0x10, "mov dword ptr [rax], 1", "cmd_set+0x1c"};
  r.transfers = {{"forward", 120, 9000, 40, 12, 7, 2, 4096, {4}, 3, 1, {"commands"}, 0, {}, 5, 16},
                 {"backward", 120, 8800, 40, 12, 7, 2, 4096, {}, 0, 0, {}}};
  r.differences = {{"table.count", 0x601040, "17", "16"}};
  r.differences_total = 2;
  r.detail = "first difference at table.count";
  return r;
}

TEST_CASE("a report round-trips through JSON with the contract keys") {
  Report r = sample_rollback();
  nlohmann::json j = to_json(r);
  CHECK(j["outcome"] == "rolled_back");
  CHECK(j["reason"] == "state_diff");
  CHECK(j["phases"].size() == 3);
  CHECK(j["phases"][0]["name"] == "plan");
  CHECK(j["old"]["build_id"] == "abcdef01");
  CHECK(j["new"]["build_id"] == "12345678");
  CHECK(j["crash"]["signal_name"] == "SIGSEGV");
  CHECK(j["crash"]["fault_address"] == "0x10");
  CHECK(j["new_pid"] == 4242);
  CHECK(j["transfers"].size() == 2);
  CHECK(j["transfers"][0]["direction"] == "forward");
  CHECK(j["transfers"][1]["bytes"] == 8800);
  CHECK(j["transfers"][0]["carved"] == 7);
  CHECK(j["transfers"][0]["container_free_bytes"] == 4096);
  CHECK(j["transfers"][0]["dead_pointers"] == 3);
  CHECK(j["transfers"][0]["unmapped_words"] == 1);
  CHECK(j["transfers"][0]["keep_new_candidates"] == nlohmann::json::array({"commands"}));
  CHECK(j["transfers"][0]["integers"] == 5);
  CHECK(j["transfers"][0]["literals"] == 16);
  CHECK(render_summary(r).find("forward transfer carried as they are: 6 integers (1 in no mapping, 5 tagged), "
                               "3 dead pointers; 16 string literal pointers mapped by position") != std::string::npos);
  Report back = report_from_json(j);
  CHECK(to_json(back) == j);
}

TEST_CASE("a committed report has a null reason") {
  Report r;
  r.outcome = Outcome::kCommitted;
  r.old_pid = 1;
  r.new_pid = 2;
  nlohmann::json j = to_json(r);
  CHECK(j["reason"].is_null());
  CHECK(report_from_json(j).reason == Reason::kNone);
  CHECK(render_summary(r).rfind("COMMITTED: pid 2", 0) == 0);
}

TEST_CASE("malformed reports are refused with the key named") {
  nlohmann::json j = to_json(sample_rollback());
  j.erase("outcome");
  CHECK_THROWS_WITH(report_from_json(j), "report has no \"outcome\" key");
  j = to_json(sample_rollback());
  j["reason"] = "gremlins";
  CHECK_THROWS_WITH(report_from_json(j), "report has an unknown \"reason\"");
  CHECK_THROWS(report_from_json(nlohmann::json::array()));
}

TEST_CASE("the summary leads with the verdict and shows the evidence") {
  std::string s = render_summary(sample_rollback());
  std::istringstream in(s);
  std::string first;
  std::getline(in, first);
  CHECK(first == "ROLLED BACK (state_diff): the state did not survive the round trip: 2 differences");
  CHECK(s.find("pid 4242 continues running /srv/kv-v1, unchanged.") != std::string::npos);
  CHECK(s.find("what to do: the update needs transfer code") != std::string::npos);
  CHECK(s.find("  forward transfer: 120 objects, 9000 bytes, 40 pointers translated, 12 type transformations, 7 of the "
               "objects carved out of 2 containers (4096 bytes free memory, not state)\n") != std::string::npos);
  CHECK(s.find("  candidate for TTST_KEEP_NEW(commands): v2's start-up builds it again, longer (a suggestion: ") !=
        std::string::npos);
  CHECK(s.find("such as a hash seed, must come from the old version)") != std::string::npos);
  CHECK(s.find("SIGSEGV at 0x10") != std::string::npos);
  CHECK(s.find("mov dword ptr [rax], 1") != std::string::npos);
  CHECK(s.find("table.count @0x601040: past 17, reversed 16") != std::string::npos);
  CHECK(s.find("... and 1 more") != std::string::npos);
  CHECK(s.find("    total           4.75 ms") != std::string::npos);
}

TEST_CASE("write_report writes JSON and summary into a fresh directory") {
  char tmpl[] = "/tmp/ttst-report-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::filesystem::path dir = std::filesystem::path(tmpl) / "nested" / "reports";
  std::filesystem::path json = write_report(sample_rollback(), dir);
  CHECK(json.parent_path() == dir);
  CHECK(json.extension() == ".json");
  std::ifstream in(json);
  nlohmann::json j;
  in >> j;
  CHECK(report_from_json(j).message == sample_rollback().message);
  std::filesystem::path txt = json;
  txt.replace_extension(".txt");
  CHECK(std::filesystem::exists(txt));
  int leftovers = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".tmp") leftovers++;
  CHECK(leftovers == 0);
  std::filesystem::remove_all(tmpl);
}

TEST_CASE("default report directory follows XDG_STATE_HOME, else HOME") {
  setenv("XDG_STATE_HOME", "/var/tmp/state", 1);
  CHECK(default_report_dir() == "/var/tmp/state/ttst/reports");
  unsetenv("XDG_STATE_HOME");
  setenv("HOME", "/home/op", 1);
  CHECK(default_report_dir() == "/home/op/.local/state/ttst/reports");
}

static int run(const std::string& cmd, std::string* out) {
  const ttst::testutil::Ran ran = ttst::testutil::run(cmd + " 2>&1");
  *out += ran.out;
  return ran.status;
}

TEST_CASE("ttst-report show prints the summary; bad input exits 2 with one line") {
  char tmpl[] = "/tmp/ttst-report-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::filesystem::path json = write_report(sample_rollback(), tmpl);
  std::string out;
  CHECK(run("supervisor/ttst-report show " + json.string(), &out) == 0);
  CHECK(out.rfind("ROLLED BACK (state_diff)", 0) == 0);
  out.clear();
  CHECK(run("supervisor/ttst-report show /nonexistent/r.json", &out) == 2);
  CHECK(out == "ttst-report: cannot open /nonexistent/r.json: no such file or not readable\n");
  std::string bogus = std::string(tmpl) + "/bogus.json";
  std::ofstream(bogus) << "{\"hello\": 1}";
  out.clear();
  CHECK(run("supervisor/ttst-report show " + bogus, &out) == 2);
  CHECK(out == "ttst-report: " + bogus + " is not a ttst report (report has no \"outcome\" key)\n");
  out.clear();
  CHECK(run("supervisor/ttst-report list " + std::string(tmpl), &out) == 0);
  CHECK(out.find("rolled_back") != std::string::npos);
  CHECK(out.find("bogus.json  (unreadable") != std::string::npos);
  std::filesystem::remove_all(tmpl);
}

TEST_CASE("v2's start-up stderr: in the JSON as UTF-8-safe text, and in the summary line by line") {
  Report r = sample_rollback();
  r.reason = Reason::kStartupCrash;
  r.startup_stderr = std::string("v2: cannot open /etc/kv.conf\n\xff\x01 binary\n");
  nlohmann::json j = to_json(r);
  CHECK(j["startup_stderr"] == "v2: cannot open /etc/kv.conf\n?? binary\n");
  CHECK_NOTHROW(j.dump());  // raw 0xff would make the JSON writer throw
  CHECK(report_from_json(j).startup_stderr == "v2: cannot open /etc/kv.conf\n?? binary\n");
  const std::string s = render_summary(r);
  CHECK(s.find("start-up stderr (its last 39 bytes)") != std::string::npos);
  CHECK(s.find("    | v2: cannot open /etc/kv.conf\n    | ?? binary\n") != std::string::npos);
  nlohmann::json old = to_json(sample_rollback());
  old.erase("startup_stderr");  // a report written before the key existed
  CHECK(report_from_json(old).startup_stderr.empty());
}

TEST_CASE("startup_actions: v2's start-up calls on P's listeners, in the JSON and the summary") {
  Report r = sample_rollback();
  r.reason = Reason::kStartupSideEffect;
  r.startup_actions = {{"bind(4, 127.0.0.1:8080)", "adopted", "fd 4 is now the old version's listening socket"},
                       {"listen(4, 64)", "held_back", "set at the commit"}};
  nlohmann::json j = to_json(r);
  CHECK(j["reason"] == "startup_side_effect");
  CHECK(j["startup_actions"][1]["action"] == "held_back");
  const Report back = report_from_json(j);
  CHECK(back.reason == Reason::kStartupSideEffect);
  REQUIRE(back.startup_actions.size() == 2);
  CHECK(back.startup_actions[0].call == "bind(4, 127.0.0.1:8080)");
  CHECK(render_summary(r).find("    listen(4, 64): held_back (set at the commit)\n") != std::string::npos);
  nlohmann::json old = to_json(sample_rollback());
  old.erase("startup_actions");  // a report written before the key existed
  CHECK(report_from_json(old).startup_actions.empty());
}

TEST_CASE("check_report_dir: creates a writable directory, refuses one that cannot be written") {
  const std::string base = ttst::testutil::tmpdir() + "/check-dir";
  CHECK_NOTHROW(check_report_dir(base + "/a/b"));
  CHECK(std::filesystem::is_directory(base + "/a/b"));
  CHECK(std::filesystem::is_empty(base + "/a/b"));  // the probe file is gone
  { std::ofstream(base + "/file") << "x"; }
  CHECK_THROWS_WITH_AS(check_report_dir(base + "/file/reports"), doctest::Contains("file/reports"),
                       std::runtime_error);
}

TEST_CASE("a rollback after the commit: the grace period round-trips and the summary names what v2 served") {
  Report r = sample_rollback();
  r.outcome = Outcome::kRolledBackAfterCommit;
  r.reason = Reason::kHang;
  Grace g;
  g.ms = 1000;
  g.verdict = "hung";
  g.health = "neither idle at its loop's wait nor at its update point within 1000 ms";
  g.connections = {{5, "127.0.0.1:4000", true, true, "closed for the old version"}, {6, "", false, true, ""}};
  g.accepted = 2;
  g.replied_on_accepted = 1;
  g.restored = {"epoll fd 4: registration fd 6 events 0x19 data 0x6 added back (v2 had removed it)"};
  r.grace = g;
  nlohmann::json j = to_json(r);
  CHECK(j["outcome"] == "rolled_back_after_commit");
  CHECK(j["reason"] == "hang");
  Report back = report_from_json(j);
  REQUIRE(back.grace);
  CHECK(back.outcome == Outcome::kRolledBackAfterCommit);
  CHECK(back.reason == Reason::kHang);
  CHECK(back.grace->verdict == "hung");
  CHECK(back.grace->connections.size() == 2);
  CHECK(back.grace->connections[0].peer == "127.0.0.1:4000");
  CHECK(back.grace->connections[1].replied);
  CHECK(back.grace->accepted == 2);
  CHECK(back.grace->restored == g.restored);
  const std::string s = render_summary(back);
  CHECK(s.rfind("ROLLED BACK AFTER COMMIT (hang)", 0) == 0);
  CHECK(s.find("connection fd 5 from 127.0.0.1:4000: v2 read from it, v2 replied on it (a request v2 acknowledged "
               "there is possibly lost)") != std::string::npos);
  CHECK(s.find("put back for the old version: epoll fd 4") != std::string::npos);
  CHECK(to_json(sample_rollback()).contains("grace") == false);  // only when a grace period ran
}

TEST_CASE("the report says where the time went: the stall, each transfer's agent phases, the time limit") {
  Report r = sample_rollback();
  r.transfers[0].agent_phases = {{"copy", 12.5}, {"index", 3.25}, {"type", 4}, {"map", 5}, {"write", 6}};
  r.transfers[0].copy_bytes = 3 << 20;
  r.transfers[0].copy_untouched_bytes = 1 << 20;
  r.transfers[0].copy_small_page_bytes = 2 << 20;
  r.transfers[0].walked = 12;
  r.transfers[0].cpu_ms = 30.5;
  r.stall_ms = 123.4;
  r.stops = {{"seized_again", 3}, {"driven_to_update_point", 1}};
  r.time_limit_ms = 30200;
  r.cpu_budget_ms = 15100;
  r.agents_cpu_ms = 812;
  r.cpu_wait_ms = 4100;
  nlohmann::json j = to_json(r);
  CHECK(j["stall_ms"] == 123.4);
  CHECK(j["stops"][0]["how"] == "seized_again");
  CHECK(j["stops"][0]["seizures"] == 3);
  CHECK(report_from_json(j).stops.size() == 2);
  CHECK(report_from_json(j).stops[1].how == "driven_to_update_point");
  CHECK(render_summary(r).find("seized again at its wait (3 seizures)") != std::string::npos);
  CHECK(j["time_limit_ms"] == 30200);
  CHECK(j["cpu_budget_ms"] == 15100);
  CHECK(report_from_json(j).agents_cpu_ms == 812);
  CHECK(report_from_json(j).cpu_wait_ms == 4100);
  CHECK(j["transfers"][0]["agent_phases"][1]["name"] == "index");
  CHECK(j["transfers"][0]["agent_phases"][1]["ms"] == 3.25);
  CHECK(j["transfers"][0]["copy_bytes"] == 3 << 20);
  CHECK(report_from_json(j).transfers[0].copy_untouched_bytes == 1 << 20);
  CHECK(report_from_json(j).transfers[0].copy_small_page_bytes == 2 << 20);
  CHECK(report_from_json(j).transfers[0].walked == 12);
  CHECK(j["transfers"][1]["agent_phases"].empty());
  const std::string text = render_summary(r);
  CHECK(text.find("stall:      the program was stopped 123.4 ms") != std::string::npos);
  CHECK(text.find("forward transfer time: copy 12.5 ms index 3.2 ms type 4.0 ms map 5.0 ms write 6.0 ms (agent CPU "
                  "30.5 ms; 3.0 MiB copied; 12 elements walked member by member, without a compiled plan)") !=
        std::string::npos);
  CHECK(text.find("backward transfer time") == std::string::npos);
  CHECK(text.find("time limit: CPU budget 15100 ms (F and R used 812 ms), wall ceiling 30200 ms (4100 ms waiting "
                  "for a CPU not counted)") != std::string::npos);
  r.cpu_budget_ms = 0;  // --timeout: a wall bound only
  CHECK(render_summary(r).find("time limit: 30200 ms\n") != std::string::npos);
  Report back = report_from_json(j);
  CHECK(to_json(back) == j);
  // Older reports, without the keys, still read.
  j.erase("stall_ms");
  j["transfers"][0].erase("agent_phases");
  CHECK(report_from_json(j).stall_ms == 0);
  CHECK(report_from_json(j).transfers[0].agent_phases.empty());
}

TEST_CASE("a lock held at the first stop: the wait round-trips and the summary says it") {
  Report r = sample_rollback();
  CHECK(to_json(r).contains("lock_wait") == false);  // only when a lock was found held
  r.lock_wait = LockWait{"assoc.c::maintenance_lock (a pthread mutex held by thread 9)", 7, 412.5, ""};
  nlohmann::json j = to_json(r);
  CHECK(j["lock_wait"]["first_held"] == "assoc.c::maintenance_lock (a pthread mutex held by thread 9)");
  CHECK(j["lock_wait"]["stops"] == 7);
  const Report back = report_from_json(j);
  REQUIRE(back.lock_wait.has_value());
  CHECK(back.lock_wait->waited_ms == 412.5);
  CHECK(to_json(back) == j);
  CHECK(render_summary(r).find("locks:      at the first stop assoc.c::maintenance_lock (a pthread mutex held by "
                               "thread 9); the program ran on and was stopped again 7 time(s) over 412 ms, until "
                               "every lock was free") != std::string::npos);
  r.lock_wait->still_held = "a.c::mu (a pthread mutex held by thread 9)";
  CHECK(render_summary(r).find("and at the last stop a.c::mu (a pthread mutex held by thread 9) was still held") !=
        std::string::npos);
}

TEST_CASE("pre-copy: the verdict and the stops round-trip and the summary says them") {
  Report r;
  r.outcome = Outcome::kCommitted;
  r.message = "updated";
  Precopy p;
  p.verdict = "changed";
  p.detail = "descriptor 7 was opened: the transfer ran again with the program stopped";
  p.first_stop_ms = 12.5;
  p.second_stop_ms = 3.25;
  p.pages_total = 1000;
  p.pages_same_frame = 990;
  p.pages_read = 10;
  p.bytes_changed = 4100;
  p.ranges_changed = 3;
  p.pages_delta = 2;
  p.future_pages_delta = 5;
  p.stops_retried = {"register rip changed (0x401000 -> 0x402000)"};
  p.stops_retried_total = 3;
  r.precopy = p;
  const Report back = report_from_json(to_json(r));
  REQUIRE(back.precopy);
  CHECK(back.precopy->verdict == "changed");
  CHECK(back.precopy->detail == p.detail);
  CHECK(back.precopy->first_stop_ms == 12.5);
  CHECK(back.precopy->second_stop_ms == 3.25);
  CHECK(back.precopy->pages_read == 10);
  CHECK(back.precopy->bytes_changed == 4100);
  CHECK(back.precopy->ranges_changed == 3);
  CHECK(back.precopy->pages_delta == 2);
  CHECK(back.precopy->future_pages_delta == 5);
  CHECK(back.precopy->stops_retried == p.stops_retried);
  CHECK(back.precopy->stops_retried_total == 3);
  CHECK(render_summary(back).find("seized again 3 time(s), found elsewhere than at the snapshot (first: register rip "
                                  "changed") != std::string::npos);
  CHECK(render_summary(back).find("4100 bytes of memory changed in 3 ranges") != std::string::npos);
  CHECK(render_summary(back).find("pre-copy: changed (descriptor 7 was opened") != std::string::npos);
  CHECK(!report_from_json(to_json(Report{})).precopy);  // without --precopy: no key
}
