// Quiescence without side effects, and the update-point stop protocol
// (ttst_abi.h §4–§6), against real programs built with ttst-cc:
//  - blocked in accept/epoll_wait/poll/select/read/nanosleep in the event loop:
//    quiescent; after the probe its writable memory is byte-identical and its
//    system call completes normally (no EINTR);
//  - blocked mid-request: not quiescent, and the message names where; also in a
//    handler the compiler inlined into the event loop (same symbol, same frame);
//  - busy: stops at its update point through the marker system call; rollback
//    leaves it running; a supervisor killed at any step leaves it running with
//    its flag cleared; our own probe SIGKILLed mid-probe (probe_loop) leaves it
//    byte-identical, its blocked read finishing normally;
//  - future mode: stops at its first update point; ttst_is_updating() is false
//    only once the supervisor says so; without a supervisor it refuses to run.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include <cctype>
#include <cstddef>
#include <vector>
#include <fstream>
#include <set>
#include <thread>

#include "stfw/runtime/tests/child.h"
#include "stfw/abi/ttst_abi.h"
#include "supervisor/quiesce/quiesce.h"

using namespace ttst::quiesce;
using ttst::inject::LoadBias;
using ttst::inject::RemoteAddr;
using ttst::test::Child;
using ttst::test::MemoryCopy;

namespace {

struct Ready {
  pid_t pid;
  int port;
  uint64_t rt, counter, rseq;
};

Ready parse_ready(const std::string& l) {
  auto w = ttst::test::words(l);
  REQUIRE(w.size() == 6);
  REQUIRE(w[0] == "READY");
  return {std::stoi(w[1]), std::stoi(w[2]), ttst::test::hex(w[3]), ttst::test::hex(w[4]),
          w[5] == "(nil)" ? 0 : ttst::test::hex(w[5])};
}

// Writable memory identical to `before`, except the thread's rseq area (struct
// rseq, 32 bytes), which the kernel rewrites with the current CPU whenever the
// thread is scheduled at all — by a probe or by any wake-up.
void check_identical(const MemoryCopy& before, const Ready& r) {
  MemoryCopy after = MemoryCopy::of(r.pid);
  REQUIRE(after.regions.size() == before.regions.size());
  size_t differing = 0, in_rseq = 0;
  for (size_t i = 0; i < before.regions.size(); i++) {
    const auto& a = before.regions[i];
    const auto& b = after.regions[i];
    REQUIRE(a.lo == b.lo);
    REQUIRE(a.hi == b.hi);
    for (size_t k = 0; k < a.bytes.size(); k++) {
      if (a.bytes[k] == b.bytes[k]) continue;
      uint64_t addr = a.lo + k;
      if (r.rseq && addr >= r.rseq && addr < r.rseq + 32) {
        in_rseq++;
        continue;
      }
      if (differing++ < 4) CHECK_MESSAGE(false, "byte changed at 0x" << std::hex << addr << " in " << a.name);
    }
  }
  CHECK(differing == 0);
  if (in_rseq) MESSAGE(in_rseq << " byte(s) of the rseq area rewritten by the kernel (CPU migration)");
}

// Waits until the main thread sleeps (state S) in one of the system calls `nrs`
// (per /proc/PID/syscall): a thread merely preempted inside another system call
// on a loaded machine does not count.
void wait_blocked(pid_t pid, const std::vector<long>& nrs) {
  for (int i = 0; i < 1500; i++) {
    std::ifstream sc("/proc/" + std::to_string(pid) + "/syscall");
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string s, stat;
    std::getline(sc, s);
    std::getline(st, stat);
    auto close_paren = stat.rfind(')');
    char state = close_paren != std::string::npos && close_paren + 2 < stat.size() ? stat[close_paren + 2] : '?';
    if (!s.empty() && (isdigit(static_cast<unsigned char>(s[0])) != 0) && state == 'S')
      for (long nr : nrs)
        if (std::stol(s) == nr) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("program never blocked in the expected system call");
}

std::vector<long> syscalls_of(const std::string& mode) {
  if (mode == "accept") return {43, 288};
  if (mode == "epoll") return {232, 281, 441};
  if (mode == "poll") return {7, 271};
  if (mode == "select") return {23, 270};
  if (mode == "nanosleep") return {35, 230};
  return {0};  // read, midrequest
}

uint64_t read_u64(pid_t pid, uint64_t addr) {
  uint64_t v = 0;
  iovec l{&v, 8}, r{reinterpret_cast<void*>(addr), 8};
  process_vm_readv(pid, &l, 1, &r, 1, 0);
  return v;
}
uint32_t read_u32(pid_t pid, uint64_t addr) { return static_cast<uint32_t>(read_u64(pid, addr)); }
void write_u32(pid_t pid, uint64_t addr, uint32_t v) {
  iovec l{&v, 4}, r{reinterpret_cast<void*>(addr), 4};
  REQUIRE(process_vm_writev(pid, &l, 1, &r, 1, 0) == 4);
}

std::string status_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string l; std::getline(in, l);)
    if (l.rfind(key + ":", 0) == 0) return ttst::test::words(l.substr(key.size() + 1)).at(0);
  return "";
}

