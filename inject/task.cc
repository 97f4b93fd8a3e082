// task.cc — see task.h.
#include "inject/task.h"

#include <cpuid.h>
#include <elf.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <cstring>
#include <spdlog/spdlog.h>

#include "inject/error.h"
#include "inject/sys/proc_status.h"
#include "inject/sys/signals.h"

namespace ttst::inject {

namespace {
// A signal not in `blocked` pending for the thread (SigPnd) or its process (ShdPnd).
bool pending_unblocked(const sys::ProcStatus& status, uint64_t blocked) {
  return ((status.signal_set("SigPnd") | status.signal_set("ShdPnd")) & ~blocked) != 0;
}
}  // namespace

unsigned options_child() {
  return PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXEC;
}

std::string Stop::describe() const {
  switch (kind) {
    case StopKind::kSyscall: return "syscall stop";
    case StopKind::kEvent: return "ptrace event " + std::to_string(event);
    case StopKind::kSignalDelivery: return "signal " + sys::signal_name(sig);
    case StopKind::kGroupStop: return "group stop by " + sys::signal_name(sig);
    case StopKind::kInterrupt: return "interrupt stop";
    case StopKind::kExited: return "exited with status " + std::to_string(exit_code);
    case StopKind::kKilled: return "killed by " + sys::signal_name(sig);
  }
  return "unknown stop";
}

Stop decode_status(int status) {
  Stop s;
  s.raw_status = status;
  if (WIFEXITED(status)) {
    s.kind = StopKind::kExited;
    s.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.kind = StopKind::kKilled;
    s.sig = WTERMSIG(status);
  } else {
    int sig = WSTOPSIG(status);
    int event = (status >> 16) & 0xff;
    if (sig == (SIGTRAP | 0x80)) {
      s.kind = StopKind::kSyscall;
      s.sig = SIGTRAP;
    } else if (event == PTRACE_EVENT_STOP) {
      bool job = sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
      s.kind = job ? StopKind::kGroupStop : StopKind::kInterrupt;
      s.sig = sig;
    } else if (event != 0) {
      s.kind = StopKind::kEvent;
      s.event = event;
      s.sig = sig;
    } else {
      s.kind = StopKind::kSignalDelivery;
      s.sig = sig;
    }
  }
  return s;
}

size_t xstate_size() {
  static const size_t size = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    // Leaf 0xD, sub-leaf 0: ecx = size for every feature the CPU supports.
    if (!__get_cpuid_count(0xd, 0, &a, &b, &c, &d) || c < 576) return size_t{4096};
    return size_t{c};
  }();
  return size;
}

Task Task::seize(pid_t tid, unsigned options) {
  if (ptrace(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(uintptr_t{options})) != 0)
    throw_errno("PTRACE_SEIZE of thread " + std::to_string(tid));
  Task t(tid);
  t.attached_ = true;
  return t;
}

Task Task::adopt(pid_t tid, milliseconds timeout) {
  Task t(tid);
  t.attached_ = true;
  Stop s = t.wait(timeout, "first stop of a new child");
  if (!s.alive()) throw TraceeDied("new child " + std::to_string(tid) + " " + s.describe());
  return t;
}

Task::Task(Task&& o) noexcept
    : tid_(o.tid_), attached_(o.attached_), stopped_(o.stopped_),
      was_group_stopped_(o.was_group_stopped_), last_(o.last_),
      eintr_original_(o.eintr_original_), eintr_rewound_(o.eintr_rewound_) {
  o.attached_ = false;
}

Task::~Task() {
  if (!attached_) return;
  try {
    detach(0);
  } catch (const std::exception& e) {
    spdlog::warn("inject: detaching thread {}: {}", tid_, e.what());
  }
}

