// remote_syscalls.h — RAII scope that runs system calls inside a stopped thread.
// TRUSTED (the same code reaches P, where it only forks and reaps).
//
// On construction the scope saves the thread's whole context (Registers) and blocks
// every signal; each call() points rip at a `syscall` instruction that already
// exists in the target's vDSO (nothing is written into the target's text), sets
// orig_rax = -1 so the kernel never rewinds the new rip, points rsp and rbp at
// non-canonical addresses (a thread released by a dying supervisor faults instead
// of running on), and runs exactly one syscall between its entry and exit stops.
//
// In the past process (IfReleased::kResumes) the registers during a call point at
// glibc's rt_sigreturn trampoline and a signal frame of P's own context instead
// (inject/failsafe_frame.h): each syscall is swapped in at the trampoline's
// syscall-entry stop (rt_sigreturn itself never runs), and returns to the
// trampoline. A P released at any instant by a dying supervisor so resumes where
// it was, instead of faulting. clone_reaped() makes a child that such a released P
// reaps before going home; reap() reaps it in the normal path.
//
// restore() (or the destructor) puts the saved context back with the register,
// FPU and mask setters (never with rt_sigreturn, which would reset the kernel's
// restart record: poll, nanosleep, clock_nanosleep, futex waits with a timeout
// would then fail with EINTR) and then lets the thread pass once through the
// kernel's signal path with PTRACE_INTERRUPT, so it ends in the same kind of stop
// it started in with byte-identical registers: a thread that was inside an
// interrupted blocking syscall (rax = -ERESTART*) has the kernel restart it when
// resumed, exactly as if never interrupted. From the moment its registers are back,
// a P released by a dying supervisor is restarted by the kernel in the same way.
// The mask is read and written with PTRACE_GET/SETSIGMASK, which see the program's
// own mask inside ppoll/pselect6/epoll_pwait/sigsuspend (the kernel's saved mask)
// and clear the restore-mask flag; the restarted call sets its temporary mask again.
// Signals that arrive meanwhile stay pending (blocked) and are delivered once
// afterwards by the kernel; SIGSTOP, which cannot be blocked, is re-sent once after
// the restore.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <optional>
#include <vector>

#include "inject/failsafe_frame.h"
#include "inject/registers.h"
#include "inject/task.h"

namespace ttst::inject {

// What a thread does if the supervisor dies while the scope holds it.
enum class IfReleased {
  kFaults,   // R, F and intermediates (which die with the supervisor anyway)
  kResumes,  // the past process: it returns to its own context
};

class RemoteSyscalls {
 public:
  explicit RemoteSyscalls(Task& task, milliseconds timeout = milliseconds(2000),
                          IfReleased if_released = IfReleased::kFaults);
  ~RemoteSyscalls();  // restores if restore() was not called; never throws
  RemoteSyscalls(const RemoteSyscalls&) = delete;
  RemoteSyscalls& operator=(const RemoteSyscalls&) = delete;

  struct Result {
    int64_t ret = 0;             // raw rax: a value or -errno
    pid_t new_child = 0;         // from a FORK/CLONE/VFORK event
    bool exec_happened = false;  // an EXEC event was seen
  };
  // Runs syscall `nr` with up to six arguments; the raw result.
  Result call(long nr, std::array<uint64_t, 6> args = {});
  // Same, throwing InjectError("remote <what> failed: <strerror>") on -errno.
  int64_t call_checked(const char* what, long nr, std::array<uint64_t, 6> args = {});

  // kResumes only: clone(flags | CLONE_PARENT_SETTID, child_stack()) with exit
  // signal 0; a P released from here until reap() first waits for the child (which
  // exits at once if released untraced) and reaps it. The child's pid, or -errno.
  Result clone_reaped(uint64_t flags);
  // Reaps the child of clone_reaped(), which must be dead or dying (wait4 with
  // WNOHANG, retried until `timeout`); throws when it does not go.
  void reap(pid_t child);

  // Puts the saved context back (throws on failure).
  void restore();
  // Forget the saved context: the thread exec'd or died, or the caller leaves it in
  // a new state on purpose (a freshly exec'd F).
  void abandon() { done_ = true; }

  Task& task() { return task_; }
  const Registers& saved() const { return saved_; }
  uint64_t syscall_site() const { return site_; }
  milliseconds timeout() const { return timeout_; }
  // Re-sent after the restore: stop signals that could not be kept pending.
  void stash_stop_signal() { stashed_sigstop_ = true; }

  // kResumes only: the stack to give a remote clone's child (it exits if released
  // untraced), and the bytes of P's stack the frames replaced, which a child
  // forked meanwhile must get back (0 / empty for kFaults).
  uint64_t child_stack() const { return frames_ ? frames_->child_uc : 0; }
  Range scratch() const { return frames_ ? frames_->range : Range{}; }
  const std::vector<uint8_t>& scratch_original() const { return original_stack_; }

 private:
  Result call_resumable(long nr, const std::array<uint64_t, 6>& args);
  void next_syscall_stop(int op, long nr, Result& res);
  void handle_other_stop(const Stop& s, long nr, Result& res);
  user_regs_struct safe_regs(user_regs_struct r) const;

  Task& task_;
  milliseconds timeout_;
  Registers saved_;
  uint64_t site_ = 0;
  bool done_ = false;
  bool stashed_sigstop_ = false;
  bool made_call_ = false;
  // kResumes only.
  std::optional<FailSafeFrames> frames_;
  std::vector<uint8_t> original_stack_;
  FrameCode code_{};
  uint64_t continuation_ = 0;  // the frame a released P runs: main_uc, or reap_uc
};

// rsp/rbp value during remote syscalls: any use faults. Inside the last page below
// 2^47, which the kernel never maps for a user (TASK_SIZE ends a page short of it,
// and with 5-level paging only a hint asks for addresses that high). Canonical: a
// non-canonical stack pointer makes the return to user mode itself fault on some
// CPUs (AMD EPYC: SIGSEGV at the syscall instruction, before the call), a
// canonical one faults only when used.
inline constexpr uint64_t kPoisonStack = 0x00007ffffffff800ull;
static_assert((kPoisonStack >> 47) == 0, "kPoisonStack must be a canonical lower-half address");

}  // namespace ttst::inject
