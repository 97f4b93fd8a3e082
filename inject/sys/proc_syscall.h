// proc_syscall.h — /proc/PID/task/TID/syscall: what a thread is doing, read without
// stopping it — the system call it is blocked in, with the stack pointer and pc it
// will return to, or "running".
// Why: pre-copy's second stop (supervisor/transaction.cc) waits, with P serving and
// untraced, until P blocks where the snapshot found it before seizing it again, so
// the stop lands on the snapshot's frame instead of at a random point of a request.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ttst::sys {

struct BlockedIn {
  long nr = -1;  // the system call; -1: blocked, but not in a system call (a ptrace or signal stop)
  uint64_t sp = 0, pc = 0;
};

// The text of that file parsed: nullopt for "running" or anything else.
std::optional<BlockedIn> parse_blocked_in(const std::string& text);
// Thread `tid` of process `pid` now: nullopt while it runs (or is gone).
std::optional<BlockedIn> blocked_in(pid_t pid, pid_t tid);

// Polls until thread `tid` of `pid` is blocked in system call `nr` with stack pointer
// `sp` and pc `pc`, or `bound` passes; true when it was seen so. Never stops it.
bool wait_blocked_at(pid_t pid, pid_t tid, const BlockedIn& at, std::chrono::microseconds bound);
// Polls until thread `tid` of `pid` is in a system call (any: a server between two
// requests blocks in its wait), or `bound` passes; what it is in, or nullopt. Never
// stops it.
std::optional<BlockedIn> wait_in_call(pid_t pid, pid_t tid, std::chrono::microseconds bound);

}  // namespace ttst::sys