std::optional<Stop> Task::wait_for(milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  long sleep_ns = 2000;
  for (int spins = 0;; ++spins) {
    int status = 0;
    pid_t r = waitpid(tid_, &status, __WALL | WNOHANG);
    if (r == tid_) {
      last_ = decode_status(status);
      stopped_ = last_.alive();
      if (!last_.alive()) attached_ = false;
      return last_;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno("waitpid on thread " + std::to_string(tid_));
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    if (spins < 20) {
      sched_yield();
    } else {
      timespec ts{0, sleep_ns};
      nanosleep(&ts, nullptr);
      if (sleep_ns < 200000) sleep_ns *= 2;  // cap: a stop is seen within 0.2 ms
    }
  }
}

Stop Task::wait(milliseconds timeout, const char* what) {
  auto s = wait_for(timeout);
  if (!s)
    throw Timeout(std::string("timed out after ") + std::to_string(timeout.count()) +
                  " ms waiting for " + what + " of thread " + std::to_string(tid_));
  return *s;
}

Stop Task::interrupt(milliseconds timeout, const FirstStop& first) {
  if (stopped_) return last_;
  if (ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0)
    throw_errno("PTRACE_INTERRUPT of thread " + std::to_string(tid_));
  for (;;) {
    Stop s = wait(timeout, "interrupt stop");
    switch (s.kind) {
      case StopKind::kInterrupt:
        restart_eintr_of_interrupt();
        return s;
      case StopKind::kGroupStop:
        was_group_stopped_ = true;
        return s;
      case StopKind::kSignalDelivery:
        // A signal on its way came first: delivered. If it arrived after a call's
        // EINTR exit was pointed back at the call (below), it interrupts that call
        // after all, as it would have without us: the EINTR is put back first.
        if (std::optional<user_regs_struct> original = eintr_original_of(get_regs())) set_regs(*original);
        resume(PTRACE_CONT, s.sig);
        break;
      case StopKind::kSyscall:
      case StopKind::kEvent:
        // A syscall stop (a thread run with PTRACE_SYSCALL) or an event stop came
        // first. A call the interrupt ended with EINTR is pointed back at its
        // `syscall` right here, at its exit stop, before the exit completes (else
        // the program would get the EINTR): for `first`'s callers the thread stays
        // there. Any other such stop goes to `first` (task.h), or is resumed.
        if (s.kind == StopKind::kSyscall && restart_eintr_of_interrupt() && first) return s;
        if (first) {
          if (first(s)) return s;
        } else {
          resume(PTRACE_CONT, 0);
        }
        break;
      default:
        throw TraceeDied("thread " + std::to_string(tid_) + " " + s.describe() +
                         " while being interrupted");
    }
    // Any ptrace stop clears a pending interrupt in the kernel (ptrace_stop): ask
    // again, keep waiting.
    if (ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0)
      throw_errno("PTRACE_INTERRUPT of thread " + std::to_string(tid_));
  }
}

// A few system calls return EINTR (not a restart code) when the thread is merely
// stopped by PTRACE_INTERRUPT, with no signal for the program: epoll_wait and its
// variants, and rt_sigtimedwait (sigwaitinfo, sigtimedwait). Point the thread back
// at the syscall instruction (rax = orig_rax, rip -= 2; the arguments are still in
// their registers) so it re-runs the call when resumed, as the kernel does for a
// call it restarts. Called at the interrupt stop (a thread run with PTRACE_CONT)
// and at the syscall-exit stop that comes first under PTRACE_SYSCALL (rax there is
// the call's result: -ENOSYS at an entry stop, so never taken for an EINTR). Only
// when no unblocked signal is pending: a real signal would have made the call fail
// with EINTR anyway.
bool Task::restart_eintr_of_interrupt() {
  user_regs_struct r = get_regs();
  const long nr = static_cast<long>(r.orig_rax);
  const bool eintr_on_stop = nr == SYS_epoll_wait || nr == SYS_epoll_pwait || nr == SYS_epoll_pwait2 ||
                             nr == SYS_rt_sigtimedwait;
  if (!eintr_on_stop || static_cast<int64_t>(r.rax) != -EINTR) return false;
  const std::optional<sys::ProcStatus> status = sys::ProcStatus::read(tid_);
  if (!status || pending_unblocked(*status, status->signal_set("SigBlk"))) return false;
  uint8_t insn[2] = {0, 0};
  iovec local{insn, 2}, remote{reinterpret_cast<void*>(r.rip - 2), 2};
  if (process_vm_readv(tid_, &local, 1, &remote, 1, 0) != 2 || insn[0] != 0x0f || insn[1] != 0x05)
    return false;
  eintr_original_ = r;
  r.rax = r.orig_rax;
  r.rip -= 2;
  set_regs(r);
  eintr_rewound_ = get_regs();
  spdlog::debug("inject: thread {} will re-run syscall {} that PTRACE_INTERRUPT cut short", tid_, nr);
  return true;
}

bool Task::signal_pending_unblocked(uint64_t blocked) {
  const std::optional<sys::ProcStatus> status = sys::ProcStatus::read(tid_);
  return status && pending_unblocked(*status, blocked);
}

std::optional<user_regs_struct> Task::eintr_original_of(const user_regs_struct& regs) const {
  if (!eintr_original_ || std::memcmp(&regs, &eintr_rewound_, sizeof regs) != 0) return std::nullopt;
  return eintr_original_;
}

void Task::resume(int request, int sig) {
  if (ptrace(static_cast<__ptrace_request>(request), tid_, nullptr,
             reinterpret_cast<void*>(intptr_t{sig})) != 0)
    throw_errno("resuming thread " + std::to_string(tid_));
  stopped_ = false;
}

std::optional<Stop> Task::run_to_syscall(const std::function<bool(const user_regs_struct&)>& done,
                                         milliseconds timeout, const std::function<void(const Stop&)>& on_signal) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  resume(PTRACE_SYSCALL);
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    std::optional<Stop> s = wait_for(std::max(left, milliseconds(0)));
    if (!s) return std::nullopt;
    if (!s->alive()) return s;  // wait_for has forgotten the thread
    if (s->kind == StopKind::kSyscall && done(get_regs())) return s;
    int sig = 0;
    if (s->kind == StopKind::kSignalDelivery) {
      if (on_signal) on_signal(*s);
      sig = s->sig;
    }
    resume(PTRACE_SYSCALL, sig);
  }
}

