// future_threads.cc — see future_threads.h.
#include "supervisor/future_threads.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "inject/error.h"
#include "inject/sys/proc_entries.h"
#include "inject/sys/proc_status.h"

namespace ttst::supervisor {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

void pause_briefly(long& sleep_ns, bool any) {
  if (any) {
    sleep_ns = 2000;
    return;
  }
  timespec ts{0, sleep_ns};
  nanosleep(&ts, nullptr);
  if (sleep_ns < 200000) sleep_ns *= 2;
}

}  // namespace

FutureThreads::~FutureThreads() {
  bool traced = false;
  for (inject::Task& t : threads_) traced |= t.attached();
  if (!traced) return;
  ::kill(pid_, SIGKILL);  // F dies whole; its traced threads must be reaped for its end to be seen
  for (inject::Task& t : threads_) {
    if (!t.attached()) continue;
    for (int i = 0; i < 500; ++i) {  // up to 5 s: a SIGKILLed thread ends at once
      int status = 0;
      const pid_t r = waitpid(t.tid(), &status, __WALL | WNOHANG);
      if (r == t.tid() && (WIFEXITED(status) || WIFSIGNALED(status))) break;
      if (r < 0) break;  // gone (reaped with its process)
      timespec ts{0, 10 * 1000 * 1000};
      nanosleep(&ts, nullptr);
    }
    t.forget();
  }
}

void FutureThreads::adopt(pid_t tid) {
  try {
    inject::Task t = inject::Task::adopt(tid, milliseconds(1000));
    const std::optional<sys::ProcStatus> st = sys::ProcStatus::read(tid);
    if (!st || st->tgid() != pid_) return;  // a process F forked: startup_files.h refuses it; detached here
    t.resume(PTRACE_SYSCALL);
    threads_.push_back(std::move(t));
    at_marker_.push_back(false);
  } catch (const inject::TraceeDied&) {  // ended at once
  }
}

// A clone stop of `parent`: the child (traced since its first instruction) adopted
// before the parent runs on. Adopted after, it would be lost if F were killed in
// between (the parent's resume refused): a traced thread nobody reaps, and the
// kernel reports F's end only once every traced thread of F is reaped.
void FutureThreads::take_clone(inject::Task& parent) {
  adopt(static_cast<pid_t>(parent.event_msg()));
  parent.resume(PTRACE_SYSCALL);
}

void FutureThreads::reap_unadopted() { reap_unadopted_threads(pid_, threads_); }

// One stop of a thread of F other than main; true when it is at its marker (it stays).
bool FutureThreads::serve(inject::Task& t, const inject::Stop& s) {
  if (s.kind == inject::StopKind::kSyscall) {
    if (observe_) observe_(t);  // the start-up policy: may rewrite the call, or end the transaction
    if (quiesce::at_any_marker(t.get_regs())) return true;
  }
  int sig = 0;
  if (s.kind == inject::StopKind::kEvent && s.event == PTRACE_EVENT_CLONE) {
    take_clone(t);
    return false;
  }
  if (s.kind == inject::StopKind::kSignalDelivery) {  // v2's own signal: seen (a crash's place), delivered
    if (on_signal_) on_signal_(t, s);
    sig = s.sig;
  }
  t.resume(PTRACE_SYSCALL, sig);
  return false;
}

// Thread i stopped where it is (no EINTR seen). A syscall or clone stop that comes
// before the interrupt stop is served as run() serves any (the start-up policy sees
// the call, a clone child is adopted), never let through unseen; a thread that
// reaches its marker meanwhile stays there (at_marker_).
void FutureThreads::stop_where_it_is(size_t i) {
  threads_[i].interrupt(milliseconds(1000), [this, i](const inject::Stop& s) {
    // No policy to show it to (observe_syscalls() ended): the call is not run, the
    // thread stays in its stop (judged there; killed with F, it never makes it).
    if (s.kind == inject::StopKind::kSyscall && !observe_) return true;
    const bool at = serve(threads_[i], s);  // threads_ is a deque: adopt() keeps it valid
    at_marker_[i] = at;
    return at;
  });
}

