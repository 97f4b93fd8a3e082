// failsafe_frame.h — what keeps the past process (P) whole if the supervisor dies
// in the middle of a remote system call. TRUSTED.
//
// A remote syscall in P replaces its registers for a moment. If the supervisor is
// killed then, the kernel detaches P and it runs on from whatever its registers say.
// So while P runs our syscalls its registers always say "return to where you were":
// rip points at glibc's signal trampoline (`mov rax, 15; syscall`, i.e.
// rt_sigreturn) and rsp at a kernel signal frame holding P's own context (general
// registers with any interrupted syscall set up to restart, FPU/AVX state, signal
// mask). A P released at any instant executes rt_sigreturn and continues exactly as
// if never stopped; the only trace is the frame's bytes below its stack pointer and
// red zone, where the kernel itself writes signal frames (the supervisor puts the
// original bytes back when it finishes).
//
// A child that P's remote clone creates gets a second frame as its stack: released
// untraced, it returns through the trampoline into `exit(0)` at the vDSO's syscall
// instruction, so no stray copy of P can ever run P's code.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <vector>

#include "inject/memory.h"
#include "inject/registers.h"

namespace ttst::inject {

// The context P resumes in when released from its current stop without a tracer:
// an interrupted syscall (rax = -ERESTART*) or a syscall-entry stop re-runs its
// syscall; anything else continues as is.
user_regs_struct resume_context(const user_regs_struct& saved, bool at_syscall_entry);

// The address of glibc's rt_sigreturn trampoline (`mov rax, 15; syscall`) in an
// executable mapping of `pid`; throws InjectError when there is none (a program
// not linked against glibc).
uint64_t find_sigreturn_trampoline(pid_t pid);

struct FailSafeFrames {
  Range range;                 // [start, end) of P's stack that the frames occupy
  std::vector<uint8_t> bytes;  // the frames, range.end - range.start bytes
  uint64_t main_uc = 0;        // rsp for P: its own context
  uint64_t child_uc = 0;       // stack for a child of a remote clone: exit(0)
};

// Lays out both frames below `resume.rsp` minus the red zone, inside the mapping
// that holds the stack pointer. `saved` supplies the FPU state and signal mask,
// `exit_site` the address of a `syscall` instruction. Throws InjectError when the
// stack mapping has no room or the FPU state lacks the kernel's xstate marker.
FailSafeFrames build_failsafe_frames(const user_regs_struct& resume, const Registers& saved,
                                     uint64_t exit_site, const std::vector<Mapping>& maps);

}  // namespace ttst::inject