void Task::set_options(unsigned options) {
  if (ptrace(PTRACE_SETOPTIONS, tid_, nullptr, reinterpret_cast<void*>(uintptr_t{options})) != 0)
    throw_errno("PTRACE_SETOPTIONS on thread " + std::to_string(tid_));
}

user_regs_struct Task::get_regs() {
  user_regs_struct r{};
  iovec iov{&r, sizeof r};
  if (ptrace(PTRACE_GETREGSET, tid_, reinterpret_cast<void*>(NT_PRSTATUS), &iov) != 0)
    throw_errno("reading registers of thread " + std::to_string(tid_));
  if (iov.iov_len != sizeof r)
    throw InjectError("thread " + std::to_string(tid_) +
                      " is not a 64-bit x86 thread; only x86-64 programs can be updated");
  return r;
}

void Task::set_regs(const user_regs_struct& regs) {
  user_regs_struct r = regs;
  iovec iov{&r, sizeof r};
  if (ptrace(PTRACE_SETREGSET, tid_, reinterpret_cast<void*>(NT_PRSTATUS), &iov) != 0)
    throw_errno("writing registers of thread " + std::to_string(tid_));
}

std::vector<uint8_t> Task::get_xstate() {
  std::vector<uint8_t> buf(xstate_size());
  iovec iov{buf.data(), buf.size()};
  if (ptrace(PTRACE_GETREGSET, tid_, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) != 0)
    throw_errno("reading the xstate of thread " + std::to_string(tid_));
  buf.resize(iov.iov_len);
  return buf;
}

void Task::set_xstate(const std::vector<uint8_t>& xstate) {
  std::vector<uint8_t> buf = xstate;
  iovec iov{buf.data(), buf.size()};
  if (ptrace(PTRACE_SETREGSET, tid_, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) != 0)
    throw_errno("writing the xstate of thread " + std::to_string(tid_));
}

uint64_t Task::get_sigmask() {
  uint64_t mask = 0;
  if (ptrace(PTRACE_GETSIGMASK, tid_, reinterpret_cast<void*>(sizeof mask), &mask) != 0)
    throw_errno("reading the signal mask of thread " + std::to_string(tid_));
  return mask;
}

void Task::set_sigmask(uint64_t mask) {
  if (ptrace(PTRACE_SETSIGMASK, tid_, reinterpret_cast<void*>(sizeof mask), &mask) != 0)
    throw_errno("writing the signal mask of thread " + std::to_string(tid_));
}

siginfo_t Task::get_siginfo() {
  siginfo_t si{};
  if (ptrace(PTRACE_GETSIGINFO, tid_, nullptr, &si) != 0)
    throw_errno("reading the siginfo of thread " + std::to_string(tid_));
  return si;
}

std::optional<std::pair<uint64_t, uint32_t>> Task::rseq_area() {
  __ptrace_rseq_configuration conf{};
  long n = ptrace(static_cast<__ptrace_request>(PTRACE_GET_RSEQ_CONFIGURATION), tid_,
                  reinterpret_cast<void*>(sizeof conf), &conf);
  if (n <= 0 || conf.rseq_abi_pointer == 0) return std::nullopt;
  return std::make_pair(static_cast<uint64_t>(conf.rseq_abi_pointer), conf.rseq_abi_size);
}

unsigned long Task::event_msg() {
  unsigned long msg = 0;
  if (ptrace(PTRACE_GETEVENTMSG, tid_, nullptr, &msg) != 0)
    throw_errno("reading the event message of thread " + std::to_string(tid_));
  return msg;
}

void Task::detach(int sig) {
  if (!attached_) return;
  if (!stopped_) interrupt(milliseconds(2000));
  if (ptrace(PTRACE_DETACH, tid_, nullptr, reinterpret_cast<void*>(intptr_t{sig})) != 0 &&
      errno != ESRCH)
    throw_errno("detaching thread " + std::to_string(tid_));
  attached_ = false;
  stopped_ = false;
}

}  // namespace ttst::inject
