// test_util.h — helpers for the inject tests: start test programs with pipes,
// read their lines with timeouts, wait until they block in a given syscall, talk
// to their sockets, find runfiles, list their children and states.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace ttst::inject::testing {

struct Spawned {
  pid_t pid = -1;
  int to_child = -1;    // the child's stdin
  int from_child = -1;  // the child's stdout
};

// Absolute path of a runfile ("tests/programs/blocker/blocker_bin").
std::string runfile(const std::string& rel);
// Starts argv[0] with stdin/stdout on pipes; rseq is disabled (glibc tunable) unless
// keep_rseq, so the kernel does not write cpu ids into the memory tests hash.
Spawned spawn(const std::vector<std::string>& argv, bool keep_rseq = false);
// tests/programs/blocker started (spawn) with `args` ("read", "epoll"...), once it
// said "ready" and its main thread sleeps in one of the syscalls `nrs`; throws if not.
Spawned spawn_blocked(const std::vector<std::string>& args, const std::set<long>& nrs, bool keep_rseq = false);
// One line from fd without the newline; throws on timeout or EOF.
std::string read_line(int fd, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
// Waits until the main thread of pid sleeps in one of the syscalls `nrs`; throws
// when `timeout` passes first, or at once when pid has exited (it never will).
void wait_in_syscall(pid_t pid, const std::set<long>& nrs,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
// Connects to 127.0.0.1:port, sends line + "\n", returns the reply line ("" on failure).
std::string request(int port, const std::string& line, int timeout_ms = 3000);
// SIGKILL and reap a child of this process.
void kill_and_reap(pid_t pid);
// Makes this process the subreaper of its descendants (orphaned R/F come back here).
void become_subreaper();
// True when pid is gone or a zombie (waits up to timeout, reaping it if it is ours).
bool gone(pid_t pid, std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
std::string slurp(const std::string& path);
// The "flags:" field of /proc/PID/fdinfo/FD.
std::string fd_flags(pid_t pid, int fd);
// The children of every thread of pid (/proc/PID/task/TID/children); empty when gone.
std::vector<pid_t> children_of(pid_t pid);
// Its state letter ('R', 'S', 'T', 'Z'...; '?' when gone).
char state_of(pid_t pid);
// Bytes of [lo, hi) in mappings of pid advised MADV_HUGEPAGE ("hg" in /proc/PID/smaps).
uint64_t huge_advised_bytes(pid_t pid, uint64_t lo = 0, uint64_t hi = ~uint64_t{0});

}  // namespace ttst::inject::testing
