// proc_status.h — one snapshot of /proc/PID/status ("Name:\tvalue" lines).
// Why: the engine, the preflight checks and the agent session all ask the kernel
// the same questions (is it traced, is it a zombie, which thread group, which
// signals are pending or blocked); this is the only host code that reads the file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ttst::sys {

class ProcStatus {
 public:
  // The status of process or thread `pid`; nullopt when it does not exist.
  static std::optional<ProcStatus> read(pid_t pid);
  // Parses the text of a status file (lines without a ':' are ignored).
  static ProcStatus parse(std::string_view text);

  // The value of field `name`, leading blanks removed; "" when absent.
  std::string field(std::string_view name) const;

  char state() const;        // 'R', 'S', 'D', 'T', 't', 'Z', 'X'...; '\0' when absent
  bool exited() const { return state() == 'Z' || state() == 'X'; }  // zombie or dead
  pid_t tgid() const;        // thread group (process) id; 0 when absent
  pid_t tracer_pid() const;  // 0 when not traced
  int seccomp_mode() const;  // 0 none, 1 strict, 2 filter
  int threads() const;       // 0 when absent
  // A hexadecimal signal set: "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt".
  // Bit (sig - 1) is signal sig; 0 when absent.
  uint64_t signal_set(std::string_view name) const;

 private:
  int64_t decimal(std::string_view name) const;  // 0 when absent or not a number
  std::vector<std::pair<std::string, std::string>> fields_;
};

// Field `name` of /proc/PID/status; "" when the process or the field is absent.
std::string proc_status_field(pid_t pid, std::string_view name);

}  // namespace ttst::sys
