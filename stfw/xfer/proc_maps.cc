// proc_maps.cc — see proc_maps.h.
#include "stfw/xfer/proc_maps.h"

#include "stfw/xfer/decimal.h"

extern "C" {
#include "inject/agent/alloc.h"
#include "inject/agent/sys.h"
}

namespace ttst::stfw {
namespace {

constexpr long kSysRead = 0, kSysOpen = 2, kSysClose = 3;

uint64_t hex(const char*& p) {
  uint64_t v = 0;
  for (;; ++p) {
    char ch = *p;
    if (ch >= '0' && ch <= '9') v = v * 16 + uint64_t(ch - '0');
    else if (ch >= 'a' && ch <= 'f') v = v * 16 + uint64_t(ch - 'a' + 10);
    else return v;
  }
}
uint64_t dec(const char*& p) {
  uint64_t v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + uint64_t(*p++ - '0');
  return v;
}
void skip_spaces(const char*& p) {
  while (*p == ' ') ++p;
}

}  // namespace

void proc_path(char* path, int pid, const char* leaf) {
  int n = 0;
  for (const char* s = "/proc/"; *s;) path[n++] = *s++;
  if (pid == 0) {
    for (const char* s = "self"; *s;) path[n++] = *s++;
  } else {
    n += decimal_digits(uint64_t(pid), path + n);
  }
  path[n++] = '/';
  for (const char* s = leaf; *s && n < 47;) path[n++] = *s++;
  path[n] = 0;
}

const char* read_maps(int pid, long* error) {
  if (error) *error = 0;
  char path[48];
  proc_path(path, pid, "maps");
  long fd = agent_syscall3(kSysOpen, reinterpret_cast<long>(path), 0, 0);
  if (fd < 0) {
    if (error) *error = -fd;
    return nullptr;
  }
  uint64_t cap = 1 << 20, used = 0;
  char* text = static_cast<char*>(agent_alloc(cap, 16));
  if (!text) {
    agent_syscall3(kSysClose, fd, 0, 0);
    if (error) *error = kENOMEM;
    return nullptr;
  }
  for (;;) {
    long r = agent_syscall3(kSysRead, fd, reinterpret_cast<long>(text + used), long(cap - 1 - used));
    if (r <= 0) break;
    used += uint64_t(r);
    if (used + 1 >= cap) break;
  }
  agent_syscall3(kSysClose, fd, 0, 0);
  text[used] = 0;
  return text;
}

bool next_maps_line(const char*& p, MapsLine* out) {
  if (!*p) return false;
  const char* line = p;
  while (*p && *p != '\n') ++p;
  const char* end = p;
  if (*p) ++p;
  const char* q = line;
  out->lo = hex(q);
  ++q;
  out->hi = hex(q);
  skip_spaces(q);
  out->readable = q[0] == 'r';
  out->writable = q[1] == 'w';
  out->shared = q[3] == 's';
  while (*q && *q != ' ') ++q;  // perms
  skip_spaces(q);
  out->offset = hex(q);
  skip_spaces(q);
  uint64_t major = hex(q);
  if (*q == ':') ++q;
  out->dev = (major << 32) | hex(q);
  skip_spaces(q);
  out->inode = dec(q);
  skip_spaces(q);
  if (q > end) q = end;
  out->path = q;
  out->path_len = uint64_t(end - q);
  return true;
}

}  // namespace ttst::stfw
