// drive_threads.cc — see drive_threads.h.
#include "supervisor/quiesce/drive_threads.h"

#include <sys/ptrace.h>
#include <time.h>

#include <optional>
#include <set>
#include <vector>

#include "inject/error.h"
#include "inject/sys/proc_entries.h"
#include "inject/sys/proc_status.h"

namespace ttst::quiesce {
namespace {

using std::chrono::milliseconds;
constexpr unsigned kDriveOptions = inject::kOptionsPast | PTRACE_O_TRACECLONE;

inject::Task* task_of(inject::SeizedProcess& p, pid_t tid) {
  for (inject::Task& t : p.threads())
    if (t.tid() == tid) return &t;
  return nullptr;
}

// A task the kernel attached to us at a clone event: adopted into `p` when it is a
// thread of P (stopped at its first instruction), let go when it is a process.
// False when it is not (any more) a thread of P.
bool adopt(inject::SeizedProcess& p, pid_t tid) {
  try {
    inject::Task t = inject::Task::adopt(tid, milliseconds(1000));
    const std::optional<sys::ProcStatus> st = sys::ProcStatus::read(tid);
    if (!st || st->tgid() != p.pid()) return false;  // a process (clone without CLONE_THREAD): detached here
    p.threads().push_back(std::move(t));
    return true;
  } catch (const inject::TraceeDied&) {
    return false;
  }
}

// Threads listed in /proc/PID/task but not in `p`: attached by the kernel at a clone
// event we did not get to see before stopping their creator. Adopted, stopped; how many.
int adopt_unseen(inject::SeizedProcess& p) {
  int n = 0;
  for (pid_t tid : sys::thread_ids(p.pid()).value_or(std::vector<pid_t>{}))
    if (!task_of(p, tid)) n += adopt(p, tid);
  return n;
}

// One stop of a driven thread handled. True when it is at its marker (it stays).
bool handle_stop(inject::SeizedProcess& p, pid_t tid, const inject::Stop& s, const RemoteRuntimeBlock& rt,
                 std::set<pid_t>& running, DriveOutcome& out) {
  inject::Task* t = task_of(p, tid);
  if (s.kind == inject::StopKind::kSyscall && at_marker(t->get_regs(), rt.address())) return true;
  int sig = 0;
  if (s.kind == inject::StopKind::kEvent && s.event == PTRACE_EVENT_CLONE) {
    const pid_t child = static_cast<pid_t>(t->event_msg());
    if (adopt(p, child)) {
      p.threads().back().set_options(kDriveOptions);
      p.threads().back().resume(PTRACE_SYSCALL);
      running.insert(child);
      out.adopted++;
    }
  } else if (s.kind == inject::StopKind::kSignalDelivery) {
    sig = s.sig;  // the program's signal: delivered
  }
  task_of(p, tid)->resume(PTRACE_SYSCALL, sig);
  return false;
}

// The names of the threads `v` finds neither at an update point nor quiescent.
std::string threads_left(const Verdict& v, size_t& count) {
  std::string names;
  count = 0;
  for (const ThreadVerdict& t : v.threads) {
    if (t.state == ThreadState::kAtUpdatePoint || t.state == ThreadState::kQuiescent) continue;
    names += std::string(count++ ? "; " : "") + thread_label(t) + " " + state_name(t.state) + ": " + t.where;
  }
  return names;
}

}  // namespace

DriveOutcome drive_threads(inject::SeizedProcess& past, const Verdict& found, const UpdatePointMap& map,
                           const RemoteRuntimeBlock& runtime, milliseconds bound) {
  DriveOutcome out;
  const auto deadline = std::chrono::steady_clock::now() + bound;
  std::set<pid_t> running;  // driven, not yet at their marker
  for (const ThreadVerdict& v : found.threads)
    if (v.state == ThreadState::kBlocked || v.state == ThreadState::kRunning) running.insert(v.tid);
  if (running.empty()) return {true, "", 0, 0};
  runtime.set_update_requested(1);
  for (pid_t tid : running) {
    task_of(past, tid)->set_options(kDriveOptions);
    task_of(past, tid)->resume(PTRACE_SYSCALL);
  }
  long sleep_ns = 2000;
  while (!running.empty() && std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    for (pid_t tid : std::vector<pid_t>(running.begin(), running.end())) {
      std::optional<inject::Stop> s = task_of(past, tid)->wait_for(milliseconds(0));
      if (!s) continue;
      any = true;
      out.stops++;
      if (!s->alive()) {
        if (tid == past.pid())
          throw inject::TraceeDied("the program " + s->describe() + " while being stopped at its update points");
        past.forget(tid);  // a thread that ended is no longer part of P
        running.erase(tid);
      } else if (handle_stop(past, tid, *s, runtime, running, out)) {
        running.erase(tid);
      }
    }
    if (any) {
      sleep_ns = 2000;
    } else {
      timespec ts{0, sleep_ns};
      nanosleep(&ts, nullptr);
      if (sleep_ns < 200000) sleep_ns *= 2;
    }
  }
  // Every thread stopped again (the stragglers without their program seeing it),
  // the kernel's auto-attached newcomers adopted, TRACECLONE taken off.
  for (pid_t tid : running) {
    try {
      task_of(past, tid)->interrupt(milliseconds(1000));
    } catch (const inject::TraceeDied&) {
      if (tid == past.pid()) throw;
      past.forget(tid);  // it ended just now
    }
  }
  const int unseen = adopt_unseen(past);
  for (inject::Task& t : past.threads()) t.set_options(inject::kOptionsPast);
  if (running.empty() && unseen == 0) {
    out.reached = true;
    return out;
  }
  const Verdict now = classify(past, map);  // a straggler may now wait in its loop
  size_t left = 0;
  const std::string names = threads_left(now, left);
  if (left == 0) {
    out.reached = true;
    return out;
  }
  runtime.set_update_requested(0);
  out.message = std::to_string(left) + " of " + std::to_string(now.threads.size()) +
                " thread(s) did not reach an update point within " + std::to_string(bound.count()) + " ms: " + names;
  return out;
}

}  // namespace ttst::quiesce
