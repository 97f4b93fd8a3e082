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
// restore() (or the destructor) puts the saved context back and then lets the
// thread pass once through the kernel's signal path with PTRACE_INTERRUPT, so it
// ends in the same kind of stop it started in with byte-identical registers: a
// thread that was inside an interrupted blocking syscall (rax = -ERESTART*) has the
// kernel restart it when resumed, exactly as if never interrupted. Signals that
// arrive meanwhile stay pending (blocked) and are delivered once afterwards by the
// kernel; SIGSTOP, which cannot be blocked, is re-sent once after the restore.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "inject/registers.h"
#include "inject/task.h"

namespace ttst::inject {

class RemoteSyscalls {
 public:
  explicit RemoteSyscalls(Task& task, milliseconds timeout = milliseconds(2000));
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

 private:
  Task& task_;
  milliseconds timeout_;
  Registers saved_;
  uint64_t site_ = 0;
  bool done_ = false;
  bool stashed_sigstop_ = false;
};

// rsp/rbp value during remote syscalls: non-canonical, any use faults.
inline constexpr uint64_t kPoisonStack = 0xdead000000000000ull;

}  // namespace ttst::inject