const uint64_t kReqOff = offsetof(ttst_runtime, update_requested);
const uint64_t kUpdOff = offsetof(ttst_runtime, updating);

void quiescent_and_unaware(const char* prog, const std::string& mode) {
  CAPTURE(mode);
  UpdatePointMap map = UpdatePointMap::load(prog);
  Child c({prog, mode});
  Ready r = parse_ready(c.line());
  wait_blocked(r.pid, syscalls_of(mode));
  MemoryCopy before = MemoryCopy::of(r.pid);
  std::chrono::steady_clock::duration probing{};
  for (int i = 0; i < 3; i++) {  // three probes, as a supervisor re-checking would
    // A probe's detach restarts the interrupted call (poll and nanosleep as
    // restart_syscall, 219): until the thread is back in it, the next probe would
    // rightly find it running (CI saw that under load).
    if (i > 0) {
      std::vector<long> again = syscalls_of(mode);
      again.push_back(219);
      wait_blocked(r.pid, again);
    }
    auto t0 = std::chrono::steady_clock::now();
    Verdict rep = check(r.pid, map);
    probing += std::chrono::steady_clock::now() - t0;
    CHECK_MESSAGE(rep.quiescent, rep.message);
    REQUIRE(rep.threads.size() == 1);
    CHECK(rep.threads[0].state == ThreadState::kQuiescent);
    CHECK(rep.threads[0].function == "event_loop");
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(probing).count();
  CHECK(ms < 300);  // "within milliseconds": three probes
  MESSAGE(mode << ": three probes took " << ms << " ms");
  check_identical(before, r);
  CHECK(status_field(r.pid, "TracerPid") == "0");
  // Let the system call complete; the program must see a normal return.
  long want_rc = 1;
  if (mode == "accept") {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(r.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    std::string res = c.line();
    close(s);
    auto w = ttst::test::words(res);
    REQUIRE(w.size() == 4);
    CHECK(std::stol(w[1].substr(3)) >= 3);  // a file descriptor
    CHECK(w[2] == "errno=0");
    CHECK(c.wait() == 0);
    return;
  }
  if (mode == "nanosleep") want_rc = 0;
  else c.send("x");
  auto w = ttst::test::words(c.line());
  REQUIRE(w.size() == 4);
  CHECK(w[1] == "rc=" + std::to_string(want_rc));
  CHECK(w[2] == "errno=0");
  if (mode == "nanosleep") CHECK(std::stol(w[3].substr(3)) >= 1500);  // slept in full
  CHECK(c.wait() == 0);
}

const char* kProg = "tests/programs/runtime/qprog";
const char* kProgClang = "tests/programs/runtime/qprog_clang";

// Waits for the next stop of `tid`; returns the wait status.
int wait_stop(pid_t tid) {
  int st = 0;
  REQUIRE(waitpid(tid, &st, __WALL) == tid);
  return st;
}

// Runs `tid` with PTRACE_SYSCALL until it enters the marker system call.
user_regs_struct run_to_marker(pid_t tid, uint64_t rt) {
  for (int i = 0; i < 100000; i++) {
    REQUIRE(ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) == 0);
    int st = wait_stop(tid);
    REQUIRE(WIFSTOPPED(st));
    user_regs_struct g;
    REQUIRE(ptrace(PTRACE_GETREGS, tid, nullptr, &g) == 0);
    if (g.orig_rax == TTST_MARKER_SYSCALL && g.rdi == TTST_MARKER_MAGIC && g.rsi == rt &&
        static_cast<long>(g.rax) == -ENOSYS)
      return g;
  }
  FAIL("never reached the marker");
  return {};
}

void seize_and_interrupt(pid_t pid) {
  REQUIRE(ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) == 0);
  REQUIRE(ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) == 0);
  int st = wait_stop(pid);
  REQUIRE(WIFSTOPPED(st));
}

