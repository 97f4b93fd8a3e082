// future_startup.cc — see future_startup.h.
#include "supervisor/future_startup.h"

#include <signal.h>

#include <cstdio>
#include <optional>
#include <string>

#include "inject/decode.h"
#include "inject/sys/signals.h"
#include "supervisor/quiesce/quiesce.h"
#include "supervisor/transaction_end.h"

namespace ttst::supervisor {
namespace {

// F in the stop of the fault `sig`: where it is, for the report.
Crash describe_fault(inject::ChildProcess& f, const Executable& v2, int sig) {
  inject::Task& t = f.task();
  Crash c;
  c.process = "future";
  c.signal = sig;
  siginfo_t si = t.get_siginfo();
  c.fault_address = reinterpret_cast<uint64_t>(si.si_addr);
  const inject::RemoteAddr rip(t.get_regs().rip);
  c.instruction = inject::decode_remote_instruction(f.pid(), rip.value()).text;
  try {
    const inject::LinkAddr at = rip - v2.bias_in(f.pid());
    if (const dwarfmeta::Function* fn = v2.program().function_at(at.value())) {
      char off[32];
      std::snprintf(off, sizeof off, "+0x%llx", static_cast<unsigned long long>(at.value() - fn->low));
      c.symbol = fn->id + off;
    }
  } catch (const std::exception&) {  // no symbol: the report says "?"
  }
  return c;
}

}  // namespace

void run_future_to_update_point(inject::ChildProcess& f, const Executable& v2, std::chrono::milliseconds budget) {
  std::optional<Crash> crash;
  auto on_signal = [&](const inject::Stop& s) {
    if (sys::is_crash_signal(s.sig) && !crash) crash = describe_fault(f, v2, s.sig);
  };
  std::optional<inject::Stop> s = f.task().run_to_syscall(
      [](const user_regs_struct& r) { return quiesce::at_any_marker(r); }, budget, on_signal);
  if (!s)
    rollback(Reason::kNoUpdatePoint, "the new version did not reach an update point within the time limit",
             "check that v2's event loop holds TTST_UPDATE_POINT(), or raise --timeout");
  if (s->kind == inject::StopKind::kExited)
    rollback(Reason::kStartupCrash,
             "the new version exited with status " + std::to_string(s->exit_code) +
                 " during start-up, before its update point",
             "run v2 by hand to see why it exits; the old version keeps serving");
  if (s->kind == inject::StopKind::kKilled) {
    std::string where;
    if (crash) {
      where = " at " + (crash->symbol.empty() ? std::string("?") : crash->symbol);
      if (!crash->instruction.empty()) where += " (" + crash->instruction + ")";
    } else {
      crash = Crash{"future", s->sig, 0, "", ""};
    }
    rollback(Reason::kStartupCrash,
             "the new version crashed during start-up: " + sys::signal_name(s->sig) + where,
             "fix v2's start-up (run it by hand or under gdb); the old version keeps serving", crash);
  }
}

}  // namespace ttst::supervisor
