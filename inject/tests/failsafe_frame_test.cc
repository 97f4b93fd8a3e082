// failsafe_frame_test.cc — what a P released by a dying supervisor re-runs
// (resume_context, original_restart_nr) and the layout of its frames
// (build_failsafe_frames): pure functions, checked against this process's memory.
#include <doctest/doctest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "inject/failsafe_frame.h"
#include "inject/memory.h"
#include "inject/sys/proc_maps.h"
#include "inject/task.h"

using namespace ttst::inject;
namespace sys = ttst::sys;

namespace {

user_regs_struct interrupted(long nr, int64_t rax) {
  user_regs_struct r{};
  r.orig_rax = static_cast<uint64_t>(nr);
  r.rax = static_cast<uint64_t>(rax);
  r.rip = 0x401002;  // just after a `syscall` at 0x401000
  r.rdi = 11, r.rsi = 22, r.rdx = 33;
  return r;
}

// `mov eax, nr; syscall` followed by something, in this process's memory.
struct Wrapper {
  uint8_t code[16];
  explicit Wrapper(uint8_t nr) {
    const uint8_t bytes[] = {0x90, 0xb8, nr, 0, 0, 0, 0x0f, 0x05, 0xc3};
    std::memset(code, 0x90, sizeof code);
    std::memcpy(code, bytes, sizeof bytes);
  }
  uint64_t after_syscall() const { return reinterpret_cast<uint64_t>(code) + 8; }
};

}  // namespace

TEST_CASE("a released P re-runs its interrupted call: the original one, with its arguments") {
  for (int64_t code : {-512, -513, -514}) {
    user_regs_struct r = resume_context(interrupted(SYS_read, code), false);
    CHECK(r.rax == SYS_read);
    CHECK(r.rip == 0x401000);
    CHECK(r.rdi == 11);
  }
  // ERESTART_RESTARTBLOCK: not restart_syscall (rt_sigreturn disarms it), the call.
  user_regs_struct poll = resume_context(interrupted(SYS_poll, -516), false);
  CHECK(poll.rax == SYS_poll);
  CHECK(poll.rip == 0x401000);
  CHECK(poll.rdx == 33);
  // Already a kernel restart: the number found for it, else restart_syscall.
  CHECK(resume_context(interrupted(SYS_restart_syscall, -516), false, SYS_nanosleep).rax == SYS_nanosleep);
  CHECK(resume_context(interrupted(SYS_restart_syscall, -516), false).rax == SYS_restart_syscall);
  // At a syscall-entry stop: the call has not run yet; run it.
  CHECK(resume_context(interrupted(SYS_getppid, -ENOSYS), true).rax == SYS_getppid);
  // A finished call or no call: as is.
  user_regs_struct done = resume_context(interrupted(SYS_read, 5), false);
  CHECK(done.rax == 5);
  CHECK(done.rip == 0x401002);
  CHECK(resume_context(interrupted(-1, 0), false).rip == 0x401002);
}

TEST_CASE("the call inside restart_syscall is read from glibc's `mov eax, NR; syscall`, for the four restart-block calls only") {
  const pid_t self = getpid();
  for (long nr : {SYS_poll, SYS_nanosleep, SYS_clock_nanosleep, SYS_futex}) {
    Wrapper w(static_cast<uint8_t>(nr));
    user_regs_struct r = interrupted(SYS_restart_syscall, -516);
    r.rip = w.after_syscall();
    CHECK(original_restart_nr(self, r) == nr);
  }
  Wrapper read_wrapper(SYS_read);  // not a call the kernel resumes through its record
  user_regs_struct r = interrupted(SYS_restart_syscall, -516);
  r.rip = read_wrapper.after_syscall();
  CHECK(original_restart_nr(self, r) == -1);
  Wrapper poll_wrapper(SYS_poll);
  r.rip = poll_wrapper.after_syscall() + 1;  // not right after the syscall
  CHECK(original_restart_nr(self, r) == -1);
  r = interrupted(SYS_poll, -516);  // not inside restart_syscall
  r.rip = poll_wrapper.after_syscall();
  CHECK(original_restart_nr(self, r) == -1);
}

TEST_CASE("the frames: below the red zone, P's frame returns to the trampoline, the reap frame waits for the clone child") {
  std::vector<uint8_t> stack(64 * 1024, 0xee);
  const uint64_t base = reinterpret_cast<uint64_t>(stack.data());
  sys::Mapping m;
  m.start = base, m.end = base + stack.size(), m.perms = "rw-p", m.path = "[stack]";
  Registers saved;
  saved.xstate.assign(xstate_size(), 0);
  const uint64_t xcr0 = 0x7;
  std::memcpy(saved.xstate.data() + 464, &xcr0, sizeof xcr0);
  saved.sigmask = 0x8000800;
  user_regs_struct resume = interrupted(SYS_poll, SYS_poll);
  resume.rsp = base + stack.size() - 256;
  FrameCode code{0x7000, 0x7100, 0x7200};
  FailSafeFrames f = build_failsafe_frames(resume, saved, code, {m});

  CHECK(f.range.end <= resume.rsp - 128);  // the red zone is left alone
  CHECK(f.range.start >= base);
  CHECK(f.bytes.size() == f.range.end - f.range.start);
  CHECK(f.child_uc < f.reap_uc);
  CHECK(f.reap_uc < f.main_uc);
  auto word = [&](uint64_t addr) {
    uint64_t v;
    std::memcpy(&v, f.bytes.data() + (addr - f.range.start), sizeof v);
    return v;
  };
  CHECK(word(f.main_uc - 8) == code.trampoline);  // the reap chain's `ret` lands there
  CHECK(word(f.reap_pid) == kNoChild);            // until the clone writes its child's pid
  // The reap frame's registers: wait4(pid, NULL, __WALL) at the `syscall; ret`,
  // the stack at P's frame's return address.
  const uint64_t sc = f.reap_uc + 40;  // ucontext: flags, link, stack (24 bytes) -> mcontext
  CHECK(word(sc + 8 * 8) == kNoChild);             // rdi
  CHECK(word(sc + 9 * 8) == 0);                    // rsi
  CHECK(word(sc + 12 * 8) == __WALL);              // rdx
  CHECK(word(sc + 13 * 8) == SYS_wait4);           // rax
  CHECK(word(sc + 15 * 8) == f.main_uc - 8);       // rsp
  CHECK(word(sc + 16 * 8) == code.syscall_ret);    // rip
  // P's own frame: its registers (the call set to run again) and mask.
  const uint64_t msc = f.main_uc + 40;
  CHECK(word(msc + 16 * 8) == resume.rip);
  CHECK(word(msc + 13 * 8) == SYS_poll);
  CHECK(word(f.main_uc + 40 + 256) == saved.sigmask);
}
