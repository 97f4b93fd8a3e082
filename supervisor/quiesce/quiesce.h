// quiesce.h — is a running ttst program quiescent right now? (TRUSTED)
//
// check(pid, map) seizes every thread (PTRACE_SEIZE + PTRACE_INTERRUPT, never a
// signal), reads its registers, finds its innermost program frame (ttst_abi.h §6)
// and classifies it; then lets every thread go exactly as it was: nothing is
// written to memory, and registers are written back only to restart a system
// call the interruption would otherwise have ended with EINTR (epoll_wait).
// A program whose every thread is blocked in its event loop (a function holding
// TTST_UPDATE_POINT()) or stopped at an update point is quiescent.
//
// The supervisor keeps its own seizure for the update itself; this function is
// the read-only probe it runs first and re-runs within its bound.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "supervisor/quiesce/upoint_map.h"

namespace ttst::quiesce {

enum class ThreadState {
  kAtUpdatePoint,  // in the marker system call of ttst_abi.h §4
  kQuiescent,      // blocked in a system call called from an update-point function
  kBlocked,        // blocked in a system call anywhere else (mid-request)
  kRunning,        // executing, or its system call already completed
  kGone,           // exited while we looked
};

const char* state_name(ThreadState s);

struct ThreadReport {
  pid_t tid = 0;
  ThreadState state = ThreadState::kRunning;
  long syscall = -1;          // orig_rax, -1 if not in a system call
  uint64_t pc = 0;            // run-time rip
  std::string function;       // innermost program function ("" if none found)
  std::string where;          // one line: "read() called from handle_request+0x2a <- event_loop <- main"
  bool restarted = false;     // we rewrote registers to restart an EINTR-ending syscall
};

struct Report {
  bool quiescent = false;     // every thread kAtUpdatePoint or kQuiescent
  std::vector<ThreadReport> threads;
  std::string message;        // one line for a sysadmin
};

// Load bias of the executable of `pid` (0 for non-PIE). Throws std::runtime_error.
uint64_t load_bias(pid_t pid, const UpdatePointMap& map);

// The probe. Throws std::runtime_error (one line) when the process cannot be
// traced (gone, permission, already traced).
Report check(pid_t pid, const UpdatePointMap& map);

// Re-runs check() every `interval` until the program is quiescent or `bound`
// has passed; returns the last report (its message says where a thread was
// blocked or running when the bound ran out).
Report check_within(pid_t pid, const UpdatePointMap& map, std::chrono::milliseconds bound,
                    std::chrono::milliseconds interval = std::chrono::milliseconds(5));

const char* syscall_name(long nr);

}  // namespace ttst::quiesce
