// startup_files.cc — see startup_files.h.
#include "supervisor/startup_files.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/kcmp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <linux/sched.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>

#include "inject/memory.h"
#include "inject/remote_syscalls.h"
#include "inject/sys/proc_entries.h"
#include "supervisor/quiesce/quiesce.h"
#include "supervisor/thread_slot.h"
#include "supervisor/transaction_end.h"

namespace ttst::supervisor {

// A file action held back to the commit: a staged file linked in, or an unlink.
struct StartupFiles::Deferred {
  bool unlink = false;
  int dir = -1;           // the path's directory (O_PATH), the supervisor's
  std::string name;       // the path's last component
  std::string seen;       // the path as the supervisor reaches it (/proc/F/...)
  int file = -1;          // staged: the supervisor's duplicate of F's unnamed file
  std::optional<struct stat> replaced;  // staged over an existing file: its mode and owner
  size_t action = 0;
  ~Deferred() {
    if (dir >= 0) close(dir);
    if (file >= 0) close(file);
  }
};

// At the exit stop of a call acted on: F's registers and stack bytes put back.
struct StartupFiles::Pending {
  user_regs_struct entry;
  std::optional<int64_t> result;  // a skipped call: what v2 sees
  Deferred* staged = nullptr;     // a staged open: its descriptor is the result
  bool copy = false;              // the staged file starts as a copy of the existing one
  uint64_t scratch = 0;           // where the directory's name was written in F's stack
  std::vector<uint8_t> saved;     // the bytes it replaced
};

namespace {

constexpr size_t kRedZone = 128;

std::string read_string(pid_t pid, uint64_t addr) {
  std::vector<uint8_t> b(PATH_MAX);
  b.resize(inject::try_read_memory(pid, addr, std::span<uint8_t>(b.data(), b.size())));
  const std::string s(b.begin(), b.end());
  return s.substr(0, s.find('\0'));
}

// `path` of F relative to `dirfd` (AT_FDCWD: F's cwd), as the supervisor reaches it.
std::string as_seen_by(pid_t pid, int dirfd, const std::string& path) {
  const std::string proc = "/proc/" + std::to_string(pid);
  if (path.empty()) return "";
  if (path[0] == '/') return proc + "/root" + path;
  return proc + (dirfd == AT_FDCWD ? "/cwd/" : "/fd/" + std::to_string(dirfd) + "/") + path;
}

// "dir/name" → {"dir", "name"}; "name" → {".", "name"}; "/name" → {"/", "name"}.
std::pair<std::string, std::string> split(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

std::string oct(int v) {
  char b[16];
  std::snprintf(b, sizeof b, "0%o", static_cast<unsigned>(v));
  return b;
}

bool at_syscall_entry(pid_t pid) {
  __ptrace_syscall_info info{};
  if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info) <= 0) return false;
  return info.op == PTRACE_SYSCALL_INFO_ENTRY;
}

[[noreturn]] void refuse_file_call(const std::string& call, const std::string& why) {
  rollback(Reason::kStartupSideEffect,
           "the new version's start-up made " + call + ", which " + why +
               ": made before the commit, it would change what the running old version relies on",
           "move this call after v2's update point (or leave it out); the old version keeps serving");
}

std::string name_of(long nr) {
  switch (nr) {
    case SYS_unlink: return "unlink"; case SYS_unlinkat: return "unlinkat"; case SYS_rename: return "rename";
    case SYS_renameat: return "renameat"; case SYS_renameat2: return "renameat2"; case SYS_link: return "link";
    case SYS_linkat: return "linkat"; case SYS_symlink: return "symlink"; case SYS_symlinkat: return "symlinkat";
    case SYS_rmdir: return "rmdir"; case SYS_mknod: return "mknod"; case SYS_mknodat: return "mknodat";
    case SYS_truncate: return "truncate"; case SYS_chmod: return "chmod"; case SYS_fchmodat: return "fchmodat";
    case SYS_chown: return "chown"; case SYS_lchown: return "lchown"; case SYS_fchownat: return "fchownat";
    case SYS_utime: return "utime"; case SYS_utimes: return "utimes"; case SYS_futimesat: return "futimesat";
    case SYS_utimensat: return "utimensat"; case SYS_setxattr: return "setxattr"; case SYS_lsetxattr: return "lsetxattr";
    case SYS_removexattr: return "removexattr"; case SYS_lremovexattr: return "lremovexattr";
    case SYS_mkdir: return "mkdir"; case SYS_mkdirat: return "mkdirat"; case SYS_ftruncate: return "ftruncate";
    case SYS_fallocate: return "fallocate"; case SYS_fchmod: return "fchmod"; case SYS_fchown: return "fchown";
    case SYS_fsetxattr: return "fsetxattr"; case SYS_fremovexattr: return "fremovexattr"; case SYS_fork: return "fork";
    case SYS_vfork: return "vfork"; case 452: return "fchmodat2";
    default: return quiesce::syscall_name(nr);
  }
}

// `bytes` written at `addr` in F through /proc/F/mem (as a debugger writes: also a
// read-only page of F's own, copied on write).
bool poke(pid_t pid, uint64_t addr, const std::vector<uint8_t>& bytes) {
  const int mem = open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDWR | O_CLOEXEC);
  if (mem < 0) return false;
  const bool ok = pwrite(mem, bytes.data(), bytes.size(), static_cast<off_t>(addr)) == static_cast<ssize_t>(bytes.size());
  close(mem);
  return ok;
}

