// epoll_rebuild.cc — see epoll_rebuild.h.
#include "stfw/xfer/epoll_rebuild.h"
#include "stfw/xfer/annotation_text.h"

#include "stfw/xfer/decimal.h"
#include "stfw/xfer/proc_maps.h"

extern "C" {
#include "inject/agent/alloc.h"
#include "inject/agent/sys.h"
}

namespace ttst::stfw {
namespace {

using text::starts;

constexpr long kSysRead = 0, kSysOpen = 2, kSysClose = 3, kSysFstat = 5, kSysReadlink = 89, kSysGetdents64 = 217,
               kSysEpollCtl = 233, kSysEpollCreate1 = 291, kSysDup3 = 292;
constexpr long kOpenDirectory = 0200000, kOCloexec = 02000000, kEpollCtlAdd = 1;



uint64_t number(const char*& p, int base) {
  while (*p == ' ' || *p == '\t') ++p;
  uint64_t v = 0;
  for (;; ++p) {
    char c = *p;
    int d = c >= '0' && c <= '9' ? c - '0' : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0 || d >= base) return v;
    v = v * uint64_t(base) + uint64_t(d);
  }
}

// Appends the registrations of epoll descriptor `fd` (its fdinfo: "flags:\t02000002"
// then one "tfd: N events: X data: D ..." line per registration).
int64_t read_fdinfo(int fd, EpollRegistration* out, int64_t room) {
  char path[48];
  char leaf[8 + kDecimalDigitsMax] = "fdinfo/";
  decimal_digits(uint64_t(fd), leaf + 7);
  proc_path(path, 0, leaf);
  long f = agent_syscall3(kSysOpen, reinterpret_cast<long>(path), kOCloexec, 0);
  if (f < 0) return f;  // -errno
  uint64_t cap = 1 << 20, used = 0;
  char* text = static_cast<char*>(agent_alloc(cap, 16));
  if (!text) return agent_syscall3(kSysClose, f, 0, 0), -kENOMEM;
  for (long r; (r = agent_syscall3(kSysRead, f, reinterpret_cast<long>(text + used), long(cap - 1 - used))) > 0;)
    used += uint64_t(r);
  agent_syscall3(kSysClose, f, 0, 0);
  text[used] = 0;
  uint32_t cloexec = 0;
  int64_t n = 0;
  for (const char* p = text; *p;) {
    if (starts(p, "flags:")) {
      p += 6;
      cloexec = (number(p, 8) & uint64_t(kOCloexec)) ? 1 : 0;
    } else if (starts(p, "tfd:")) {
      p += 4;
      EpollRegistration r{fd, int(number(p, 10)), 0, cloexec, 0, 0, 0};
      while (*p == ' ') ++p;
      if (starts(p, "events:")) p += 7, r.events = uint32_t(number(p, 16));
      while (*p == ' ') ++p;
      if (starts(p, "data:")) p += 5, r.data = number(p, 16);
      for (; *p && *p != '\n'; ++p) {
        if (starts(p, " ino:")) p += 5, r.ino = number(p, 16), --p;
        else if (starts(p, " sdev:")) p += 6, r.sdev = number(p, 16), --p;
      }
      if (n == room) return -kENOMEM;
      out[n++] = r;
    }
    while (*p && *p != '\n') ++p;
    if (*p) ++p;
  }
  return n;
}

}  // namespace

