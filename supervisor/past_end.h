// past_end.h — the old version P's end at the commit, seen through before
// "committed" is printed. TRUSTED.
//
// The commit ends P with SIGKILL; P is not this process's child, so its end is
// only observable through a pidfd (readable once P has exited) and its reaping
// (by P's parent: a shell, a service manager) through the pidfd failing to signal
// it. Until its parent reaps it P is a zombie and `kill -0 PID` still succeeds,
// which a script reads as "the old server still runs". So the commit watches P's
// pidfd: it waits for P's exit (bounded), then briefly for the reaping, and says
// in the commit message when P is still a zombie (its parent does not wait).
#pragma once

#include <sys/types.h>

#include <chrono>

namespace ttst::supervisor {

class PastEnd {
 public:
  // Opens the watch on `pid` (call while P is alive, before killing it: the pidfd
  // then names P even if the number is reused later).
  explicit PastEnd(pid_t pid);
  ~PastEnd();
  PastEnd(const PastEnd&) = delete;
  PastEnd& operator=(const PastEnd&) = delete;

  enum class State { kReaped, kZombie, kRunning, kUnknown };
  // Waits up to `exit_wait` for P's exit, then up to `reap_wait` for its parent
  // to reap it; what P is then.
  State wait(std::chrono::milliseconds exit_wait, std::chrono::milliseconds reap_wait) const;

 private:
  int fd_ = -1;
};

}  // namespace ttst::supervisor