// The threads not at their markers, each stopped where it is (no EINTR seen) and
// judged by v2's rule, as P's threads are; if one is not quiescent, all resume.
bool FutureThreads::settled_by_rule() {
  std::deque<inject::Task*> left;
  bool late = false;  // a thread whose interrupt stop did not come in time (a loaded machine)
  for (size_t i = 0; i < threads_.size(); ++i) {
    if (at_marker_[i] || !threads_[i].attached()) continue;
    try {
      stop_where_it_is(i);
      if (!at_marker_[i]) left.push_back(&threads_[i]);
    } catch (const inject::TraceeDied&) {
      threads_[i].forget();
    } catch (const inject::Timeout&) {
      late = true;  // its interrupt stop comes later: run()'s loop serves it (resumed) like any stop
    }
  }
  if (!late && (left.empty() || quiesce::classify(pid_, left, *v2_).quiescent)) return true;
  for (inject::Task* t : left)
    if (t->attached() && t->stopped()) t->resume(PTRACE_SYSCALL);
  return false;
}

std::optional<inject::Stop> FutureThreads::run(inject::Task& main,
                                               const std::function<bool(const user_regs_struct&)>& done,
                                               milliseconds bound,
                                               const std::function<void(const inject::Stop&)>& on_signal) {
  Clock::time_point deadline = Clock::now() + bound;
  main.set_options(inject::options_child() | PTRACE_O_TRACECLONE);
  main.resume(PTRACE_SYSCALL);
  std::optional<inject::Stop> main_stop;
  long sleep_ns = 2000;
  Clock::time_point next_probe{};
  milliseconds probe_gap(20);
  bool killed = false;  // a thread of F killed by a signal: F is ending (the main thread too)
  for (;;) {
    bool any = false, others_done = true;
    // A thread's fatal signal ends all of F: a thread woken from its stop by it
    // refuses the next request (TraceeDied); its end is reaped on the next rounds.
    if (!main_stop) try {
      if (std::optional<inject::Stop> s = main.wait_for(milliseconds(0))) {
        any = true;
        if (!s->alive()) return s;  // F ended: the caller says how
        if (s->kind == inject::StopKind::kSyscall && done(main.get_regs())) {
          main_stop = s;  // the others get a fifth of the bound more, at most what is left
          deadline = std::min(deadline, Clock::now() + std::max(milliseconds(100), bound / 5));
          next_probe = Clock::now() + probe_gap;
        } else if (s->kind == inject::StopKind::kEvent && s->event == PTRACE_EVENT_CLONE) {
          take_clone(main);
        } else {
          int sig = 0;
          if (s->kind == inject::StopKind::kSignalDelivery) {
            if (on_signal) on_signal(*s);
            sig = s->sig;
          }
          main.resume(PTRACE_SYSCALL, sig);
        }
      }
    } catch (const inject::TraceeDied&) {
      killed = true;
    }
    for (size_t i = 0; i < threads_.size(); ++i) {
      // F ending: every thread's end reaped, those at their markers too, for the main one's to be reported.
      if (!threads_[i].attached() || (at_marker_[i] && !killed)) continue;
      if (std::optional<inject::Stop> s = threads_[i].wait_for(milliseconds(0))) {
        any = true;
        killed |= s->kind == inject::StopKind::kKilled;  // a fatal signal ends all of F
        if (!s->alive() || at_marker_[i]) continue;  // a thread of v2's start-up that ended (wait_for forgot it)
        try {
          at_marker_[i] = serve(threads_[i], *s);
        } catch (const inject::TraceeDied&) {
          killed = true;
        }
      }
      others_done &= !threads_[i].attached() || at_marker_[i];
    }
    if (killed) reap_unadopted();
    if (killed && main_stop) {  // at its marker: its end comes once every other traced thread is reaped
      if (std::optional<inject::Stop> s = main.wait_for(milliseconds(0)); s && !s->alive()) return s;
    }
    if (main_stop && others_done && !killed) break;
    if (main_stop && v2_ && !any && !killed && Clock::now() >= next_probe) {  // the same rule as P's threads
      if (settled_by_rule()) break;
      probe_gap *= 2;
      next_probe = Clock::now() + probe_gap;
    }
    if (Clock::now() >= deadline) break;
    pause_briefly(sleep_ns, any);
  }
  // Every thread not at its marker stopped where it is while the start-up policy
  // still sees its calls (observe_syscalls() ends with the caller's phase), for
  // stragglers() to judge. No auto-attach while the agent runs.
  if (killed) {  // the bound ran out while F was ending: its end, if it comes now
    for (inject::Task& t : threads_)
      if (t.attached()) t.wait_for(milliseconds(200));
    reap_unadopted();
    if (std::optional<inject::Stop> s = main.wait_for(milliseconds(1000)); s && !s->alive()) return s;
  }
  if (main_stop) {
    for (size_t i = 0; i < threads_.size(); ++i) {
      if (at_marker_[i] || !threads_[i].attached()) continue;
      try {
        stop_where_it_is(i);
      } catch (const inject::TraceeDied&) {
        threads_[i].forget();
      } catch (const inject::Timeout&) {  // a loaded machine: stragglers() asks again
      }
    }
    main.set_options(inject::options_child());
  }
  for (size_t i = 0; i < threads_.size(); ++i)
    if (at_marker_[i] && threads_[i].attached()) threads_[i].set_options(inject::options_child());
  return main_stop;
}

