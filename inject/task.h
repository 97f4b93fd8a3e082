// task.h — one traced thread (the kernel's "tracee"). TRUSTED.
//
// A Task is attached with PTRACE_SEIZE (never PTRACE_ATTACH, which sends SIGSTOP)
// and stopped with PTRACE_INTERRUPT, so the target sees no signal. Every wait has a
// timeout. The Task knows whether it is stopped and what the last stop was; it
// detaches on destruction (a stopped tracee is left exactly in the state its
// registers describe; a group-stopped one stays stopped, as the kernel does).
#pragma once

#include <sys/types.h>
#include <sys/user.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>


namespace ttst::inject {

using std::chrono::milliseconds;

enum class StopKind {
  kSyscall,         // syscall-entry or -exit stop (PTRACE_O_TRACESYSGOOD)
  kEvent,           // PTRACE_EVENT_{FORK,CLONE,EXEC,...}
  kSignalDelivery,  // a signal is about to be delivered (sig)
  kGroupStop,       // PTRACE_EVENT_STOP for a job-control stop (sig = stop signal)
  kInterrupt,       // PTRACE_EVENT_STOP caused by PTRACE_INTERRUPT or a new child
  kExited,          // the thread exited (exit_code)
  kKilled,          // the thread was killed by a signal (sig)
};

struct Stop {
  StopKind kind = StopKind::kInterrupt;
  int sig = 0;        // signal (delivery, group stop, killed)
  int event = 0;      // PTRACE_EVENT_* for kEvent
  int exit_code = 0;  // kExited
  int raw_status = 0;
  bool alive() const { return kind != StopKind::kExited && kind != StopKind::kKilled; }
  std::string describe() const;
};

// ptrace options: P gets only kOptionsPast (never EXITKILL: P must survive the
// supervisor); R and F get kOptionsChild (they die with the supervisor).
inline constexpr unsigned kOptionsPast = 0x1;    // PTRACE_O_TRACESYSGOOD
unsigned options_child();                        // SYSGOOD|EXITKILL|TRACEEXEC

class Task {
 public:
  // Attaches without stopping the thread.
  static Task seize(pid_t tid, unsigned options);
  // Takes over a thread the kernel auto-attached (a child reported by a FORK/CLONE
  // event): waits for its first stop.
  static Task adopt(pid_t tid, milliseconds timeout);

  Task(Task&& other) noexcept;
  Task& operator=(Task&&) = delete;
  Task(const Task&) = delete;
  ~Task();  // detaches if still attached (errors are logged, never thrown)

  pid_t tid() const { return tid_; }
  bool stopped() const { return stopped_; }
  bool attached() const { return attached_; }
  const Stop& last_stop() const { return last_; }
  // True when the thread was in a job-control stop (SIGSTOP/SIGTSTP) when seized.
  bool was_group_stopped() const { return was_group_stopped_; }

  // What interrupt() does with a syscall stop or a ptrace-event stop (clone, fork,
  // exec) that comes before the interrupt stop: such a stop is one the caller may
  // have to see (a thread run with PTRACE_SYSCALL under a policy: the call's entry
  // must be checked; a clone child must be adopted). Given the stop, the thread
  // stopped in it, it serves it as the caller serves any stop of that thread and
  // returns true to end interrupt() right there (the thread is stopped, which is
  // what the caller asked for), or false once it has resumed the thread itself,
  // the way the caller runs it (interrupt() then asks again and keeps waiting).
  using FirstStop = std::function<bool(const Stop&)>;
  // Stops a running thread with PTRACE_INTERRUPT and returns the stop it is left
  // in: an interrupt stop (or a group stop), or one `first` kept. Signals that
  // arrive first are delivered (passed through), never swallowed. Other stops on
  // the way: shown to `first` (above); without it (P's threads, whose stops on the
  // way concern no policy; a clone child is adopted by listing, drive_threads.h)
  // resumed with PTRACE_CONT. A thread whose epoll_wait (epoll_pwait, epoll_pwait2,
  // rt_sigtimedwait) the interrupt cut short with EINTR is pointed back at its
  // `syscall` with its number and arguments (it re-runs the call), whether it was
  // run with PTRACE_CONT or PTRACE_SYSCALL (then at the syscall-exit stop, which
  // comes first), unless a signal of its own is pending. With `first`, interrupt()
  // ends at that exit stop (returned: the interrupt's own effect, shown to no one;
  // resumed with PTRACE_SYSCALL, the thread would only re-enter the call and be cut
  // short again).
  Stop interrupt(milliseconds timeout, const FirstStop& first = nullptr);
  // Waits for the next stop; nullopt on timeout. Updates stopped()/last_stop().
  std::optional<Stop> wait_for(milliseconds timeout);
  // Same, throwing Timeout.
  Stop wait(milliseconds timeout, const char* what);
  // PTRACE_CONT / PTRACE_SYSCALL with a signal to deliver (0 = none).
  void resume(int request, int sig = 0);
  // Resumes the stopped thread with PTRACE_SYSCALL until a syscall stop whose
  // registers satisfy `done` (the thread stays in it), delivering every signal on
  // the way (`on_signal`, if any, sees each one first, the thread in its stop).
  // Returns that stop, or the thread's end (exited/killed: forgotten), or nullopt
  // when `timeout` runs out first (the thread is left running).
  std::optional<Stop> run_to_syscall(const std::function<bool(const user_regs_struct&)>& done,
                                     milliseconds timeout,
                                     const std::function<void(const Stop&)>& on_signal = nullptr);
  void set_options(unsigned options);

  user_regs_struct get_regs();
  void set_regs(const user_regs_struct& regs);
  std::vector<uint8_t> get_xstate();
  void set_xstate(const std::vector<uint8_t>& xstate);
  uint64_t get_sigmask();
  void set_sigmask(uint64_t mask);
  siginfo_t get_siginfo();
  unsigned long event_msg();

  // True when a signal not in `blocked` is pending for the thread or its process.
  bool signal_pending_unblocked(uint64_t blocked);
  // When `regs` is the context interrupt() rewound to re-run an epoll_wait cut short,
  // the context before the rewind (the call failing with EINTR): what a signal that
  // arrived meanwhile must see, as if it had interrupted the call itself.
  std::optional<user_regs_struct> eintr_original_of(const user_regs_struct& regs) const;

  // The thread's registered rseq area [addr, addr + size), which the kernel itself
  // rewrites (cpu ids) whenever the thread returns to user space; nullopt if none.
  std::optional<std::pair<uint64_t, uint32_t>> rseq_area();

  // Detaches (the thread continues, with `sig` delivered if nonzero). A running
  // thread is interrupted first.
  void detach(int sig = 0);
  // Forgets the thread without any ptrace call (it died or was reaped).
  void forget() { attached_ = false; }

 private:
  explicit Task(pid_t tid) : tid_(tid) {}
  bool restart_eintr_of_interrupt();  // true when it pointed the thread back at its call
  pid_t tid_ = -1;
  bool attached_ = false;
  bool stopped_ = false;
  bool was_group_stopped_ = false;
  Stop last_{};
  std::optional<user_regs_struct> eintr_original_;
  user_regs_struct eintr_rewound_{};
};

// Decodes a waitpid status of a traced thread.
Stop decode_status(int status);
// Size of the kernel's x86 xstate buffer, from CPUID leaf 0xD (at run time).
size_t xstate_size();

}  // namespace ttst::inject
