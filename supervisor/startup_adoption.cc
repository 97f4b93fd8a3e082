// startup_adoption.cc — see startup_adoption.h.
#include "supervisor/startup_adoption.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "inject/memory.h"
#include "inject/sys/proc_entries.h"
#include "supervisor/quiesce/quiesce.h"
#include "supervisor/thread_slot.h"
#include "supervisor/transaction_end.h"

namespace ttst::supervisor {

// A listening socket F inherited from P, and what v2 asked of it.
struct StartupAdoption::Listener {
  int inherited_fd = -1;  // its number in F (and P)
  ino_t inode = 0;
  int domain = 0, type = 0, protocol = 0;
  std::string address;    // getsockname's bytes, normalised (same_address)
  std::string shown;      // "0.0.0.0:8080"
  int dup = -1;           // the supervisor's duplicate (pidfd_getfd), closed at the end
  int flags = 0;          // its file status flags (P's, never changed before the commit)
  std::optional<int> wanted_flags;  // held back: F_SETFL at the commit
  struct Held {
    int level, name;
    std::vector<uint8_t> value;
    size_t action;
  };
  std::vector<Held> options;          // held back: setsockopt at the commit
  size_t flags_action = 0;
  std::optional<std::pair<int, size_t>> backlog;  // held back: listen(backlog) at the commit
  std::optional<unsigned> max_backlog;  // its backlog (sock_diag), when known
  dev_t path_dev = 0;  // a UNIX socket bound to a path name: that file, as F sees it
  ino_t path_ino = 0;
};

// At the exit stop of the call entered: the result v2 sees, F's registers put back.
struct StartupAdoption::Pending {
  user_regs_struct entry;          // the registers at the entry stop, as v2 made the call
  std::optional<int64_t> result;   // the return value v2 sees
  int64_t expect = 0;              // for a rewritten call: its result on success
  std::optional<int> getfl_flags;  // F_GETFL: the status flags v2 asked for
  size_t action = SIZE_MAX;        // the report entry of an adoption
};

namespace {

constexpr int kStatusFlags = O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME | O_NONBLOCK;  // what F_SETFL changes

// "socket:[1234]" of /proc/F/fd/N → 1234; 0 when not a socket (or gone).
ino_t socket_inode(pid_t pid, int fd) {
  char link[64];
  const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  const ssize_t n = readlink(path.c_str(), link, sizeof link - 1);
  if (n <= 0) return 0;
  link[n] = '\0';
  unsigned long long ino = 0;
  return std::sscanf(link, "socket:[%llu]", &ino) == 1 ? static_cast<ino_t>(ino) : 0;
}

// The "flags:" line of /proc/F/fdinfo/N (octal): status flags, access mode, O_CLOEXEC.
std::optional<int> fdinfo_flags(pid_t pid, int fd) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd));
  std::string key;
  while (in >> key)
    if (key == "flags:") {
      std::string v;
      in >> v;
      return static_cast<int>(std::stol(v, nullptr, 8));
    }
  return std::nullopt;
}

int sockopt_int(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  return getsockopt(fd, level, name, &v, &len) == 0 ? v : -1;
}

// The address as bytes comparable between getsockname and a bind argument.
std::string normalised(const uint8_t* a, size_t len) {
  if (len < sizeof(sa_family_t)) return "";
  sa_family_t family;
  std::memcpy(&family, a, sizeof family);
  std::string key(reinterpret_cast<const char*>(&family), sizeof family);
  if (family == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in in;
    std::memcpy(&in, a, sizeof in);
    key.append(reinterpret_cast<const char*>(&in.sin_port), 2).append(reinterpret_cast<const char*>(&in.sin_addr), 4);
  } else if (family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6;
    std::memcpy(&in6, a, sizeof in6);
    key.append(reinterpret_cast<const char*>(&in6.sin6_port), 2)
        .append(reinterpret_cast<const char*>(&in6.sin6_addr), 16)
        .append(reinterpret_cast<const char*>(&in6.sin6_scope_id), 4);
  } else if (family == AF_UNIX && len > sizeof(sa_family_t)) {
    const char* path = reinterpret_cast<const char*>(a) + sizeof(sa_family_t);
    size_t n = len - sizeof(sa_family_t);
    if (path[0] != '\0') n = strnlen(path, n);  // a path name ends at its NUL; an abstract one is all its bytes
    key.append(path, n);
  } else {
    return "";
  }
  return key;
}