// The calls that change the file system through a path and have no rule of their own.
bool changes_path(long nr) {
  switch (nr) {
    case SYS_rename: case SYS_renameat: case SYS_renameat2: case SYS_link: case SYS_linkat: case SYS_symlink:
    case SYS_symlinkat: case SYS_rmdir: case SYS_mknod: case SYS_mknodat: case SYS_truncate: case SYS_chmod:
    case SYS_fchmodat: case SYS_chown: case SYS_lchown: case SYS_fchownat: case SYS_utime: case SYS_utimes:
    case SYS_futimesat: case SYS_setxattr: case SYS_lsetxattr: case SYS_removexattr: case SYS_lremovexattr:
    case 452:  // fchmodat2
      return true;
    default:
      return false;
  }
}

// The calls that change a file through a descriptor.
bool changes_file_by_fd(long nr) {
  switch (nr) {
    case SYS_ftruncate: case SYS_fallocate: case SYS_fchmod: case SYS_fchown: case SYS_fsetxattr:
    case SYS_fremovexattr:
      return true;
    default:
      return false;
  }
}

// The descriptor numbers a call names (for "v2's start-up made a call on it").
std::vector<int> fds_named(const user_regs_struct& r) {
  const int a = static_cast<int>(r.rdi);
  switch (static_cast<long>(r.orig_rax)) {
    case SYS_read: case SYS_write: case SYS_readv: case SYS_writev: case SYS_pread64: case SYS_pwrite64:
    case SYS_ioctl: case SYS_fcntl: case SYS_epoll_wait: case SYS_epoll_pwait: case SYS_epoll_pwait2:
    case SYS_dup: case SYS_dup2: case SYS_dup3: case SYS_fstat: case SYS_lseek: case SYS_recvfrom:
    case SYS_sendto: case SYS_recvmsg: case SYS_sendmsg: case SYS_getsockname: case SYS_getsockopt:
    case SYS_setsockopt: case SYS_accept: case SYS_accept4: case SYS_listen: case SYS_bind: case SYS_connect:
    case SYS_shutdown: case SYS_fsync: case SYS_flock: case SYS_getdents64: case SYS_timerfd_settime:
    case SYS_timerfd_gettime: case SYS_signalfd4: case SYS_inotify_add_watch:
      return {a};
    case SYS_epoll_ctl: case SYS_splice:
      return {a, static_cast<int>(r.rdx)};
    case SYS_sendfile:
      return {a, static_cast<int>(r.rsi)};
    default:
      return {};
  }
}

// The peer of the UNIX socket `inode` (sock_diag UNIX_DIAG_PEER, in the supervisor's
// network namespace); 0 when unknown or not connected.
ino_t unix_peer(ino_t inode) {
  const int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) return 0;
  struct {
    nlmsghdr h;
    unix_diag_req r;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST;
  req.r.sdiag_family = AF_UNIX;
  req.r.udiag_states = ~0u;
  req.r.udiag_ino = static_cast<uint32_t>(inode);
  req.r.udiag_show = UDIAG_SHOW_PEER;
  req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
  ino_t peer = 0;
  alignas(nlmsghdr) char buf[8192];
  ssize_t n = send(nl, &req, sizeof req, 0) == static_cast<ssize_t>(sizeof req) ? recv(nl, buf, sizeof buf, 0) : -1;
  for (auto* h = reinterpret_cast<nlmsghdr*>(buf); n > 0 && NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) break;
    auto* m = static_cast<unix_diag_msg*>(NLMSG_DATA(h));
    int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
    for (auto* a = reinterpret_cast<rtattr*>(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len))
      if (m->udiag_ino == inode && a->rta_type == UNIX_DIAG_PEER) peer = *static_cast<uint32_t*>(RTA_DATA(a));
  }
  close(nl);
  return peer;
}

