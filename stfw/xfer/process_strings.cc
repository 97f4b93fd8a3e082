// process_strings.cc — see process_strings.h.
#include "stfw/xfer/process_strings.h"

#include "stfw/xfer/proc_maps.h"

extern "C" {
#include "inject/agent/sys.h"
}

namespace ttst::stfw {

bool read_string_areas(int pid, StringAreas* out) {
  char path[48];
  proc_path(path, pid, "stat");
  long fd = agent_syscall3(2 /* open */, reinterpret_cast<long>(path), 0, 0);
  if (fd < 0) return false;
  char buf[2048];
  long used = 0;
  for (;;) {
    long r = agent_syscall3(0 /* read */, fd, reinterpret_cast<long>(buf + used), long(sizeof buf - 1 - used));
    if (r <= 0) break;
    used += r;
  }
  agent_syscall3(3 /* close */, fd, 0, 0);
  buf[used] = 0;
  // Fields after the command name (which may hold spaces and parentheses) start at
  // the last ')': field 3 (state) follows it; arg_start..env_end are fields 48..51.
  const char* p = nullptr;
  for (const char* q = buf; *q; ++q)
    if (*q == ')') p = q;
  if (!p) return false;
  ++p;
  uint64_t fields[52] = {};
  for (int field = 3; field <= 51 && *p; ++field) {
    while (*p == ' ') ++p;
    uint64_t v = 0;
    bool neg = *p == '-';
    if (neg) ++p;
    while (*p && *p != ' ' && *p != '\n') v = (*p >= '0' && *p <= '9') ? v * 10 + uint64_t(*p - '0') : v, ++p;
    fields[field] = neg ? 0 : v;
  }
  out->args_lo = fields[48], out->args_hi = fields[49], out->env_lo = fields[50], out->env_hi = fields[51];
  return out->args_hi > out->args_lo;
}

}  // namespace ttst::stfw
