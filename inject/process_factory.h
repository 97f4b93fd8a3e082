// process_factory.h — creation of the reversed (R) and future (F) processes from a
// stopped thread of the past process (P). TRUSTED.
//
// Both are made by a double remote fork: P runs one raw clone (exit_signal 0, so P
// gets no SIGCHLD and its wait() never sees the child) creating an intermediate I;
// I (traced with PTRACE_O_EXITKILL from its first stop) clones the real child, which
// inherits EXITKILL before running a single instruction; I is then killed and P
// reaps it with a remote wait4, so P keeps no zombie and R/F are orphans adopted by
// init (or the nearest subreaper). All of it happens inside one fail-safe scope of
// P (RemoteSyscalls::clone_reaped): if the supervisor dies at any instant between
// the clone and the reap, the released P reaps I itself before it goes home. P is
// only ever traced without EXITKILL, and its context is put back at the end.
//
// A raw clone is not libc's fork (no atfork handlers, libc's cached tid is P's): no
// libc code runs in R or F before execve (F) or at all (R, where only the
// freestanding agent runs).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "inject/registers.h"
#include "stfw/abi/ttst_abi.h"
#include "inject/task.h"

namespace ttst::inject {

// The environment variable that tells v2 it starts as a future version; its name
// is part of the runtime ABI (stfw/abi/ttst_abi.h §5).
inline constexpr const char* kFutureEnvVar = TTST_FUTURE_ENV;
inline constexpr const char* kFutureEnvValue = "1";

// A traced R or F: killed (and reaped) on destruction unless released.
class ChildProcess {
 public:
  explicit ChildProcess(Task task) : task_(std::move(task)) {}
  ChildProcess(ChildProcess&&) = default;
  ~ChildProcess();

  pid_t pid() const { return task_.tid(); }
  Task& task() { return task_; }
  // SIGKILL and wait until it is gone.
  void kill();
  // Detach and let it run on (F at commit).
  void release(int sig = 0) { task_.detach(sig); }

 private:
  Task task_;
};

// R: an exact copy of P's memory; its thread has P's saved registers, xstate and
// signal mask, stopped where P was interrupted (an interrupted syscall restarts
// when R is resumed).
// `source_options`: the ptrace options the source task keeps during and after the
// fork: P's (kOptionsPast, never EXITKILL), or options_child() when the source is
// itself a clone of P made by us (pre-copy's snapshot S: it must die with the
// supervisor at every instant, or released it would run P's code beside P).
ChildProcess create_reversed(Task& past, milliseconds timeout = milliseconds(2000),
                             unsigned source_options = kOptionsPast);

struct FutureSpec {
  std::string exe;                        // v2, absolute path
  std::vector<std::string> argv;          // empty: P's argv (/proc/PID/cmdline), argv[0] = exe
  std::vector<std::string> extra_env;     // added to P's environment
  std::optional<std::vector<int>> fds;    // descriptors to inherit; nullopt: all of P's
};

// F: a fork of P that clears FD_CLOEXEC on the inherited descriptors (in its own
// descriptor table: P's flags are never touched) and execs spec.exe with P's argv
// (argv[0] replaced by spec.exe) and environment plus TTST_FUTURE_ENV=1, starting with P's signal mask. Returned
// stopped right after execve (at the dynamic loader's entry).
ChildProcess create_future(Task& past, const FutureSpec& spec,
                           milliseconds timeout = milliseconds(2000), unsigned source_options = kOptionsPast);

}  // namespace ttst::inject
