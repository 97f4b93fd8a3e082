// agent_session.cc — see agent_session.h.
#include "inject/agent_session.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <chrono>
#include <cstring>
#include <fmt/format.h>

#include "inject/decode.h"
#include "inject/error.h"
#include "inject/memory.h"
#include "inject/process.h"
#include "inject/remote_syscalls.h"
#include "inject/steps.h"
#include "inject/sys/proc_status.h"
#include "inject/sys/signals.h"

namespace ttst::inject {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kGuardSize = 16 * kPage;
uint64_t page_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }
uint64_t sigbit(int sig) { return 1ull << (sig - 1); }

struct Layout {
  uint64_t desc, meta_self, meta_peer, plugin, output, heap, guard, stack, total;
};

Layout plan(const AgentImage& image, const AgentRequest& rq) {
  Layout l{};
  uint64_t at = image.span();
  l.desc = at;
  at += page_up(sizeof(ttst_agent_desc));
  l.meta_self = at;
  at += page_up(rq.meta_self.size());
  l.meta_peer = at;
  at += page_up(rq.meta_peer.size());
  l.plugin = at;
  at += page_up(rq.plugin.size());
  l.output = at;
  at += page_up(rq.output_size);
  l.heap = at;
  at += page_up(rq.heap_size);
  l.guard = at;
  at += kGuardSize;
  l.stack = at;
  at += page_up(rq.stack_size);
  l.total = at;
  return l;
}

int32_t tgid_of(pid_t tid) {
  std::optional<sys::ProcStatus> status = sys::ProcStatus::read(tid);
  return status && status->tgid() != 0 ? status->tgid() : tid;
}

}  // namespace

std::string AgentOutcome::describe() const {
  switch (kind) {
    case Kind::kFinished:
      return fmt::format("agent finished with status {}", status);
    case Kind::kCrashed:
      if (!escaped.empty())
        return fmt::format("agent crashed: {}, at `{}` ({})", escaped, instruction,
                           symbol.empty() ? "outside the agent" : symbol);
      return fmt::format("agent crashed: {} (si_code {}) at address {:#x}{}, instruction `{}` at {:#x} ({})",
                         sys::signal_name(signal), si_code, fault_address,
                         stack_overflow ? " (stack overflow)" : "", instruction, rip,
                         symbol.empty() ? "outside the agent" : symbol);
    case Kind::kHung:
      return fmt::format("agent hung: no result before the timeout, stopped at `{}` at {:#x} ({})",
                         instruction, rip, symbol.empty() ? "outside the agent" : symbol);
    case Kind::kDied:
      return "the process the agent ran in died";
  }
  return "?";
}