// True once the program's loop counter moves (awaited, up to 5 s).
bool advancing(pid_t pid, uint64_t counter) {
  const uint64_t a = read_u64(pid, counter);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (read_u64(pid, counter) == a) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

// The state letter of /proc/PID/stat ('S' sleeping, 't' tracing stop, 'T' stopped...).
char proc_state(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(st, stat);
  auto close_paren = stat.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < stat.size() ? stat[close_paren + 2] : '?';
}

}  // namespace

TEST_CASE("update-point map from .ttst.upoints and the symbol table") {
  UpdatePointMap map = UpdatePointMap::load(kProg);
  CHECK(map.upoints().size() == 2);
  CHECK(!map.runtime_symbol().is_null());
  std::set<std::string> with;
  for (auto& f : map.functions())
    if (f.has_upoint) with.insert(f.name);
  CHECK(with == std::set<std::string>{"event_loop", "worker_loop"});
  CHECK_THROWS_AS(UpdatePointMap::load("/nonexistent"), std::runtime_error);
}

TEST_CASE("blocked in its event loop: quiescent, byte-identical and unaware") {
  for (const char* m : {"accept", "epoll", "poll", "select", "read", "nanosleep"}) quiescent_and_unaware(kProg, m);
}

TEST_CASE("the same with clang") {
  for (const char* m : {"accept", "epoll", "poll", "read"}) quiescent_and_unaware(kProgClang, m);
}

TEST_CASE("blocked mid-request: not quiescent, and the message says where") {
  UpdatePointMap map = UpdatePointMap::load(kProg);
  Child c({kProg, "midrequest"});
  Ready r = parse_ready(c.line());
  wait_blocked(r.pid, {0});
  MemoryCopy before = MemoryCopy::of(r.pid);
  Verdict rep = check(r.pid, map);
  CHECK_FALSE(rep.quiescent);
  REQUIRE(rep.threads.size() == 1);
  CHECK(rep.threads[0].state == ThreadState::kBlocked);
  CHECK(rep.threads[0].function == "handle_request");
  CHECK(rep.message.find("read() called from handle_request") != std::string::npos);
  CHECK(rep.message.find("event_loop") != std::string::npos);  // the callers, by frame pointers
  MESSAGE(rep.message);
  check_identical(before, r);
  c.send("x");
  CHECK(c.line().rfind("RESULT rc=1 errno=0", 0) == 0);
  CHECK(c.wait() == 0);
}