// "socket:[1234]" → 1234; 0 otherwise.
ino_t socket_inode_of(const std::string& link) {
  unsigned long long ino = 0;
  return std::sscanf(link.c_str(), "socket:[%llu]", &ino) == 1 ? static_cast<ino_t>(ino) : 0;
}

}  // namespace

StartupFiles::StartupFiles(pid_t future, pid_t past, std::vector<StartupAction>& actions)
    : pid_(future), past_(past), actions_(actions) {
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, future, 0));
}

StartupFiles::~StartupFiles() {
  if (pidfd_ >= 0) close(pidfd_);
}

size_t StartupFiles::add_action(std::string call, std::string action, std::string detail) {
  actions_.push_back({std::move(call), std::move(action), std::move(detail)});
  return actions_.size() - 1;
}

bool StartupFiles::staged_inode(dev_t dev, ino_t ino) const {
  for (const auto& d : deferred_) {
    struct stat st{};
    if (d->file >= 0 && fstat(d->file, &st) == 0 && st.st_dev == dev && st.st_ino == ino) return true;
  }
  return false;
}

bool StartupFiles::staged_path(const std::string& seen) const {
  bool staged = false;  // the last deferred action on the path decides
  for (const auto& d : deferred_)
    if (d->seen == seen) staged = !d->unlink;
  return staged;
}

bool StartupFiles::deferred_unlink(const std::string& seen) const {
  bool gone = false;  // the last deferred action on the path decides
  for (const auto& d : deferred_)
    if (d->seen == seen) gone = d->unlink;
  return gone;
}

void StartupFiles::observe(inject::Task& t) {
  ThreadSlot<Pending> slot(pending_, parked_, t.tid());
  const user_regs_struct r = t.get_regs();
  if (pending_) return on_exit(t, r);
  if (!at_syscall_entry(t.tid())) return;
  for (int fd : fds_named(r))
    if (fd >= 0) touched_.insert(fd);
  on_entry(t, r);
}