int64_t list_epoll_registrations(EpollRegistration** out) {
  long dir = agent_syscall3(kSysOpen, reinterpret_cast<long>("/proc/self/fd"), kOpenDirectory | kOCloexec, 0);
  if (dir < 0) return dir;  // -errno
  int64_t room = 65536, n = 0;
  EpollRegistration* regs = static_cast<EpollRegistration*>(agent_alloc(sizeof(EpollRegistration) * uint64_t(room), 16));
  char* buf = static_cast<char*>(agent_alloc(65536, 16));
  if (!regs || !buf) return agent_syscall3(kSysClose, dir, 0, 0), -kENOMEM;
  for (;;) {
    long got = agent_syscall3(kSysGetdents64, dir, reinterpret_cast<long>(buf), 65536);
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      // struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
      uint16_t reclen = 0;
      __builtin_memcpy(&reclen, buf + off + 16, 2);
      const char* name = buf + off + 19;
      off += reclen;
      if (name[0] < '0' || name[0] > '9') continue;
      const char* q = name;
      int fd = int(number(q, 10));
      if (fd == int(dir)) continue;
      char path[48], link[64];
      char leaf[4 + kDecimalDigitsMax] = "fd/";
      decimal_digits(uint64_t(fd), leaf + 3);
      proc_path(path, 0, leaf);
      long len = agent_syscall3(kSysReadlink, reinterpret_cast<long>(path), reinterpret_cast<long>(link), sizeof link - 1);
      if (len <= 0) continue;
      link[len] = 0;
      if (!starts(link, "anon_inode:[eventpoll]")) continue;
      int64_t k = read_fdinfo(fd, regs + n, room - n);
      if (k < 0) return agent_syscall3(kSysClose, dir, 0, 0), k;
      n += k;
    }
  }
  agent_syscall3(kSysClose, dir, 0, 0);
  *out = regs;
  return n;
}

// Is descriptor `fd` of this process the file (inode, kernel dev_t) registered?
bool same_file(int fd, uint64_t ino, uint64_t sdev) {
  uint64_t st[18];  // struct stat: st_dev at 0, st_ino at 8
  if (agent_syscall3(kSysFstat, fd, reinterpret_cast<long>(st), 0) < 0) return false;
  uint64_t dev = st[0];  // user encoding: minor low 8 bits, major 12 bits, then the rest
  uint64_t major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffull);
  uint64_t minor = (dev & 0xff) | ((dev >> 12) & ~0xffull);
  return st[1] == ino && ((major << 20) | minor) == sdev;
}

long rebuild_epoll_instances(const EpollRegistration* regs, const uint64_t* data, int64_t count, int* failed_fd,
                             int* stale_tfd) {
  for (int64_t i = 0; i < count; ++i) {
    bool changed = false;
    for (int64_t j = 0; j < count && !changed; ++j) changed = regs[j].epfd == regs[i].epfd && data[j] != regs[j].data;
    if (changed && !same_file(regs[i].tfd, regs[i].ino, regs[i].sdev))
      return *failed_fd = regs[i].epfd, *stale_tfd = regs[i].tfd, -9;  // EBADF
  }
  for (int64_t i = 0; i < count; ++i) {
    // The first registration of an instance whose data changed anywhere.
    bool first = true;
    for (int64_t j = 0; j < i && first; ++j) first = regs[j].epfd != regs[i].epfd;
    if (!first) continue;
    bool changed = false;
    for (int64_t j = i; j < count && !changed; ++j) changed = regs[j].epfd == regs[i].epfd && data[j] != regs[j].data;
    if (!changed) continue;
    int epfd = regs[i].epfd;
    *failed_fd = epfd;
    long fresh = agent_syscall3(kSysEpollCreate1, regs[i].cloexec ? kOCloexec : 0, 0, 0);
    if (fresh < 0) return fresh;
    for (int64_t j = i; j < count; ++j) {
      if (regs[j].epfd != epfd) continue;
      struct {
        uint32_t events;
        uint64_t data;
      } __attribute__((packed)) ev{regs[j].events, data[j]};
      long r = agent_syscall6(kSysEpollCtl, fresh, kEpollCtlAdd, regs[j].tfd, reinterpret_cast<long>(&ev), 0, 0);
      if (r < 0) return agent_syscall3(kSysClose, fresh, 0, 0), r;
    }
    long r = agent_syscall3(kSysDup3, fresh, epfd, regs[i].cloexec ? kOCloexec : 0);
    agent_syscall3(kSysClose, fresh, 0, 0);
    if (r < 0) return r;
  }
  return 0;
}

}  // namespace ttst::stfw