TEST_CASE("blocked mid-request in a handler inlined into the event loop: not quiescent") {
  // The blocking call's return address lies in event_loop, the function holding the
  // update point (an ELF-symbol rule takes it for the loop waiting for its next
  // event); DWARF puts it in the inlined copy of handle_inlined.
  for (const char* prog : {kProg, kProgClang})
    for (std::string mode : {"inlined", "inlined_write"}) {
      CAPTURE(prog);
      CAPTURE(mode);
      UpdatePointMap map = UpdatePointMap::load(prog);
      REQUIRE(map.scopes_complete());
      Child c({prog, mode});
      Ready r = parse_ready(c.line());
      wait_blocked(r.pid, {mode == "inlined" ? 0L : 1L});
      MemoryCopy before = MemoryCopy::of(r.pid);
      Verdict rep = check(r.pid, map);
      CHECK_FALSE(rep.quiescent);
      REQUIRE(rep.threads.size() == 1);
      CHECK(rep.threads[0].state == ThreadState::kBlocked);
      CHECK(rep.threads[0].function == "event_loop");
      const Function* f = nullptr;
      for (auto& fn : map.functions())
        if (fn.name == rep.threads[0].function) f = &fn;
      REQUIRE(f);
      CHECK(f->has_upoint);  // what fooled the ELF-symbol rule
      CHECK(rep.message.find("called from event_loop") != std::string::npos);
      CHECK(rep.message.find("(inlined handle_inlined)") != std::string::npos);
      MESSAGE(rep.message);
      check_identical(before, r);
      if (mode == "inlined") {
        c.send("x");
        CHECK(c.line().rfind("RESULT rc=1 errno=0", 0) == 0);
        CHECK(c.wait() == 0);
      }
    }
}

TEST_CASE("without DWARF nothing blocked counts as quiescent (fail-safe)") {
  UpdatePointMap map = UpdatePointMap::load("tests/programs/runtime/qprog_nodebug");
  CHECK_FALSE(map.scopes_complete());
  CHECK(map.upoints().size() == 2);
  Child c({"tests/programs/runtime/qprog_nodebug", "read"});  // the loop's own read
  Ready r = parse_ready(c.line());
  wait_blocked(r.pid, {0});
  Verdict rep = check(r.pid, map);
  CHECK_FALSE(rep.quiescent);
  REQUIRE(rep.threads.size() == 1);
  CHECK(rep.threads[0].state == ThreadState::kBlocked);
  CHECK(rep.threads[0].function == "event_loop");
  CHECK(rep.message.find("no readable DWARF") != std::string::npos);
  c.send("x");
  CHECK(c.line().rfind("RESULT rc=1 errno=0", 0) == 0);
  CHECK(c.wait() == 0);
}

TEST_CASE("a return address whose function has no symbol cannot be decoded: not quiescent (fail-safe)") {
  // qprog with event_loop's symbol removed (DWARF kept): the call before the
  // return address cannot be decoded from a function entry, so the rule does not
  // guess (a backwards look at the bytes would find the call, and DWARF would put it
  // in the update point's function).
  const char* prog = "supervisor/quiesce/tests/qprog_nosym";
  UpdatePointMap map = UpdatePointMap::load(prog);
  REQUIRE(map.scopes_complete());
  for (auto& f : map.functions()) CHECK(f.name != "event_loop");
  Child c({prog, "read"});
  Ready r = parse_ready(c.line());
  wait_blocked(r.pid, {0});
  Verdict rep = check(r.pid, map);
  CHECK_FALSE(rep.quiescent);
  REQUIRE(rep.threads.size() == 1);
  CHECK(rep.threads[0].state == ThreadState::kBlocked);
  MESSAGE(rep.message);
  c.send("x");
  CHECK(c.line().rfind("RESULT rc=1 errno=0", 0) == 0);
  CHECK(c.wait() == 0);
}

