// drive_threads.h — the stop protocol of ttst_abi.h §4 for a seized P with several
// threads: every thread the rule (quiesce.h) found busy or mid-request is run to
// its next update point while the others stay stopped where they were. TRUSTED.
//
// How. update_requested = 1 (one write, as for one thread); each thread to drive
// gets PTRACE_O_TRACECLONE and PTRACE_SYSCALL, and all of them run together (a
// request may need another driven thread to progress: one at a time could wait on
// each other); a thread stays in its marker's syscall-entry stop once there. The
// quiescent ones are never resumed. Every other stop is passed on: a signal is
// delivered (it is the program's), a syscall stop resumed.
// Threads created meanwhile. A driven thread may start a thread (pthread_create in
// a request, a pool growing): PTRACE_O_TRACECLONE makes the kernel attach the new
// thread before its first instruction, so it cannot run untraced; it is adopted
// into `past` and driven as well (a new worker runs to its loop's update point; a
// helper that ends is forgotten). Threads that were stopped when seized cannot
// clone: the seizure (inject/process.h) re-lists /proc/PID/task until no thread is
// missing, as gdb and CRIU do. TRACECLONE is taken off again before returning (the
// remote clone that later creates R and F must not be auto-attached).
// When the bound runs out. Each thread still running is stopped again without its
// program seeing it (inject::Task::interrupt: an epoll_wait the stop ends with EINTR
// re-runs) and the rule is applied once more to the whole process: a thread that
// has meanwhile blocked in its loop's own wait is quiescent (a loop whose update
// point follows its wait). Still not quiescent: update_requested written back to 0,
// false, and `message` names every thread that did not get there (tid, start
// function, where it is). Threads already in their marker stay there until the
// release, which lets them run getppid and go on (§4, step 5).
#pragma once

#include <chrono>
#include <string>

#include "inject/process.h"
#include "supervisor/quiesce/quiesce.h"
#include "supervisor/quiesce/runtime_block.h"
#include "supervisor/quiesce/upoint_map.h"

namespace ttst::quiesce {

struct DriveOutcome {
  bool reached = false;   // every thread at an update point or quiescent
  std::string message;    // when not reached: one line naming each thread left
  long stops = 0;         // ptrace stops handled (for the report's log)
  int adopted = 0;        // threads created while driving, adopted and driven
};

// `found` is classify(past, map) of the same seizure. Throws inject::TraceeDied when
// P (its main thread) ends meanwhile; a non-main thread that exits is forgotten.
DriveOutcome drive_threads(inject::SeizedProcess& past, const Verdict& found, const UpdatePointMap& map,
                           const RemoteRuntimeBlock& runtime, std::chrono::milliseconds bound);

}  // namespace ttst::quiesce
