// past_end.cc — P's exit through its pidfd, its reaping by its parent (past_end.h).
#include "supervisor/past_end.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace ttst::supervisor {

PastEnd::PastEnd(pid_t pid) : fd_(static_cast<int>(syscall(SYS_pidfd_open, pid, 0))) {}

PastEnd::~PastEnd() {
  if (fd_ >= 0) ::close(fd_);
}

PastEnd::State PastEnd::wait(std::chrono::milliseconds exit_wait, std::chrono::milliseconds reap_wait) const {
  if (fd_ < 0) return State::kUnknown;
  pollfd p{fd_, POLLIN, 0};
  int n;
  do n = ::poll(&p, 1, static_cast<int>(exit_wait.count()));
  while (n < 0 && errno == EINTR);
  if (n <= 0) return n == 0 ? State::kRunning : State::kUnknown;
  // Exited. Reaping by another process has no notification: sampled, briefly.
  const auto until = std::chrono::steady_clock::now() + reap_wait;
  for (;;) {
    if (syscall(SYS_pidfd_send_signal, fd_, 0, nullptr, 0) < 0 && errno == ESRCH) return State::kReaped;
    if (std::chrono::steady_clock::now() >= until) return State::kZombie;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace ttst::supervisor
