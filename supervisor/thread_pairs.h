// thread_pairs.h — P's threads and F's paired by what they are (issue 19): their
// start function (the quiescence rule's unwind: "main", "worker_main", ...) and,
// among threads of one start function, their creation order (the kernel's start
// time of each thread, then its tid) — never by tid, which differs between P and F.
// The k-th worker of P is the k-th worker of F.
// Threads v2 adds (F has more of a start function, or one P has none of) keep their
// start-up state and are reported. Threads v2 drops (P has more of one) refuse the
// update, naming each (tid, start function, where): their thread-local state and
// what their stack alone reaches would be lost, and no rule says where it goes.
// A thread whose start function could not be told (a doubtful unwind) pairs only
// with another such thread, by creation order. TRUSTED, reads only.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "inject/task.h"
#include "supervisor/quiesce/quiesce.h"

namespace ttst::supervisor {

struct ThreadInfo {
  pid_t tid = 0;
  std::string start;      // start function ("main" for the main thread, "" unknown)
  std::string where;      // the quiescence rule's one line
  uint64_t thread_pointer = 0;  // fs_base
  uint64_t started = 0;   // /proc/PID/task/TID/stat starttime (clock ticks)
  user_regs_struct regs{};  // at its update point (or quiescent call), for its frames
};

struct ThreadPairing {
  std::vector<ThreadInfo> past, future;      // each in creation order, main first
  std::vector<std::pair<size_t, size_t>> pairs;  // (index in past, index in future), main's first
  std::vector<size_t> added;    // future threads without a counterpart (v2 adds them)
  std::vector<size_t> dropped;  // past threads without a counterpart (v2 drops them)
};

// `verdict` is the quiescence rule's verdict of `threads` (same order).
std::vector<ThreadInfo> describe_threads(pid_t pid, const std::deque<inject::Task*>& threads,
                                         const quiesce::Verdict& verdict);

ThreadPairing pair_threads(std::vector<ThreadInfo> past, std::vector<ThreadInfo> future);

// "thread 123 (worker_main) at the update point in worker_main+0x40"
std::string thread_name(const ThreadInfo& t);

// What follows the main threads' frames in the agent's input (stfw_task.h
// TTST_STFW_THREADS_MAGIC): each pair but main's, as {peer's thread pointer, self's},
// then each such pair's frames (past_frames.h), their locals the stack roots of
// those threads. Forward the peer is P (pid `past`), backward F (pid `future`).
std::vector<uint8_t> threads_input(const ThreadPairing& p, bool backward, pid_t past, pid_t future);

}  // namespace ttst::supervisor
