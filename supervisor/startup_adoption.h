// startup_adoption.h — v2's start-up re-creating a listening socket P already has
// gets P's inherited one, and makes no state-changing call on it before the commit
// (shared/DESIGN.md "F reuses what P holds, without touching it"). TRUSTED.
//
// F inherits every descriptor of P, and each shares its open file description with
// P: a listen(), setsockopt() or fcntl(F_SETFL) F makes on it changes P's socket.
// The supervisor drives F's start-up system call by system call (future_startup.h);
// at each syscall stop of F this class may rewrite or skip the call:
//   - Before F runs, the listening sockets among F's descriptors (TCP over IPv4 or
//     IPv6, UNIX stream) are found through a duplicate the supervisor takes of each
//     (pidfd_getfd from F; getsockopt SO_ACCEPTCONN/SO_DOMAIN/SO_TYPE/SO_PROTOCOL and
//     getsockname: read-only) and kept until the commit.
//   - bind(fd, addr) of a socket F made itself (not an inherited one), of the same
//     domain, type and protocol, to exactly the address an inherited listener has
//     (IPv4/IPv6: address, port and scope id; UNIX: the path or abstract name) is
//     rewritten into dup3(inherited, fd, O_CLOEXEC if fd had it) and returns 0: fd
//     is now P's listening socket; F's fresh socket (unbound, F's own) is closed by
//     the dup. What v2 had set on its fresh socket before bind is carried over as if
//     made on the adopted one: each setsockopt it made, and its file status flags
//     (SOCK_NONBLOCK, fcntl(F_SETFL)) — each either already so, or held back.
//   - unlink/unlinkat of the path a UNIX listener of P is bound to (the same file:
//     device and inode, the path resolved as F sees it), as servers do before
//     binding it: not made, returns 0 (the path stays P's; the bind that follows
//     adopts the socket). After the commit the path is the adopted socket's.
//   - On an adopted (or inherited) listener, until the update point:
//       listen(fd, n)           skipped, returns 0: n (clamped to somaxconn, as the
//                               kernel does) the socket's backlog already (read with
//                               sock_diag, in the supervisor's network namespace) →
//                               "already so"; else (or unknown) made at the commit
//                               (a new backlog would change P's socket now)
//       setsockopt(fd, l, o, v) the current value read with getsockopt: the same
//                               bytes → skipped, returns 0 ("already so"); else
//                               skipped, returns 0, made at the commit; an option
//                               that cannot be read back → the update is rolled back
//                               (reason startup_side_effect)
//       fcntl(F_SETFL, x), ioctl(FIONBIO, &on)
//                               the same status flags → skipped ("already so"); else
//                               skipped, returns 0, the flags made at the commit;
//                               fcntl(F_GETFL) then returns the flags v2 asked for
//       reading calls (getsockopt, getsockname, fstat, F_GETFD/F_SETFD, F_DUP*,
//       close, dup*) and epoll_ctl registering it in an epoll instance: made
//       accept, accept4, shutdown, connect, read/recv*, write/send*, other fcntl and
//       ioctl commands: the update is rolled back (reason startup_side_effect),
//                               naming the call — they would change P's socket
//     Other calls, and other descriptors, behave as without ttst.
//   - At the commit (P doomed and stopped for good, F not yet running on), the held
//     back calls are made on the supervisor's duplicate, in order: the flags, each
//     setsockopt, the last listen. One that fails is reported; the update stays
//     committed. A supervisor killed between P's doom and these calls leaves F
//     serving with P's settings of the socket.
// Known limits of this slice: only listening sockets are adopted (other inherited
// descriptors, P's epoll instance included, behave as without ttst), and only on
// exactly the same address (a v2 binding 0.0.0.0 where P bound 127.0.0.1 gets
// EADDRINUSE as before); a v2 that closed every descriptor of the listener before
// its bind is not adopted; a held-back call always returns 0 (an error it would
// have had shows only at the commit, in the report), and v2 reading the socket back
// before its update point sees P's settings (except F_GETFL, which shows v2's). A
// thread F's start-up creates is held to the same rules (future_threads.h passes
// each of its syscall stops here, each thread's call in flight its own:
// thread_slot.h); a process it creates — fork, daemonising — is refused
// (startup_files.h, which also holds back v2's file-system side effects).
// Everything adopted, skipped or held back is listed in the report
// (`startup_actions`, supervisor/REPORT.md). P is never touched: only F's registers
// and the supervisor's own duplicates.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "inject/task.h"
#include "supervisor/report.h"

namespace ttst::supervisor {

class StartupAdoption {
 public:
  // F stopped right after its execve, holding P's descriptors at P's numbers.
  // `actions` (the report's list) receives one entry per adoption or held-back call.
  StartupAdoption(pid_t future, std::vector<StartupAction>& actions);
  ~StartupAdoption();
  StartupAdoption(const StartupAdoption&) = delete;
  StartupAdoption& operator=(const StartupAdoption&) = delete;

  // At each syscall stop of F's start-up (entry or exit; F stopped in it). May
  // rewrite F's registers; throws TransactionEnd (rollback) for a refused call.
  void observe(inject::Task& future);

  // At the commit, P doomed: the held-back calls made on the shared sockets; each
  // entry of `actions` updated with the result.
  void apply_at_commit();

  size_t inherited_listeners() const;

  struct Listener;  // startup_adoption.cc
  struct Pending;

 private:
  void on_entry(inject::Task& t, const user_regs_struct& r);
  void on_exit(inject::Task& t, user_regs_struct r);
  bool on_bind(inject::Task& t, const user_regs_struct& r);
  void on_unlink(inject::Task& t, const user_regs_struct& r);
  void on_listen(inject::Task& t, const user_regs_struct& r, Listener& l);
  void carry_over_fresh_settings(Listener& l, int fd, ino_t fresh);
  void on_listener_call(inject::Task& t, const user_regs_struct& r, Listener& l);
  void on_setsockopt(inject::Task& t, const user_regs_struct& r, Listener& l);
  void on_status_flags_wanted(Listener& l, int wanted, const std::string& call);
  void judge_option(Listener& l, int level, int name, const std::vector<uint8_t>& value, const std::string& call);
  void record_fresh_setsockopt(const user_regs_struct& r);
  void skip(inject::Task& t, const user_regs_struct& r, int64_t result);
  Listener* listener_of_fd(int fd);
  size_t add_action(std::string call, std::string action, std::string detail);

  pid_t pid_;
  int pidfd_ = -1;
  std::vector<StartupAction>& actions_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  // setsockopt calls made on F's own sockets, by socket inode: carried over when
  // the socket is swapped for an inherited listener.
  struct Option {
    int level, name;
    std::vector<uint8_t> value;
  };
  std::map<ino_t, std::vector<Option>> fresh_options_;
  std::unique_ptr<Pending> pending_;  // what to do at the exit stop of the call the stopped thread entered
  std::map<pid_t, std::unique_ptr<Pending>> parked_;  // the other threads' (thread_slot.h)
};

}  // namespace ttst::supervisor
