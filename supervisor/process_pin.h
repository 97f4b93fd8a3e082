// process_pin.h — the running program P held by a pidfd from the first check to the
// end, so a pid that dies and is reused during an attempt is never updated. TRUSTED.
//
// A pid is only a number: between preflight's checks (which read /proc/PID and
// P's executable) and PTRACE_SEIZE, P can exit, be reaped and its pid be given to
// another process, which the seize would then take for P. A pidfd refers to one
// process, not to a number: while the process it refers to is alive (a zombie
// included), no other process can have its pid. So the pin is opened before the
// first check (pidfd_open; its start time read from /proc/PID/stat), and
// confirmed before PTRACE_SEIZE and again after it: alive after the seize means
// the pid named P all along, so the task seized is P (the start time, read before
// the liveness test, must match as well). Once seized, P cannot be reaped without
// its tracer seeing it end.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "inject/process.h"

namespace ttst::supervisor {

class ProcessPin {
 public:
  ProcessPin() = default;
  // Throws std::runtime_error (one line) when there is no process `pid`.
  static ProcessPin open(pid_t pid);
  ~ProcessPin();
  ProcessPin(ProcessPin&& o) noexcept;
  ProcessPin& operator=(ProcessPin&& o) noexcept;
  ProcessPin(const ProcessPin&) = delete;
  ProcessPin& operator=(const ProcessPin&) = delete;

  pid_t pid() const { return pid_; }
  uint64_t start_time() const { return start_time_; }
  // True when the process opened is still alive and `pid` still names it; else
  // false, with `why` (one line) saying what changed.
  bool same_process(std::string* why = nullptr) const;

 private:
  bool alive() const;
  int fd_ = -1;
  pid_t pid_ = 0;
  uint64_t start_time_ = 0;
};

// Field 22 of /proc/PID/stat (clock ticks after boot), 0 when there is no such process.
uint64_t process_start_time(pid_t pid);

// PTRACE_SEIZE of the pinned process, confirmed before and after: throws
// std::runtime_error (P left untouched, or released as it was) when the pid no
// longer names the process checked.
inject::SeizedProcess seize_pinned(const ProcessPin& pin, std::chrono::milliseconds timeout);

}  // namespace ttst::supervisor