std::string shown(const std::string& key) {
  if (key.size() < 2) return "?";
  sa_family_t family;
  std::memcpy(&family, key.data(), sizeof family);
  char buf[INET6_ADDRSTRLEN] = "";
  uint16_t port = 0;
  if (family == AF_UNIX) return "unix:" + (key[2] == '\0' ? "@" + key.substr(3) : key.substr(2));
  if (key.size() >= 4) std::memcpy(&port, key.data() + 2, 2);
  inet_ntop(family, key.data() + 4, buf, sizeof buf);
  return (family == AF_INET6 ? "[" + std::string(buf) + "]" : std::string(buf)) + ":" + std::to_string(ntohs(port));
}

std::vector<uint8_t> read_bytes(pid_t pid, uint64_t addr, uint64_t len) {
  std::vector<uint8_t> v(std::min<uint64_t>(len, 4096));
  v.resize(inject::try_read_memory(pid, addr, std::span<uint8_t>(v.data(), v.size())));
  return v;
}

std::string oct(int v) {
  char b[16];
  std::snprintf(b, sizeof b, "%o", static_cast<unsigned>(v));
  return b;
}

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
  return b;
}

// `path` of a call of F made relative to `dirfd` (AT_FDCWD: F's cwd), as the
// supervisor reaches the same file ("" when `path` is empty).
std::string as_seen_by(pid_t pid, int dirfd, const std::string& path) {
  const std::string proc = "/proc/" + std::to_string(pid);
  if (path.empty()) return "";
  if (path[0] == '/') return proc + "/root" + path;
  return proc + (dirfd == AT_FDCWD ? "/cwd/" : "/fd/" + std::to_string(dirfd) + "/") + path;
}

std::string read_string(pid_t pid, uint64_t addr) {
  const std::vector<uint8_t> b = read_bytes(pid, addr, PATH_MAX);
  const std::string s(b.begin(), b.end());
  return s.substr(0, s.find('\0'));
}

std::optional<unsigned> somaxconn() {
  std::ifstream in("/proc/sys/net/core/somaxconn");
  unsigned v = 0;
  if (in >> v) return v;
  return std::nullopt;
}

// One sock_diag request; calls `each` with every answer until the end of the dump.
template <class Request, class Each>
void sock_diag(const Request& body, uint16_t flags, Each each) {
  const int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) return;
  struct {
    nlmsghdr h;
    Request r;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST | flags;
  req.r = body;
  if (send(nl, &req, sizeof req, 0) == static_cast<ssize_t>(sizeof req)) {
    alignas(nlmsghdr) char buf[32768];
    for (bool more = true; more;) {
      ssize_t n = recv(nl, buf, sizeof buf, 0);
      if (n <= 0) break;
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
          more = false;
          break;
        }
        each(h);
      }
      if (!(flags & NLM_F_DUMP)) break;
    }
  }
  close(nl);
}