TEST_CASE("two threads, each in its own event loop: quiescent; mid-request bound") {
  UpdatePointMap map = UpdatePointMap::load(kProg);
  Child c({kProg, "mt"});
  Ready r = parse_ready(c.line());
  wait_blocked(r.pid, syscalls_of("poll"));
  Verdict rep;
  for (int i = 0; i < 100; i++) {  // the worker may still be starting
    rep = check(r.pid, map);
    if (rep.quiescent) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK_MESSAGE(rep.quiescent, rep.message);
  REQUIRE(rep.threads.size() == 2);
  std::set<std::string> fns;
  for (auto& t : rep.threads) {
    CHECK(t.state == ThreadState::kQuiescent);
    fns.insert(t.function);
  }
  CHECK(fns == std::set<std::string>{"event_loop", "worker_loop"});
  c.send("x");
  CHECK(c.line().rfind("RESULT rc=1 errno=0", 0) == 0);
  CHECK(c.wait() == 0);
}

TEST_CASE("mid-request for longer than the bound: refused after the bound, saying where") {
  UpdatePointMap map = UpdatePointMap::load(kProg);
  Child c({kProg, "midrequest"});
  Ready r = parse_ready(c.line());
  wait_blocked(r.pid, {0});
  auto t0 = std::chrono::steady_clock::now();
  Verdict rep = check_within(r.pid, map, std::chrono::milliseconds(200));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  CHECK_FALSE(rep.quiescent);
  CHECK(ms >= 190);
  CHECK(ms < 2000);
  CHECK(rep.message.find("handle_request") != std::string::npos);
  CHECK(rep.message.find("refused") != std::string::npos);
  c.send("x");
  CHECK(c.line().rfind("RESULT rc=1 errno=0", 0) == 0);
  CHECK(c.wait() == 0);
}

TEST_CASE("busy: not quiescent; stops at its update point; rollback resumes it") {
  UpdatePointMap map = UpdatePointMap::load(kProg);
  Child c({kProg, "busy"});
  Ready r = parse_ready(c.line());
  REQUIRE(advancing(r.pid, r.counter));
  Verdict rep = check(r.pid, map);
  CHECK_FALSE(rep.quiescent);
  CHECK(rep.threads.at(0).state == ThreadState::kRunning);
  CHECK_MESSAGE(rep.message.find("event_loop") != std::string::npos, rep.message);

  // The supervisor side of §4.
  seize_and_interrupt(r.pid);
  write_u32(r.pid, r.rt + kReqOff, 1);
  user_regs_struct g = run_to_marker(r.pid, r.rt);
  CHECK(g.rdx == TTST_MARKER_PAST);
  const LoadBias bias = load_bias(r.pid, map);
  const Function* f = map.function_at(RemoteAddr(g.r10) - bias);
  REQUIRE(f);
  CHECK(f->name == "event_loop");
  CHECK(proc_state(r.pid) == 't');  // really stopped: in a tracing stop
  CHECK_THROWS_AS(check(r.pid, map), std::runtime_error);  // already traced: refused
  // Roll back: clear the flag, let it go.
  write_u32(r.pid, r.rt + kReqOff, 0);
  REQUIRE(ptrace(PTRACE_DETACH, r.pid, nullptr, nullptr) == 0);
  CHECK(advancing(r.pid, r.counter));
  CHECK(read_u32(r.pid, r.rt + kReqOff) == 0);
}

TEST_CASE("a supervisor killed at any step leaves the program running, flag cleared") {
  for (int step = 0; step < 3; step++) {
    CAPTURE(step);
    Child c({kProg, "busy"});
    Ready r = parse_ready(c.line());
    pid_t sup = fork();
    if (sup == 0) {  // the supervisor, killed (exits without cleanup) at `step`
      if (ptrace(PTRACE_SEIZE, r.pid, nullptr, nullptr) || ptrace(PTRACE_INTERRUPT, r.pid, nullptr, nullptr)) _exit(1);
      int st;
      waitpid(r.pid, &st, __WALL);
      if (step == 0) _exit(0);  // killed while the program is in an interrupt stop
      uint32_t one = 1;
      iovec l{&one, 4}, rem{reinterpret_cast<void*>(r.rt + kReqOff), 4};
      process_vm_writev(r.pid, &l, 1, &rem, 1, 0);
      if (step == 1) _exit(0);  // killed right after setting the flag
      for (;;) {                // killed in the marker's syscall-entry stop
        ptrace(PTRACE_SYSCALL, r.pid, nullptr, nullptr);
        waitpid(r.pid, &st, __WALL);
        user_regs_struct g;
        ptrace(PTRACE_GETREGS, r.pid, nullptr, &g);
        if (g.orig_rax == TTST_MARKER_SYSCALL && g.rdi == TTST_MARKER_MAGIC) _exit(0);
      }
    }
    int st;
    REQUIRE(waitpid(sup, &st, 0) == sup);
    REQUIRE(WIFEXITED(st));
    REQUIRE(WEXITSTATUS(st) == 0);
    CHECK(advancing(r.pid, r.counter));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(read_u32(r.pid, r.rt + kReqOff) == 0);  // no byte left changed
    CHECK(status_field(r.pid, "TracerPid") == "0");
    std::string state = status_field(r.pid, "State");
    CHECK((state == "R" || state == "S"));
  }
}


TEST_CASE("our probe SIGKILLed in the middle of a probe leaves P untouched, its read finishing normally") {
  // probe_loop runs quiesce::check() on P over and over. It is frozen (SIGSTOP) when
  // P is seen traced by it; if P is still traced by the frozen probe, it is
  // mid-probe for sure and is SIGKILLed there; otherwise it is let go and caught
  // again. Killed with P in its interrupt stop (being classified) at least once.
  Child p({kProg, "read"});
  Ready r = parse_ready(p.line());
  wait_blocked(r.pid, {0});
  MemoryCopy before = MemoryCopy::of(r.pid);
  const std::string tracer_of_p = "/proc/" + std::to_string(r.pid) + "/status";
  int kills_in_stop = 0, kills_seized = 0;
  for (int round = 0; round < 20 && kills_in_stop < 3; round++) {
    Child probe({"supervisor/quiesce/probe_loop", std::to_string(r.pid), kProg});
    REQUIRE(probe.line() == "PROBING");
    const std::string me = std::to_string(probe.pid());
    bool killed = false;
    for (long spins = 0; spins < 2000000 && !killed; spins++) {
      if (status_field(r.pid, "TracerPid") != me) continue;
      kill(probe.pid(), SIGSTOP);
      char probe_state;
      while ((probe_state = proc_state(probe.pid())) != 'T' && probe_state != 'Z') sched_yield();
      REQUIRE_MESSAGE(probe_state == 'T', "the probe ended by itself");  // frozen: P's state is fixed now
      if (status_field(r.pid, "TracerPid") == me) {
        char state = proc_state(r.pid);
        kill(probe.pid(), SIGKILL);
        killed = true;
        (state == 't' ? kills_in_stop : kills_seized)++;
      } else {
        kill(probe.pid(), SIGCONT);
      }
    }
    REQUIRE_MESSAGE(killed, "never caught the probe with P seized");
    int st = probe.wait();
    CHECK((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
    // The kernel let P go when its tracer died: untraced, back in its read.
    CHECK(status_field(r.pid, "TracerPid") == "0");
    wait_blocked(r.pid, {0});
  }
  MESSAGE("probe killed " << kills_in_stop << " times with P in its interrupt stop, " << kills_seized
                          << " times with P seized and running");
  CHECK(kills_in_stop >= 1);
  check_identical(before, r);
  p.send("x");
  CHECK(p.line().rfind("RESULT rc=1 errno=0", 0) == 0);
  CHECK(p.wait() == 0);
}

TEST_CASE("future mode: stops at its first update point until the supervisor says done") {
  setenv(TTST_FUTURE_ENV, "1", 1);
  Child c({kProg, "future"});
  unsetenv(TTST_FUTURE_ENV);
  CHECK(c.line() == "START updating=1 env=0 0");  // knows it is a future; env var hidden
  UpdatePointMap map = UpdatePointMap::load(kProg);
  Ready r{c.pid(), 0, (map.runtime_symbol() + load_bias(c.pid(), map)).value(), 0, 0};
  CHECK(read_u32(r.pid, r.rt + kUpdOff) == 1);
  CHECK(read_u32(r.pid, r.rt + kReqOff) == 1);
  seize_and_interrupt(r.pid);
  c.send("go\n");
  user_regs_struct g = run_to_marker(r.pid, r.rt);
  CHECK(g.rdx == TTST_MARKER_FUTURE);
  // ... the state transfer would happen here ...
  CHECK(read_u32(r.pid, r.rt + kUpdOff) == 1);
  write_u32(r.pid, r.rt + kUpdOff, 0);
  write_u32(r.pid, r.rt + kReqOff, 0);
  REQUIRE(ptrace(PTRACE_DETACH, r.pid, nullptr, nullptr) == 0);
  CHECK(c.line().rfind("READY", 0) == 0);
  CHECK(c.line() == "AFTER updating=0 0 0");
  CHECK(c.wait() == 0);
}

TEST_CASE("future mode without a supervisor refuses to run on") {
  setenv(TTST_FUTURE_ENV, "1", 1);
  Child c({kProg, "future"});
  unsetenv(TTST_FUTURE_ENV);
  CHECK(c.line() == "START updating=1 env=0 0");
  c.line();
  c.send("go\n");
  int st = c.wait();
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == TTST_EXIT_NO_SUPERVISOR);
}

TEST_CASE("a program that is not ours is refused with one clear line") {
  try {
    UpdatePointMap::load("/proc/self/status");
    FAIL("loaded a non-ELF");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("not an ELF") != std::string::npos);
  }
}

TEST_CASE("the runtime block's link-time address plus the load bias is where the program has it") {
  // qprog prints &__ttst_runtime itself: an independent source for the typed
  // link-time -> run-time conversion (the supervisor's one source is the ELF symbol).
  UpdatePointMap map = UpdatePointMap::load(kProg);
  Child c({kProg, "read"});
  Ready r = parse_ready(c.line());
  const LoadBias bias = load_bias(r.pid, map);
  CHECK((map.runtime_symbol() + bias).value() == r.rt);
  CHECK(((map.runtime_symbol() + bias) - bias) == map.runtime_symbol());
  c.send("x");
  CHECK(c.line().rfind("RESULT rc=1 errno=0", 0) == 0);
  CHECK(c.wait() == 0);
}

TEST_CASE("the stop protocol through the remote runtime block: a busy P stops, a blocked one is refused") {
  UpdatePointMap map = UpdatePointMap::load(kProg);
  {  // busy: driven to its update point, then let go with the flag cleared
    Child c({kProg, "busy"});
    Ready r = parse_ready(c.line());
    REQUIRE(advancing(r.pid, r.counter));
    const RemoteRuntimeBlock runtime(r.pid, RemoteAddr(r.rt));
    {
      ttst::inject::SeizedProcess p = ttst::inject::SeizedProcess::seize(r.pid);
      std::string where;
      REQUIRE(drive_to_update_point(p, runtime, std::chrono::milliseconds(5000), where));
      CHECK(at_marker(p.main_thread().get_regs(), runtime.address()));
      runtime.set_update_requested(0);
    }  // released
    uint32_t flag = 1;
    CHECK(runtime.read_update_requested(flag));
    CHECK(flag == 0);
    CHECK(advancing(r.pid, r.counter));
  }
  {  // blocked mid-request: never reaches it; the flag is written back to 0
    Child c({kProg, "midrequest"});
    Ready r = parse_ready(c.line());
    wait_blocked(r.pid, {0});
    const RemoteRuntimeBlock runtime(r.pid, RemoteAddr(r.rt));
    {
      ttst::inject::SeizedProcess p = ttst::inject::SeizedProcess::seize(r.pid);
      std::string where;
      CHECK_FALSE(drive_to_update_point(p, runtime, std::chrono::milliseconds(200), where));
      CHECK(where.find("flag 1") != std::string::npos);  // what the program saw when the bound ran out
      CHECK(read_u32(r.pid, r.rt + kReqOff) == 0);
    }
    c.send("x");
    CHECK(c.line().rfind("RESULT", 0) == 0);
    CHECK(c.wait() == 0);
  }
}

TEST_CASE("seized inside its update point past an earlier marker: asked again, it stops at the next one") {
  // Pre-copy's second stop (transaction.cc stop_where_snapshot_was): P driven to its
  // marker, released there with the flag cleared, seized again before it was
  // scheduled; the update point then clears the new request on its way out. A loop
  // that makes a system call each turn (a server's) is asked again at the next one.
  Child c({kProg, "busy_syscall"});
  Ready r = parse_ready(c.line());
  REQUIRE(advancing(r.pid, r.counter));
  const RemoteRuntimeBlock runtime(r.pid, RemoteAddr(r.rt));
  ttst::inject::SeizedProcess p = ttst::inject::SeizedProcess::seize(r.pid);
  std::string where;
  REQUIRE(drive_to_update_point(p, runtime, std::chrono::milliseconds(5000), where));
  runtime.set_update_requested(0);  // as a release does
  // The marker's exit stop: P is between its marker and the flag's self-clearing store.
  auto exit_stop = p.main_thread().run_to_syscall([](const user_regs_struct&) { return true; },
                                                  std::chrono::milliseconds(5000));
  REQUIRE(exit_stop);
  const user_regs_struct g = p.main_thread().get_regs();
  REQUIRE(g.orig_rax == TTST_MARKER_SYSCALL);
  REQUIRE_FALSE(at_marker(g, runtime.address()));  // the exit, not the entry
  REQUIRE(drive_to_update_point(p, runtime, std::chrono::milliseconds(5000), where));
  CHECK(at_marker(p.main_thread().get_regs(), runtime.address()));
  runtime.set_update_requested(0);
}

TEST_CASE("the grace period's drive: seized between its update point and its loop's wait, it is idle there") {
  // F at the end of its grace period, seized while handling the last event (past
  // its update point, before its next wait): an idle server enters the wait and
  // stays there, passing no update point. The drive that judges F ends at the
  // wait's entry; the transaction's drive of P (no map) does not.
  UpdatePointMap map = UpdatePointMap::load(kProg);
  Child c({kProg, "spin_read"});
  Ready r = parse_ready(c.line());
  REQUIRE(advancing(r.pid, r.counter));
  const RemoteRuntimeBlock runtime(r.pid, RemoteAddr(r.rt));
  {
    ttst::inject::SeizedProcess p = ttst::inject::SeizedProcess::seize(r.pid);
    const Verdict before = classify(p, map);
    REQUIRE_FALSE(before.quiescent);
    CHECK(before.threads.at(0).state == ThreadState::kRunning);
    std::string where;
    bool waits = false;
    REQUIRE(drive_to_update_point(p, runtime, std::chrono::milliseconds(60000), where, &map, &waits));
    CHECK(waits);
    const user_regs_struct g = p.main_thread().get_regs();
    CHECK(g.orig_rax == SYS_read);  // at the entry of the loop's own read
    CHECK_FALSE(at_marker(g, runtime.address()));
    CHECK(read_u32(r.pid, r.rt + kReqOff) == 0);  // the request withdrawn
    // Without the map (P's drive) the same thread passes no update point: refused.
    CHECK_FALSE(drive_to_update_point(p, runtime, std::chrono::milliseconds(300), where));
    CHECK(where.find("read()") != std::string::npos);
  }  // released: it makes its read
  c.send("x");
  CHECK(c.line().rfind("RESULT rc=1 errno=0", 0) == 0);
  CHECK(c.wait() == 0);
}
