// future_startup.cc — see future_startup.h.
#include "supervisor/future_startup.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "inject/decode.h"
#include "inject/memory.h"
#include "inject/sys/proc_maps.h"
#include "inject/sys/signals.h"
#include "supervisor/quiesce/quiesce.h"
#include "supervisor/time_limit.h"
#include "supervisor/transaction_end.h"

namespace ttst::supervisor {
namespace {

// "main+0x12" for a run-time address in v2's code, "" elsewhere. A return address
// is looked up by its call's last byte (`return_address`): after a call to a
// noreturn function such as abort() it is the first byte of the next function.
std::string program_location(const Executable& v2, inject::LoadBias bias, inject::RemoteAddr at,
                             bool return_address = false) {
  if (at.value() <= bias.value()) return "";
  const inject::LinkAddr link = at - bias;
  const dwarfmeta::Function* fn = v2.program().function_at(link.value() - (return_address ? 1 : 0));
  if (!fn) return "";
  char off[32];
  std::snprintf(off, sizeof off, "+0x%llx", static_cast<unsigned long long>(link.value() - fn->low));
  return fn->id + off;
}

// "libc.so.6+0x8eb1c": the file mapped at `at` in `pid` and the offset into it.
std::string mapping_location(pid_t pid, uint64_t at) {
  try {
    for (const sys::Mapping& m : sys::read_maps(pid))
      if (m.contains(at)) {
        const std::string name = m.path.empty() ? "anonymous memory" : std::filesystem::path(m.path).filename().string();
        char off[32];
        std::snprintf(off, sizeof off, "+0x%llx", static_cast<unsigned long long>(at - m.start + m.offset));
        return name + off;
      }
  } catch (const std::exception&) {
  }
  return "";
}

// F in the stop of the fault `sig`: where it is, for the report. Outside v2's own
// code (abort() in libc, a fault in a library), also the innermost v2 function on
// the stack, found as quiescence finds a thread's frame (quiesce.h).
struct Fault {
  Crash crash;
  bool raised_by_itself = false;  // sent by v2 to itself: abort(), raise(), kill()
};

Fault describe_fault(pid_t pid, inject::Task& t, const Executable& v2, int sig) {
  Fault fault;
  Crash& c = fault.crash;
  c.process = "future";
  c.signal = sig;
  const siginfo_t si = t.get_siginfo();
  const bool from_kernel = si.si_code > 0;  // a fault; else sent by a process (abort's tgkill)
  c.fault_address = from_kernel && sys::is_fault_signal(sig) ? reinterpret_cast<uint64_t>(si.si_addr) : 0;
  const user_regs_struct regs = t.get_regs();
  uint64_t at = regs.rip;
  inject::Instruction ins = inject::decode_remote_instruction(pid, at);
  if (!from_kernel) {  // sent by a system call: name that instruction
    inject::Instruction prev = inject::decode_remote_instruction(pid, at - 2);
    if (prev.text == "syscall") ins = prev, at -= 2;
  }
  c.instruction = ins.text;
  try {
    const inject::LoadBias bias = v2.bias_in(pid);
    c.symbol = program_location(v2, bias, inject::RemoteAddr(at));
    if (c.symbol.empty()) {
      c.symbol = mapping_location(pid, at);
      const inject::RemoteAddr ret =
          quiesce::innermost_program_return(pid, v2.update_points(), bias, inject::RemoteAddr(regs.rsp));
      if (std::string caller = ret.is_null() ? "" : program_location(v2, bias, ret, true); !caller.empty())
        c.symbol += (c.symbol.empty() ? "" : ", ") + std::string("called from ") + caller;
    }
  } catch (const std::exception&) {  // no symbol: the message says "at an unknown place"
  }
  fault.raised_by_itself = !from_kernel && si.si_pid == pid;
  return fault;
}

// " raised by v2 itself (abort(), raise()) in libc.so.6+0x8eb1c, called from
// main+0x2a (syscall)" / " at main+0x12 (mov dword ptr [rax], 0x2a)".
std::string where_it_crashed(const Fault& f) {
  const Crash& c = f.crash;
  std::string where = f.raised_by_itself ? ", raised by v2 itself (abort(), raise() or kill())" : "";
  if (c.symbol.empty())
    where += " at an unknown place";
  else
    where += (c.symbol.find("called from") != std::string::npos ? " in " : " at ") + c.symbol;
  if (!c.instruction.empty()) where += " (" + c.instruction + ")";
  return where;
}

// v2's start-up output on its descriptor 2, kept for the report: the last
// kStartupStderrMax bytes of every write(2, ...) and writev(2, ...) F entered.
class StderrTail {
 public:
  StderrTail(pid_t pid, std::string& out) : pid_(pid), out_(out) {}

  // At each syscall stop of F: a write to descriptor 2 being entered is read.
  void observe(const user_regs_struct& r) {
    if (static_cast<int64_t>(r.rax) != -ENOSYS || r.rdi != 2) return;  // entry stops only
    if (r.orig_rax == SYS_write) {
      append(r.rsi, r.rdx);
    } else if (r.orig_rax == SYS_writev) {
      iovec iov[16];
      const size_t n = std::min<uint64_t>(r.rdx, 16);
      std::span<uint8_t> bytes(reinterpret_cast<uint8_t*>(iov), n * sizeof(iovec));
      const size_t got = inject::try_read_memory(pid_, r.rsi, bytes) / sizeof(iovec);
      for (size_t i = 0; i < got; ++i) append(reinterpret_cast<uint64_t>(iov[i].iov_base), iov[i].iov_len);
    }
  }

