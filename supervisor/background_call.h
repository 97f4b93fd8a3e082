// background_call.h — one call of the supervisor's run on a thread of its own
// while the main thread goes on (pre-copy's stage 2: P's changed bytes written into
// R while F's second run works). The thread touches no tracee through ptrace (only
// the kernel's /proc/PID/mem and process_vm_* calls, which any thread of ours may
// make) and shares nothing with the main thread but what it was given.
// TRUSTED: join() rethrows what the call threw; the destructor joins (its failure
// then dropped: the caller is already failing).
#pragma once

#include <exception>
#include <functional>
#include <thread>

namespace ttst::supervisor {

class BackgroundCall {
 public:
  explicit BackgroundCall(std::function<void()> call)
      : thread_([this, call = std::move(call)] {
          try {
            call();
          } catch (...) {
            error_ = std::current_exception();
          }
        }) {}
  BackgroundCall(const BackgroundCall&) = delete;
  BackgroundCall& operator=(const BackgroundCall&) = delete;
  ~BackgroundCall() {
    if (thread_.joinable()) thread_.join();
  }

  // Waits for the call; throws what it threw.
  void join() {
    if (thread_.joinable()) thread_.join();
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  std::exception_ptr error_;  // before thread_: set by the thread, which starts last
  std::thread thread_;
};

}  // namespace ttst::supervisor
