// matrix_test.cc — the past untouched, for one blocking call (BLOCKCALL_MODE):
// blockcall (v1) blocks in it; the shipped ttst-supervise runs --validate-only, a
// rollback at each phase a v2 can make fail (create: v2 cannot be executed;
// start-up: v2 crashes, exits, never reaches its update point; forward: the
// transfer refuses), the test variant ttst-supervise-testing rolls back where
// only a faulty transfer can fail (forward and backward transfers crashing, a
// state difference, a bug as the commit starts), and the shipped one is SIGKILLed before each of its system
// calls that changes P (kill_at_syscall --past: every state P goes through). After
// each attempt: P is not traced, holds no child and no zombie, nothing the attempt
// created runs, P is still blocked in the same call, and every writable byte of P
// is as before (except the kernel-written rseq fields, and after a kill the
// fail-safe frame bytes below its stack pointer). When the call returns: the expected result, no EINTR, errno and signal
// mask unchanged, a timeout never shortened and extended only within the bound of
// inject/README.md ("Timeouts"), and only after a kill.
//
// Synchronisation is on /proc/PID/syscall and the program's lines, never sleeps.
#include <doctest/doctest.h>

#include <algorithm>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "inject/memory.h"
#include "inject/process.h"
#include "inject/sys/proc_status.h"
#include "inject/task.h"
#include "inject/tests/test_util.h"

using namespace ttst::inject;
using namespace ttst::inject::testing;
namespace sys = ttst::sys;
using namespace std::chrono;

namespace {

const std::string kDir = "tests/past_untouched/";

long long now_us() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

struct Mode {
  std::string name;
  std::set<long> nrs;     // where the call blocks (restart_syscall once restarted)
  bool timed = false;     // returns by its timeout
  bool absolute = false;  // the timeout is a deadline (never extended)
};

Mode mode_of(const std::string& m) {
  const long rs = SYS_restart_syscall;
  if (m == "poll") return {m, {SYS_poll, rs}};
  if (m == "poll_timeout") return {m, {SYS_poll, rs}, true};
  if (m == "ppoll") return {m, {SYS_ppoll}};
  if (m == "select") return {m, {SYS_select, SYS_pselect6}};
  if (m == "pselect") return {m, {SYS_pselect6}};
  if (m == "epoll_wait") return {m, {SYS_epoll_wait, SYS_epoll_pwait}};
  if (m == "epoll_pwait") return {m, {SYS_epoll_pwait}};
  if (m == "sigsuspend") return {m, {SYS_rt_sigsuspend}};
  if (m == "nanosleep") return {m, {SYS_nanosleep, SYS_clock_nanosleep, rs}, true};
  if (m == "clock_nanosleep") return {m, {SYS_clock_nanosleep, rs}, true};
  if (m == "clock_nanosleep_abs") return {m, {SYS_clock_nanosleep}, true, true};
  if (m == "futex") return {m, {SYS_futex, rs}, true, true};
  if (m == "read") return {m, {SYS_read}};
  if (m == "accept") return {m, {SYS_accept, SYS_accept4}};
  if (m == "pause") return {m, {SYS_pause}};
  if (m == "sigtimedwait") return {m, {SYS_rt_sigtimedwait}};
  if (m == "wait4") return {m, {SYS_wait4}};
  throw std::runtime_error("unknown BLOCKCALL_MODE " + m);
}

// "key=value" from a line of the program.
long long field(const std::string& line, const std::string& key) {
  auto p = line.find(" " + key + "=");
  if (p == std::string::npos) throw std::runtime_error("no " + key + " in '" + line + "'");
  return std::stoll(line.substr(p + key.size() + 2));
}

// Runs argv, returns its exit status and its stdout's last line (all of it in *all).
std::pair<int, std::string> run(const std::vector<std::string>& argv, std::string* all = nullptr) {
  // detect_leaks=0: in a sanitizer build, LeakSanitizer's exit check ptraces the
  // supervisor's own threads, which cannot work while kill_at_syscall traces it.
  std::string cmd = "env ASAN_OPTIONS=detect_leaks=0 XDG_CACHE_HOME=" + std::string(getenv("TEST_TMPDIR")) + "/cache";
  for (auto& a : argv) cmd += " '" + a + "'";
  cmd += " 2>>" + std::string(getenv("TEST_TMPDIR")) + "/stderr";
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out, last;
  char buf[4096];
  while (fgets(buf, sizeof buf, f)) {
    last = buf;
    if (all) *all += buf;
  }
  int st = pclose(f);
  if (!last.empty() && last.back() == '\n') last.pop_back();
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, last};
}

