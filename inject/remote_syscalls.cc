// remote_syscalls.cc — see remote_syscalls.h.
#include "inject/remote_syscalls.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <spdlog/spdlog.h>

#include "inject/decode.h"
#include "inject/error.h"
#include "inject/memory.h"
#include "inject/steps.h"
#include "inject/sys/proc_maps.h"

namespace ttst::inject {
namespace {

constexpr uint64_t kBlockAll = ~0ull;

// What kind of stop the thread sits in (PTRACE_GET_SYSCALL_INFO: PTRACE_SYSCALL_INFO_ENTRY,
// _EXIT, _SECCOMP or _NONE).
int syscall_stop_op(Task& t) {
  struct __ptrace_syscall_info info;
  std::memset(&info, 0, sizeof info);
  long n = ptrace(static_cast<__ptrace_request>(PTRACE_GET_SYSCALL_INFO), t.tid(),
                  reinterpret_cast<void*>(sizeof info), &info);
  if (n <= 0) throw_errno("PTRACE_GET_SYSCALL_INFO");
  return info.op;
}

}  // namespace

RemoteSyscalls::RemoteSyscalls(Task& task, milliseconds timeout, IfReleased if_released)
    : task_(task), timeout_(timeout) {
  if (!task_.stopped())
    throw InjectError("remote syscalls need a stopped thread (" + std::to_string(task_.tid()) + ")");
  saved_ = Registers::capture(task_);
  site_ = find_syscall_site(task_.tid());
  if (if_released == IfReleased::kResumes) {
    const bool at_entry = task_.last_stop().kind == StopKind::kSyscall &&
                          syscall_stop_op(task_) == PTRACE_SYSCALL_INFO_ENTRY;
    code_ = FrameCode{find_sigreturn_trampoline(task_.tid()), find_syscall_ret(task_.tid()), site_};
    const long restarted = original_restart_nr(task_.tid(), saved_.gpr);
    frames_ = build_failsafe_frames(resume_context(saved_.gpr, at_entry, restarted), saved_, code_,
                                    sys::read_maps(task_.tid()));
    continuation_ = frames_->main_uc;
    original_stack_ = read_memory(task_.tid(), frames_->range.start, frames_->bytes.size());
    // From here on, P released at any instant returns to its own context.
    write_memory(task_.tid(), frames_->range.start, frames_->bytes);
    step("past.frames_written", task_.tid());
    task_.set_regs(safe_regs(task_.get_regs()));
    step("past.frames_armed", task_.tid());
  }
  task_.set_sigmask(kBlockAll);
}

// The registers of a thread that, resumed, runs rt_sigreturn on P's frame.
user_regs_struct RemoteSyscalls::safe_regs(user_regs_struct r) const {
  r.rip = code_.trampoline;
  r.rsp = continuation_;
  r.orig_rax = ~0ull;  // a pending syscall-entry is skipped, nothing is rewound
  r.eflags &= ~0x500ull;
  return r;
}

RemoteSyscalls::~RemoteSyscalls() {
  if (done_) return;
  try {
    restore();
  } catch (const TraceeDied& e) {
    spdlog::debug("inject: thread {} died before its context was restored: {}", task_.tid(), e.what());
  } catch (const std::exception& e) {
    spdlog::error("inject: restoring thread {} failed: {}", task_.tid(), e.what());
  }
}

RemoteSyscalls::Result RemoteSyscalls::call(long nr, std::array<uint64_t, 6> a) {
  if (done_) throw InjectError("remote syscall on a scope that was already restored");
  made_call_ = true;
  if (frames_) return call_resumable(nr, a);
  user_regs_struct r = saved_.gpr;
  r.rip = site_;
  r.rax = static_cast<uint64_t>(nr);
  r.orig_rax = ~0ull;
  r.rdi = a[0];
  r.rsi = a[1];
  r.rdx = a[2];
  r.r10 = a[3];
  r.r8 = a[4];
  r.r9 = a[5];
  r.rsp = kPoisonStack;
  r.rbp = kPoisonStack;
  r.eflags &= ~0x500ull;  // clear TF and DF
  task_.set_regs(r);

  Result res;
  bool entered = false;
  task_.resume(PTRACE_SYSCALL);
  for (;;) {
    Stop s = task_.wait(timeout_, "a remote syscall");
    switch (s.kind) {
      case StopKind::kSyscall: {
        int op = syscall_stop_op(task_);
        if (op == PTRACE_SYSCALL_INFO_ENTRY) {
          entered = true;
          break;
        }
        if (!entered) break;  // exit stop of something else: keep going
        res.ret = static_cast<int64_t>(task_.get_regs().rax);
        return res;
      }
      default:
        handle_other_stop(s, nr, res);
    }
    task_.resume(PTRACE_SYSCALL);
  }
}

// Stops other than the syscall stops a call waits for: events are noted, stop
// signals stashed for after the restore, anything else is an error.
void RemoteSyscalls::handle_other_stop(const Stop& s, long nr, Result& res) {
  switch (s.kind) {
    case StopKind::kEvent:
      if (s.event == PTRACE_EVENT_FORK || s.event == PTRACE_EVENT_CLONE || s.event == PTRACE_EVENT_VFORK)
        res.new_child = static_cast<pid_t>(task_.event_msg());
      if (s.event == PTRACE_EVENT_EXEC) res.exec_happened = true;
      return;
    case StopKind::kGroupStop:
      stashed_sigstop_ = true;
      return;
    case StopKind::kSignalDelivery:
      // Everything blockable is blocked: only SIGSTOP gets here, or a fault,
      // which a syscall instruction cannot raise.
      if (s.sig == SIGSTOP) {
        stashed_sigstop_ = true;
        return;
      }
      throw InjectError("unexpected " + s.describe() + " during remote syscall " + std::to_string(nr));
    case StopKind::kInterrupt:
    case StopKind::kSyscall:
      return;
    case StopKind::kExited:
    case StopKind::kKilled:
      done_ = true;
      throw TraceeDied("thread " + std::to_string(task_.tid()) + " " + s.describe() +
                       " during remote syscall " + std::to_string(nr));
  }
}

// Resumes the thread with PTRACE_SYSCALL until its next syscall stop of kind `op`
// (PTRACE_SYSCALL_INFO_ENTRY or _EXIT); other stops on the way are handled.
void RemoteSyscalls::next_syscall_stop(int op, long nr, Result& res) {
  for (;;) {
    task_.resume(PTRACE_SYSCALL);
    Stop s = task_.wait(timeout_, "a remote syscall");
    if (s.kind != StopKind::kSyscall)
      handle_other_stop(s, nr, res);
    else if (syscall_stop_op(task_) == op)
      return;
  }
}

// The past process: the thread runs the trampoline, and at its syscall-entry stop
// rt_sigreturn is swapped for `nr`, returning to the trampoline again. A P released
// before the swap runs rt_sigreturn; released after it, it finishes `nr` and then
// runs rt_sigreturn (through the reap frame while a clone child may live). Either
// way it is back in its own context.
RemoteSyscalls::Result RemoteSyscalls::call_resumable(long nr, const std::array<uint64_t, 6>& a) {
  Result res;
  next_syscall_stop(PTRACE_SYSCALL_INFO_ENTRY, nr, res);
  user_regs_struct r = task_.get_regs();
  if (r.orig_rax != SYS_rt_sigreturn || (r.rsp != frames_->main_uc && r.rsp != frames_->reap_uc))
    throw InjectError("remote syscall: thread " + std::to_string(task_.tid()) + " entered syscall " +
                      std::to_string(static_cast<int64_t>(r.orig_rax)) +
                      " instead of the fail-safe rt_sigreturn");
  step("past.syscall_entry", task_.tid());
  r.orig_rax = static_cast<uint64_t>(nr);
  r.rdi = a[0], r.rsi = a[1], r.rdx = a[2], r.r10 = a[3], r.r8 = a[4], r.r9 = a[5];
  r.rip = code_.trampoline;  // where the syscall returns to
  r.rsp = continuation_;     // and the frame it then runs if released
  task_.set_regs(r);
  step("past.syscall_armed", task_.tid());
  next_syscall_stop(PTRACE_SYSCALL_INFO_EXIT, nr, res);
  res.ret = static_cast<int64_t>(task_.get_regs().rax);
  step("past.syscall_done", task_.tid());
  return res;
}

RemoteSyscalls::Result RemoteSyscalls::clone_reaped(uint64_t flags) {
  if (!frames_) throw InjectError("clone_reaped needs a fail-safe scope (IfReleased::kResumes)");
  if (flags & 0xff) throw InjectError("clone_reaped: the exit signal is always 0");
  // From the clone's entry on, a released P runs the reap frame before its own.
  continuation_ = frames_->reap_uc;
  Result r = call(SYS_clone, {flags | CLONE_PARENT_SETTID, frames_->child_uc, frames_->reap_pid, 0, 0, 0});
  if (r.ret < 0) {  // no child: nothing to reap
    continuation_ = frames_->main_uc;
    task_.set_regs(safe_regs(task_.get_regs()));
  }
  return r;
}

void RemoteSyscalls::reap(pid_t child) {
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (long sleep_ns = 20000;; sleep_ns = std::min(sleep_ns * 2, 1000000L)) {
    int64_t r = call(SYS_wait4, {static_cast<uint64_t>(child), 0, __WALL | WNOHANG, 0, 0, 0}).ret;
    if (r == child) break;
    if (r != 0 || std::chrono::steady_clock::now() >= deadline)
      throw InjectError("the past process could not reap its child " + std::to_string(child) +
                        " (wait4 returned " + std::to_string(r) + ")");
    timespec ts{0, sleep_ns};
    nanosleep(&ts, nullptr);
  }
  // Reaped: a P released from now on goes straight home. (Released before this
  // line, its reap frame's wait4 fails with ECHILD and it goes home all the same.)
  continuation_ = frames_->main_uc;
  task_.set_regs(safe_regs(task_.get_regs()));
  step("past.child_reaped", child);
}

int64_t RemoteSyscalls::call_checked(const char* what, long nr, std::array<uint64_t, 6> args) {
  int64_t r = call(nr, args).ret;
  if (r < 0 && r > -4096)
    throw InjectError(std::string("remote ") + what + " in process " + std::to_string(task_.tid()) +
                      " failed: " + std::strerror(static_cast<int>(-r)));
  return r;
}

void RemoteSyscalls::restore() {
  if (done_) return;
  done_ = true;
  // A remote syscall that timed out left the thread running (in our syscall, its
  // registers still ours): stop it at its next stop of any kind. Never run it on
  // through a syscall stop (Task::interrupt would): P would go home through its
  // frame's rt_sigreturn.
  if (!task_.stopped()) {
    if (ptrace(PTRACE_INTERRUPT, task_.tid(), nullptr, nullptr) != 0)
      throw_errno("PTRACE_INTERRUPT of thread " + std::to_string(task_.tid()));
    Stop s = task_.wait(timeout_, "the stop of a timed-out remote syscall");
    if (!s.alive()) {
      throw TraceeDied("thread " + std::to_string(task_.tid()) + " " + s.describe() + " during a remote syscall");
    }
    if (s.kind == StopKind::kGroupStop || (s.kind == StopKind::kSignalDelivery && s.sig == SIGSTOP))
      stashed_sigstop_ = true;
  }
  // A call that failed between its entry and exit stops: skip the syscall (the
  // kernel runs none for orig_rax = -1) so the context goes back at an exit stop;
  // applied at an entry stop, P's own interrupted call would run right away.
  if (made_call_ && task_.last_stop().kind == StopKind::kSyscall &&
      syscall_stop_op(task_) == PTRACE_SYSCALL_INFO_ENTRY) {
    user_regs_struct r = task_.get_regs();
    r.orig_rax = ~0ull;
    task_.set_regs(r);
    Result ignored;
    next_syscall_stop(PTRACE_SYSCALL_INFO_EXIT, -1, ignored);
  }
  // Mask, FPU state, then registers: until the last, a released P still runs its
  // frame; from it on, the kernel restarts P's call itself. Never rt_sigreturn.
  saved_.apply(task_);
  step("past.context_restored", task_.tid());
  if (frames_) {
    write_memory(task_.tid(), frames_->range.start, original_stack_);
    step("past.stack_restored", task_.tid());
  }
  // A signal that arrived while we worked in a thread whose epoll_wait we had
  // rewound: let it interrupt that call (EINTR), as it would have without us.
  if (auto original = task_.eintr_original_of(saved_.gpr))
    if (task_.signal_pending_unblocked(saved_.sigmask)) task_.set_regs(*original);
  // Pass once through the signal path so the kernel's own restart logic sees the
  // saved rax/orig_rax, and the thread ends in an interrupt stop as it began.
  if (ptrace(PTRACE_INTERRUPT, task_.tid(), nullptr, nullptr) != 0)
    throw_errno("PTRACE_INTERRUPT while restoring thread " + std::to_string(task_.tid()));
  task_.resume(PTRACE_CONT);
  for (;;) {
    Stop s = task_.wait(timeout_, "the restore stop");
    if (s.kind == StopKind::kInterrupt) break;
    if (s.kind == StopKind::kGroupStop) break;  // stopped by a SIGSTOP just now: kept
    if (!s.alive())
      throw TraceeDied("thread " + std::to_string(task_.tid()) + " " + s.describe() +
                       " while being restored");
    // A signal reaching delivery here is delivered now, once.
    task_.resume(PTRACE_CONT, s.kind == StopKind::kSignalDelivery ? s.sig : 0);
  }
  if (stashed_sigstop_) {
    stashed_sigstop_ = false;
    ::kill(task_.tid(), SIGSTOP);  // stops the whole group, like the original
  }
}

}  // namespace ttst::inject
