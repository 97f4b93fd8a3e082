// proc_syscall.cc — see proc_syscall.h.
#include "inject/sys/proc_syscall.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>

namespace ttst::sys {

std::optional<BlockedIn> parse_blocked_in(const std::string& text) {
  BlockedIn b;
  long nr = 0;
  uint64_t a[6] = {}, sp = 0, pc = 0;
  // "NR ARG1 .. ARG6 SP PC" (in a system call) or "-1 SP PC" (blocked elsewhere).
  if (std::sscanf(text.c_str(), "%ld 0x%" SCNx64 " 0x%" SCNx64 " 0x%" SCNx64 " 0x%" SCNx64 " 0x%" SCNx64
                                " 0x%" SCNx64 " 0x%" SCNx64 " 0x%" SCNx64,
                  &nr, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &sp, &pc) == 9) {
    b.nr = nr, b.sp = sp, b.pc = pc;
    return b;
  }
  if (std::sscanf(text.c_str(), "%ld 0x%" SCNx64 " 0x%" SCNx64, &nr, &sp, &pc) == 3 && nr == -1) {
    b.sp = sp, b.pc = pc;
    return b;
  }
  return std::nullopt;
}

std::optional<BlockedIn> blocked_in(pid_t pid, pid_t tid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[256];
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  return parse_blocked_in(buf);
}

namespace {

// Polls /proc until `seen` accepts what the thread is blocked in, or `bound` passes.
template <class Seen>
std::optional<BlockedIn> poll_blocked(pid_t pid, pid_t tid, std::chrono::microseconds bound, Seen seen) {
  const auto until = std::chrono::steady_clock::now() + bound;
  for (int polls = 0;; ++polls) {
    if (const std::optional<BlockedIn> b = blocked_in(pid, tid); b && seen(*b)) return b;
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    if (polls % 16 == 15) {  // mostly back to back (a server blocks between requests for microseconds)
      const timespec ts{0, 20 * 1000};
      nanosleep(&ts, nullptr);
    }
  }
}

}  // namespace

bool wait_blocked_at(pid_t pid, pid_t tid, const BlockedIn& at, std::chrono::microseconds bound) {
  return poll_blocked(pid, tid, bound, [&](const BlockedIn& b) {
           return b.nr == at.nr && b.sp == at.sp && b.pc == at.pc;
         }).has_value();
}

std::optional<BlockedIn> wait_in_call(pid_t pid, pid_t tid, std::chrono::microseconds bound) {
  return poll_blocked(pid, tid, bound, [](const BlockedIn& b) { return b.nr >= 0; });
}

}  // namespace ttst::sys
