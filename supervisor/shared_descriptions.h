// shared_descriptions.h — what the future version F can change in the open file
// descriptions it shares with the past version P, recorded before F runs on them
// and put back for P when an update is rolled back after its commit (the grace
// period, grace_period.h). TRUSTED.
//
// F inherits every descriptor of P: each shares its open file description with P.
// What F does through one is seen by P: its file status flags (fcntl F_SETFL,
// ioctl FIONBIO), the offset of a file, the registrations of an epoll instance
// (the registrations P made are keyed by P's descriptor numbers, which F has too,
// so F's epoll_ctl MOD/DEL on an inherited instance change P's own), and the data
// of a socket (what F reads is gone for P; what F writes was sent).
// Recorded (from /proc/P/fdinfo, P stopped): for every descriptor, the file, the
// status flags, the offset; for each epoll instance, every registration
// (descriptor, events, data, file). Put back, F gone (its own files released, so
// its own registrations gone with them):
//   - status flags: F_SETFL on the supervisor's duplicate (pidfd_getfd) of P's
//     descriptor, which sets them on the shared description;
//   - offsets of files P opened read-only (a file P writes keeps F's output and
//     the offset after it: P's next line follows F's, nothing is overwritten);
//   - epoll registrations: each one F removed is added back, each one F changed
//     is changed back, each one F added on a file P holds is removed — by
//     epoll_ctl in a short-lived helper process of the supervisor that places the
//     file at P's descriptor number in its own table, so that the registration is
//     keyed exactly as P's (P itself runs nothing).
//   - v2's held-back calls made at the commit on P's listening sockets
//     (startup_adoption.h, the report's startup_actions "held_back" entries):
//     each setsockopt's option read before the commit and set back; a listen's
//     backlog set back to the one the socket had (as the adoption read it with
//     sock_diag; unknown: said so, not put back).
// Not put back: data F read from or wrote to a connection (the grace period
// closes such connections for P and lists them), state of the peer of a pipe or
// socket.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/report.h"

namespace ttst::supervisor {

struct EpollItem {
  int tfd = -1;
  uint32_t events = 0;
  uint64_t data = 0;
  uint64_t ino = 0;  // the registered file's inode ("ino:" of the fdinfo line)
  bool operator==(const EpollItem&) const = default;
};

struct SharedFd {
  int fd = -1;
  std::string target;          // readlink of /proc/P/fd/N: "socket:[123]", "/var/log/x", "anon_inode:[eventpoll]"
  unsigned flags = 0;          // fdinfo "flags:" (access mode, status flags)
  int64_t pos = 0;             // fdinfo "pos:"
  bool listener = false;       // a listening socket (SO_ACCEPTCONN)
  std::optional<std::vector<EpollItem>> epoll;  // an epoll instance: its registrations
  uint64_t socket_inode() const;  // 0 when not a socket
};

class SharedDescriptions {
 public:
  // P stopped. Throws std::runtime_error when P's descriptors cannot be read.
  static SharedDescriptions record(pid_t past);

  SharedDescriptions(SharedDescriptions&&) noexcept;
  SharedDescriptions& operator=(SharedDescriptions&&) = delete;
  ~SharedDescriptions();

  // Before the commit makes v2's held-back calls on P's listeners (F stopped, its
  // descriptors as v2 named them in `actions`): what each would change, read now.
  void record_listener_settings(pid_t future, const std::vector<StartupAction>& actions);

  // P's descriptor of the socket with inode `ino` (not a listener), or null.
  const SharedFd* connection(uint64_t ino) const;
  // P's descriptor of the listening socket with inode `ino`, or null.
  const SharedFd* listener(uint64_t ino) const;

  // F gone: puts back what it changed; one line per change, for the report.
  // Never throws (a failure is a line saying so).
  std::vector<std::string> restore() const;

  // Ends P's connection on descriptor `fd` (shutdown both ways on the shared
  // socket: P's next read sees its end, the client sees it closed and retries).
  // "" on success, else why not.
  std::string close_connection(int fd) const;
  // "127.0.0.1:4242" (the peer of P's socket `fd`), "" when unknown.
  std::string peer_of(int fd) const;

 private:
  explicit SharedDescriptions(pid_t past);
  int dup_of(int fd) const;  // a duplicate of P's descriptor (pidfd_getfd), -1 on failure
  void restore_epoll(const SharedFd& ep, std::vector<std::string>& lines) const;

  void restore_listener_settings(std::vector<std::string>& lines) const;

  pid_t pid_;
  int pidfd_ = -1;
  std::map<int, SharedFd> fds_;
  struct ListenerSetting {
    int fd;                          // P's descriptor
    std::string call;                // as in the report
    int level = 0, name = 0;         // a setsockopt
    std::vector<uint8_t> value;      // its value before the commit
    std::optional<int> backlog;      // a listen: the backlog before the commit
    bool is_listen = false;
  };
  std::vector<ListenerSetting> listener_settings_;
};

// Parses one /proc/PID/fdinfo file's text into `out` (flags, pos, epoll items).
void parse_fdinfo(const std::string& text, SharedFd& out);

}  // namespace ttst::supervisor
