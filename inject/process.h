// process.h — a seized process: every thread of it attached with PTRACE_SEIZE and
// stopped with PTRACE_INTERRUPT (no signal, no EINTR visible to the program).
// TRUSTED. Used for P: options never include EXITKILL, so P survives the
// supervisor; on destruction every thread is detached and runs on unchanged.
#pragma once

#include <sys/types.h>

#include <deque>
#include <string>
#include <vector>

#include "inject/memory.h"
#include "inject/task.h"

namespace ttst::inject {

class SeizedProcess {
 public:
  // Seizes every thread (re-reading /proc/PID/task until no new one appears) and
  // stops them all. Refuses a process that is already traced.
  static SeizedProcess seize(pid_t pid, milliseconds timeout = milliseconds(2000));

  SeizedProcess(SeizedProcess&&) = default;
  ~SeizedProcess();  // release()

  pid_t pid() const { return pid_; }
  // The thread the engine works in (the main thread).
  Task& main_thread() { return threads_.front(); }
  std::deque<Task>& threads() { return threads_; }
  // seccomp mode from /proc/PID/status (0 none, 1 strict, 2 filter).
  int seccomp_mode() const { return seccomp_; }

  // Memory the kernel writes on its own (every thread's rseq area: cpu ids updated
  // on each return to user space): equal in meaning, not in bytes, across P and R.
  std::vector<Range> kernel_written_ranges();

  // Drops thread `tid` without any ptrace call (it has exited; quiesce/drive_threads.h).
  // References to the other threads taken before are invalid afterwards.
  void forget(pid_t tid);

  // Detaches every thread; they continue where they were.
  void release();

 private:
  explicit SeizedProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  int seccomp_ = 0;
  std::deque<Task> threads_;
};

}  // namespace ttst::inject