// The backlog of the listening socket `inode` (what `ss -l` shows as Send-Q):
// sock_diag, in the supervisor's network namespace; nullopt when not found there.
std::optional<unsigned> listen_backlog(int domain, ino_t inode) {
  std::optional<unsigned> found;
  if (domain == AF_UNIX) {
    unix_diag_req r{};
    r.sdiag_family = AF_UNIX;
    r.udiag_states = 1u << TCP_LISTEN;
    r.udiag_ino = static_cast<uint32_t>(inode);
    r.udiag_show = UDIAG_SHOW_RQLEN;
    r.udiag_cookie[0] = r.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
    sock_diag(r, 0, [&](nlmsghdr* h) {
      auto* m = static_cast<unix_diag_msg*>(NLMSG_DATA(h));
      int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
      for (auto* a = reinterpret_cast<rtattr*>(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len))
        if (m->udiag_ino == inode && a->rta_type == UNIX_DIAG_RQLEN)
          found = static_cast<unix_diag_rqlen*>(RTA_DATA(a))->udiag_wqueue;
    });
    return found;
  }
  inet_diag_req_v2 r{};
  r.sdiag_family = static_cast<uint8_t>(domain);
  r.sdiag_protocol = IPPROTO_TCP;
  r.idiag_states = 1u << TCP_LISTEN;
  sock_diag(r, NLM_F_DUMP, [&](nlmsghdr* h) {
    auto* m = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
    if (m->idiag_inode == inode) found = m->idiag_wqueue;
  });
  return found;
}

bool at_syscall_entry(pid_t pid) {
  __ptrace_syscall_info info{};
  if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info) <= 0) return false;
  return info.op == PTRACE_SYSCALL_INFO_ENTRY;
}

[[noreturn]] void refuse_call(const std::string& call, const std::string& shown_address) {
  rollback(Reason::kStartupSideEffect,
           "the new version's start-up made " + call + " on the old version's listening socket " + shown_address +
               ", which it inherits and shares with the running old version: made before the commit, it would "
               "change the old version's socket",
           "v2's start-up must not use the listening socket it re-creates before its update point (accept, read, "
           "write, shutdown); the old version keeps serving");
}

}  // namespace

