// future_threads.h — F's own threads (issue 19): the threads v2's start-up creates,
// traced from their first instruction, each run to its update point's marker stop
// (ttst_abi.h §4/§5: F starts with update_requested = 1, so every thread's first
// update point makes the marker call) and kept stopped there while the agent runs
// in F's main thread; released after F's flags are cleared at the commit; killed
// with F (and reaped, so F's end can be waited for) on a rollback. TRUSTED.
//
// How. F's main thread gets PTRACE_O_TRACECLONE for its start-up: the kernel
// attaches each thread v2 creates before its first instruction (it inherits
// EXITKILL: it dies with the supervisor, as F does). The start-up loop then serves
// every traced thread of F together (a thread's start-up may wait for another's):
// syscall stops resumed, signals delivered, clones adopted, until the main thread
// reaches its marker and every other thread reaches its own (or, past the bound,
// is interrupted and found quiescent by the rule of quiesce.h; else the update is
// rolled back naming the thread: tid, start function, where).
// Once the main thread is at its marker, the others not at theirs are probed by
// the same rule as P's threads (quiesce::classify: stopped where they are, no
// EINTR, each at its update point or blocked in a quiescent call, proved by its
// stack), at 20 ms, 40 ms, ... after: a thread of v2 that waits in its loop's own
// blocking call (memcached 1.6's crawler in pthread_cond_wait) is settled at once,
// not after the bound. A probe that fails resumes them (their calls restarted).
// Every stop is served, also one that comes before an interrupt stop (Task::
// interrupt's `first`: a call the policy must check, a clone child to adopt), and
// the threads not at their markers are stopped at the end of run(), while the
// start-up policy still observes (a call made after its phase would be unseen).
// Why a thread of F must be stopped at its marker: released while `updating` is
// still set, the runtime's slow path exits the whole of F (a version never runs
// half-updated), and running, it could change the state while it is transferred.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "inject/process.h"
#include "inject/task.h"
#include "supervisor/quiesce/quiesce.h"

namespace ttst::supervisor {

class FutureThreads {
 public:
  // `v2`: the rule's update points, for the early probe (none: only the bound ends the wait).
  explicit FutureThreads(pid_t future, const quiesce::UpdatePointMap* v2 = nullptr) : pid_(future), v2_(v2) {}
  FutureThreads(FutureThreads&&) = default;
  ~FutureThreads();  // not released: F killed, every thread reaped (F's end can then be waited for)

  // Replaces Task::run_to_syscall for F's start-up: runs F's main thread until a
  // syscall stop where `done` holds (returned; or its end, or nullopt when `bound`
  // ran out), serving every thread it creates meanwhile, then lets the others reach
  // their markers within what is left of `bound`.
  std::optional<inject::Stop> run(inject::Task& main, const std::function<bool(const user_regs_struct&)>& done,
                                  std::chrono::milliseconds bound,
                                  const std::function<void(const inject::Stop&)>& on_signal);

  // After run(): the threads not at their markers, stopped again (without EINTR) and
  // judged by v2's rule; "" when every one is at its marker or quiescent, else one
  // line naming each ("thread 123 (worker_main) running: ...").
  std::string stragglers(const quiesce::UpdatePointMap& v2);

  std::deque<inject::Task>& threads() { return threads_; }
  // Every thread's ptrace options (the commit drops EXITKILL from each).
  void set_options(unsigned options);
  // Detaches every thread (at the commit, after F's flags are cleared).
  void release();
  // The start-up policy for every thread (issue 13's, startup_files.h and
  // startup_adoption.h): each syscall stop of a thread but the main one is shown to
  // `observe` before it is judged or resumed (the main thread's are shown by run()'s
  // `done`); it may rewrite the thread's registers or end the transaction (throw).
  // An empty function stops it.
  void observe_syscalls(std::function<void(inject::Task&)> observe) { observe_ = std::move(observe); }
  // Each signal about to be delivered to a thread but the main one (a crash's place:
  // the thread stopped before the signal) is shown to `observe`. Empty: none.
  void observe_signals(std::function<void(inject::Task&, const inject::Stop&)> observe) {
    on_signal_ = std::move(observe);
  }

 private:
  bool serve(inject::Task& t, const inject::Stop& s);  // one stop of a non-main thread
  void adopt(pid_t tid);
  void take_clone(inject::Task& parent);  // a clone stop: child adopted, then parent resumed
  void reap_unadopted();  // reap_unadopted_threads() for F
  void stop_where_it_is(size_t i);  // interrupt() serving the stops that come first
  bool settled_by_rule();  // the early probe: true when every thread not at its marker is quiescent

  pid_t pid_;
  const quiesce::UpdatePointMap* v2_;  // the early probe's rule (nullptr: no probe)
  std::deque<inject::Task> threads_;  // F's threads but its main one, in creation order
  std::vector<bool> at_marker_;       // by index in threads_
  std::function<void(inject::Task&)> observe_;  // observe_syscalls()
  std::function<void(inject::Task&, const inject::Stop&)> on_signal_;  // observe_signals()
};

// F ending (killed by a thread's fatal signal): the threads of F the kernel attached
// to us at a clone whose stop never reached us (F killed before the parent reported
// it, or before its child was read), reaped — the kernel reports F's main thread's
// end only once every traced thread of F is reaped. `known`: the threads adopted
// (reaped by their own waits). Each call collects what each such thread reports
// now (its stop, then on a later call its end).
void reap_unadopted_threads(pid_t future, const std::deque<inject::Task>& known);

// P's threads but its main one, after P was SIGKILLed at the commit: each traced
// thread that ended is reaped (its end must be waited for by its tracer before the
// kernel reports the main thread's), then forgotten; up to `bound` in all.
void reap_killed_threads(inject::SeizedProcess& past, std::chrono::milliseconds bound);

}  // namespace ttst::supervisor
