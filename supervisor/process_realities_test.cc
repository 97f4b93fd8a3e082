// process_realities_test — a past version with a child at update time, and
// signals sent to it during the update (past_children.h, pending_signals.h), end
// to end against supervisor/tests/realities.c:
//   - a child still running, and a zombie child P has not waited for, refuse the
//     update at the commit point with one line naming the child (after F and R
//     were made and ended); P keeps both exactly as they were (the running child
//     still its own, its end still reported to P by SIGCHLD; the zombie still
//     there for P's wait()); --validate-only passes and names the child;
//   - a child that ends while the supervisor waits is reaped by P, which kept
//     running, and the update commits;
//   - SIGUSR1 and SIGRTMIN+1 with a value sent to P while it is stopped by the
//     supervisor (the test variant's pause point) reach F after the commit, the
//     value intact; a SIGTERM sent then stops F; after a rollback, before the
//     commit or after it (v2 crashing in the grace period), they are still pending
//     in P, which handles them.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "inject/sys/proc_status.h"
#include "tests/util/test_util.h"

using ttst::sys::proc_status_field;

namespace {

using ttst::testutil::tmpdir;
using ttst::testutil::await;
// The bound of every await here (its conditions' worst case on a loaded box).
constexpr std::chrono::milliseconds kAwait{30000};

const std::string kSupervise = "supervisor/ttst-supervise";
const std::string kSuperviseTesting = "supervisor/ttst-supervise-testing";
const std::string kV1 = "supervisor/tests/realities_v1";
const std::string kV2 = "supervisor/tests/realities_v2";

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The state letter of `pid` ('Z' zombie, 'T' stopped, 't' traced), 0 when gone.
char state_of(pid_t pid) {
  std::string s = proc_status_field(pid, "State");
  return s.empty() ? 0 : s[0];
}

bool traced(pid_t pid) {
  std::string t = proc_status_field(pid, "TracerPid");
  return !t.empty() && t != "0";
}

bool pending(pid_t pid, int sig) {
  const std::string set = proc_status_field(pid, "ShdPnd");
  return !set.empty() && (std::stoull(set, nullptr, 16) >> (sig - 1)) & 1;
}

// realities_v1 started with `arg`, its stdout in a file; killed at the end.
struct Program {
  pid_t pid = -1;
  std::string out;
  explicit Program(const std::string& arg) {
    static int n = 0;
    out = tmpdir() + "/realities-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".out";
    pid = fork();
    if (pid == 0) {
      if (!std::freopen(out.c_str(), "w", stdout)) _exit(126);
      execl(kV1.c_str(), kV1.c_str(), arg.empty() ? nullptr : arg.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    REQUIRE(await([&] { return text().find("ready\n") != std::string::npos; }, kAwait));
  }
  ~Program() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  std::string text() const { return file_text(out); }
  bool shows(const std::string& s, std::chrono::milliseconds bound = std::chrono::milliseconds(30000)) const {
    return await([&] { return text().find(s) != std::string::npos; }, bound);
  }
  // The pid its "v1 child PID" line names.
  pid_t child() const {
    REQUIRE(shows("v1 child "));
    return std::stoi(text().substr(text().find("v1 child ") + 9));
  }
};

// ttst-supervise (or its test variant) started in the background.
struct Supervisor {
  pid_t pid = -1;
  std::string out = tmpdir() + "/realities-" + std::to_string(getpid()) + ".json";
  Supervisor(const std::string& exe, const std::string& env, const std::string& args) {
    pid = fork();
    if (pid == 0) {
      std::string cmd = "exec env XDG_CACHE_HOME=" + tmpdir() + "/cache " + env + " " + exe + " --json --report-dir " +
                        tmpdir() + "/reports " + args + " >" + out + " 2>" + out + ".err";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  bool stopped() const { return state_of(pid) == 'T'; }
  std::string err() const { return file_text(out + ".err"); }
  std::pair<int, nlohmann::json> finish() {
    int st = 0;
    waitpid(pid, &st, 0);
    const std::string text = file_text(out);
    MESSAGE("ttst-supervise -> " << st << "\n" << err() << text);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, ttst::testutil::json_report(text)};
  }
};

std::string args_for(pid_t p, const std::string& more = "", const std::string& v2 = kV2) {
  return "--pid " + std::to_string(p) + " --new " + v2 + " " + more;
}

void sigqueue_value(pid_t pid, int sig, int value) {
  sigval v{};
  v.sival_int = value;
  REQUIRE(sigqueue(pid, sig, v) == 0);
}

}  // namespace

TEST_CASE("a child still running at update time refuses the update; P keeps it") {
  Program p("child");
  const pid_t child = p.child();
  {
    Supervisor v(kSupervise, "", args_for(p.pid, "--validate-only"));
    auto [status, report] = v.finish();
    CHECK(status == 0);
    CHECK(report.value("message", "").find("child process now (pid " + std::to_string(child) + ", ") !=
          std::string::npos);
  }
  Supervisor s(kSupervise, "", args_for(p.pid, "--timeout 6s"));
  auto [status, report] = s.finish();
  CHECK(status == 2);
  CHECK(report.value("outcome", "") == "refused");
  CHECK(report["transfers"].size() == 2);  // validated all the same
  CHECK(report.value("reason", "") == "child_process");
  const std::string message = report.value("message", "");
  CHECK(message.find("pid " + std::to_string(child) + " (" + kV1 + " child)") != std::string::npos);
  CHECK(message.find("still running") != std::string::npos);
  // P untouched, its child still its own: its end still reaches P (SIGCHLD, wait()).
  CHECK(await([&] { return !traced(p.pid); }, kAwait));
  CHECK(proc_status_field(child, "PPid") == std::to_string(p.pid));
  CHECK(p.text().find("reaped") == std::string::npos);
  REQUIRE(kill(child, SIGKILL) == 0);
  CHECK(p.shows("v1 reaped " + std::to_string(child) + " status -1\n"));
}

TEST_CASE("a zombie child P has not waited for refuses the update and stays for P's wait()") {
  Program p("zombie");
  const pid_t child = p.child();
  REQUIRE(await([&] { return state_of(child) == 'Z'; }, kAwait));
  Supervisor s(kSupervise, "", args_for(p.pid, "--timeout 6s"));
  auto [status, report] = s.finish();
  CHECK(status == 2);
  CHECK(report.value("reason", "") == "child_process");
  CHECK(report.value("message", "").find("pid " + std::to_string(child) + " (") != std::string::npos);
  CHECK(report.value("message", "").find("has ended but was not waited for") != std::string::npos);
  CHECK(await([&] { return !traced(p.pid); }, kAwait));
  CHECK(state_of(child) == 'Z');  // nobody reaped it
  CHECK(proc_status_field(child, "PPid") == std::to_string(p.pid));
  REQUIRE(kill(p.pid, SIGUSR2) == 0);  // P now waits for it: its exit status is still there
  CHECK(p.shows("v1 reaped " + std::to_string(child) + " status 7\n"));
}

TEST_CASE("a child that ends while the supervisor waits is reaped by P, and the update commits") {
  Program p("child");
  const pid_t child = p.child();
  Supervisor s(kSupervise, "", args_for(p.pid, "--timeout 60s"));
  // The supervisor says it waits (P still running, untraced); then the child ends.
  REQUIRE(await([&] { return s.err().find("waiting up to") != std::string::npos; }, kAwait));
  CHECK(!traced(p.pid));
  REQUIRE(kill(child, SIGKILL) == 0);
  auto [status, report] = s.finish();
  CHECK(status == 0);
  CHECK(report.value("outcome", "") == "committed");
  CHECK(p.text().find("v1 reaped " + std::to_string(child)) != std::string::npos);
  const pid_t future = report.value("new_pid", 0);
  CHECK(future != p.pid);
  if (future > 0 && future != p.pid) kill(future, SIGKILL);
}

TEST_CASE("signals sent to P during the update reach F after the commit") {
  Program p("");
  Supervisor s(kSuperviseTesting, "TTST_SUPERVISE_TEST_PAUSE_AT=commit.past_pid", args_for(p.pid));
  REQUIRE(await([&] { return s.stopped(); }, kAwait));  // P stopped by it, F at its update point
  REQUIRE(kill(p.pid, SIGUSR1) == 0);
  sigqueue_value(p.pid, SIGRTMIN + 1, 42);
  CHECK(pending(p.pid, SIGUSR1));
  CHECK(pending(p.pid, SIGRTMIN + 1));
  REQUIRE(kill(s.pid, SIGCONT) == 0);
  auto [status, report] = s.finish();
  REQUIRE(status == 0);
  const pid_t future = report.value("new_pid", 0);
  REQUIRE(future > 0);
  CHECK(p.shows("v2 usr1=1 term=0 rt=1 value=42\n"));  // F's handler counted them
  CHECK(p.text().find("v1 usr1") == std::string::npos);
  REQUIRE(report["pending_signals"].size() == 2);
  for (const auto& e : report["pending_signals"]) CHECK(e.value("delivered", false));
  CHECK(report["pending_signals"][1].value("how", "").find("value 42") != std::string::npos);
  CHECK(report.value("message", "").find("passed on 2 of the 2 signal(s)") != std::string::npos);
  kill(future, SIGKILL);
}

// Without a grace period (--grace 0): the other path of the commit.
TEST_CASE("a SIGTERM sent to P during the update stops F after the commit") {
  Program p("");
  Supervisor s(kSuperviseTesting, "TTST_SUPERVISE_TEST_PAUSE_AT=commit.past_pid", args_for(p.pid, "--grace 0"));
  REQUIRE(await([&] { return s.stopped(); }, kAwait));
  REQUIRE(kill(p.pid, SIGTERM) == 0);
  CHECK(pending(p.pid, SIGTERM));  // traced and stopped: not acted on
  REQUIRE(kill(s.pid, SIGCONT) == 0);
  auto [status, report] = s.finish();
  REQUIRE(status == 0);
  const pid_t future = report.value("new_pid", 0);
  REQUIRE(future > 0);
  CHECK(p.shows("v2 usr1=0 term=1 rt=0 value=0\n"));
  CHECK(await([&] { char st = state_of(future); return st == 0 || st == 'Z'; }, kAwait));  // F stopped
  CHECK(report["pending_signals"].size() == 1);
}

TEST_CASE("after a rollback the signals sent during the update are still pending for P") {
  Program p("");
  Supervisor s(kSuperviseTesting, "TTST_SUPERVISE_TEST_PAUSE_AT=diff", args_for(p.pid, "--validate-only"));
  REQUIRE(await([&] { return s.stopped(); }, kAwait));
  REQUIRE(kill(p.pid, SIGUSR1) == 0);
  sigqueue_value(p.pid, SIGRTMIN + 1, 42);
  REQUIRE(kill(p.pid, SIGTERM) == 0);
  REQUIRE(kill(s.pid, SIGCONT) == 0);
  auto [status, report] = s.finish();
  CHECK(status == 0);
  CHECK(report.value("reason", "") == "validate_only");
  CHECK(report["pending_signals"].empty());
  // P handles all three as if they had just arrived (its handlers ran once each), and stops.
  CHECK(p.shows("v1 usr1=1 term=1 rt=1 value=42\n"));
  int st = 0;
  REQUIRE(waitpid(p.pid, &st, 0) == p.pid);
  CHECK((WIFEXITED(st) && WEXITSTATUS(st) == 0));
}

TEST_CASE("after a rollback in the grace period the signals sent during the update are still P's") {
  Program p("");
  Supervisor s(kSuperviseTesting, "TTST_SUPERVISE_TEST_PAUSE_AT=commit.past_pid",
               args_for(p.pid, "", "supervisor/tests/realities_v2_crash"));
  REQUIRE(await([&] { return s.stopped(); }, kAwait));
  REQUIRE(kill(p.pid, SIGUSR1) == 0);
  sigqueue_value(p.pid, SIGRTMIN + 1, 42);
  REQUIRE(kill(s.pid, SIGCONT) == 0);
  auto [status, report] = s.finish();
  CHECK(status == 1);
  CHECK(report.value("outcome", "") == "rolled_back_after_commit");
  CHECK(report["pending_signals"].empty());
  CHECK(p.shows("v1 usr1=1 term=0 rt=1 value=42\n"));  // P's handlers, the value intact
  CHECK(p.text().find("v2 usr1") == std::string::npos);
}
