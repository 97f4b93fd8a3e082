// registers.h — the complete user-visible CPU context of a stopped thread:
// general registers (NT_PRSTATUS, includes fs_base/gs_base), the extended FPU
// state (NT_X86_XSTATE, sized at run time from CPUID) and the signal mask.
// TRUSTED: what the engine saves before touching a thread and puts back after.
#pragma once

#include <sys/user.h>

#include <cstdint>
#include <string>
#include <vector>

#include "inject/task.h"

namespace ttst::inject {

struct Registers {
  user_regs_struct gpr{};
  std::vector<uint8_t> xstate;
  uint64_t sigmask = 0;

  static Registers capture(Task& task);
  void apply(Task& task) const;

  bool operator==(const Registers& o) const;
  // First difference, for test and report messages ("" when equal).
  std::string first_difference(const Registers& o) const;
};

// The kernel's syscall-restart codes found in rax of a thread stopped inside an
// interrupted system call.
bool is_restart_code(int64_t rax);

}  // namespace ttst::inject