void StartupFiles::on_entry(inject::Task& t, const user_regs_struct& r) {
  const long nr = static_cast<long>(r.orig_rax);
  const int fd = static_cast<int>(r.rdi);
  switch (nr) {
    case SYS_open: return on_open(t, r, AT_FDCWD, r.rdi, static_cast<int>(r.rsi), static_cast<int>(r.rdx));
    case SYS_creat: return on_open(t, r, AT_FDCWD, r.rdi, O_CREAT | O_WRONLY | O_TRUNC, static_cast<int>(r.rsi));
    case SYS_openat: return on_open(t, r, fd, r.rsi, static_cast<int>(r.rdx), static_cast<int>(r.r10));
    case SYS_unlink: return on_unlink(t, r, AT_FDCWD, r.rdi);
    case SYS_unlinkat:
      if (r.rdx & AT_REMOVEDIR) break;  // rmdir: refused below
      return on_unlink(t, r, fd, r.rsi);
    case SYS_fork: case SYS_vfork: return on_clone(0, name_of(nr) + "()");
    case SYS_clone: return on_clone(r.rdi, "clone(0x" + std::to_string(r.rdi) + ")");
    case SYS_clone3: {
      uint64_t flags = 0;
      inject::try_read_memory(pid_, r.rdi, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&flags), sizeof flags));
      return on_clone(flags, "clone3()");
    }
    case SYS_fcntl:
      if (static_cast<int>(r.rsi) == F_SETFL) on_fd_change(r, "fcntl(" + std::to_string(fd) + ", F_SETFL)", fd);
      return;
    case SYS_utimensat:
      if (r.rsi == 0) return on_fd_change(r, "futimens(" + std::to_string(fd) + ")", fd);
      break;
    case SYS_openat2: {
      uint64_t how[2] = {0, 0};  // struct open_how: flags, mode
      inject::try_read_memory(pid_, r.rdx, std::span<uint8_t>(reinterpret_cast<uint8_t*>(how), sizeof how));
      if ((how[0] & O_ACCMODE) != O_RDONLY || (how[0] & (O_CREAT | O_TRUNC)))
        refuse_file_call("openat2(" + read_string(pid_, r.rsi) + ", " + oct(static_cast<int>(how[0])) + ")",
                         "could write, create or truncate a file (openat2 is not staged)");
      return;
    }
    case SYS_mkdir: case SYS_mkdirat: {
      const bool at = nr == SYS_mkdirat;
      const std::string path = read_string(pid_, at ? r.rsi : r.rdi);
      struct stat st{};
      if (lstat(as_seen_by(pid_, at ? fd : AT_FDCWD, path).c_str(), &st) == 0) return;  // EEXIST: nothing made
      refuse_file_call(name_of(nr) + "(" + path + ")", "would create a directory");
    }
    case SYS_rename:
      if (on_rename(t, r, AT_FDCWD, r.rdi, AT_FDCWD, r.rsi)) return;
      break;
    case SYS_renameat: case SYS_renameat2:
      if ((nr == SYS_renameat || r.r8 == 0) && on_rename(t, r, fd, r.rsi, static_cast<int>(r.rdx), r.r10)) return;
      break;
    case SYS_bind: {
      sockaddr_un un{};
      const size_t got = inject::try_read_memory(
          pid_, r.rsi, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&un), std::min<uint64_t>(r.rdx, sizeof un)));
      if (got <= sizeof(sa_family_t) || un.sun_family != AF_UNIX || un.sun_path[0] == '\0') return;
      const std::string path(un.sun_path, strnlen(un.sun_path, sizeof un.sun_path));
      const std::string seen = as_seen_by(pid_, AT_FDCWD, path);
      struct stat st{};
      if (lstat(seen.c_str(), &st) == 0 && !deferred_unlink(seen)) return;  // EADDRINUSE: nothing made
      refuse_file_call("bind(" + std::to_string(fd) + ", unix:" + path + ")",
                       "would create a UNIX socket file that is not one of the old version's listeners");
    }
    default:
      break;
  }
  if (attributes_already_so(r)) return;  // a chmod/chown that changes nothing: made
  if (changes_path(nr) || nr == SYS_utimensat || nr == SYS_unlinkat) {
    // The path argument: after a directory descriptor for the *at calls (symlinkat's
    // first argument is the link's target, a string).
    const bool after_dirfd = nr == SYS_unlinkat || nr == SYS_fchmodat || nr == SYS_fchownat || nr == SYS_renameat ||
                             nr == SYS_renameat2 || nr == SYS_mknodat || nr == SYS_linkat || nr == SYS_utimensat ||
                             nr == SYS_futimesat || nr == 452;
    refuse_file_call(name_of(nr) + "(" + read_string(pid_, after_dirfd ? r.rsi : r.rdi) + ")",
                     "would change the file system");
  }
  if (changes_file_by_fd(nr)) on_fd_change(r, name_of(nr) + "(" + std::to_string(fd) + ")", fd);
}

// chmod/fchmodat/fchmod, chown/lchown/fchownat/fchown asking for the mode or owner
// the file has already (nginx's start-up re-applies its directories' owner): the
// call changes nothing.
bool StartupFiles::attributes_already_so(const user_regs_struct& r) const {
  const long nr = static_cast<long>(r.orig_rax);
  const bool at = nr == SYS_fchmodat || nr == SYS_fchownat;
  const bool by_fd = nr == SYS_fchmod || nr == SYS_fchown;
  const bool chmod_like = nr == SYS_chmod || nr == SYS_fchmodat || nr == SYS_fchmod;
  if (!chmod_like && nr != SYS_chown && nr != SYS_lchown && nr != SYS_fchownat && nr != SYS_fchown) return false;
  const uint64_t first = at ? r.rdx : r.rsi;  // the mode, or the owner (then the group)
  const uint64_t group = at ? r.r10 : r.rdx;
  struct stat st{};
  const std::string where = by_fd ? "/proc/" + std::to_string(pid_) + "/fd/" + std::to_string(static_cast<int>(r.rdi))
                                  : as_seen_by(pid_, at ? static_cast<int>(r.rdi) : AT_FDCWD,
                                               read_string(pid_, at ? r.rsi : r.rdi));
  const bool nofollow = nr == SYS_lchown || (nr == SYS_fchownat && (r.r8 & AT_SYMLINK_NOFOLLOW));
  if (where.empty() || (nofollow ? lstat(where.c_str(), &st) : stat(where.c_str(), &st)) != 0) return false;
  if (chmod_like) return (st.st_mode & 07777) == (first & 07777);
  const auto same = [](uint64_t want, unsigned have) { return static_cast<int32_t>(want) == -1 || want == have; };
  return same(first, st.st_uid) && same(group, st.st_gid);
}