AgentOutcome run_agent(Task& thread, const AgentRequest& rq, const AgentImage& image) {
  AgentOutcome out;
  const pid_t tid = thread.tid();
  const int32_t pid = tgid_of(tid);
  Layout l = plan(image, rq);
  RemoteSyscalls rs(thread);
  try {
    // 1. Map the region (read-write, private, anywhere the kernel finds room: it
    //    collides with nothing in this process).
    uint64_t base = static_cast<uint64_t>(rs.call_checked(
        "mmap of the agent region", SYS_mmap,
        {0, l.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
         static_cast<uint64_t>(-1), 0}));
    out.region_start = base;
    out.region_size = l.total;

    // 2. Relocated image, descriptor and blobs, in one write.
    std::vector<uint8_t> blob = image.relocated(base);
    blob.resize(l.plugin + page_up(rq.plugin.size()), 0);
    ttst_agent_desc desc{};
    desc.magic = TTST_AGENT_MAGIC;
    desc.abi_version = TTST_AGENT_ABI_VERSION;
    desc.task = rq.task;
    desc.mode = rq.mode;
    desc.peer_pid = rq.peer_pid;
    desc.self_pid = pid;
    desc.region = {base, l.total};
    auto range = [base](uint64_t off, uint64_t size) {
      return ttst_agent_range{size ? base + off : 0, size};
    };
    desc.meta_self = range(l.meta_self, rq.meta_self.size());
    desc.meta_peer = range(l.meta_peer, rq.meta_peer.size());
    desc.plugin = range(l.plugin, rq.plugin.size());
    desc.output = range(l.output, rq.output_size);
    desc.heap = range(l.heap, rq.heap_size);
    desc.stack = range(l.stack, page_up(rq.stack_size));
    for (size_t i = 0; i < rq.args.size(); ++i) desc.arg[i] = rq.args[i];
    std::memcpy(blob.data() + l.desc, &desc, sizeof desc);
    std::copy(rq.meta_self.begin(), rq.meta_self.end(), blob.begin() + l.meta_self);
    std::copy(rq.meta_peer.begin(), rq.meta_peer.end(), blob.begin() + l.meta_peer);
    std::copy(rq.plugin.begin(), rq.plugin.end(), blob.begin() + l.plugin);
    write_memory(tid, base, blob);

    // 3. Code read-execute, read-only data read-only, guard pages inaccessible.
    for (const auto& run : image.protections())
      if (run.prot != (PROT_READ | PROT_WRITE))
        rs.call_checked("mprotect of the agent image", SYS_mprotect,
                        {base + run.offset, run.size, static_cast<uint64_t>(run.prot), 0, 0, 0});
    rs.call_checked("mprotect of the agent's guard pages", SYS_mprotect,
                    {base + l.guard, kGuardSize, PROT_NONE, 0, 0, 0});
    step("agent.loaded", pid);

    // 4. Start it: own stack, rdi = descriptor, clean FPU control state.
    user_regs_struct r = rs.saved().gpr;
    r.rip = base + image.entry();
    r.rsp = base + l.stack + page_up(rq.stack_size);
    r.rbp = 0;
    r.rdi = base + l.desc;
    r.orig_rax = ~0ull;
    r.eflags &= ~0x500ull;
    std::vector<uint8_t> xs = rs.saved().xstate;
    const uint16_t fcw = 0x37f;
    const uint32_t mxcsr = 0x1f80;
    std::memcpy(xs.data() + 0, &fcw, 2);
    std::memcpy(xs.data() + 24, &mxcsr, 4);
    // The fault signals stay unblocked while the agent runs: a fault is then
    // reported to the tracer without the kernel resetting the handler (which it
    // does for a blocked forced signal). Everything else stays blocked and pending.
    uint64_t mask = ~0ull;
    for (int s : sys::fault_signals()) mask &= ~sigbit(s);
    thread.set_xstate(xs);
    thread.set_regs(r);
    thread.set_sigmask(mask);
    // Any thread or process the agent tries to create is attached (with EXITKILL)
    // from its first instruction, so it cannot escape; it is then killed.
    thread.set_options(options_child() | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                       PTRACE_O_TRACECLONE);
    struct OptionsReset {
      Task& t;
      ~OptionsReset() {
        try {
          if (t.attached()) t.set_options(options_child());
        } catch (const std::exception&) {
        }
      }
    } options_reset{thread};
    auto t0 = std::chrono::steady_clock::now();
    thread.resume(PTRACE_CONT);
    step("agent.running", pid);

    // 5. Wait for the finish stop, a crash, or the timeout.
    for (;;) {
      auto left = rq.timeout - std::chrono::duration_cast<milliseconds>(
                                   std::chrono::steady_clock::now() - t0);
      std::optional<Stop> s = thread.wait_for(std::max(left, milliseconds(0)));
      if (!s) {  // hung
        out.kind = AgentOutcome::Kind::kHung;
        if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) throw_errno("interrupting a hung agent");
        for (;;) {
          Stop st = thread.wait(milliseconds(2000), "the hung agent to stop");
          if (!st.alive()) {
            rs.abandon();
            out.kind = AgentOutcome::Kind::kDied;
            return out;
          }
          if (st.kind == StopKind::kInterrupt || st.kind == StopKind::kGroupStop ||
              st.kind == StopKind::kSignalDelivery)
            break;
          thread.resume(PTRACE_CONT);
        }
        out.rip = thread.get_regs().rip;
        break;
      }
      if (!s->alive()) {
        rs.abandon();
        out.kind = AgentOutcome::Kind::kDied;
        return out;
      }
      if (s->kind == StopKind::kSignalDelivery) {
        siginfo_t si = thread.get_siginfo();
        if (s->sig == SIGSTOP && si.si_code == SI_TKILL && si.si_pid == pid) {
          out.kind = AgentOutcome::Kind::kFinished;
          break;
        }
        out.kind = AgentOutcome::Kind::kCrashed;
        out.signal = s->sig;
        out.si_code = si.si_code;
        bool fault = si.si_code > 0 && sys::is_fault_signal(s->sig);  // sent by the kernel
        out.fault_address = fault ? reinterpret_cast<uint64_t>(si.si_addr) : 0;
        out.rip = thread.get_regs().rip;
        uint64_t rsp = thread.get_regs().rsp;
        out.stack_overflow =
            (s->sig == SIGSEGV || s->sig == SIGBUS) &&
            ((out.fault_address >= base + l.guard && out.fault_address < base + l.stack) ||
             (rsp >= base + l.guard - kPage && rsp < base + l.stack + kPage));
        break;
      }
      if (s->kind == StopKind::kEvent) {
        if (s->event == PTRACE_EVENT_EXEC) {  // the agent's process image is gone
          out.kind = AgentOutcome::Kind::kCrashed;
          out.instruction = "execve";
          out.escaped = "the agent replaced the process image (execve)";
          rs.abandon();
          return out;
        }
        if (s->event == PTRACE_EVENT_FORK || s->event == PTRACE_EVENT_VFORK ||
            s->event == PTRACE_EVENT_CLONE) {
          auto child = static_cast<pid_t>(thread.event_msg());
          std::optional<sys::ProcStatus> child_status = sys::ProcStatus::read(child);
          if (child_status && child_status->tgid() != pid) {
            // A separate process: kill it now (we are its tracer, we reap it).
            ::kill(child, SIGKILL);
            waitpid(child, nullptr, __WALL);
            out.escaped = "the agent tried to create a process (killed)";
          } else {
            // A thread of this process: SIGKILL would kill the process; it stays
            // stopped and traced (EXITKILL) until the caller discards the process.
            out.escaped = "the agent created a thread; discard this process";
          }
          out.kind = AgentOutcome::Kind::kCrashed;
          // The event stop is inside the syscall: let it finish (exit stop) so the
          // next remote syscall starts from a clean state.
          for (;;) {
            thread.resume(PTRACE_SYSCALL);
            Stop st = thread.wait(milliseconds(2000), "the end of the agent's fork");
            if (!st.alive()) {
              rs.abandon();
              out.kind = AgentOutcome::Kind::kDied;
              return out;
            }
            if (st.kind == StopKind::kSyscall) break;
          }
          out.rip = thread.get_regs().rip;
          break;
        }
      }
      // Syscall/group stops are not outcomes: let it run on.
      thread.resume(PTRACE_CONT);
    }

    // 6. Results and the report details.
    if (out.kind == AgentOutcome::Kind::kFinished) {
      ttst_agent_desc back{};
      read_memory(tid, base + l.desc, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&back), sizeof back));
      out.status = back.status;
      for (size_t i = 0; i < 4; ++i) out.detail[i] = back.detail[i];
      uint64_t used = std::min<uint64_t>(back.output_used, rq.output_size);
      out.output = read_memory(tid, base + l.output, used);
    } else {
      uint64_t at = out.rip;
      Instruction ins = decode_remote_instruction(tid, at);
      // A signal sent by a syscall (abort's tgkill): name that syscall instruction.
      if ((out.si_code <= 0 && out.signal) || !out.escaped.empty()) {
        Instruction prev = decode_remote_instruction(tid, at - 2);
        if (prev.text == "syscall") ins = prev, at -= 2;
      }
      out.instruction = ins.text.empty() ? "(unreadable)" : ins.text;
      out.rip = at;
      if (at >= base && at < base + image.span()) out.symbol = image.symbolize(at - base);
    }
    step("agent.finished", pid);

    // 7. Remove every trace: unmap, then the scope restores registers and mask.
    rs.call_checked("munmap of the agent region", SYS_munmap, {base, l.total, 0, 0, 0, 0});
    rs.restore();
  } catch (const TraceeDied&) {
    rs.abandon();
    out.kind = AgentOutcome::Kind::kDied;
  }
  return out;
}

}  // namespace ttst::inject
