// thread_slot.h — one system call in flight per thread of F. The start-up
// observers (startup_files.h, startup_adoption.h) keep what they did to a call at
// its entry stop until its exit stop; v2's threads run their start-ups together
// (issue 19, future_threads.h), so each thread has its own call in flight and the
// next stop seen is not necessarily the exit of the last call entered. ThreadSlot
// makes the stopped thread's own pending call the observer's current one for the
// length of one stop (and parks it again afterwards, also when the stop ends the
// transaction). TRUSTED.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <utility>

namespace ttst::supervisor {

template <typename Pending>
class ThreadSlot {
 public:
  ThreadSlot(std::unique_ptr<Pending>& current, std::map<pid_t, std::unique_ptr<Pending>>& parked, pid_t tid)
      : current_(current), parked_(parked[tid]) {
    std::swap(current_, parked_);
  }
  ~ThreadSlot() { std::swap(current_, parked_); }
  ThreadSlot(const ThreadSlot&) = delete;
  ThreadSlot& operator=(const ThreadSlot&) = delete;

 private:
  std::unique_ptr<Pending>& current_;
  std::unique_ptr<Pending>& parked_;
};

}  // namespace ttst::supervisor