std::string FutureThreads::stragglers(const quiesce::UpdatePointMap& v2) {
  std::deque<inject::Task*> left;
  for (size_t i = 0; i < threads_.size(); ++i) {
    if (at_marker_[i] || !threads_[i].attached()) continue;
    try {
      stop_where_it_is(i);  // stopped again where it is, no EINTR seen, no call unseen
      threads_[i].set_options(inject::options_child());
      if (!at_marker_[i]) left.push_back(&threads_[i]);
    } catch (const inject::TraceeDied&) {
      threads_[i].forget();
    }
  }
  if (left.empty()) return "";
  const quiesce::Verdict v = quiesce::classify(pid_, left, v2);
  std::string names;
  for (const quiesce::ThreadVerdict& t : v.threads) {
    if (t.state == quiesce::ThreadState::kAtUpdatePoint || t.state == quiesce::ThreadState::kQuiescent) continue;
    names += (names.empty() ? "" : "; ") + quiesce::thread_label(t) + " " + quiesce::state_name(t.state) + ": " +
             t.where;
  }
  return names;
}

void FutureThreads::set_options(unsigned options) {
  for (inject::Task& t : threads_)
    if (t.attached()) t.set_options(options);
}

void FutureThreads::release() {
  for (inject::Task& t : threads_)
    if (t.attached()) t.detach(0);
}

void reap_unadopted_threads(pid_t future, const std::deque<inject::Task>& known) {
  const std::optional<std::vector<pid_t>> tids = sys::thread_ids(future);
  if (!tids) return;
  for (pid_t tid : *tids) {
    if (tid == future || std::any_of(known.begin(), known.end(),
                                     [tid](const inject::Task& t) { return t.attached() && t.tid() == tid; }))
      continue;
    int status = 0;
    waitpid(tid, &status, __WALL | WNOHANG);  // not ours (never attached): ECHILD, ignored
  }
}

void reap_killed_threads(inject::SeizedProcess& past, milliseconds bound) {
  const Clock::time_point deadline = Clock::now() + bound;
  for (inject::Task& t : past.threads()) {
    if (t.tid() == past.pid() || !t.attached()) continue;
    while (Clock::now() < deadline) {
      int status = 0;
      const pid_t r = waitpid(t.tid(), &status, __WALL | WNOHANG);
      if (r < 0 || (r == t.tid() && (WIFEXITED(status) || WIFSIGNALED(status)))) break;
      timespec ts{0, 1000 * 1000};
      nanosleep(&ts, nullptr);
    }
    t.forget();
  }
}

}  // namespace ttst::supervisor
