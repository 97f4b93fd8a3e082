// process.cc — see process.h.
#include "inject/process.h"

#include <algorithm>
#include <set>
#include <spdlog/spdlog.h>

#include "inject/error.h"
#include "inject/sys/proc_entries.h"
#include "inject/sys/proc_status.h"

namespace ttst::inject {
namespace {

// Every thread of `pid` (sorted), read from /proc/PID/task.
std::vector<pid_t> list_threads(pid_t pid) {
  std::optional<std::vector<pid_t>> tids = sys::thread_ids(pid);
  if (!tids) throw TraceeDied("process " + std::to_string(pid) + " does not exist");
  return *tids;
}

}  // namespace

SeizedProcess SeizedProcess::seize(pid_t pid, milliseconds timeout) {
  std::optional<sys::ProcStatus> status = sys::ProcStatus::read(pid);
  if (!status) throw TraceeDied("process " + std::to_string(pid) + " does not exist");
  if (pid_t tracer = status->tracer_pid(); tracer != 0)
    throw InjectError("process " + std::to_string(pid) + " is already traced by " +
                      std::to_string(tracer) + "; stop that debugger first");
  SeizedProcess p(pid);
  p.seccomp_ = status->seccomp_mode();
  if (p.seccomp_ != 0)
    spdlog::warn("inject: process {} runs under seccomp mode {}; remote syscalls may be refused",
                 pid, p.seccomp_);
  // Seize and stop threads until a listing shows none we do not hold: a thread we
  // hold is stopped and creates no more, so this converges.
  std::set<pid_t> seized;
  p.threads_.push_back(Task::seize(pid, kOptionsPast));  // the main thread first
  seized.insert(pid);
  p.threads_.back().interrupt(timeout);
  for (;;) {
    bool added = false;
    for (pid_t tid : list_threads(pid)) {
      if (seized.count(tid)) continue;
      try {
        p.threads_.push_back(Task::seize(tid, kOptionsPast));
      } catch (const TraceeDied&) {
        continue;  // the thread exited meanwhile
      }
      seized.insert(tid);
      added = true;
      try {
        p.threads_.back().interrupt(timeout);
      } catch (const TraceeDied&) {
        p.threads_.back().forget();
        p.threads_.pop_back();
      }
    }
    if (!added) break;
  }
  return p;
}

SeizedProcess::~SeizedProcess() { release(); }

std::vector<Range> SeizedProcess::kernel_written_ranges() {
  std::vector<Range> out;
  for (Task& t : threads_)
    if (auto area = t.rseq_area()) out.push_back({area->first, area->first + area->second});
  return out;
}

void SeizedProcess::forget(pid_t tid) {
  std::deque<Task> kept;  // rebuilt: a Task is movable, not assignable
  for (Task& t : threads_) {
    if (t.tid() == tid) t.forget();
    else kept.push_back(std::move(t));
  }
  threads_.swap(kept);
}

void SeizedProcess::release() {
  for (Task& t : threads_) {
    try {
      t.detach(0);
    } catch (const std::exception& e) {
      spdlog::error("inject: detaching thread {} of process {}: {}", t.tid(), pid_, e.what());
    }
  }
  threads_.clear();
}

}  // namespace ttst::inject
