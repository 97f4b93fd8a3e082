// pending_signals.cc — see pending_signals.h.
#include "supervisor/pending_signals.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "inject/sys/proc_status.h"
#include "inject/sys/signals.h"

namespace ttst::supervisor {
namespace {

struct Queued {
  int sig = 0;
  std::optional<siginfo_t> info;  // none: pending without a queued siginfo
};

// The queued siginfo of `tid`'s queue (flags 0) or its process's (SHARED), not dequeued.
void peek(pid_t tid, uint32_t flags, std::vector<Queued>& out) {
  for (uint64_t off = 0;; ) {
    siginfo_t batch[32];
    __ptrace_peeksiginfo_args a{off, flags, 32};
    long n = ptrace(PTRACE_PEEKSIGINFO, tid, &a, batch);
    if (n <= 0) return;
    for (long i = 0; i < n; ++i) out.push_back({batch[i].si_signo, batch[i]});
    off += static_cast<uint64_t>(n);
  }
}

// Signals in `set` without a queued siginfo (the kernel may drop one when its queue is full).
void add_unqueued(uint64_t set, std::vector<Queued>& out) {
  for (int sig = 1; sig <= 64; ++sig) {
    if (!(set & (uint64_t{1} << (sig - 1)))) continue;
    bool seen = false;
    for (const Queued& q : out) seen |= q.sig == sig;
    if (!seen) out.push_back({sig, std::nullopt});
  }
}

std::string name_of(int sig) {
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  return sys::signal_name(sig);
}

PassedSignal pass_on(const Queued& q, pid_t future) {
  PassedSignal p{q.sig, name_of(q.sig), false, ""};
  const int code = q.info ? q.info->si_code : SI_USER;
  if (q.sig == SIGCHLD && code > 0) {
    p.how = "it reports the end of a child of the old version (pid " + std::to_string(q.info->si_pid) +
            "), which the new version does not have";
    return p;
  }
  if (code < 0 && code != SI_TKILL) {
    siginfo_t info = *q.info;
    if (syscall(SYS_rt_sigqueueinfo, future, q.sig, &info) == 0) {
      p.delivered = true;
      p.how = "with its siginfo (sender pid " + std::to_string(info.si_pid) + ", value " +
              std::to_string(info.si_value.sival_int) + ")";
      return p;
    }
  }
  if (::kill(future, q.sig) != 0) {
    p.how = std::string("could not be sent: ") + std::strerror(errno);
    return p;
  }
  p.delivered = true;
  p.how = q.info && code == SI_USER ? "by kill (sent by pid " + std::to_string(q.info->si_pid) +
                                          "; the new version sees the supervisor as its sender)"
                                    : "by kill (the new version sees the supervisor as its sender)";
  return p;
}

}  // namespace

std::vector<PassedSignal> pass_pending_signals(pid_t past, pid_t future) {
  std::optional<sys::ProcStatus> status = sys::ProcStatus::read(past);
  if (!status) return {};
  std::vector<Queued> thread, process;
  peek(past, 0, thread);
  add_unqueued(status->signal_set("SigPnd"), thread);
  peek(past, PTRACE_PEEKSIGINFO_SHARED, process);
  add_unqueued(status->signal_set("ShdPnd"), process);
  std::vector<PassedSignal> out;
  for (const auto* queue : {&thread, &process})
    for (const Queued& q : *queue) out.push_back(pass_on(q, future));
  return out;
}

}  // namespace ttst::supervisor
