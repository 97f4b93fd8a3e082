// registers.cc — see registers.h.
#include "inject/registers.h"

#include <cstring>
#include <fmt/format.h>

namespace ttst::inject {

Registers Registers::capture(Task& task) {
  Registers r;
  r.gpr = task.get_regs();
  r.xstate = task.get_xstate();
  r.sigmask = task.get_sigmask();
  return r;
}

void Registers::apply(Task& task) const {
  task.set_sigmask(sigmask);
  task.set_xstate(xstate);
  task.set_regs(gpr);
}

bool Registers::operator==(const Registers& o) const { return first_difference(o).empty(); }

std::string Registers::first_difference(const Registers& o) const {
  static const char* const kNames[] = {
      "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
      "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
      "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs"};
  static_assert(sizeof(user_regs_struct) == sizeof kNames / sizeof kNames[0] * 8);
  const auto* a = reinterpret_cast<const unsigned long long*>(&gpr);
  const auto* b = reinterpret_cast<const unsigned long long*>(&o.gpr);
  for (size_t i = 0; i < sizeof kNames / sizeof kNames[0]; ++i)
    if (a[i] != b[i]) return fmt::format("{}: {:#x} != {:#x}", kNames[i], a[i], b[i]);
  if (sigmask != o.sigmask) return fmt::format("sigmask: {:#x} != {:#x}", sigmask, o.sigmask);
  if (xstate.size() != o.xstate.size())
    return fmt::format("xstate size: {} != {}", xstate.size(), o.xstate.size());
  for (size_t i = 0; i < xstate.size(); ++i)
    if (xstate[i] != o.xstate[i])
      return fmt::format("xstate byte {}: {:#x} != {:#x}", i, xstate[i], o.xstate[i]);
  return "";
}

bool is_restart_code(int64_t rax) {
  // ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK
  return rax == -512 || rax == -513 || rax == -514 || rax == -516;
}

}  // namespace ttst::inject