// A call changing the file behind descriptor `fd`: made on v2's staged files and
// on what is not a regular file or directory; refused on any other file.
void StartupFiles::on_fd_change(const user_regs_struct& r, const std::string& call, int fd) {
  struct stat st{};
  const std::string link = "/proc/" + std::to_string(pid_) + "/fd/" + std::to_string(fd);
  if (stat(link.c_str(), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) return;
  if (staged_inode(st.st_dev, st.st_ino)) return;
  if (static_cast<long>(r.orig_rax) == SYS_fcntl) {  // F_SETFL: only dropping O_APPEND of a writable file
    std::ifstream in("/proc/" + std::to_string(pid_) + "/fdinfo/" + std::to_string(fd));
    std::string key, v;
    int flags = 0;
    while (in >> key)
      if (key == "flags:" && in >> v) flags = static_cast<int>(std::stol(v, nullptr, 8));
    if ((flags & O_ACCMODE) == O_RDONLY || (r.rdx & O_APPEND)) return;
  }
  refuse_file_call(call, "would change a file that exists (" + link + ")");
}

void StartupFiles::on_clone(uint64_t flags, const std::string& call) {
  if (flags & CLONE_THREAD) return;  // a thread: not traced either (startup_files.h, limits)
  rollback(Reason::kStartupSideEffect,
           "the new version's start-up made " + call +
               ": it creates a process (daemonising, daemon()?), which the supervisor does not follow, so its calls "
               "could not be held back",
           "run v2 in the foreground (a no-daemon option) or fork after its update point; the old version keeps serving");
}

// An open asking to write, create or truncate (startup_files.h: shared, staged or made).
void StartupFiles::on_open(inject::Task& t, const user_regs_struct& r, int dirfd, uint64_t path_addr, int flags,
                           int mode) {
  const bool writes = (flags & O_ACCMODE) != O_RDONLY;
  if ((flags & O_TMPFILE) == O_TMPFILE || (!writes && !(flags & (O_CREAT | O_TRUNC)))) return;
  const std::string path = read_string(pid_, path_addr);
  if (path.empty() || path.back() == '/') return;
  const std::string seen = as_seen_by(pid_, dirfd, path);
  struct stat st{}, lst{};
  const bool there = stat(seen.c_str(), &st) == 0;
  const bool exists = there && !deferred_unlink(seen);
  const std::string call = "open(" + path + ", " + oct(flags) + ")";
  if (exists) {
    if (!S_ISREG(st.st_mode) || ((flags & O_CREAT) && (flags & O_EXCL))) return;
    if ((flags & O_APPEND) && !(flags & O_TRUNC)) {
      add_action(call, "shared", "appends to a file that exists: v2's lines reach it (as its stderr's do)");
      return;
    }
    if (!writes && !(flags & O_TRUNC)) return;
  } else if (!(flags & O_CREAT)) {
    if (there) skip(t, r, -ENOENT);  // a path v2 removed (deferred): gone for v2, P's file not opened
    return;  // else fails (ENOENT) as without ttst
  }
  if (lstat(seen.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode))
    refuse_file_call(call, "opens a symbolic link to write (not staged)");
  auto d = std::make_unique<Deferred>();
  const auto [dir, name] = split(path);
  d->name = name;
  d->seen = seen;
  d->dir = open(as_seen_by(pid_, dirfd, dir).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (d->dir < 0) refuse_file_call(call, "could not be staged (its directory cannot be opened: " + std::string(strerror(errno)) + ")");
  if (exists) d->replaced = st;
  d->action = add_action(call, "staged",
                         std::string(exists ? "would write a file that exists" : "would create a file") +
                             ": v2 writes an unnamed file in the same directory, renamed over the path at the commit");
  pending_ = std::make_unique<Pending>();
  pending_->entry = r;
  pending_->staged = d.get();
  pending_->copy = exists && !(flags & O_TRUNC);
  // The directory's name, for the rewritten openat: below F's red zone, or else
  // over the path itself (its prefix: "dir\0", "/\0", ".\0").
  const std::vector<uint8_t> bytes(dir.c_str(), dir.c_str() + dir.size() + 1);
  if (!poke_saving(pid_, (r.rsp - kRedZone - 256 - bytes.size()) & ~uint64_t{15}, bytes, *pending_) &&
      !poke_saving(pid_, path_addr, bytes, *pending_))
    refuse_file_call(call, "could not be staged (F's memory cannot be written)");
  deferred_.push_back(std::move(d));
  user_regs_struct w = r;
  w.orig_rax = SYS_openat;
  w.rdi = static_cast<uint64_t>(static_cast<int64_t>(dirfd));
  w.rsi = pending_->scratch;
  w.rdx = static_cast<uint64_t>((flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_ACCMODE)) | O_TMPFILE | O_RDWR);
  w.r10 = static_cast<uint64_t>(mode);
  t.set_regs(w);
}

// unlink of a path that exists: deferred to the commit.
void StartupFiles::on_unlink(inject::Task& t, const user_regs_struct& r, int dirfd, uint64_t path_addr) {
  const std::string path = read_string(pid_, path_addr);
  const std::string seen = as_seen_by(pid_, dirfd, path);
  struct stat st{};
  if (path.empty()) return;
  if (deferred_unlink(seen)) return skip(t, r, -ENOENT);  // v2 removed it already (deferred): gone for v2
  const bool there = lstat(seen.c_str(), &st) == 0;
  if (!there && !staged_path(seen)) return;  // fails (ENOENT): nothing made
  if (there && S_ISDIR(st.st_mode)) return;  // EISDIR
  auto d = std::make_unique<Deferred>();
  d->unlink = true;
  const auto [dir, name] = split(path);
  d->name = name;
  d->seen = seen;
  d->dir = open(as_seen_by(pid_, dirfd, dir).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  const std::string call = name_of(static_cast<long>(r.orig_rax)) + "(" + path + ")";
  if (d->dir < 0) refuse_file_call(call, "would remove a file (its directory cannot be opened to defer it)");
  d->action = add_action(call, "deferred", "would remove a file that exists: not made, returns 0, made at the commit");
  deferred_.push_back(std::move(d));
  skip(t, r, 0);
}

// rename of a file v2 staged (written under a temporary name, then renamed over
// its real name, as careful programs write a pid file): the staged file's path
// becomes the new name, the call not made (returns 0). False for any other rename
// (refused by the caller).
bool StartupFiles::on_rename(inject::Task& t, const user_regs_struct& r, int from_dirfd, uint64_t from_addr,
                             int to_dirfd, uint64_t to_addr) {
  const std::string from = read_string(pid_, from_addr), to = read_string(pid_, to_addr);
  const std::string from_seen = as_seen_by(pid_, from_dirfd, from), to_seen = as_seen_by(pid_, to_dirfd, to);
  if (from.empty() || to.empty() || to.back() == '/' || !staged_path(from_seen)) return false;
  Deferred* d = nullptr;
  for (auto& x : deferred_)
    if (x->seen == from_seen && !x->unlink) d = x.get();
  struct stat st{}, lst{};
  if (lstat(to_seen.c_str(), &lst) == 0 && !deferred_unlink(to_seen) && (S_ISLNK(lst.st_mode) || S_ISDIR(lst.st_mode)))
    return false;  // over a symbolic link or a directory: refused
  const auto [dir, name] = split(to);
  const int dirfd = open(as_seen_by(pid_, to_dirfd, dir).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) return false;
  close(d->dir);
  d->dir = dirfd;
  d->name = name;
  d->seen = to_seen;
  d->replaced.reset();
  if (stat(to_seen.c_str(), &st) == 0 && !deferred_unlink(to_seen)) d->replaced = st;
  actions_[d->action].detail += "; renamed to " + to + " by v2 (" + name_of(static_cast<long>(r.orig_rax)) +
                                "): linked there at the commit";
  skip(t, r, 0);
  return true;
}

// The call not made (orig_rax = -1 at entry); `result` is what v2 sees at its exit.
void StartupFiles::skip(inject::Task& t, const user_regs_struct& r, int64_t result) {
  pending_ = std::make_unique<Pending>();
  pending_->entry = r;
  pending_->result = result;
  user_regs_struct w = r;
  w.orig_rax = ~0ull;
  t.set_regs(w);
}

// `bytes` written at `addr` in F, what they replace kept in `p` to be put back.
bool StartupFiles::poke_saving(pid_t pid, uint64_t addr, const std::vector<uint8_t>& bytes, Pending& p) {
  std::vector<uint8_t> saved(bytes.size());
  if (inject::try_read_memory(pid, addr, std::span<uint8_t>(saved.data(), saved.size())) != saved.size() ||
      !poke(pid, addr, bytes))
    return false;
  p.scratch = addr;
  p.saved = std::move(saved);
  return true;
}

void StartupFiles::on_exit(inject::Task& t, user_regs_struct r) {
  std::unique_ptr<Pending> p = std::move(pending_);
  const int64_t ret = static_cast<int64_t>(r.rax);
  if (!p->saved.empty()) poke(pid_, p->scratch, p->saved);
  const user_regs_struct& e = p->entry;
  r.rdi = e.rdi, r.rsi = e.rsi, r.rdx = e.rdx, r.r10 = e.r10, r.r8 = e.r8, r.r9 = e.r9, r.orig_rax = e.orig_rax;
  if (p->result) r.rax = static_cast<uint64_t>(*p->result);
  t.set_regs(r);
  if (!p->staged) return;
  StartupAction& a = actions_[p->staged->action];
  if (ret < 0)
    refuse_file_call(a.call, "could not be staged (an unnamed file in its directory: " +
                                 std::string(strerror(static_cast<int>(-ret))) + ")");
  p->staged->file = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd_, static_cast<int>(ret), 0));
  if (p->staged->file < 0) refuse_file_call(a.call, "could not be staged (pidfd_getfd: " + std::string(strerror(errno)) + ")");
  if (p->copy) {  // the existing content, written at explicit offsets: F's offset stays 0
    const int from = open(p->staged->seen.c_str(), O_RDONLY | O_CLOEXEC);
    loff_t in = 0, out = 0;
    ssize_t n = from < 0 ? -1 : 1;
    while (n > 0) n = copy_file_range(from, &in, p->staged->file, &out, 1 << 20, 0);
    if (from >= 0) close(from);
    if (n < 0) refuse_file_call(a.call, "could not be staged (copying the file: " + std::string(strerror(errno)) + ")");
    a.detail += " (it starts as a copy of the file)";
  }
}