StartupAdoption::StartupAdoption(pid_t future, std::vector<StartupAction>& actions) : pid_(future), actions_(actions) {
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, future, 0));
  if (pidfd_ < 0) return;  // nothing adopted: v2's start-up runs as without ttst
  for (int fd : sys::open_fds(future).value_or(std::vector<int>{})) {
    const ino_t ino = socket_inode(future, fd);
    if (!ino) continue;
    const int dup = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd_, fd, 0));  // O_CLOEXEC set by the kernel
    if (dup < 0) continue;
    auto l = std::make_unique<Listener>();
    l->inherited_fd = fd, l->inode = ino, l->dup = dup;
    l->domain = sockopt_int(dup, SOL_SOCKET, SO_DOMAIN);
    l->type = sockopt_int(dup, SOL_SOCKET, SO_TYPE);
    l->protocol = sockopt_int(dup, SOL_SOCKET, SO_PROTOCOL);
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    const bool listening = sockopt_int(dup, SOL_SOCKET, SO_ACCEPTCONN) == 1 && l->type == SOCK_STREAM &&
                           (l->domain == AF_INET || l->domain == AF_INET6 || l->domain == AF_UNIX) &&
                           getsockname(dup, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    l->address = listening ? normalised(reinterpret_cast<uint8_t*>(&a), len) : "";
    const int flags = fcntl(dup, F_GETFL);
    if (l->address.empty() || flags < 0) {
      close(dup);
      continue;
    }
    l->flags = flags & kStatusFlags;
    l->shown = shown(l->address);
    l->max_backlog = listen_backlog(l->domain, ino);
    struct stat st{};
    if (l->domain == AF_UNIX && l->address[2] != '\0' &&
        lstat(as_seen_by(future, AT_FDCWD, l->address.substr(2)).c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
      l->path_dev = st.st_dev, l->path_ino = st.st_ino;
    bool seen = false;  // P may hold one socket at several numbers
    for (auto& other : listeners_) seen = seen || other->inode == l->inode;
    if (seen) {
      close(dup);
      continue;
    }
    listeners_.push_back(std::move(l));
  }
}

StartupAdoption::~StartupAdoption() {
  for (auto& l : listeners_) close(l->dup);
  if (pidfd_ >= 0) close(pidfd_);
}

size_t StartupAdoption::inherited_listeners() const { return listeners_.size(); }

size_t StartupAdoption::add_action(std::string call, std::string action, std::string detail) {
  actions_.push_back({std::move(call), std::move(action), std::move(detail)});
  return actions_.size() - 1;
}

StartupAdoption::Listener* StartupAdoption::listener_of_fd(int fd) {
  if (fd < 0 || listeners_.empty()) return nullptr;
  const ino_t ino = socket_inode(pid_, fd);
  for (auto& l : listeners_)
    if (ino && l->inode == ino) return l.get();
  return nullptr;
}

void StartupAdoption::observe(inject::Task& t) {
  if (listeners_.empty()) return;
  ThreadSlot<Pending> slot(pending_, parked_, t.tid());
  const user_regs_struct r = t.get_regs();
  if (pending_) return on_exit(t, r);  // the stop after an entry we acted on is its exit
  if (at_syscall_entry(t.tid())) on_entry(t, r);
}

// The call's own result replaced: skipped at entry (orig_rax = -1), `result` at exit.
void StartupAdoption::skip(inject::Task& t, const user_regs_struct& r, int64_t result) {
  pending_ = std::make_unique<Pending>();
  pending_->entry = r;
  pending_->result = result;
  user_regs_struct w = r;
  w.orig_rax = ~0ull;
  t.set_regs(w);
}

void StartupAdoption::on_exit(inject::Task& t, user_regs_struct r) {
  std::unique_ptr<Pending> p = std::move(pending_);
  const int64_t ret = static_cast<int64_t>(r.rax);
  if (p->action != SIZE_MAX) {  // the adoption's dup3
    if (ret == p->expect) {
      p->result = 0;
    } else {
      actions_[p->action].action = "not_adopted";
      actions_[p->action].detail = "dup3 of the old version's listener failed (" +
                                   std::string(strerror(static_cast<int>(-ret))) + "): v2's bind returns that error";
      p->result = ret;
    }
  }
  const user_regs_struct& e = p->entry;  // the kernel keeps the argument registers: put v2's back
  r.rdi = e.rdi, r.rsi = e.rsi, r.rdx = e.rdx, r.r10 = e.r10, r.r8 = e.r8, r.r9 = e.r9, r.orig_rax = e.orig_rax;
  if (p->result) r.rax = static_cast<uint64_t>(*p->result);
  if (p->getfl_flags && ret >= 0) r.rax = static_cast<uint64_t>((ret & ~kStatusFlags) | *p->getfl_flags);
  t.set_regs(r);
}

namespace {

// The calls that take a descriptor of P's listener and are looked at; any other call
// is made as v2 makes it.
enum class Kind { kOther, kHandled, kRefused };

Kind kind_of(long nr) {
  switch (nr) {
    case SYS_listen: case SYS_setsockopt: case SYS_fcntl: case SYS_ioctl:
      return Kind::kHandled;
    case SYS_read: case SYS_write: case SYS_pread64: case SYS_pwrite64: case SYS_readv: case SYS_writev:
    case SYS_preadv: case SYS_pwritev: case SYS_preadv2: case SYS_pwritev2: case SYS_accept: case SYS_accept4:
    case SYS_connect: case SYS_shutdown: case SYS_sendto: case SYS_recvfrom: case SYS_sendmsg: case SYS_recvmsg:
    case SYS_sendmmsg: case SYS_recvmmsg: case SYS_sendfile: case SYS_splice: case SYS_tee: case SYS_flock:
    case SYS_fsync: case SYS_fdatasync: case SYS_ftruncate: case SYS_fchmod: case SYS_fchown: case SYS_fsetxattr:
    case SYS_fremovexattr: case SYS_fallocate: case SYS_lseek: case SYS_sync_file_range:
      return Kind::kRefused;
    default:
      return Kind::kOther;
  }
}

}  // namespace

void StartupAdoption::on_entry(inject::Task& t, const user_regs_struct& r) {
  const long nr = static_cast<long>(r.orig_rax);
  if (nr == SYS_bind && on_bind(t, r)) return;
  if (nr == SYS_unlink || nr == SYS_unlinkat) return on_unlink(t, r);
  const Kind kind = kind_of(nr);
  if (kind == Kind::kOther) return;
  Listener* l = listener_of_fd(static_cast<int>(r.rdi));
  if (nr == SYS_sendfile || nr == SYS_splice) {  // the other descriptor (in; out)
    if (Listener* other = listener_of_fd(static_cast<int>(nr == SYS_sendfile ? r.rsi : r.rdx))) l = other;
  }
  if (nr == SYS_setsockopt && !l) return record_fresh_setsockopt(r);
  if (!l) return;
  if (kind == Kind::kRefused) refuse_call(std::string(quiesce::syscall_name(nr)) + "()", l->shown);
  on_listener_call(t, r, *l);
}

// bind(fd, addr) of a socket of F's own to the address of an inherited listener of
// the same kind: rewritten into dup3(inherited, fd, O_CLOEXEC as fd had it).
bool StartupAdoption::on_bind(inject::Task& t, const user_regs_struct& r) {
  const int fd = static_cast<int>(r.rdi);
  const ino_t fresh = socket_inode(pid_, fd);
  if (!fresh || listener_of_fd(fd)) return false;
  const std::vector<uint8_t> addr = read_bytes(pid_, r.rsi, r.rdx);
  const std::string key = normalised(addr.data(), addr.size());
  Listener* l = nullptr;
  for (auto& c : listeners_)
    if (!key.empty() && c->address == key) l = c.get();
  if (!l) return false;
  const int mine = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd_, fd, 0));
  if (mine < 0) return false;
  const bool same_kind = sockopt_int(mine, SOL_SOCKET, SO_DOMAIN) == l->domain &&
                         sockopt_int(mine, SOL_SOCKET, SO_TYPE) == l->type &&
                         sockopt_int(mine, SOL_SOCKET, SO_PROTOCOL) == l->protocol;
  close(mine);
  const std::optional<int> fresh_flags = fdinfo_flags(pid_, fd);
  int source = -1;  // a descriptor of F on the listener: v2 may have closed the inherited number
  for (int n : sys::open_fds(pid_).value_or(std::vector<int>{}))
    if (n != fd && socket_inode(pid_, n) == l->inode) source = n;
  const std::string call = "bind(" + std::to_string(fd) + ", " + l->shown + ")";
  if (!same_kind || !fresh_flags || source < 0) {
    add_action(call, "not_adopted",
               !same_kind ? "a socket of another kind than the old version's listener: bound as v2 asks"
                          : "the new version closed every descriptor of the old version's listener: bound as v2 asks");
    return false;
  }
  pending_ = std::make_unique<Pending>();
  pending_->entry = r;
  pending_->expect = fd;
  pending_->action = add_action(call, "adopted",
                                "fd " + std::to_string(fd) + " is now the old version's listening socket (fd " +
                                    std::to_string(source) + " in F)");
  user_regs_struct w = r;
  w.orig_rax = SYS_dup3;
  w.rdi = static_cast<uint64_t>(source);
  w.rsi = static_cast<uint64_t>(fd);
  w.rdx = (*fresh_flags & O_CLOEXEC) ? O_CLOEXEC : 0;
  t.set_regs(w);
  carry_over_fresh_settings(*l, fd, fresh);
  if ((*fresh_flags & kStatusFlags) != (l->wanted_flags ? *l->wanted_flags : l->flags))
    on_status_flags_wanted(*l, *fresh_flags & kStatusFlags, "the flags of fd " + std::to_string(fd) + " before bind");
  return true;
}

