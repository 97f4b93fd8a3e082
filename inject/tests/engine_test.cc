// engine_test.cc — seizing, register save/restore and remote syscalls on a live
// process blocked in a system call: afterwards the call completes as if never
// interrupted, and a signal sent during the injection is delivered exactly once.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <set>
#include <thread>

#include "inject/decode.h"
#include "inject/error.h"
#include "inject/memory.h"
#include "inject/process.h"
#include "inject/registers.h"
#include "inject/remote_syscalls.h"
#include "inject/sys/proc_maps.h"
#include "inject/sys/proc_status.h"
#include "inject/tests/test_util.h"

using namespace ttst::inject;
using namespace ttst::inject::testing;
namespace sys = ttst::sys;

namespace {

const std::string kBlocker = "tests/programs/blocker/blocker_bin";

// Seizes pid, runs a few remote syscalls (getpid, mmap, write into the mapping,
// munmap), restores, checks the context is byte-identical, releases. `during` runs
// in the middle of the injection.
void inject_some_syscalls(pid_t pid, const std::function<void()>& during = [] {},
                          bool signal_interrupts_call = false) {
  SeizedProcess p = SeizedProcess::seize(pid);
  Task& t = p.main_thread();
  Registers before = Registers::capture(t);
  MemoryDigest mem_before = digest_writable_memory(pid);
  {
    RemoteSyscalls rs(t);
    CHECK(rs.call(SYS_getpid).ret == pid);
    int64_t addr = rs.call_checked("mmap", SYS_mmap,
                                   {0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                    static_cast<uint64_t>(-1), 0});
    std::vector<uint8_t> data(100, 0x42);
    write_memory(pid, static_cast<uint64_t>(addr), data);
    CHECK(read_memory(pid, static_cast<uint64_t>(addr), 100) == data);
    during();
    CHECK(rs.call(SYS_munmap, {static_cast<uint64_t>(addr), 8192, 0, 0, 0, 0}).ret == 0);
    CHECK(rs.call(SYS_getppid).ret == getpid());
  }
  Registers after = Registers::capture(t);
  if (signal_interrupts_call) {
    // The thread's epoll_wait, rewound by the interrupt, fails with EINTR instead.
    CHECK(static_cast<int64_t>(after.gpr.rax) == -EINTR);
    CHECK(after.gpr.rip == before.gpr.rip + 2);
    after.gpr.rax = before.gpr.rax;
    after.gpr.rip = before.gpr.rip;
  }
  CHECK_MESSAGE(before == after, before.first_difference(after));
  CHECK(mem_before.hash == digest_writable_memory(pid).hash);
  p.release();
}

}  // namespace

TEST_CASE("the syscall site is a syscall instruction in the vDSO") {
  Spawned s = spawn({runfile(kBlocker), "read"});
  REQUIRE(read_line(s.from_child) == "ready");
  uint64_t site = find_syscall_site(s.pid);
  Instruction ins = decode_remote_instruction(s.pid, site);
  CHECK(ins.text == "syscall");
  CHECK(ins.size == 2);
  bool in_vdso = false;
  for (const sys::Mapping& m : sys::read_maps(s.pid))
    if (m.path == "[vdso]" && site >= m.start && site < m.end) in_vdso = true;
  CHECK(in_vdso);
  kill_and_reap(s.pid);
}

TEST_CASE("read() completes as if never interrupted after injection") {
  Spawned s = spawn_blocked({"read"}, {SYS_read});
  inject_some_syscalls(s.pid);
  REQUIRE(write(s.to_child, "hello\n", 6) == 6);
  CHECK(read_line(s.from_child) == "read ret=6 errno=0 data=hello usr1=0");
  CHECK(read_line(s.from_child).rfind("pattern=", 0) == 0);
  kill_and_reap(s.pid);
}

TEST_CASE("accept() completes as if never interrupted after injection") {
  Spawned s = spawn({runfile(kBlocker), "accept"});
  std::string ready = read_line(s.from_child);
  REQUIRE(ready.rfind("ready port=", 0) == 0);
  int port = std::stoi(ready.substr(11));
  wait_in_syscall(s.pid, {SYS_accept, SYS_accept4});
  inject_some_syscalls(s.pid);
  inject_some_syscalls(s.pid);  // twice: the second injection sees a restored thread
  std::thread client([port] { request(port, "hi", 2000); });
  CHECK(read_line(s.from_child) == "accept ret=0 errno=0 data=hi usr1=0");
  client.join();
  kill_and_reap(s.pid);
}