void StartupFiles::apply_at_commit(inject::Task& future, const std::vector<int>& library_fds) {
  apply_files();
  close_unused_descriptors(future, library_fds);
}

// P doomed: each deferred unlink made, each staged file linked in, in v2's order.
void StartupFiles::apply_files() {
  for (const auto& d : deferred_) {
    StartupAction& a = actions_[d->action];
    int rc = 0;
    if (d->unlink) {
      rc = unlinkat(d->dir, d->name.c_str(), 0);
    } else if (d->file >= 0) {
      const std::string tmp = ".ttst-" + d->name + "." + std::to_string(pid_);
      const std::string self = "/proc/self/fd/" + std::to_string(d->file);
      if (d->replaced) {  // the file v2 replaces keeps its mode and owner (best effort for the owner)
        fchmod(d->file, d->replaced->st_mode & 07777);
        if (fchown(d->file, d->replaced->st_uid, d->replaced->st_gid) != 0) errno = 0;
      }
      rc = linkat(AT_FDCWD, self.c_str(), d->dir, tmp.c_str(), AT_SYMLINK_FOLLOW);
      if (rc == 0 && (rc = renameat(d->dir, tmp.c_str(), d->dir, d->name.c_str())) != 0) {
        const int saved = errno;
        unlinkat(d->dir, tmp.c_str(), 0);
        errno = saved;
      }
    } else {
      continue;
    }
    a.action = rc == 0 ? "made_at_commit" : "failed_at_commit";
    if (rc != 0) a.detail += " (" + std::string(strerror(errno)) + ")";
  }
}