// P's writable memory but the rseq fields the kernel writes itself; after a kill,
// also without the fail-safe frames below its stack pointer (red zone, FPU image,
// three frames).
uint64_t digest_of(pid_t pid, bool skip_frames) {
  SeizedProcess p = SeizedProcess::seize(pid);
  std::vector<Range> skip = p.kernel_written_ranges();
  if (skip_frames) {
    uint64_t rsp = p.main_thread().get_regs().rsp;
    skip.push_back({rsp - 128 - xstate_size() - 3 * 1024 - 256, rsp - 128});
  }
  uint64_t h = digest_writable_memory(pid, skip).hash;
  p.release();
  return h;
}

struct Trial {
  std::string name;
  std::vector<std::string> extra;  // supervisor arguments
  std::string v2;
  long kill = 0;                   // kill before the kill-th P-changing call (0: none)
  // Test hooks of ttst-supervise-testing (supervisor/supervise_testing_main.cc), for
  // the phases no v2 can make fail (the backward transfer, the diff); empty: the
  // shipped ttst-supervise.
  std::vector<std::string> hooks;
  int want = -1;                   // expected exit status (-1: 0 for validate-only, else 1)
};

}  // namespace

TEST_CASE("a program blocked in one call observes nothing of attempts that do not commit") {
  const char* m = getenv("BLOCKCALL_MODE");
  REQUIRE(m != nullptr);
  const Mode mode = mode_of(m);
  CAPTURE(mode.name);
  become_subreaper();
  const long T_ms = mode.timed ? 6000 : 0;
  const std::string v1 = runfile(kDir + "blockcall");
  const std::string supervise = runfile("supervisor/ttst-supervise");
  const std::string supervise_testing = runfile("supervisor/ttst-supervise-testing");
  const std::string killer = runfile(kDir + "kill_at_syscall");
  const std::string reports = std::string(getenv("TEST_TMPDIR")) + "/reports";

  Spawned sv = spawn({v1, mode.name, std::to_string(T_ms ? T_ms : 1000)}, /*keep_rseq=*/true);
  struct KillAtEnd {  // P killed however the case ends, also when a REQUIRE fails
    pid_t pid;
    ~KillAtEnd() { kill_and_reap(pid); }
  } kill_at_end{sv.pid};
  std::string ready = read_line(sv.from_child);
  REQUIRE(ready.rfind("ready pid=", 0) == 0);
  const pid_t P = sv.pid;
  const int port = mode.name == "accept" ? static_cast<int>(field(ready, "port")) : 0;

  // MATRIX_SUPERVISE_ARG (the BUILD's precopy variants: --precopy): one more
  // argument for every attempt.
  const char* extra = getenv("MATRIX_SUPERVISE_ARG");
  // --timeout 60s unless a trial sets its own: what is tested is where the
  // supervisor stops, never its time limit, which a loaded machine (CI's 2 cores
  // at load 30) can exhaust at the 5 s default for this small P.
  auto base_args = [&](const std::string& v2) {
    std::vector<std::string> a{supervise, "--pid", std::to_string(P), "--new", runfile(kDir + v2), "--report-dir", reports};
    if (extra && *extra) a.push_back(extra);
    return a;
  };
  // How many P-changing calls a validate-only attempt makes: one kill before each.
  std::vector<Trial> trials = {
      {"validate-only", {"--validate-only"}, "blockcall_v2", 0, {}, -1},
      {"v2 cannot be executed (create)", {}, "blockcall_v2_no_loader", 0, {}, -1},
      {"v2 crashes in start-up", {}, "blockcall_v2_crash", 0, {}, -1},
      {"v2 exits in start-up", {}, "blockcall_v2_exit", 0, {}, -1},
      {"v2 never reaches its update point", {"--timeout", "700ms"}, "blockcall_v2_no_upoint", 0, {}, -1},
      {"the transfer fails", {}, "blockcall_v2_narrow", 0, {}, -1},
      // Agent task ids: inject/agent/agent_abi.h (2 NULL dereference, 102 the lossy
      // backward transfer).
      {"the forward transfer crashes", {}, "blockcall_v2", 0, {"TTST_SUPERVISE_TEST_FORWARD_TASK=2"}, -1},
      {"the backward transfer crashes", {}, "blockcall_v2", 0, {"TTST_SUPERVISE_TEST_BACKWARD_TASK=2"}, -1},
      {"the state comparison differs (diff)", {}, "blockcall_v2", 0, {"TTST_SUPERVISE_TEST_BACKWARD_TASK=102"}, -1},
      {"a bug in the commit phase's start (internal)", {}, "blockcall_v2", 0, {"TTST_SUPERVISE_TEST_BUG_IN=commit"}, 3},
  };

  // Lines of the program other than its own (F's start-up prints "ready" into the
  // same pipe before it is discarded) are skipped.
  auto next_line = [&](milliseconds timeout) {
    for (;;) {
      std::string l = read_line(sv.from_child, timeout);
      if (l.rfind("ready", 0) != 0) return l;
    }
  };

  long steps = 0;  // P-changing calls of a validate-only attempt
  size_t next = 0;
  int child = 0;
  for (int iter = 0; next < trials.size() || steps == 0; ++iter) {
    std::string block = next_line(milliseconds(20000));
    REQUIRE(block.rfind("block " + std::to_string(iter), 0) == 0);
    if (mode.name == "wait4") child = static_cast<int>(field(block, "child"));
    wait_in_syscall(P, mode.nrs);
    const long long blocked_at = now_us();
    bool killed = false;
    long long last_end = blocked_at;
    int usr1_sent = 0;
    // Trials while the call surely still blocks (a timed call: its first half).
    while (next < trials.size() || steps == 0) {
      if (mode.timed && now_us() - blocked_at > T_ms * 1000 / 2) break;
      const bool check_memory = !mode.timed || now_us() - blocked_at < T_ms * 1000 / 4;
      const bool will_kill = steps != 0 && trials[next].kill != 0;
      uint64_t before = check_memory && steps != 0 ? digest_of(P, will_kill) : 0;
      if (steps == 0) {
        std::string listing;
        auto [st, last] = run([&] {
          auto a = std::vector<std::string>{killer, "--list", "--past", std::to_string(P), "--"};
          for (auto& x : base_args("blockcall_v2")) a.push_back(x);
          a.insert(a.end(), {"--validate-only", "--timeout", "60s"});
          return a;
        }(), &listing);
        REQUIRE(last.rfind("exited 0 after ", 0) == 0);  // validation passed
        steps = std::stol(last.substr(15));
        REQUIRE(steps > 10);
        // The one window left open (inject/README.md, "Known limits"): a call that
        // PTRACE_INTERRUPT itself ends with EINTR (epoll_wait, epoll_pwait,
        // rt_sigtimedwait) is pointed back at its `syscall` by the next ptrace call,
        // a register write; a supervisor killed just before it leaves the EINTR.
        // With --precopy P is interrupted twice (the snapshot, the second stop).
        std::vector<long> rewinds;
        if (mode.name == "epoll_wait" || mode.name == "epoll_pwait" || mode.name == "sigtimedwait") {
          REQUIRE(listing.find("\n4 101 16903 " + std::to_string(P) + "\n5 101 16901 " + std::to_string(P) + "\n") != std::string::npos);  // INTERRUPT, SETREGSET
          for (long k = 2; k <= steps; ++k)
            if (listing.find("\n" + std::to_string(k - 1) + " 101 16903 " + std::to_string(P) + "\n" + std::to_string(k) +
                             " 101 16901 " + std::to_string(P) + "\n") != std::string::npos)
              rewinds.push_back(k);
          MESSAGE(mode.name << ": no kill before the rewind of the call PTRACE_INTERRUPT ended (steps "
                            << rewinds.front() << (rewinds.size() > 1 ? " and " + std::to_string(rewinds.back()) : "") << ")");
        }
        for (long k = 1; k <= steps; ++k)
          if (std::find(rewinds.begin(), rewinds.end(), k) == rewinds.end()) trials.push_back({"killed before P-changing call " + std::to_string(k), {"--validate-only"}, "blockcall_v2", k, {}, -1});
        MESSAGE(mode.name << ": " << steps << " P-changing calls in a validate-only attempt");
        last_end = now_us();
        continue;  // that first run was the validate-only trial's twin: checked below
      }
      const Trial& t = trials[next++];
      CAPTURE(t.name);
      std::vector<std::string> argv;
      if (t.kill) argv = {killer, "--past", std::to_string(P), "--kill", std::to_string(t.kill), "--"};
      if (!t.hooks.empty()) {
        argv.push_back("env");
        for (auto& h : t.hooks) argv.push_back(h);
      }
      std::vector<std::string> args = base_args(t.v2);
      if (!t.hooks.empty()) args[0] = supervise_testing;
      for (auto& x : args) argv.push_back(x);
      for (auto& x : t.extra) argv.push_back(x);
      if (std::find(t.extra.begin(), t.extra.end(), "--timeout") == t.extra.end()) argv.insert(argv.end(), {"--timeout", "60s"});
      auto [st, last] = run(argv);
      last_end = now_us();
      if (t.kill) {
        CHECK_MESSAGE(last.rfind("killed " + std::to_string(t.kill) + " ", 0) == 0, last);
        killed = true;
      } else {
        // 0: validation passed (and rolled back, as asked); 1: rolled back.
        const int want = t.want >= 0 ? t.want : t.extra.size() == 1 && t.extra[0] == "--validate-only" ? 0 : 1;
        CHECK_MESSAGE(st == want, "ttst-supervise exit " << st << " (" << last << ")");
        // The phase the hooks aim at is the one that rolled back: the supervisor's
        // last line on stderr says why.
        std::string err = slurp(std::string(getenv("TEST_TMPDIR")) + "/stderr");
        std::string why = err.substr(err.rfind("ttst-supervise: ") == std::string::npos ? 0 : err.rfind("ttst-supervise: "));
        if (t.v2 == "blockcall_v2_no_loader")
          CHECK_MESSAGE(why.find("the new version could not be started: execve") != std::string::npos, why);
        if (t.hooks.size() == 1 && t.hooks[0] == "TTST_SUPERVISE_TEST_BACKWARD_TASK=102")
          CHECK_MESSAGE(why.find("between the old state and its round trip") != std::string::npos, why);
        if (t.hooks.size() == 1 && t.hooks[0] == "TTST_SUPERVISE_TEST_BACKWARD_TASK=2")
          CHECK_MESSAGE(why.find("backward transfer crashed") != std::string::npos, why);
        if (t.hooks.size() == 1 && t.hooks[0] == "TTST_SUPERVISE_TEST_FORWARD_TASK=2")
          CHECK_MESSAGE(why.find("forward transfer crashed") != std::string::npos, why);
      }
      // P let go, no child of P (but its own), nothing of the attempt left.
      for (int i = 0; i < 500 && sys::proc_status_field(P, "TracerPid") != "0"; ++i) usleep(2000);
      CHECK(sys::proc_status_field(P, "TracerPid") == "0");
      // (A released P reaps its intermediate itself, once that has died: P back in
      // its call first, as a P released by a killed supervisor may still have to
      // run a clone the supervisor had swapped in, and the reap, when its tracer
      // is gone; counting its children before that can miss the intermediate.)
      wait_in_syscall(P, mode.nrs);
      auto strays = [&] {
        std::vector<pid_t> v;
        for (pid_t c : children_of(P))
          if (c != child) v.push_back(c);
        return v;
      };
      for (int i = 0; i < 10000 && !strays().empty(); ++i) usleep(2000);  // up to 20 s: a loaded machine
      for (pid_t c : strays()) CHECK_MESSAGE(false, "P holds child " << c << " (" << state_of(c) << ")");
      for (pid_t c : children_of(getpid())) {
        if (c == P) continue;
        CHECK_MESSAGE(gone(c, milliseconds(5000)), "process " << c << " of the attempt still runs (" << state_of(c) << ")");
        waitpid(c, nullptr, WNOHANG);
      }
      // Still in the same call, every byte as it was.
      if (check_memory && (!mode.timed || now_us() - blocked_at < T_ms * 1000 / 2))
        CHECK_MESSAGE(digest_of(P, t.kill != 0) == before, "P's memory changed");
      last_end = now_us();  // the digest stops P too (seized to read it): a wake-up then is late by it
    }
    // Wake the call (a timed one wakes by itself) and check how it ended.
    if (mode.name == "accept") {
      request(port, "x", 100);
    } else if (mode.name == "sigsuspend" || mode.name == "pause" || mode.name == "sigtimedwait") {
      kill(P, SIGUSR1);
      ++usr1_sent;
    } else if (mode.name == "wait4") {
      kill(child, SIGKILL);
    } else if (!mode.timed) {
      REQUIRE(write(sv.to_child, "x\n", 2) == 2);
    }
    std::string done = next_line(milliseconds(T_ms + 20000));
    INFO(done);
    REQUIRE(done.rfind("done " + std::to_string(iter) + " ", 0) == 0);
    const long long ret = field(done, "ret"), err = field(done, "errno");
    const long long t0 = field(done, "t0"), t1 = field(done, "t1");
    CHECK(field(done, "mask_kept") == 1);
    if (mode.name == "sigsuspend" || mode.name == "pause") {
      CHECK(ret == -1);
      CHECK(err == EINTR);  // the handler of the one SIGUSR1 sent, and no other
      CHECK(field(done, "usr1") == iter + 1);
      continue;
    }
    CHECK(err == 777);  // errno untouched
    if (mode.name == "sigtimedwait") CHECK(ret == SIGUSR1);
    else if (mode.name == "wait4") CHECK(ret == child);
    else if (mode.name == "read") CHECK(ret == 2);
    else if (mode.name == "accept") CHECK(ret >= 0);
    else if (mode.name == "futex") CHECK(ret == ETIMEDOUT);
    else if (mode.timed) CHECK(ret == 0);
    else CHECK(ret == 1);
    if (mode.timed) {
      // Never shortened; extended only after a kill, and then by at most the time
      // until the last attempt's end (inject/README.md), plus scheduling slack.
      const long long slack = 2000000;
      CHECK(t1 - t0 >= T_ms * 1000);
      if (killed && !mode.absolute) CHECK(t1 <= last_end + T_ms * 1000 + slack);
      else CHECK(t1 <= std::max(t0 + T_ms * 1000, last_end) + slack);
    }
  }
}
