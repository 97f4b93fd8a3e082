// remote_syscalls.cc — see remote_syscalls.h.
#include "inject/remote_syscalls.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include <cstring>
#include <spdlog/spdlog.h>

#include "inject/decode.h"
#include "inject/error.h"

namespace ttst::inject {
namespace {

constexpr uint64_t kBlockAll = ~0ull;

// True when the thread sits at a syscall-entry stop (PTRACE_GET_SYSCALL_INFO).
int syscall_stop_op(Task& t) {
  struct __ptrace_syscall_info info;
  std::memset(&info, 0, sizeof info);
  long n = ptrace(static_cast<__ptrace_request>(PTRACE_GET_SYSCALL_INFO), t.tid(),
                  reinterpret_cast<void*>(sizeof info), &info);
  if (n <= 0) throw_errno("PTRACE_GET_SYSCALL_INFO");
  return info.op;
}

}  // namespace

RemoteSyscalls::RemoteSyscalls(Task& task, milliseconds timeout)
    : task_(task), timeout_(timeout) {
  if (!task_.stopped())
    throw InjectError("remote syscalls need a stopped thread (" + std::to_string(task_.tid()) + ")");
  saved_ = Registers::capture(task_);
  site_ = find_syscall_site(task_.tid());
  task_.set_sigmask(kBlockAll);
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
      case StopKind::kEvent:
        if (s.event == PTRACE_EVENT_FORK || s.event == PTRACE_EVENT_CLONE ||
            s.event == PTRACE_EVENT_VFORK)
          res.new_child = static_cast<pid_t>(task_.event_msg());
        if (s.event == PTRACE_EVENT_EXEC) res.exec_happened = true;
        break;
      case StopKind::kGroupStop:
        stashed_sigstop_ = true;
        break;
      case StopKind::kSignalDelivery:
        // Everything blockable is blocked: only SIGSTOP gets here, or a fault,
        // which a syscall instruction cannot raise.
        if (s.sig == SIGSTOP) {
          stashed_sigstop_ = true;
          break;
        }
        throw InjectError("unexpected " + s.describe() + " during remote syscall " +
                          std::to_string(nr));
      case StopKind::kInterrupt:
        break;
      case StopKind::kExited:
      case StopKind::kKilled:
        done_ = true;
        throw TraceeDied("thread " + std::to_string(task_.tid()) + " " + s.describe() +
                         " during remote syscall " + std::to_string(nr));
    }
    task_.resume(PTRACE_SYSCALL);
  }
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
  // A remote syscall that timed out left the thread running: stop it first.
  if (!task_.stopped()) task_.interrupt(timeout_);
  saved_.apply(task_);
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
