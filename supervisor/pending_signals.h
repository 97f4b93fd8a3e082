// pending_signals.h — signals sent to the past version during the update, passed
// on to the future version at the commit (issue 18, "process realities"). TRUSTED.
//
// P is stopped from its seizure to the commit (and through the grace period), so
// a signal sent to it meanwhile — an admin's SIGTERM or SIGHUP, a reload request
// queued with a value — stays pending in P. Killed, P would take it along. So
// just before P is killed (after the grace period, when F is kept) its pending
// signals are read without being dequeued (/proc/PID/status SigPnd and ShdPnd,
// and the queued siginfo through PTRACE_PEEKSIGINFO, the thread's queue then the
// process's, the order the kernel would deliver them in) and each is sent to F:
//   - queued with a value (sigqueue, a POSIX timer, a message queue: si_code < 0
//     except tkill's): rt_sigqueueinfo with its siginfo, so F sees the same
//     sender pid and value;
//   - sent by kill, tkill or the kernel (si_code >= 0, SI_TKILL: the kernel lets
//     no other process forge those): kill(F, sig) — the same signal, its sender
//     is then the supervisor;
//   - SIGCHLD sent by the kernel (a child of P ended): not passed on — F has no
//     such child (past_children.h) — and named in the report.
// Each is listed in the report (pending_signals), passed on or not. A signal F
// acts on by default is delivered all the same: a SIGTERM sent during the update
// means the service was asked to stop, and F stops. On a rollback nothing here
// runs: P keeps its pending signals, none dequeued.
// Known limit: a signal sent to P after its pending set was read and before it is
// killed (a few system calls) is lost with P.
#pragma once

#include <sys/types.h>

#include <vector>

#include "supervisor/report.h"

namespace ttst::supervisor {

// P (`past`, its only thread, ptrace-stopped by us) has its pending signals sent
// to `future`. Returns what was done with each, in delivery order.
std::vector<PassedSignal> pass_pending_signals(pid_t past, pid_t future);

}  // namespace ttst::supervisor