// unlink of the path a UNIX listener of P is bound to, which v2 does before binding
// it again: not made (the path stays P's; v2's bind then adopts the socket).
void StartupAdoption::on_unlink(inject::Task& t, const user_regs_struct& r) {
  const bool at = r.orig_rax == SYS_unlinkat;
  if (at && (r.rdx & AT_REMOVEDIR)) return;
  const std::string path = read_string(pid_, at ? r.rsi : r.rdi);
  struct stat st{};
  if (lstat(as_seen_by(pid_, at ? static_cast<int>(r.rdi) : AT_FDCWD, path).c_str(), &st) != 0 || !S_ISSOCK(st.st_mode))
    return;
  for (auto& l : listeners_)
    if (l->path_ino && l->path_ino == st.st_ino && l->path_dev == st.st_dev) {
      add_action((at ? "unlinkat(" : "unlink(") + path + ")", "not_made",
                 "the path of the old version's listening socket " + l->shown + ": it stays, and a bind of it adopts "
                 "the socket");
      return skip(t, r, 0);
    }
}

// What v2 set on its fresh socket before bind, judged against the listener.
void StartupAdoption::carry_over_fresh_settings(Listener& l, int fd, ino_t fresh) {
  auto it = fresh_options_.find(fresh);
  if (it == fresh_options_.end()) return;
  for (const Option& o : it->second)
    judge_option(l, o.level, o.name, o.value,
                 "setsockopt(" + std::to_string(fd) + ", " + std::to_string(o.level) + ", " + std::to_string(o.name) +
                     ") before bind");
  fresh_options_.erase(it);
}