TEST_CASE("epoll_wait() completes as if never interrupted after injection") {
  Spawned s = spawn_blocked({"epoll"}, {SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_pwait2});
  inject_some_syscalls(s.pid);
  REQUIRE(write(s.to_child, "x\n", 2) == 2);
  CHECK(read_line(s.from_child) == "epoll ret=1 errno=0 fd=0 usr1=0");
  kill_and_reap(s.pid);
}

TEST_CASE("nanosleep() completes its full time as if never interrupted after injection") {
  Spawned s = spawn_blocked({"nanosleep", "400"}, {SYS_nanosleep, SYS_clock_nanosleep});
  inject_some_syscalls(s.pid);
  std::string line = read_line(s.from_child);
  INFO(line);
  REQUIRE(line.rfind("nanosleep ret=0 errno=0 elapsed_ms=", 0) == 0);
  long elapsed = std::stol(line.substr(line.find("elapsed_ms=") + 11));
  CHECK(elapsed >= 400);
  CHECK(elapsed < 1500);
  CHECK(line.find("usr1=0") != std::string::npos);
  kill_and_reap(s.pid);
}

TEST_CASE("a signal sent during injection is delivered exactly once afterwards") {
  Spawned s = spawn_blocked({"read"}, {SYS_read});
  inject_some_syscalls(s.pid, [&] {
    REQUIRE(kill(s.pid, SIGUSR1) == 0);  // queued at once: the thread is stopped
    // It stays pending while the injection runs.
    std::string pending = sys::proc_status_field(s.pid, "ShdPnd");
    CHECK(pending.find('2') != std::string::npos);  // SIGUSR1 is bit 9: ...200
  });
  // The handler (SA_RESTART) ran once and read() went on (the signal is delivered
  // before the restarted read, whenever the data arrives).
  REQUIRE(write(s.to_child, "after\n", 6) == 6);
  CHECK(read_line(s.from_child) == "read ret=6 errno=0 data=after usr1=1");
  kill_and_reap(s.pid);
}

TEST_CASE("a signal sent during injection into epoll_wait interrupts it once, as the kernel would") {
  Spawned s = spawn_blocked({"epoll"}, {SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_pwait2});
  inject_some_syscalls(s.pid, [&] { REQUIRE(kill(s.pid, SIGUSR1) == 0); }, true);
  // epoll_wait is never restarted after a handler: EINTR with exactly one signal.
  CHECK(read_line(s.from_child) == "epoll ret=-1 errno=4 fd=-1 usr1=1");
  kill_and_reap(s.pid);
}

TEST_CASE("registers, xstate and signal mask are restored even when corrupted on purpose") {
  Spawned s = spawn_blocked({"read"}, {SYS_read});
  SeizedProcess p = SeizedProcess::seize(s.pid);
  Task& t = p.main_thread();
  Registers before = Registers::capture(t);
  CHECK(before.xstate.size() >= 576);
  CHECK(before.xstate.size() <= xstate_size());
  CHECK(is_restart_code(static_cast<int64_t>(before.gpr.rax)));
  {
    RemoteSyscalls rs(t);
    user_regs_struct r = t.get_regs();
    r.r12 = 0x1234;
    r.r15 = ~0ull;
    r.fs_base = 0;
    t.set_regs(r);
    std::vector<uint8_t> xs = before.xstate;
    std::memset(xs.data() + 160, 0xab, 256);  // xmm0..xmm15
    t.set_xstate(xs);
    t.set_sigmask(0x5555);
    Registers corrupted = Registers::capture(t);
    CHECK_FALSE(corrupted == before);
    CHECK(rs.call(SYS_getpid).ret == s.pid);
  }
  Registers after = Registers::capture(t);
  CHECK_MESSAGE(before == after, before.first_difference(after));
  p.release();
  REQUIRE(write(s.to_child, "ok\n", 3) == 3);
  CHECK(read_line(s.from_child) == "read ret=3 errno=0 data=ok usr1=0");
  kill_and_reap(s.pid);
}

TEST_CASE("a failing remote syscall reports errno; seizing a traced process is refused") {
  Spawned s = spawn_blocked({"read"}, {SYS_read});
  SeizedProcess p = SeizedProcess::seize(s.pid);
  {
    RemoteSyscalls rs(p.main_thread());
    CHECK(rs.call(SYS_close, {9999, 0, 0, 0, 0, 0}).ret == -EBADF);
    CHECK_THROWS_AS(rs.call_checked("close", SYS_close, {9999, 0, 0, 0, 0, 0}), InjectError);
  }
  CHECK_THROWS_WITH_AS(SeizedProcess::seize(s.pid), doctest::Contains("already traced"), InjectError);
  p.release();
  kill_and_reap(s.pid);
}

