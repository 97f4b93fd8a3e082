// grace_period.h — the safety net after the commit (issue 18): the future version
// F serves for a grace period (--grace, default 1 s) while the past version P is
// kept stopped, not killed; if F crashes, exits or hangs within it, P resumes.
// TRUSTED.
//
// What it promises (the transaction, transaction.cc, keeps it):
//   - During the period P is stopped with its registers aimed at exit_group (as
//     at the commit point without a grace period) and its original registers kept
//     by the supervisor. A supervisor that dies during the period releases P,
//     which ends at once (exit_group; its unwritten stdio buffers are lost), and F,
//     no longer traced and already running its loop, serves on: exactly one
//     server, F, never two. The pid file still names P then, and the service
//     manager was not told F's pid (the steps below come after the period).
//   - Every step that is final for P comes after the period, only when F is
//     kept: P's buffered stdio written (stdio_flush.h), MAINPID sent
//     (service_notify.h), P killed, the pid file rewritten. A rollback after the
//     commit leaves P's buffers, the service manager and the pid file as they
//     were: they name P, the survivor.
//   - F is watched for the period with PTRACE_SYSCALL, every thread of it: those
//     the start-up traced (issue 19) and those F creates during the period
//     (PTRACE_O_TRACECLONE: traced from their first instruction, let go with
//     the others at the end of the period):
//     a fatal signal in any thread (described where that thread was, the verdict
//     naming its tid) or an exit (any status: a server that ends right after an
//     update loses the service) ends it early with a rollback. Every system call
//     any of F's threads makes on one of P's
//     sockets is noted: a read that returned data (the bytes are gone for P), a
//     write or send (v2 may have acknowledged a request), an accept on P's
//     listening socket (a connection only v2 has).
//   - At the end of the period F is judged with the rule P had to meet to be
//     updated at all (supervisor/quiesce/quiesce.h): healthy when it is idle at
//     its loop's wait (quiescent, ttst_abi.h §6/§7) or, asked with the stop
//     protocol (§4), reaches its update point within the probe bound
//     (max(100 ms, --timeout / 5), as for P). Otherwise it is hung (spinning,
//     or blocked anywhere else). A multi-threaded F is judged thread by thread
//     as P is (quiesce/drive_threads.h: the busy threads asked together), the
//     verdict naming each thread that got nowhere. An idle server is not a hung one: blocked at
//     its loop's wait is healthy however long it has waited. A v2 whose loop is
//     shaped like v1's (the same update point, the same idle wait) meets the rule
//     whenever v1 met it.
//   - Rollback after the commit: F killed (its own files, connections it accepted
//     and registrations on them go with it); P's shared descriptions put back
//     (shared_descriptions.h: status flags, read offsets, epoll registrations,
//     the options and backlog v2's held-back calls set on P's listeners);
//     each of P's connections F read from shut down (P sees its end at its next
//     read and closes it; the client sees the connection closed and retries);
//     P's registers put back; P released exactly where it was stopped. The report
//     (outcome rolled_back_after_commit) lists the connections v2 read or
//     replied on and says that requests v2 acknowledged are possibly lost.
//
// Known limits: what v2 wrote to files and sockets stays written (its log lines,
// replies); a listener's backlog the adoption did not know stays as v2 set it;
// an epoll event v2
// consumed from an edge-triggered registration of a connection it did not read
// is not given back; a process v2 forked during the period is not traced (it is
// not killed on rollback); P's connections whose data v2 only peeked at are not
// closed.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "inject/process.h"
#include "inject/process_factory.h"
#include "supervisor/executable.h"
#include "supervisor/quiesce/runtime_block.h"
#include "supervisor/report.h"
#include "supervisor/shared_descriptions.h"

namespace ttst::supervisor {

struct GraceVerdict {
  enum class Kind { kHealthy, kCrashed, kExited, kHung } kind = Kind::kHealthy;
  std::optional<Crash> crash;  // kCrashed: where (signal, instruction, symbol)
  int exit_code = 0;           // kExited
  std::string detail;          // how the verdict was reached, one phrase
};

struct GraceRequest {
  std::chrono::milliseconds period{1000};
  std::chrono::milliseconds probe_bound{1000};
  const Executable* v2 = nullptr;
  const quiesce::RemoteRuntimeBlock* future_runtime = nullptr;
  const SharedDescriptions* shared = nullptr;  // P's descriptions, recorded before F ran
  // Called at each of F's syscall stops during the period (the test variant's
  // "commit.grace" step); null in the shipped binary.
  std::function<void()> on_stop;
  // F's threads but its main one (future_threads.h), stopped at their markers,
  // traced without EXITKILL: watched with the main one (issue 19). May be null.
  std::deque<inject::Task>* threads = nullptr;
};

// F stopped at its update point with `updating` cleared and EXITKILL dropped.
// Runs it for the period, then judges it. Healthy: F released (running, not
// traced), `future` detached. Crashed or exited: F gone. Hung: F stopped and
// seized in `hung` (kOptionsPast: no EXITKILL), for the caller to end.
// `out` receives the watch's findings (connections, accepted, verdict, ms).
GraceVerdict run_grace_period(inject::ChildProcess& future, const GraceRequest& request, Grace& out,
                              std::optional<inject::SeizedProcess>& hung);

}  // namespace ttst::supervisor