void StartupAdoption::record_fresh_setsockopt(const user_regs_struct& r) {
  const ino_t ino = socket_inode(pid_, static_cast<int>(r.rdi));
  if (!ino) return;
  fresh_options_[ino].push_back(
      {static_cast<int>(r.rsi), static_cast<int>(r.rdx), read_bytes(pid_, r.r10, static_cast<uint32_t>(r.r8))});
}

// One option v2 wants on the listener: already so, or held back to the commit.
// Throws (rollback) when its current value cannot be read back.
void StartupAdoption::judge_option(Listener& l, int level, int name, const std::vector<uint8_t>& value,
                                   const std::string& call) {
  std::vector<uint8_t> now(std::max<size_t>(value.size(), 1));
  socklen_t len = static_cast<socklen_t>(now.size());
  if (getsockopt(l.dup, level, name, now.data(), &len) != 0)
    rollback(Reason::kStartupSideEffect,
             "the new version's start-up made " + call + " on the old version's listening socket " + l.shown +
                 ", an option the supervisor cannot read back (" + strerror(errno) +
                 "): it can neither tell that it changes nothing nor hold it back safely",
             "set this option after the update point in v2, or not at all; the old version keeps serving");
  now.resize(len);
  if (now == value) {
    add_action(call, "already_so", "the old version's socket " + l.shown + " has this value: not made");
    return;
  }
  l.options.push_back({level, name, value, add_action(call, "held_back",
                                                      "would change the old version's socket " + l.shown +
                                                          ": made at the commit")});
}

void StartupAdoption::on_status_flags_wanted(Listener& l, int wanted, const std::string& call) {
  if (wanted == l.flags) {
    if (l.wanted_flags) actions_[l.flags_action] = {call, "already_so", "back to the old version's flags"};
    else add_action(call, "already_so", "the old version's socket " + l.shown + " has these flags: not made");
    l.wanted_flags.reset();
    return;
  }
  if (l.wanted_flags) actions_[l.flags_action].action = "superseded";
  l.wanted_flags = wanted;
  l.flags_action = add_action(call, "held_back",
                              "the file status flags of the old version's socket " + l.shown + " would change from 0" +
                                  oct(l.flags) + " to 0" + oct(wanted) + ": made at the commit");
}

// listen on the listener: already so when the backlog it would set (clamped to
// somaxconn, as the kernel does) is the one the socket has; else held back.
void StartupAdoption::on_listen(inject::Task& t, const user_regs_struct& r, Listener& l) {
  const int backlog = static_cast<int>(r.rsi);
  const std::string call = "listen(" + std::to_string(static_cast<int>(r.rdi)) + ", " + std::to_string(backlog) + ")";
  if (l.backlog) actions_[l.backlog->second].action = "superseded";
  l.backlog.reset();
  const std::optional<unsigned> somax = somaxconn();
  const unsigned wanted = static_cast<unsigned>(backlog);
  if (l.max_backlog && somax && std::min(wanted, *somax) == *l.max_backlog) {
    add_action(call, "already_so", "the old version's socket " + l.shown + " listens with this backlog: not made");
  } else {
    const std::string now = l.max_backlog ? " with backlog " + std::to_string(*l.max_backlog) : "";
    l.backlog = {backlog, add_action(call, "held_back",
                                     "the old version's socket " + l.shown + " listens already" + now +
                                         ": this listen is made at the commit")};
  }
  skip(t, r, 0);
}

