// startup_files.h — v2's start-up leaves the file system as P relies on it until
// the commit, and at the commit F drops the descriptors of P it has no use for
// (issue 13 item 1; shared/DESIGN.md "F reuses what P holds, without touching it").
// TRUSTED.
//
// F runs v2's start-up for real while P serves on; the supervisor drives it system
// call by system call (future_startup.h) and this class looks at each syscall stop
// of F (after StartupAdoption, which answers the calls on P's listening sockets).
// A path is judged as F sees it (/proc/F/cwd, /proc/F/fd/DIRFD, /proc/F/root).
// The rules, at the syscall-entry stop of F:
//   open/openat/creat of a path, asking to write, create or truncate:
//     - an existing regular file opened with O_APPEND and without O_TRUNC: made
//       ("shared"): appending changes nothing P relies on (P's own O_APPEND writes
//       still land at the end); v2's start-up lines reach the file, as its stderr
//       lines reach P's stderr (future_startup.h), whether or not the update commits
//     - an existing regular file opened to write otherwise (O_TRUNC, "w", "r+"), or
//       a path that does not exist with O_CREAT: "staged". The call is rewritten
//       into openat(same dirfd, the path's directory, O_TMPFILE | the access mode
//       and flags v2 asked, minus O_CREAT/O_EXCL/O_TRUNC, v2's mode): F gets an
//       unnamed file in the same directory, nothing anyone else can see. Without
//       O_TRUNC it starts as a copy of the existing file. The supervisor keeps a
//       duplicate of it (v2 may close it: a pid file) and, at the commit, links it
//       under a temporary name and renames it over the path (the mode and owner of
//       the file it replaces carried over): the path then names the very file F
//       has open, so F's later writes reach it — a log opened with "w" is v2's log,
//       a pid file holds what v2 wrote into it (F's pid). P's file is never
//       truncated or written; what P wrote into it after F's start-up opened it is
//       replaced, as a restart of the server would truncate it.
//     - an existing file that is not regular (a tty, /dev/null, a FIFO), an
//       O_CREAT|O_EXCL of an existing path (fails, changes nothing), and v2's own
//       O_TMPFILE: made. A symbolic link to stage: refused.
//   unlink/unlinkat of an existing path, or of a path v2 staged (a stale pid file
//     or UNIX socket before it is made again): "deferred": not made, returns 0,
//     made at the commit, in order with the staged files; for v2 the path is gone:
//     a later open of it with O_CREAT is staged as a new file, without O_CREAT it
//     fails with ENOENT (not made: P's file is not opened), another unlink of it
//     fails with ENOENT. (The path of one of P's UNIX listeners is
//     StartupAdoption's: not made at all.)
//   rename/renameat/renameat2 (no flags) of a file v2 staged, to a path that is not
//     a directory or symbolic link (a pid file written under a temporary name, then
//     renamed): the staged file's path becomes the new one; not made, returns 0.
//   mkdir/mkdirat of a path that exists: made (fails with EEXIST, changes nothing).
//   chmod/chown (and their at/l/f forms) asking for the mode or owner the file has
//     already: made (changes nothing; nginx re-applies its directories' owner).
//   Every other call that changes the file system — other renames, link*, symlink*,
//     mkdir of a new directory, rmdir, mknod*, truncate, chmod, chown, utime*,
//     *setxattr/*removexattr, bind of a new UNIX socket path, openat2 asking to
//     write — and ftruncate, fallocate, fchmod, fchown, fsetxattr, fremovexattr,
//     futimens on a descriptor of a regular file or directory that is not one of
//     v2's staged files, and fcntl(F_SETFL) dropping O_APPEND on such a descriptor
//     open for writing (its writes would overwrite the file from F's offset):
//     refused — the update is rolled back (reason startup_side_effect) naming the
//     call, before it is made.
//   fork, vfork, clone of a process (not a thread), clone3 of a process: refused
//     (daemonising start-up, daemon(), is not followed: the process it makes would
//     not be traced and its calls not held back; run v2 in the foreground).
//     setsid and other calls on F itself change nothing P relies on: made.
// At the commit (P doomed, still present, F not yet running on): the deferred and
// staged actions in v2's order — each unlink made, each staged file linked in.
// One that fails is reported (failed_at_commit); the update stays committed. A
// supervisor killed before the commit kills F (PTRACE_O_EXITKILL): the staged files,
// unnamed, vanish with it and nothing deferred was made; killed between P's doom
// and these actions, F serves with its staged files unnamed (limit).
//
// Descriptors of P at the commit: every descriptor of F that still shares its open
// file description with P's descriptor of the same number (kcmp KCMP_FILE) is
// either closed in F (a remote close, inject/remote_syscalls.h) or kept:
//   closed   a descriptor a library adapter of the transfer names as P's library
//            instance's (Report::past_library_fds: libevent's epoll instance,
//            known to be reachable from no program state), unless v2's start-up
//            used it
//   kept     everything else, with the reason: 0, 1 and 2; anything v2's start-up
//            made a call on; P's own plumbing (epoll instance, eventfd, pipe,
//            internal socket pair) even when v2 built its own of the kind — the
//            transferred state may name it by number (a loop object holding P's
//            epoll descriptor supersedes v2's start-up loop: closing it would break
//            the committed server), which the supervisor cannot see; P's descriptor
//            of a file v2's start-up replaced; sockets, regular files, devices.
// Each is one startup_actions entry ("fd 7 (anon_inode:[eventpoll]) of the old
// version", closed_at_commit / kept, with the reason).
// Every thread v2's start-up creates is held to the same rules (future_threads.h
// passes each of its syscall stops here; each thread's call in flight is its own,
// thread_slot.h). Known limits: the calls of processes F's start-up creates are
// not traced (fork is refused, above); a v2 reading back a staged path before its update point sees P's file; a
// path F reaches only through a descriptor of a directory it opened is judged as
// seen through that descriptor; hard links of a replaced file keep naming P's file.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "inject/task.h"
#include "supervisor/report.h"

