// process_pin.cc — see process_pin.h.
#include "supervisor/process_pin.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "supervisor/proc_stat.h"

namespace ttst::supervisor {

uint64_t process_start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  const std::vector<std::string> f = stat_fields(stat);
  uint64_t start = 0;
  return f.size() > 22 - 3 && std::istringstream(f[22 - 3]) >> start ? start : 0;
}

ProcessPin ProcessPin::open(pid_t pid) {
  ProcessPin p;
  p.pid_ = pid;
  if (pid <= 0) throw std::runtime_error("no process with pid " + std::to_string(pid));
  p.fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (p.fd_ < 0)
    throw std::runtime_error(errno == ESRCH ? "no process with pid " + std::to_string(pid)
                                            : "cannot open pid " + std::to_string(pid) + ": " + std::strerror(errno));
  p.start_time_ = process_start_time(pid);
  // Alive after the read: the stat read was the pinned process's own.
  if (!p.start_time_ || !p.alive())
    throw std::runtime_error("no process with pid " + std::to_string(pid) + " (it has just ended)");
  return p;
}

ProcessPin::~ProcessPin() {
  if (fd_ >= 0) ::close(fd_);
}

ProcessPin::ProcessPin(ProcessPin&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), pid_(o.pid_), start_time_(o.start_time_) {}

ProcessPin& ProcessPin::operator=(ProcessPin&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    pid_ = o.pid_;
    start_time_ = o.start_time_;
  }
  return *this;
}

bool ProcessPin::alive() const {
  // Signal 0 through the pidfd: ESRCH once the process has ended (EPERM: alive,
  // another user's; preflight refuses it with its own message).
  return syscall(SYS_pidfd_send_signal, fd_, 0, nullptr, 0) == 0 || errno == EPERM;
}

bool ProcessPin::same_process(std::string* why) const {
  auto no = [&](const std::string& what) {
    if (why) *why = what;
    return false;
  };
  const std::string p = "pid " + std::to_string(pid_);
  if (fd_ < 0) return no(p + " was never pinned");
  uint64_t now = process_start_time(pid_);  // read first: alive afterwards means it was P's
  if (!alive())
    return no("the program checked as " + p + " has ended" +
              (now ? " and the pid now names another process" : ""));
  if (now != start_time_) return no(p + " names another process than the one checked (start time changed)");
  return true;
}

inject::SeizedProcess seize_pinned(const ProcessPin& pin, std::chrono::milliseconds timeout) {
  std::string why;
  if (!pin.same_process(&why)) throw std::runtime_error(why + ": nothing was touched");
  inject::SeizedProcess p = inject::SeizedProcess::seize(pin.pid(), timeout);
  if (!pin.same_process(&why)) throw std::runtime_error(why + ": the process seized was let go as it was");
  return p;
}

}  // namespace ttst::supervisor
