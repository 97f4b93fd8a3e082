// past_stop.h — the time the past version P is stopped: what its clients feel
// (issue 15). One scope object per stop, in rr's style (its AutoRemoteSyscalls,
// AutoRestoreMem): made when P is seized, ended when the program serves again (P
// released by a rollback or by pre-copy's snapshot, or F released at the commit),
// explicitly or by its destructor. Every clock of the transaction that says how
// long P was stopped reads this one object: the report's stall_ms is the longest
// stop of the attempt (the largest gap a client sees), and pre-copy's first and
// second stop figures are read from the scope (`elapsed_ms`, `end`). TRUSTED
// (supervisor); it only reads the clock.
#pragma once

#include <algorithm>
#include <chrono>

namespace ttst::supervisor {

class PastStop {
 public:
  using Clock = std::chrono::steady_clock;

  // P has just been seized; `longest` keeps the longest stop of the attempt (ms).
  explicit PastStop(double& longest) : longest_(&longest), at_(Clock::now()) {}
  PastStop(const PastStop&) = delete;
  PastStop& operator=(const PastStop&) = delete;
  ~PastStop() { end(); }

  // Since the seizure (until end(); then the stop's length).
  double elapsed_ms() const {
    return ended_ ? length_ : std::chrono::duration<double, std::milli>(Clock::now() - at_).count();
  }

  // The program serves again: the stop's length, kept if the longest. Idempotent.
  double end() {
    if (!ended_) {
      length_ = elapsed_ms();
      ended_ = true;
      *longest_ = std::max(*longest_, length_);
    }
    return length_;
  }

 private:
  double* longest_;
  Clock::time_point at_;
  bool ended_ = false;
  double length_ = 0;
};

}  // namespace ttst::supervisor
