// shared_descriptions.cc — see shared_descriptions.h.
#include "supervisor/shared_descriptions.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "inject/sys/proc_entries.h"

namespace ttst::supervisor {
namespace {

constexpr unsigned kStatusFlags = O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME | O_NONBLOCK;  // what F_SETFL changes

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string link_of(pid_t pid, int fd) {
  char buf[4096];
  const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  const ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, size_t(n)) : "";
}

// The fdinfo of P's descriptor `fd` now (its flags, offset, registrations).
std::optional<SharedFd> current(pid_t pid, int fd) {
  const std::string text = read_text("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd));
  if (text.empty()) return std::nullopt;
  SharedFd s;
  s.fd = fd;
  s.target = link_of(pid, fd);
  parse_fdinfo(text, s);
  return s;
}

std::string describe(const EpollItem& i) {
  char b[96];
  std::snprintf(b, sizeof b, "fd %d events 0x%x data 0x%llx", i.tfd, i.events, static_cast<unsigned long long>(i.data));
  return b;
}

struct EpollOp {
  int op, tfd;
  epoll_event ev;
  std::string what;
};

// epoll_ctl on P's instance `epfd` with the registered file at P's descriptor
// number, in a helper process (its own descriptor table): the registration is
// keyed by (file, P's number), as P's own. Returns each op's errno (0: done).
std::vector<int> run_in_helper(int pidfd, int epfd, std::vector<EpollOp>& ops) {
  std::vector<int> result(ops.size(), EIO);
  int high = epfd;
  for (const auto& o : ops) high = std::max(high, o.tfd);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return result;
  const pid_t child = fork();
  if (child == 0) {  // async-signal-safe calls only
    const int out = fcntl(p[1], F_DUPFD_CLOEXEC, high + 1);
    const int pfd = fcntl(pidfd, F_DUPFD_CLOEXEC, high + 1);
    const int e0 = static_cast<int>(syscall(SYS_pidfd_getfd, pfd, epfd, 0));
    const int e = e0 < 0 ? -1 : fcntl(e0, F_DUPFD_CLOEXEC, high + 1);
    for (auto& o : ops) {
      int err = 0;
      const int t = e < 0 ? -1 : static_cast<int>(syscall(SYS_pidfd_getfd, pfd, o.tfd, 0));
      if (t < 0) {
        err = errno;
      } else {
        if (t != o.tfd) dup2(t, o.tfd), close(t);
        if (epoll_ctl(e, o.op, o.tfd, &o.ev) != 0) err = errno;
      }
      (void)!write(out, &err, sizeof err);
    }
    _exit(0);
  }
  close(p[1]);
  if (child > 0) {
    for (size_t i = 0; i < ops.size(); ++i)
      if (read(p[0], &result[i], sizeof(int)) != sizeof(int)) break;
    int st;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
  }
  close(p[0]);
  return result;
}

}  // namespace

uint64_t SharedFd::socket_inode() const {
  unsigned long long ino = 0;
  return std::sscanf(target.c_str(), "socket:[%llu]", &ino) == 1 ? ino : 0;
}

void parse_fdinfo(const std::string& text, SharedFd& out) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags:", 0) == 0) out.flags = static_cast<unsigned>(std::stoul(line.substr(6), nullptr, 8));
    else if (line.rfind("pos:", 0) == 0) out.pos = std::stoll(line.substr(4));
    else if (line.rfind("tfd:", 0) == 0) {
      // "tfd:        5 events:       19 data:                5  pos:0 ino:3c5 sdev:8"
      EpollItem i;
      unsigned long long data = 0, ino = 0;
      unsigned events = 0;
      const char* ino_at = std::strstr(line.c_str(), "ino:");
      if (std::sscanf(line.c_str(), "tfd: %d events: %x data: %llx", &i.tfd, &events, &data) == 3 && ino_at &&
          std::sscanf(ino_at, "ino:%llx", &ino) == 1) {
        i.events = events, i.data = data, i.ino = ino;
        if (!out.epoll) out.epoll.emplace();
        out.epoll->push_back(i);
      }
    }
  }
  if (!out.epoll && out.target == "anon_inode:[eventpoll]") out.epoll.emplace();  // an instance with nothing registered
}

SharedDescriptions::SharedDescriptions(pid_t past) : pid_(past) {}

