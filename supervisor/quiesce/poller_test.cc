// The poller rule (ttst_abi.h §6, §7) against pollprog, an nginx-shaped event loop
// whose epoll_wait sits in a helper reached through a function pointer
// (supervisor/quiesce/tests/pollprog.c), built with ttst-cc at -O2 by gcc and clang:
//  - declared (TTST_POLLER in the source, or ttst-cc's TTST_POLLER variable) and
//    idle with no traffic at all: quiescent at the first probe, unaware of it (its
//    epoll_wait returns the event normally afterwards, no EINTR);
//  - not declared, or declared with a path that leaves out a frame, names a
//    function that does not exist, or a name two static functions share: not
//    quiescent;
//  - the same epoll_wait reached through the same function pointer from a request
//    handler (called by the loop, by the declared caller, or inlined into it):
//    not quiescent, and the message shows the stack that did not match; also
//    when sibling calls are turned back on and the handler tail-calls the poller.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "inject/process.h"
#include "inject/tests/test_util.h"
#include "stfw/runtime/tests/child.h"
#include "supervisor/quiesce/quiesce.h"
#include "supervisor/quiesce/unwind.h"
#include "tests/util/test_util.h"

using namespace ttst::quiesce;
using ttst::test::Child;
namespace fs = std::filesystem;

namespace {

const char* kDir = "supervisor/quiesce/tests/";

// Waits until the main thread sleeps in epoll_wait or epoll_pwait (by /proc).
void wait_in_epoll(pid_t pid) {
  ttst::inject::testing::wait_in_syscall(pid, {SYS_epoll_wait, SYS_epoll_pwait}, std::chrono::seconds(30));
}


// Starts `prog` in `mode`, probes it once while it waits in epoll_wait, then
// wakes it: its wait must return the event normally (rc 1, errno 0).
Verdict probe_once(const std::string& prog, const std::string& mode) {
  UpdatePointMap map = UpdatePointMap::load(prog);
  REQUIRE(map.scopes_complete());
  Child c({prog, mode});
  REQUIRE(c.line().rfind("READY", 0) == 0);
  wait_in_epoll(c.pid());
  Verdict v = check(c.pid(), map);
  MESSAGE(prog << " " << mode << ": " << (v.threads.empty() ? v.message : v.threads[0].where));
  c.send("x");
  CHECK(c.line() == "RESULT rc=1 errno=0");
  CHECK(c.wait() == 0);
  return v;
}

const std::vector<std::string> kDeclared = {"pollprog", "pollprog_clang", "pollprog_env"};

}  // namespace

TEST_CASE("the poller path is read from .ttst.pollers, from the macro and from ttst-cc's variable") {
  const std::vector<std::vector<std::string>> want = {{"process_events_and_timers", "epoll_process_events"}};
  for (const auto& p : kDeclared) {
    CAPTURE(p);
    UpdatePointMap map = UpdatePointMap::load(kDir + p);
    CHECK(map.poller_paths() == want);
    CHECK_FALSE(map.pollers_malformed());
  }
  CHECK(UpdatePointMap::load(std::string(kDir) + "pollprog_undeclared").poller_paths().empty());
  CHECK(UpdatePointMap::load(std::string(kDir) + "pollprog_short").poller_paths() ==
        std::vector<std::vector<std::string>>{{"epoll_process_events"}});
}

TEST_CASE("idle with no traffic at all, poller declared: quiescent at the first probe (gcc, clang, ttst-cc variable)") {
  for (const auto& p : kDeclared) {
    CAPTURE(p);
    Verdict v = probe_once(kDir + p, "idle");
    CHECK_MESSAGE(v.quiescent, v.message);
    REQUIRE(v.threads.size() == 1);
    CHECK(v.threads[0].state == ThreadState::kQuiescent);
    CHECK(v.threads[0].function == "epoll_process_events");
    CHECK(v.threads[0].where.find("declared poller path") != std::string::npos);
  }
}

TEST_CASE("idle without a declaration, or with a path that leaves out a frame: not quiescent") {
  for (std::string p : {"pollprog_undeclared", "pollprog_short"}) {
    CAPTURE(p);
    Verdict v = probe_once(kDir + p, "idle");
    CHECK_FALSE(v.quiescent);
    REQUIRE(v.threads.size() == 1);
    CHECK(v.threads[0].state == ThreadState::kBlocked);
    CHECK(v.threads[0].function == "epoll_process_events");
    CHECK(v.message.find("epoll_wait() called from epoll_process_events") != std::string::npos);
  }
}

TEST_CASE("a path naming a function twice over (two static functions of one name) or none is not used") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"pollprog_ambiguous", "epoll_process_events names several functions"},
      {"pollprog_unknown", "no_such_poller is no function with code"}};
  for (const auto& [p, said] : cases) {
    CAPTURE(p);
    UpdatePointMap map = UpdatePointMap::load(kDir + p);
    CHECK(map.poller_paths().empty());
    CHECK(map.pollers_unresolved() == said);
    Verdict v = probe_once(kDir + p, "idle");
    CHECK_FALSE(v.quiescent);
    REQUIRE(v.threads.size() == 1);
    CHECK(v.threads[0].state == ThreadState::kBlocked);
    CHECK(v.message.find("poller path ignored: " + said) != std::string::npos);
  }
}