 private:
  void append(uint64_t addr, uint64_t len) {
    const uint64_t take = std::min<uint64_t>(len, kStartupStderrMax);
    std::string bytes(take, '\0');
    bytes.resize(inject::try_read_memory(
        pid_, addr + (len - take), std::span<uint8_t>(reinterpret_cast<uint8_t*>(bytes.data()), bytes.size())));
    out_ += bytes;
    if (out_.size() > kStartupStderrMax) out_.erase(0, out_.size() - kStartupStderrMax);
  }

  pid_t pid_;
  std::string& out_;
};

// What F was doing when the start-up budget ran out (F running, traced).
std::string doing(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/syscall");
  std::string first;
  in >> first;
  if (first.empty() || first == "running") return "still running its start-up";
  if (first.find_first_not_of("0123456789") == std::string::npos)
    return std::string("waiting in ") + quiesce::syscall_name(std::stol(first)) + "() (system call " + first + ")";
  return "still running its start-up";
}

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

Crash describe_future_crash(inject::ChildProcess& future, const Executable& v2, int sig) {
  return describe_fault(future.pid(), future.task(), v2, sig).crash;
}

Crash describe_future_crash(pid_t future, inject::Task& thread, const Executable& v2, int sig) {
  return describe_fault(future, thread, v2, sig).crash;
}

void run_future_to_update_point(inject::ChildProcess& f, const Executable& v2, const StartupBudget& budget,
                                std::string& stderr_tail, StartupAdoption& adoption, StartupFiles& files,
                                FutureThreads* threads) {
  std::optional<Fault> crash;
  auto on_signal = [&](const inject::Stop& s) {
    if (sys::is_crash_signal(s.sig) && !crash) crash = describe_fault(f.pid(), f.task(), v2, s.sig);
  };
  StderrTail tail(f.pid(), stderr_tail);
  auto done = [&](const user_regs_struct& r) {
    tail.observe(r);
    adoption.observe(f.task());
    files.observe(f.task());
    return quiesce::at_any_marker(r);
  };
  // With `threads` (issue 19), the threads v2's start-up creates are traced and run
  // to their own markers too (future_threads.h), each held to the same start-up
  // policy as the main thread: every syscall stop of theirs seen by the same
  // observers (while this phase runs: they name this frame's locals).
  // A crash in one of them is described where that thread was, as the main thread's.
  struct ObserveOnlyHere {
    FutureThreads* t;
    ~ObserveOnlyHere() {
      if (t) t->observe_syscalls(nullptr), t->observe_signals(nullptr);
    }
  } observing{threads};
  pid_t crashed_thread = 0;
  if (threads) {
    threads->observe_syscalls([&](inject::Task& t) {
      tail.observe(t.get_regs());
      adoption.observe(t);
      files.observe(t);
    });
    threads->observe_signals([&](inject::Task& t, const inject::Stop& s) {
      if (!sys::is_crash_signal(s.sig) || crash) return;
      crash = describe_fault(f.pid(), t, v2, s.sig);
      crashed_thread = t.tid();
    });
  }
  const ProcessSched before = process_sched(f.pid());
  std::optional<inject::Stop> s = threads ? threads->run(f.task(), done, budget.left, on_signal)
                                          : f.task().run_to_syscall(done, budget.left, on_signal);
  if (!s) {
    const std::string what = doing(f.pid());
    // Starved: v2 waited for a CPU for a quarter of its time or more, or is waiting
    // now (runnable) having run for less than half of it — a busy machine, not a
    // start-up that never reaches its point.
    const ProcessSched after = process_sched(f.pid());
    const SchedTimes spent = after.sum.since(before.sum);
    const auto waited = std::chrono::milliseconds(spent.delay_ns / 1000000);
    const auto ran = std::chrono::milliseconds(spent.run_ns / 1000000);
    const bool starved = waited * 4 >= budget.left || (after.runnable && ran * 2 < budget.left);
    if (budget.left < budget.total / 2 || starved)
      rollback(Reason::kTimeout,
               "the time limit ran out during v2's start-up: " + ms(budget.left) + " of --timeout " +
                   ms(budget.total) + " were left for it" +
                   (starved ? ", in which v2 ran " + ms(ran) + " and waited " + ms(waited) +
                                  " for a CPU (a busy machine)"
                            : std::string()) +
                   ", and v2 was " + what,
               "raise --timeout (the phases before start-up used " + ms(budget.total - budget.left) + ")");
    rollback(Reason::kNoUpdatePoint,
             "the new version did not reach an update point within the " + ms(budget.left) +
                 " left of --timeout: it was " + what,
             "check that v2's start-up reaches the TTST_UPDATE_POINT() of its event loop, or raise --timeout if "
             "its start-up is that slow");
  }
  if (s->kind == inject::StopKind::kExited)
    rollback(Reason::kStartupCrash,
             "the new version exited with status " + std::to_string(s->exit_code) +
                 " during start-up, before its update point" +
                 (stderr_tail.empty() ? "" : " (its stderr is in the report)"),
             "run v2 by hand to see why it exits; the old version keeps serving");
  if (s->kind == inject::StopKind::kKilled) {
    if (!crash) crash = Fault{Crash{"future", s->sig, 0, "", ""}, false};
    rollback(Reason::kStartupCrash,
             "the new version crashed during start-up: " + sys::signal_name(s->sig) +
                 (crashed_thread ? " in its thread " + std::to_string(crashed_thread) : std::string()) +
                 where_it_crashed(*crash),
             "fix v2's start-up (run it by hand or under gdb); the old version keeps serving", crash->crash);
  }
}

}  // namespace ttst::supervisor