namespace ttst::supervisor {

class StartupFiles {
 public:
  // F stopped right after its execve; P still present (its descriptors compared).
  StartupFiles(pid_t future, pid_t past, std::vector<StartupAction>& actions);
  ~StartupFiles();
  StartupFiles(const StartupFiles&) = delete;
  StartupFiles& operator=(const StartupFiles&) = delete;

  // At each syscall stop of F's start-up. May rewrite F's registers (and, for a
  // staged open, a few bytes of F's memory: the directory's name below its red
  // zone, or else over the path's own bytes; put back at the exit stop); throws TransactionEnd
  // (rollback) for a refused call.
  void observe(inject::Task& future);

  // At the commit, P doomed but present and F stopped: the deferred file actions,
  // then P's descriptors F does not use closed in F. `library_fds`: descriptor
  // numbers a library adapter of the transfer names as P's library instance's
  // (Transfer::past_library_fds, report.h), closed unless v2's start-up used them.
  void apply_at_commit(inject::Task& future, const std::vector<int>& library_fds = {});

  struct Deferred;  // startup_files.cc
  struct Pending;
  struct Inherited;

 private:
  void on_entry(inject::Task& t, const user_regs_struct& r);
  void on_exit(inject::Task& t, user_regs_struct r);
  void on_open(inject::Task& t, const user_regs_struct& r, int dirfd, uint64_t path_addr, int flags, int mode);
  void on_unlink(inject::Task& t, const user_regs_struct& r, int dirfd, uint64_t path_addr);
  bool on_rename(inject::Task& t, const user_regs_struct& r, int from_dirfd, uint64_t from_addr, int to_dirfd,
                 uint64_t to_addr);
  void on_fd_change(const user_regs_struct& r, const std::string& call, int fd);
  void on_clone(uint64_t flags, const std::string& call);
  void apply_files();
  void close_unused_descriptors(inject::Task& future, const std::vector<int>& library_fds);
  std::string keep_reason(const Inherited& d, const std::set<std::string>& own_kinds,
                          const std::vector<int>& library_fds, std::string& closed) const;
  bool staged_inode(dev_t dev, ino_t ino) const;
  bool attributes_already_so(const user_regs_struct& r) const;
  static bool poke_saving(pid_t pid, uint64_t addr, const std::vector<uint8_t>& bytes, Pending& p);
  bool deferred_unlink(const std::string& seen) const;
  bool staged_path(const std::string& seen) const;
  void skip(inject::Task& t, const user_regs_struct& r, int64_t result);
  size_t add_action(std::string call, std::string action, std::string detail);

  pid_t pid_, past_;
  int pidfd_ = -1;
  std::vector<StartupAction>& actions_;
  std::vector<std::unique_ptr<Deferred>> deferred_;  // in v2's order
  std::unique_ptr<Pending> pending_;                    // the stopped thread's call in flight
  std::map<pid_t, std::unique_ptr<Pending>> parked_;  // the other threads' (thread_slot.h)
  std::set<int> touched_;  // descriptor numbers v2's start-up made a call on
};

}  // namespace ttst::supervisor