TEST_CASE("blocked mid-request through the same function pointer as the poller: not quiescent") {
  // handler: event_loop -> handle_request -> (*actions.process_events);
  // nested:  ... -> process_events_and_timers -> handle_request -> (*...);
  // inlined: ... -> process_events_and_timers [handle_inlined inlined] -> (*...).
  const std::vector<std::pair<std::string, std::string>> cases = {{"handler", "handle_request"},
                                                                   {"nested", "handle_request"},
                                                                   {"inlined", "handle_inlined"},
                                                                   {"tail", "handle_tail"}};
  for (std::string p : {"pollprog", "pollprog_clang"})
    for (const auto& [mode, handler] : cases) {
      CAPTURE(p);
      CAPTURE(mode);
      Verdict v = probe_once(kDir + p, mode);
      CHECK_FALSE(v.quiescent);
      REQUIRE(v.threads.size() == 1);
      CHECK(v.threads[0].state == ThreadState::kBlocked);
      CHECK(v.threads[0].function == "epoll_process_events");
      CHECK(v.message.find("is no declared poller path") != std::string::npos);
      CHECK(v.message.find("epoll_process_events <- " + handler) != std::string::npos);
    }
}

TEST_CASE("a handler that tail-calls the poller (sibling calls turned back on) is caught by the direct call to it") {
  // pollprog_sibling: handle_tail's call through the pointer is a jump, so the
  // stack reads epoll_process_events <- process_events_and_timers <- event_loop,
  // the declared path; but the call in process_events_and_timers calls handle_tail.
  Verdict v = probe_once(std::string(kDir) + "pollprog_sibling", "tail");
  CHECK_FALSE(v.quiescent);
  REQUIRE(v.threads.size() == 1);
  CHECK(v.threads[0].state == ThreadState::kBlocked);
  CHECK(v.message.find("does not call the function of the frame below it") != std::string::npos);
  // and the idle loop of the same build is still quiescent
  Verdict idle = probe_once(std::string(kDir) + "pollprog_sibling", "idle");
  CHECK_MESSAGE(idle.quiescent, idle.message);
}

TEST_CASE("without the right to /proc/PID/map_files the unwinder opens the mapped files by path") {
  // A prober without CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE (as a supervisor that
  // is not root): map_files is refused, the files are opened by path and checked
  // against the mapping's device and inode.
  const std::string prog = std::string(kDir) + "pollprog";
  UpdatePointMap map = UpdatePointMap::load(prog);
  Child c({prog, "idle"});
  REQUIRE(c.line().rfind("READY", 0) == 0);
  wait_in_epoll(c.pid());
  pid_t k = fork();
  if (k == 0) {
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2]{};
    if (syscall(SYS_capget, &h, d) != 0) _exit(10);
    for (int cap : {CAP_SYS_ADMIN, 40 /* CAP_CHECKPOINT_RESTORE */}) {
      d[cap / 32].effective &= ~(1u << (cap % 32));
      d[cap / 32].permitted &= ~(1u << (cap % 32));
    }
    if (syscall(SYS_capset, &h, d) != 0) _exit(11);
    std::string any;
    for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(c.pid()) + "/map_files")) {
      any = e.path();
      break;
    }
    if (any.empty()) _exit(12);
    int fd = open(any.c_str(), O_RDONLY);
    if (fd >= 0) _exit(13);  // still allowed: the fallback would not be exercised
    Verdict v = check(c.pid(), map);
    _exit(v.quiescent ? 0 : 1);
  }
  int st = 0;
  REQUIRE(waitpid(k, &st, 0) == k);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  c.send("x");
  CHECK(c.line() == "RESULT rc=1 errno=0");
  CHECK(c.wait() == 0);
}

TEST_CASE("the CFI unwinder walks from libc's epoll_wait to main") {
  const std::string prog = std::string(kDir) + "pollprog";
  UpdatePointMap map = UpdatePointMap::load(prog);
  Child c({prog, "idle"});
  REQUIRE(c.line().rfind("READY", 0) == 0);
  wait_in_epoll(c.pid());
  std::vector<std::string> names;
  std::string doubt;
  {
    ttst::inject::SeizedProcess p = ttst::inject::SeizedProcess::seize(c.pid());
    const ttst::inject::LoadBias bias = load_bias(c.pid(), map);
    Unwinder u(c.pid());
    for (const UnwoundFrame& f : u.unwind(p.main_thread().get_regs(), 64, doubt)) {
      // a caller's call instruction ends at its pc (main's call of the noreturn
      // event_loop is its last instruction: pc is past main's end)
      const uint64_t at = names.empty() ? f.pc : f.pc - 1;
      const Function* fn = map.function_at(ttst::inject::RemoteAddr(at) - bias);
      names.push_back(fn ? fn->name : "?");
    }
  }
  CHECK_MESSAGE(doubt.empty(), doubt);  // down to _start, whose return address is undefined
  // frame 0 is libc's epoll_wait (no program symbol), then the program's frames.
  REQUIRE(names.size() >= 6);
  CHECK(names[0] == "?");
  CHECK(names[1] == "epoll_process_events");
  CHECK(names[2] == "process_events_and_timers");
  CHECK(names[3] == "event_loop");
  CHECK(names[4] == "main");
  CHECK(names.back() == "_start");
  c.send("x");
  CHECK(c.line() == "RESULT rc=1 errno=0");
  CHECK(c.wait() == 0);
}