namespace {
char proc_state(pid_t pid) {
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto rp = stat.rfind(')');
  return rp != std::string::npos && rp + 2 < stat.size() ? stat[rp + 2] : '?';
}
bool wait_state(pid_t pid, char want) {
  for (int i = 0; i < 500; ++i) {
    if (proc_state(pid) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}
}  // namespace

TEST_CASE("SIGSTOP sent during injection stops the process once afterwards") {
  Spawned s = spawn_blocked({"read"}, {SYS_read});
  inject_some_syscalls(s.pid, [&] { REQUIRE(kill(s.pid, SIGSTOP) == 0); });
  CHECK(wait_state(s.pid, 'T'));  // stopped by the SIGSTOP, after the release
  REQUIRE(kill(s.pid, SIGCONT) == 0);
  CHECK(wait_state(s.pid, 'S'));
  REQUIRE(write(s.to_child, "go\n", 3) == 3);
  CHECK(read_line(s.from_child) == "read ret=3 errno=0 data=go usr1=0");
  kill_and_reap(s.pid);
}

TEST_CASE("a process stopped by job control is injected into and left stopped") {
  Spawned s = spawn_blocked({"read"}, {SYS_read});
  REQUIRE(kill(s.pid, SIGSTOP) == 0);
  REQUIRE(wait_state(s.pid, 'T'));
  {
    SeizedProcess p = SeizedProcess::seize(s.pid);
    CHECK(p.main_thread().was_group_stopped());
    RemoteSyscalls rs(p.main_thread());
    CHECK(rs.call(SYS_getpid).ret == s.pid);
  }
  CHECK(wait_state(s.pid, 'T'));
  REQUIRE(kill(s.pid, SIGCONT) == 0);
  REQUIRE(write(s.to_child, "cont\n", 5) == 5);
  CHECK(read_line(s.from_child) == "read ret=5 errno=0 data=cont usr1=0");
  kill_and_reap(s.pid);
}

namespace {

// Seizes the blocker (blocked in one of `nrs`), resumes it with PTRACE_SYSCALL
// through the entry stop of its re-run call until it blocks again, interrupts it,
// and lets it go: a Task run with PTRACE_SYSCALL whose epoll_wait/rt_sigtimedwait
// the interrupt ends with EINTR (the syscall-exit stop comes first) must leave
// the call to re-run, not return EINTR. Repeated: the EINTR leaked only when the
// thread reached user space before the interrupt that followed the exit stop.
void interrupt_while_syscall_traced(pid_t pid, const std::set<long>& nrs, int rounds) {
  for (int i = 0; i < rounds; i++) {
    Task t = Task::seize(pid, kOptionsPast);
    t.interrupt(std::chrono::milliseconds(2000));
    user_regs_struct r = t.get_regs();
    REQUIRE(nrs.count(static_cast<long>(r.rax)));  // pointed back at its call
    t.resume(PTRACE_SYSCALL);
    Stop s = t.wait(std::chrono::milliseconds(2000), "the re-run call's entry stop");
    REQUIRE(s.kind == StopKind::kSyscall);
    REQUIRE(nrs.count(static_cast<long>(t.get_regs().orig_rax)));
    t.resume(PTRACE_SYSCALL);
    wait_in_syscall(pid, nrs);  // blocked in it again, traced with PTRACE_SYSCALL
    t.interrupt(std::chrono::milliseconds(2000));
    CHECK(t.last_stop().kind == StopKind::kInterrupt);
    t.detach();
    wait_in_syscall(pid, nrs);  // released: blocked in the call again, no EINTR seen
  }
}

}  // namespace

TEST_CASE("epoll_wait() of a thread run with PTRACE_SYSCALL, then interrupted, does not return EINTR") {
  const std::set<long> nrs{SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_pwait2};
  Spawned s = spawn_blocked({"epoll"}, nrs);
  interrupt_while_syscall_traced(s.pid, nrs, 20);
  REQUIRE(write(s.to_child, "x\n", 2) == 2);
  CHECK(read_line(s.from_child) == "epoll ret=1 errno=0 fd=0 usr1=0");
  kill_and_reap(s.pid);
}

TEST_CASE("rt_sigtimedwait() of a thread run with PTRACE_SYSCALL, then interrupted, does not return EINTR") {
  const std::set<long> nrs{SYS_rt_sigtimedwait};
  Spawned s = spawn_blocked({"sigtimedwait"}, nrs);
  interrupt_while_syscall_traced(s.pid, nrs, 20);
  REQUIRE(kill(s.pid, SIGUSR2) == 0);
  CHECK(read_line(s.from_child) == "sigtimedwait ret=" + std::to_string(SIGUSR2) + " errno=0 usr1=0");
  kill_and_reap(s.pid);
}