// One descriptor of F: shared with P's of the same number, or F's own.
struct StartupFiles::Inherited {
  int fd;
  std::string what;  // its /proc link: "anon_inode:[eventpoll]", "pipe:[12]", "socket:[34]", a path
  struct stat st;
  bool shared;       // the same open file description as P's descriptor `fd` (kcmp)
  std::string kind;  // "anon_inode:[eventpoll]"..., "pipe", "socket pair"; "" for anything else
};

namespace {

// The closable kind of each descriptor: anon-inode files by their name, pipes and
// FIFOs, and UNIX sockets whose peer is held by the same side (P's or F's own).
void classify(std::vector<StartupFiles::Inherited>& all) {
  std::set<ino_t> sockets[2];  // F's own, shared with P
  for (const auto& d : all)
    if (ino_t ino = socket_inode_of(d.what)) sockets[d.shared].insert(ino);
  for (auto& d : all) {
    const ino_t ino = socket_inode_of(d.what);
    const ino_t peer = ino ? unix_peer(ino) : 0;
    if (d.what.rfind("anon_inode:", 0) == 0) d.kind = d.what;
    else if (S_ISFIFO(d.st.st_mode)) d.kind = "pipe";
    else if (peer && sockets[d.shared].count(peer)) d.kind = "socket pair";
  }
}

}  // namespace

