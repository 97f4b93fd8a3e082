// future_startup.h — the startup phase: F, stopped right after execve, run to its
// first update point (the marker's syscall-entry stop, stfw/abi/ttst_abi.h §4/§5),
// every signal on the way delivered. A crash, an exit or the budget running out ends
// the transaction (rollback(), transaction_end.h) with a report that says where v2
// crashed (signal, fault address, instruction, function+offset from v2's DWARF; for
// a crash in a library, such as abort(), the library and the innermost v2 function
// on the stack), and whether the time ran out (reason timeout: too little of
// --timeout was left) or v2 has no update point (reason no_update_point).
//
// v2's start-up stderr: every write(2, ...) / writev(2, ...) F enters is read at its
// syscall-entry stop (the loop already stops F at every system call) and its last
// kStartupStderrMax bytes go into the report. The writes themselves are not
// changed: F inherited P's descriptor 2, so the lines also reach P's log (the file
// P's stderr is), as they do once v2 serves — an administrator reads them there
// whether or not the update commits; P's memory and descriptors are untouched.
// TRUSTED.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "inject/process_factory.h"
#include "supervisor/executable.h"
#include "supervisor/future_threads.h"
#include "supervisor/startup_adoption.h"
#include "supervisor/startup_files.h"

namespace ttst::supervisor {

constexpr size_t kStartupStderrMax = 4096;

struct StartupBudget {
  std::chrono::milliseconds left;   // what is left of the transaction's time limit
  std::chrono::milliseconds total;  // --timeout
};

// `stderr_tail` receives v2's start-up stderr (the last kStartupStderrMax bytes),
// also when the transaction ends here. `adoption` sees every syscall stop of F
// (startup_adoption.h: v2's start-up re-creating P's listening sockets), then
// `files` (startup_files.h: its file-system side effects and processes).
// `threads` (may be null: v2's threads untraced, as before issue 19) receives the
// threads v2's start-up creates, each run to its update point (future_threads.h).
void run_future_to_update_point(inject::ChildProcess& future, const Executable& v2, const StartupBudget& budget,
                                std::string& stderr_tail, StartupAdoption& adoption, StartupFiles& files,
                                FutureThreads* threads = nullptr);

// F in the signal-delivery stop of the fatal signal `sig`: where it is (signal,
// fault address, instruction, function+offset or library+offset and the innermost
// v2 function), as a start-up crash is described. Used by the grace period too.
Crash describe_future_crash(inject::ChildProcess& future, const Executable& v2, int sig);
// The same for `thread`, one of F's threads (`future`: F's pid), in that stop.
Crash describe_future_crash(pid_t future, inject::Task& thread, const Executable& v2, int sig);

}  // namespace ttst::supervisor