namespace {

// The return addresses of `pid`'s main thread (seized for the unwind), by a new
// unwinder; an unwind that doubts fails the test.
std::vector<uint64_t> main_thread_pcs(pid_t pid) {
  std::vector<uint64_t> pcs;
  std::string doubt;
  ttst::inject::SeizedProcess p = ttst::inject::SeizedProcess::seize(pid);
  Unwinder u(pid);
  for (const UnwoundFrame& f : u.unwind(p.main_thread().get_regs(), 64, doubt)) pcs.push_back(f.pc);
  CHECK_MESSAGE(doubt.empty(), doubt);
  return pcs;
}

}  // namespace

// unwind.h: each file's CFI is parsed once per supervisor run. Two processes of a
// copy of pollprog (a file of its own, the same bytes), unwound by new unwinders
// after pollprog and libc were parsed: the copy is parsed once, for both; pollprog
// and libc never again; every unwind gives the frames a first unwind gives.
TEST_CASE("a file's call-frame information is parsed once for every unwinder of every process mapping it") {
  const std::string prog = std::string(kDir) + "pollprog";
  const fs::path copy = fs::temp_directory_path() / ("pollprog-copy-" + std::to_string(getpid()));
  fs::copy_file(prog, copy, fs::copy_options::overwrite_existing);
  fs::permissions(copy, fs::perms::owner_all);
  {
    Child a({prog, "idle"}), c1({copy.string(), "idle"}), c2({copy.string(), "idle"});
    for (Child* c : {&a, &c1, &c2}) {
      REQUIRE(c->line().rfind("READY", 0) == 0);
      wait_in_epoll(c->pid());
    }
    const std::vector<uint64_t> first = main_thread_pcs(a.pid());  // pollprog and libc parsed (now or earlier)
    REQUIRE(first.size() >= 6);
    const uint64_t parsed = Unwinder::files_parsed();
    CHECK(main_thread_pcs(a.pid()) == first);  // a new unwinder: nothing parsed
    CHECK(Unwinder::files_parsed() == parsed);
    const std::vector<uint64_t> in_copy = main_thread_pcs(c1.pid());
    CHECK(Unwinder::files_parsed() == parsed + 1);  // the copy, a file of its own; libc shared
    CHECK(in_copy.size() == first.size());
    CHECK(main_thread_pcs(c2.pid()).size() == in_copy.size());  // the copy's second process (its own load addresses)
    CHECK(Unwinder::files_parsed() == parsed + 1);
    for (Child* c : {&a, &c1, &c2}) {
      c->send("x");
      CHECK(c->line() == "RESULT rc=1 errno=0");
      CHECK(c->wait() == 0);
    }
  }
  fs::remove(copy);
}

namespace {

// Runs the shipped ttst-supervise; returns its exit status, stderr in `err`.
int supervise(const std::vector<std::string>& args, std::string& err) {
  std::string cmd = "supervisor/ttst-supervise";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1 >/dev/null";
  const ttst::testutil::Ran ran = ttst::testutil::run(cmd);
  err += ran.out;
  return ran.status;
}

// The next line of `c` that is not a READY line (F, the new version, runs the
// program's start-up with P's stdout and says READY too).
std::string result_line(Child& c) {
  for (;;) {
    std::string l = c.line();
    if (l.rfind("READY", 0) != 0) return l;
  }
}

}  // namespace

TEST_CASE("ttst-supervise --validate-only: an idle declared poller loop validates at once, an undeclared one is refused") {
  const std::string reports = ttst::testutil::tmpdir();
  for (std::string p : {"pollprog", "pollprog_undeclared"}) {
    CAPTURE(p);
    const std::string prog = kDir + p;
    Child c({prog, "idle"});
    REQUIRE(c.line().rfind("READY", 0) == 0);
    wait_in_epoll(c.pid());
    std::string err;
    int rc = supervise({"--pid", std::to_string(c.pid()), "--new", prog, "--validate-only", "--timeout", "5s",
                        "--report-dir", reports},
                       err);
    MESSAGE(err);
    if (p == "pollprog") {
      CHECK(rc == 0);
      CHECK(err.find("ttst-supervise: validated: ") != std::string::npos);
    } else {  // today's behaviour without the declaration: driven, never reaches it
      CHECK(rc == 2);
      CHECK(err.find("update point") != std::string::npos);
      CHECK(err.find("epoll_wait") != std::string::npos);
    }
    wait_in_epoll(c.pid());  // back in its wait, as it was
    c.send("x");
    CHECK(result_line(c) == "RESULT rc=1 errno=0");
    CHECK(c.wait() == 0);
  }
}