// Why `d` (shared with P) stays open in F ("" when it is closed, `closed` then
// saying why). `own_kinds`: the kinds F's own descriptors have.
std::string StartupFiles::keep_reason(const Inherited& d, const std::set<std::string>& own_kinds,
                                      const std::vector<int>& library_fds, std::string& closed) const {
  bool replaced = false;  // P's descriptor of a file v2's start-up replaced at the commit
  for (const auto& f : deferred_)
    replaced = replaced || (f->replaced && d.st.st_dev == f->replaced->st_dev && d.st.st_ino == f->replaced->st_ino);
  if (d.fd <= 2) return "a standard stream";
  if (touched_.count(d.fd)) return "v2's start-up used it";
  if (std::find(library_fds.begin(), library_fds.end(), d.fd) != library_fds.end())
    closed = "the old version's library instance held it (named by the transfer's library adapter)";
  // Anything else may be named by number in the transferred state (an int member
  // holding P's epoll descriptor: v2's own, built at start-up, was superseded),
  // which the supervisor cannot see: kept, saying what it is.
  else if (!d.kind.empty() && own_kinds.count(d.kind))
    return "the old version's own " + d.kind + ", unused by v2's start-up, which built its own: the transferred "
           "state may still name it (only a library adapter can tell it is unused)";
  else if (!d.kind.empty())
    return "a " + d.kind + " of the old version, and v2's start-up built none of its own: the transferred state may "
           "use it";
  else if (replaced)
    return "the old version's descriptor of a file v2's start-up replaced: the transferred state may still name it";
  return closed.empty() ? "a socket, file or device: the transferred state may name it" : "";
}

// P doomed but present: F's descriptors still sharing P's description at the same
// number, closed in F when nobody in F uses them (startup_files.h).
void StartupFiles::close_unused_descriptors(inject::Task& future, const std::vector<int>& library_fds) {
  std::vector<Inherited> all;
  for (int fd : sys::open_fds(pid_).value_or(std::vector<int>{})) {
    char buf[256];
    const std::string link = "/proc/" + std::to_string(pid_) + "/fd/" + std::to_string(fd);
    const ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
    Inherited d{fd, n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?", {}, false, ""};
    if (stat(link.c_str(), &d.st) != 0) d.st = {};
    d.shared = syscall(SYS_kcmp, pid_, past_, KCMP_FILE, fd, fd) == 0;  // else F's own (or P has no such fd)
    all.push_back(std::move(d));
  }
  classify(all);
  std::set<std::string> own_kinds;
  for (const auto& d : all)
    if (!d.shared && !d.kind.empty()) own_kinds.insert(d.kind);
  std::vector<int> to_close;
  for (const Inherited& d : all) {
    if (!d.shared) continue;
    std::string closed;
    const std::string kept = keep_reason(d, own_kinds, library_fds, closed);
    add_action("fd " + std::to_string(d.fd) + " (" + d.what + ") of the old version",
               kept.empty() ? "closed_at_commit" : "kept", kept.empty() ? closed : kept);
    if (kept.empty()) to_close.push_back(d.fd);
  }
  if (to_close.empty()) return;
  auto failed = [&](int fd, const std::string& why) {
    for (auto& a : actions_)
      if (a.call.rfind("fd " + std::to_string(fd) + " (", 0) == 0 && a.action == "closed_at_commit")
        a.action = "failed_at_commit", a.detail += " (" + why + ")";
  };
  // Past the commit point nothing may throw out of here: a failure is reported, F serves.
  try {
    inject::RemoteSyscalls rs(future);
    for (int fd : to_close) {
      const int64_t rc = rs.call(SYS_close, {static_cast<uint64_t>(fd)}).ret;
      if (rc != 0) failed(fd, strerror(static_cast<int>(-rc)));
    }
    rs.restore();
  } catch (const std::exception& e) {
    for (int fd : to_close) failed(fd, e.what());
  }
}

}  // namespace ttst::supervisor
