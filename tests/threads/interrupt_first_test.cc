// interrupt_first_test.cc — Task::interrupt of a thread its tracer runs with
// PTRACE_SYSCALL (as the supervisor runs F's threads during v2's start-up under the
// start-up policy, future_threads.h): a syscall stop or a clone event stop that
// comes before the interrupt stop is shown to the caller's `first`, never resumed
// unseen. Before, such a stop was resumed with PTRACE_CONT: the thread then ran
// system calls no one saw (a start-up policy bypassed) and a clone child was never
// adopted. Here a thread loops on getppid() and creates a thread every 64 calls;
// after each of 300 interrupts, its own counters must match the tracer's counts
// (within the one call it may be about to make). Also: with `first`, an
// epoll_wait the interrupt cut short ends interrupt() at its exit stop, re-pointed
// at its call, and the program never sees EINTR.
#include <doctest/doctest.h>

#include <sys/ptrace.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdio>
#include <set>
#include <span>

#include "inject/memory.h"
#include "inject/task.h"
#include "inject/tests/test_util.h"

using namespace ttst::inject;
using namespace ttst::inject::testing;
using std::chrono::milliseconds;

namespace {

long read_long(pid_t pid, uint64_t addr) {
  long v = 0;
  REQUIRE(try_read_memory(pid, addr, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), sizeof v)) == sizeof v);
  return v;
}

// The looping thread's tracer: counts getppid entries and clone events, adopts
// each clone child (and lets it go), resumes with PTRACE_SYSCALL.
struct Tracer {
  Task& t;
  long entries = 0, clone_events = 0;
  void serve(const Stop& s) {
    if (s.kind == StopKind::kSyscall) {
      const user_regs_struct r = t.get_regs();
      if (static_cast<long>(r.rax) == -ENOSYS && r.orig_rax == SYS_getppid) ++entries;
    } else if (s.kind == StopKind::kEvent && s.event == PTRACE_EVENT_CLONE) {
      ++clone_events;
      Task child = Task::adopt(static_cast<pid_t>(t.event_msg()), milliseconds(5000));
      child.detach();
    }
    t.resume(PTRACE_SYSCALL, s.kind == StopKind::kSignalDelivery ? s.sig : 0);
  }
};

}  // namespace

TEST_CASE("interrupting a thread run with PTRACE_SYSCALL: every syscall entry and clone seen, none run unseen") {
  Spawned s = spawn({runfile("tests/threads/syscall_loop")});
  struct Reap {
    pid_t pid;
    ~Reap() { kill_and_reap(pid); }
  } reap{s.pid};
  const std::string ready = read_line(s.from_child, milliseconds(20000));
  long tid = 0;
  unsigned long long calls_at = 0, clones_at = 0;
  REQUIRE(std::sscanf(ready.c_str(), "ready tid=%ld calls=%llx clones=%llx", &tid, &calls_at, &clones_at) == 3);
  Task t = Task::seize(static_cast<pid_t>(tid), PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE);
  t.interrupt(milliseconds(5000));
  Tracer tracer{t};
  const long calls0 = read_long(s.pid, calls_at), clones0 = read_long(s.pid, clones_at);
  long firsts = 0;
  for (int round = 0; round < 300; ++round) {
    t.resume(PTRACE_SYSCALL);
    for (int i = 0; i < round % 7; ++i) tracer.serve(t.wait(milliseconds(5000), "a stop of the loop"));
    const Stop end = t.interrupt(milliseconds(5000), [&](const Stop& first) {
      ++firsts;
      tracer.serve(first);
      return false;
    });
    REQUIRE(end.kind == StopKind::kInterrupt);
    const long calls = read_long(s.pid, calls_at) - calls0, clones = read_long(s.pid, clones_at) - clones0;
    REQUIRE_MESSAGE(calls - tracer.entries <= 1, "round " << round << ": the thread made " << calls
                                                          << " getppid calls, the tracer saw " << tracer.entries);
    REQUIRE(calls - tracer.entries >= -1);
    REQUIRE_MESSAGE(clones - tracer.clone_events <= 1, "round " << round << ": the thread created " << clones
                                                                << " threads, the tracer adopted " << tracer.clone_events);
    REQUIRE(clones - tracer.clone_events >= -1);
  }
  MESSAGE(tracer.entries << " getppid entries and " << tracer.clone_events << " clones seen; " << firsts
                         << " stops came before the interrupt stop");
  CHECK(tracer.clone_events > 0);
  CHECK(firsts > 0);  // the case this test is about did happen
  t.detach();
}

TEST_CASE("with `first`, an epoll_wait cut short ends interrupt() at its exit stop, re-run later: no EINTR") {
  const std::set<long> nrs{SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_pwait2};
  Spawned s = spawn_blocked({"epoll"}, nrs);
  for (int i = 0; i < 20; ++i) {
    Task t = Task::seize(s.pid, PTRACE_O_TRACESYSGOOD);
    t.interrupt(milliseconds(5000));
    t.resume(PTRACE_SYSCALL);  // re-enters its call: the entry stop
    Stop entry = t.wait(milliseconds(5000), "the re-run call's entry stop");
    REQUIRE(entry.kind == StopKind::kSyscall);
    t.resume(PTRACE_SYSCALL);
    wait_in_syscall(s.pid, nrs);  // blocked in it, traced with PTRACE_SYSCALL
    long shown = 0;
    const Stop end = t.interrupt(milliseconds(5000), [&](const Stop&) {
      ++shown;
      return true;
    });
    CHECK(shown == 0);  // the interrupt's own exit stop is no stop of the program's
    REQUIRE(end.kind == StopKind::kSyscall);
    const user_regs_struct r = t.get_regs();
    CHECK(nrs.count(static_cast<long>(r.rax)));  // pointed back at its call
    t.detach();
    wait_in_syscall(s.pid, nrs);  // released: blocked in the call again
  }
  REQUIRE(write(s.to_child, "x\n", 2) == 2);
  CHECK(read_line(s.from_child) == "epoll ret=1 errno=0 fd=0 usr1=0");
  kill_and_reap(s.pid);
}
