// proc_status.cc — reader of /proc/PID/status (see proc_status.h).
#include "inject/sys/proc_status.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ttst::sys {

std::optional<ProcStatus> ProcStatus::read(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  ProcStatus s = parse(text.str());
  if (s.fields_.empty()) return std::nullopt;  // gone between open and read
  return s;
}

ProcStatus ProcStatus::parse(std::string_view text) {
  ProcStatus s;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    size_t first = value.find_first_not_of(" \t");
    value = first == std::string_view::npos ? std::string_view() : value.substr(first);
    s.fields_.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return s;
}

std::string ProcStatus::field(std::string_view name) const {
  for (const auto& [n, v] : fields_)
    if (n == name) return v;
  return "";
}

int64_t ProcStatus::decimal(std::string_view name) const {
  std::string v = field(name);
  return v.empty() ? 0 : std::strtoll(v.c_str(), nullptr, 10);
}

char ProcStatus::state() const {
  std::string v = field("State");
  return v.empty() ? '\0' : v[0];
}

pid_t ProcStatus::tgid() const { return static_cast<pid_t>(decimal("Tgid")); }
pid_t ProcStatus::tracer_pid() const { return static_cast<pid_t>(decimal("TracerPid")); }
int ProcStatus::seccomp_mode() const { return static_cast<int>(decimal("Seccomp")); }
int ProcStatus::threads() const { return static_cast<int>(decimal("Threads")); }

uint64_t ProcStatus::signal_set(std::string_view name) const {
  std::string v = field(name);
  return v.empty() ? 0 : std::strtoull(v.c_str(), nullptr, 16);
}

std::string proc_status_field(pid_t pid, std::string_view name) {
  std::optional<ProcStatus> s = ProcStatus::read(pid);
  return s ? s->field(name) : "";
}

}  // namespace ttst::sys