SharedDescriptions::SharedDescriptions(SharedDescriptions&& o) noexcept
    : pid_(o.pid_), pidfd_(o.pidfd_), fds_(std::move(o.fds_)) {
  o.pidfd_ = -1;
}

SharedDescriptions::~SharedDescriptions() {
  if (pidfd_ >= 0) close(pidfd_);
}

SharedDescriptions SharedDescriptions::record(pid_t past) {
  SharedDescriptions s(past);
  s.pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, past, 0));
  if (s.pidfd_ < 0) throw std::runtime_error("pidfd_open(" + std::to_string(past) + "): " + std::strerror(errno));
  const auto fds = sys::open_fds(past);
  if (!fds) throw std::runtime_error("cannot list the descriptors of pid " + std::to_string(past));
  for (int fd : *fds) {
    std::optional<SharedFd> f = current(past, fd);
    if (!f) continue;
    if (f->socket_inode()) {
      const int d = s.dup_of(fd);
      int on = 0;
      socklen_t len = sizeof on;
      if (d >= 0 && getsockopt(d, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0) f->listener = on != 0;
      if (d >= 0) close(d);
    }
    s.fds_[fd] = std::move(*f);
  }
  return s;
}

int SharedDescriptions::dup_of(int fd) const { return static_cast<int>(syscall(SYS_pidfd_getfd, pidfd_, fd, 0)); }

const SharedFd* SharedDescriptions::connection(uint64_t ino) const {
  for (const auto& [fd, f] : fds_)
    if (!f.listener && f.socket_inode() == ino) return &f;
  return nullptr;
}

const SharedFd* SharedDescriptions::listener(uint64_t ino) const {
  for (const auto& [fd, f] : fds_)
    if (f.listener && f.socket_inode() == ino) return &f;
  return nullptr;
}

std::vector<std::string> SharedDescriptions::restore() const {
  std::vector<std::string> lines;
  for (const auto& [fd, was] : fds_) {
    std::optional<SharedFd> now = current(pid_, fd);
    if (!now || now->target != was.target) continue;  // P's own table is P's: it cannot have changed
    const std::string name = "fd " + std::to_string(fd) + " (" + was.target + ")";
    if ((now->flags & kStatusFlags) != (was.flags & kStatusFlags)) {
      const int d = dup_of(fd);
      char b[96];
      std::snprintf(b, sizeof b, "status flags 0%o put back (v2 had made them 0%o)", was.flags & kStatusFlags,
                    now->flags & kStatusFlags);
      if (d >= 0 && fcntl(d, F_SETFL, was.flags & kStatusFlags) == 0) lines.push_back(name + ": " + b);
      else lines.push_back(name + ": could not put its status flags back: " + std::strerror(errno));
      if (d >= 0) close(d);
    }
    const bool read_only_file = (was.flags & O_ACCMODE) == O_RDONLY && !was.target.empty() && was.target[0] == '/';
    if (read_only_file && now->pos != was.pos) {
      const int d = dup_of(fd);
      if (d >= 0 && lseek(d, was.pos, SEEK_SET) == was.pos)
        lines.push_back(name + ": offset put back to " + std::to_string(was.pos) + " (v2 had moved it to " +
                        std::to_string(now->pos) + ")");
      else
        lines.push_back(name + ": could not put its offset back: " + std::strerror(errno));
      if (d >= 0) close(d);
    }
    if (was.epoll) restore_epoll(was, lines);
  }
  restore_listener_settings(lines);
  return lines;
}

void SharedDescriptions::restore_epoll(const SharedFd& was, std::vector<std::string>& lines) const {
  std::optional<SharedFd> now = current(pid_, was.fd);
  if (!now) return;
  const std::vector<EpollItem> none;
  const std::vector<EpollItem>& before = *was.epoll;
  const std::vector<EpollItem>& after = now->epoll ? *now->epoll : none;
  auto find = [](const std::vector<EpollItem>& in, const EpollItem& key) -> const EpollItem* {
    for (const auto& i : in)
      if (i.tfd == key.tfd && i.ino == key.ino) return &i;
    return nullptr;
  };
  std::vector<EpollOp> ops;
  for (const auto& b : before) {
    const EpollItem* a = find(after, b);
    epoll_event ev{b.events, {}};
    ev.data.u64 = b.data;
    if (!a) ops.push_back({EPOLL_CTL_ADD, b.tfd, ev, "registration " + describe(b) + " added back (v2 had removed it)"});
    else if (!(*a == b))
      ops.push_back({EPOLL_CTL_MOD, b.tfd, ev, "registration " + describe(b) + " put back (v2 had made it " + describe(*a) + ")"});
  }
  for (const auto& a : after)
    if (!find(before, a)) ops.push_back({EPOLL_CTL_DEL, a.tfd, {}, "registration " + describe(a) + " that v2 added removed"});
  if (ops.empty()) return;
  const std::vector<int> errs = run_in_helper(pidfd_, was.fd, ops);
  const std::string name = "epoll fd " + std::to_string(was.fd) + ": ";
  for (size_t i = 0; i < ops.size(); ++i)
    lines.push_back(name + (errs[i] == 0 ? ops[i].what : "could not restore (" + std::string(std::strerror(errs[i])) + "): " + ops[i].what));
}

