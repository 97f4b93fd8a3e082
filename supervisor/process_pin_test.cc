// P pinned by a pidfd (process_pin.h), driven phase by phase as the transaction
// runs them (preflight, then seize_pinned), with the running program replaced in
// between by another process created at the very same pid (clone3 with set_tid;
// needs root):
//  - replaced after the checks, before the seizure: refused, the impostor never
//    seized (TracerPid stays 0; its blocked read completes normally);
//  - replaced after the confirmation that precedes PTRACE_SEIZE: the confirmation
//    after the seize sees it, and the impostor is let go as it was;
//  - not replaced: the same process all along, seized and released.
// The impostor is the very same program (qprog), so nothing but the pin can tell.
#include <doctest/doctest.h>

#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "stfw/runtime/tests/child.h"
#include "supervisor/preflight.h"

#include <optional>
#include "supervisor/process_pin.h"
#include "tests/util/test_util.h"

using namespace ttst::supervisor;
using ttst::test::Child;

namespace {

const char* kProg = "tests/programs/runtime/qprog";

std::string status_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string l; std::getline(in, l);)
    if (l.rfind(key + ":", 0) == 0) return ttst::test::words(l.substr(key.size() + 1)).at(0);
  return "";
}

// Waits until `pid` sleeps in read(2) (per /proc/PID/syscall and its state).
void wait_in_read(pid_t pid) {
  for (int i = 0; i < 3000; i++) {
    std::ifstream sc("/proc/" + std::to_string(pid) + "/syscall");
    std::string s;
    std::getline(sc, s);
    if (s.rfind("0 ", 0) == 0 && status_field(pid, "State") == "S") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("process " << pid << " never blocked in read");
}

// qprog "read" started at exactly `pid` (clone3 set_tid), talking through pipes.
struct Impostor {
  pid_t pid = -1;
  int to = -1, from = -1;
  static bool start_at(pid_t at, Impostor& out) {
    int in[2], o[2];
    REQUIRE(pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(pipe2(o, O_CLOEXEC) == 0);
    pid_t tid = at;
    clone_args args{};
    args.exit_signal = SIGCHLD;
    args.set_tid = reinterpret_cast<uint64_t>(&tid);
    args.set_tid_size = 1;
    long r = syscall(SYS_clone3, &args, sizeof args);
    if (r == 0) {
      dup2(in[0], 0);
      dup2(o[1], 1);
      execl(kProg, kProg, "read", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(o[1]);
    if (r < 0) {  // EEXIST: someone else took the pid first
      close(in[1]);
      close(o[0]);
      return false;
    }
    out = Impostor{static_cast<pid_t>(r), in[1], o[0]};
    return true;
  }
  std::string line() {
    std::string l;
    char c;
    while (read(from, &c, 1) == 1 && c != '\n') l += c;
    return l;
  }
  // Its blocked read(0) returns the byte sent, with no error: it saw nothing.
  void check_unaware() {
    CHECK(status_field(pid, "TracerPid") == "0");
    REQUIRE(write(to, "x", 1) == 1);
    CHECK(line().rfind("RESULT rc=1 errno=0", 0) == 0);
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    close(to);
    close(from);
  }
};

// P (qprog, blocked in read) checked by check_inputs, then killed and replaced by an
// impostor at its pid. Retries with a new P if another process grabs the pid.
Impostor checked_then_replaced(std::optional<CheckedInputs>& pf) {
  setenv("XDG_CACHE_HOME", (ttst::testutil::tmpdir() + "/cache").c_str(), 1);
  for (int attempt = 0; attempt < 5; attempt++) {
    Child p({kProg, "read"});
    REQUIRE(p.line().rfind("READY", 0) == 0);
    wait_in_read(p.pid());
    pf = check_inputs(p.pid(), kProg, false);
    CHECK(pf->pin.pid() == p.pid());
    CHECK(pf->pin.same_process());
    kill(p.pid(), SIGKILL);
    p.wait();  // reaped: the pid is free
    CHECK_FALSE(pf->pin.same_process());
    Impostor imp;
    if (!Impostor::start_at(pf->pin.pid(), imp)) continue;
    REQUIRE(imp.pid == pf->pin.pid());
    REQUIRE(imp.line().rfind("READY", 0) == 0);
    wait_in_read(imp.pid);
    return imp;
  }
  FAIL("the pid was taken by another process five times");
  return {};
}

}  // namespace

TEST_CASE("the pinned process itself: the same all along, seized and released") {
  REQUIRE_MESSAGE(geteuid() == 0, "this test creates processes at chosen pids (clone3 set_tid): run it as root");
  Child p({kProg, "read"});
  REQUIRE(p.line().rfind("READY", 0) == 0);
  wait_in_read(p.pid());
  ProcessPin pin = ProcessPin::open(p.pid());
  CHECK(pin.start_time() == process_start_time(p.pid()));
  CHECK(pin.same_process());
  {
    auto seized = seize_pinned(pin, std::chrono::milliseconds(2000));
    CHECK(status_field(p.pid(), "TracerPid") == std::to_string(getpid()));
  }
  CHECK(status_field(p.pid(), "TracerPid") == "0");
  p.send("x");
  CHECK(p.line().rfind("RESULT rc=1 errno=0", 0) == 0);
  CHECK(p.wait() == 0);
  std::string why;
  CHECK_FALSE(pin.same_process(&why));
  CHECK(why.find("has ended") != std::string::npos);
  CHECK_THROWS_AS(ProcessPin::open(p.pid()), std::runtime_error);
}

TEST_CASE("the pid reused between the checks and the seizure: refused, the impostor never seized") {
  REQUIRE_MESSAGE(geteuid() == 0, "this test creates processes at chosen pids (clone3 set_tid): run it as root");
  std::optional<CheckedInputs> pf;
  Impostor imp = checked_then_replaced(pf);
  std::string why;
  CHECK_FALSE(pf->pin.same_process(&why));
  CHECK(why.find("has ended and the pid now names another process") != std::string::npos);
  try {
    seize_pinned(pf->pin, std::chrono::milliseconds(2000));
    FAIL("seized a process at a reused pid");
  } catch (const std::runtime_error& e) {
    MESSAGE(std::string(e.what()));
    CHECK(std::string(e.what()).find("nothing was touched") != std::string::npos);
  }
  imp.check_unaware();
}

TEST_CASE("the pid reused right before PTRACE_SEIZE: caught after it, the impostor let go as it was") {
  REQUIRE_MESSAGE(geteuid() == 0, "this test creates processes at chosen pids (clone3 set_tid): run it as root");
  std::optional<CheckedInputs> pf;
  Impostor imp = checked_then_replaced(pf);
  // seize_pinned's steps, with the reuse falling after its first confirmation:
  // the seize itself, then the confirmation after it.
  {
    auto seized = ttst::inject::SeizedProcess::seize(pf->pin.pid());
    CHECK(status_field(imp.pid, "TracerPid") == std::to_string(getpid()));  // the impostor, seized
    std::string why;
    CHECK_FALSE(pf->pin.same_process(&why));
    CHECK(why.find("another process") != std::string::npos);
  }  // released as it was
  imp.check_unaware();
}