// A call of the handled kinds (kind_of) on a descriptor of an inherited listener.
void StartupAdoption::on_listener_call(inject::Task& t, const user_regs_struct& r, Listener& l) {
  const long nr = static_cast<long>(r.orig_rax);
  const std::string fd = std::to_string(static_cast<int>(r.rdi));
  const int current = l.wanted_flags ? *l.wanted_flags : l.flags;
  if (nr == SYS_listen) return on_listen(t, r, l);
  if (nr == SYS_setsockopt) {
    judge_option(l, static_cast<int>(r.rsi), static_cast<int>(r.rdx), read_bytes(pid_, r.r10, static_cast<uint32_t>(r.r8)),
                 "setsockopt(" + fd + ", " + std::to_string(r.rsi) + ", " + std::to_string(r.rdx) + ")");
    return skip(t, r, 0);
  }
  if (nr == SYS_fcntl) {
    switch (static_cast<int>(r.rsi)) {
      case F_GETFL:
        if (!l.wanted_flags) return;
        pending_ = std::make_unique<Pending>();
        pending_->entry = r;
        pending_->getfl_flags = *l.wanted_flags;
        return;
      case F_SETFL:
        on_status_flags_wanted(l, static_cast<int>(r.rdx) & kStatusFlags, "fcntl(" + fd + ", F_SETFL, 0" + oct(static_cast<int>(r.rdx)) + ")");
        return skip(t, r, 0);
      case F_GETFD: case F_SETFD: case F_DUPFD: case F_DUPFD_CLOEXEC: case F_GETOWN: case F_GETSIG:
      case F_GETOWN_EX: case F_GETLK: case F_OFD_GETLK:
        return;  // the descriptor's own flag, or reading
      default:
        refuse_call("fcntl(" + fd + ", " + std::to_string(r.rsi) + ")", l.shown);
    }
  }
  // ioctl
  if (r.rsi == FIONBIO) {
    const std::vector<uint8_t> v = read_bytes(pid_, r.rdx, sizeof(int));
    int on = 0;
    if (v.size() == sizeof on) std::memcpy(&on, v.data(), sizeof on);
    on_status_flags_wanted(l, on ? (current | O_NONBLOCK) : (current & ~O_NONBLOCK), "ioctl(" + fd + ", FIONBIO, " + std::to_string(on) + ")");
    return skip(t, r, 0);
  }
  if (r.rsi == FIOCLEX || r.rsi == FIONCLEX) return;  // the descriptor's own flag
  refuse_call("ioctl(" + fd + ", 0x" + hex(r.rsi) + ")", l.shown);
}

// P doomed: v2's held-back calls made on the sockets it now owns alone.
void StartupAdoption::apply_at_commit() {
  auto done = [&](size_t action, int rc) {
    actions_[action].action = rc == 0 ? "made_at_commit" : "failed_at_commit";
    if (rc != 0) actions_[action].detail += " (" + std::string(strerror(errno)) + ")";
  };
  for (auto& l : listeners_) {
    if (l->wanted_flags) {
      const int now = fcntl(l->dup, F_GETFL);
      done(l->flags_action, now < 0 ? -1 : fcntl(l->dup, F_SETFL, (now & ~kStatusFlags) | *l->wanted_flags));
    }
    for (const auto& o : l->options)
      done(o.action, setsockopt(l->dup, o.level, o.name, o.value.data(), static_cast<socklen_t>(o.value.size())));
    if (l->backlog) done(l->backlog->second, listen(l->dup, l->backlog->first));
  }
}

}  // namespace ttst::supervisor