void SharedDescriptions::record_listener_settings(pid_t future, const std::vector<StartupAction>& actions) {
  for (const StartupAction& a : actions) {
    if (a.action != "held_back") continue;
    ListenerSetting l;
    l.call = a.call;
    int ffd = -1, backlog = 0;
    if (std::sscanf(a.call.c_str(), "setsockopt(%d, %d, %d)", &ffd, &l.level, &l.name) == 3) {
    } else if (std::sscanf(a.call.c_str(), "listen(%d, %d)", &ffd, &backlog) == 2) {
      l.is_listen = true;
      // startup_adoption.cc's detail: "... listens already with backlog N: ..." when it knew it.
      const size_t at = a.detail.find("with backlog ");
      if (at != std::string::npos) l.backlog = std::atoi(a.detail.c_str() + at + 13);
    } else {
      continue;  // the status flags: recorded with every descriptor's
    }
    unsigned long long ino = 0;
    if (std::sscanf(link_of(future, ffd).c_str(), "socket:[%llu]", &ino) != 1) continue;
    const SharedFd* p = listener(ino);
    if (!p) continue;
    l.fd = p->fd;
    if (!l.is_listen) {
      const int d = dup_of(p->fd);
      std::vector<uint8_t> v(256);
      socklen_t len = static_cast<socklen_t>(v.size());
      if (d >= 0 && getsockopt(d, l.level, l.name, v.data(), &len) == 0) v.resize(len), l.value = std::move(v);
      if (d >= 0) close(d);
    }
    listener_settings_.push_back(std::move(l));
  }
}

void SharedDescriptions::restore_listener_settings(std::vector<std::string>& lines) const {
  for (const ListenerSetting& l : listener_settings_) {
    const std::string name = "fd " + std::to_string(l.fd) + ", v2's " + l.call + " made at the commit: ";
    const int d = dup_of(l.fd);
    int rc = -1;
    if (d >= 0 && l.is_listen && l.backlog) rc = listen(d, *l.backlog);
    else if (d >= 0 && !l.is_listen && !l.value.empty())
      rc = setsockopt(d, l.level, l.name, l.value.data(), static_cast<socklen_t>(l.value.size()));
    const int err = errno;
    if (d >= 0) close(d);
    if (rc == 0)
      lines.push_back(name + (l.is_listen ? "backlog " + std::to_string(*l.backlog) + " put back" : "option put back"));
    else if (l.is_listen && !l.backlog)
      lines.push_back(name + "its backlog stays (the one before was not known)");
    else
      lines.push_back(name + "could not be undone (" + std::strerror(err) + ")");
  }
}

std::string SharedDescriptions::close_connection(int fd) const {
  const int d = dup_of(fd);
  if (d < 0) return std::strerror(errno);
  const int rc = shutdown(d, SHUT_RDWR);
  const int err = errno;
  close(d);
  return rc == 0 || err == ENOTCONN ? "" : std::strerror(err);
}

std::string SharedDescriptions::peer_of(int fd) const {
  const int d = dup_of(fd);
  if (d < 0) return "";
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  std::string out;
  if (getpeername(d, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    char host[INET6_ADDRSTRLEN] = {};
    if (sa.ss_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&sa);
      inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
      out = std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
    } else if (sa.ss_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa);
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
      out = "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
    } else if (sa.ss_family == AF_UNIX) {
      out = "unix socket";
    }
  }
  close(d);
  return out;
}

}  // namespace ttst::supervisor
