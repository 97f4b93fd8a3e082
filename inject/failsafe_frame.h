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
// The frames are only ever run by the kernel for a P released by a dying
// supervisor; the supervisor itself never lets P execute rt_sigreturn (it resets the
// kernel's restart record, so a call restarted through restart_syscall would fail
// with EINTR): it puts P's context back with the register setters instead.
//
// A released P restarts the ORIGINAL interrupted call with its original arguments
// (still in its registers): not restart_syscall, which after rt_sigreturn fails
// with EINTR. Absolute timeouts and those the kernel rewrites in the caller's
// memory (select, pselect6, ppoll) lose nothing; a relative timeout kept only in
// the kernel's restart record (poll, nanosleep, relative clock_nanosleep, futex
// FUTEX_WAIT) starts again in full: see inject/README.md for the exact bound.
//
// A child that P's remote clone creates gets a second frame as its stack: released
// untraced, it returns through the trampoline into `exit(0)` at the vDSO's syscall
// instruction, so no stray copy of P can ever run P's code. A third frame reaps it:
// while the child may exist, a released P first runs wait4(child, NULL, __WALL)
// at a `syscall; ret` in libc and `ret`s into the trampoline on its own frame, so
// the child never stays a zombie of P. The child's pid gets into that frame by the
// clone itself (CLONE_PARENT_SETTID pointed at the frame's rdi slot).
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <vector>

#include "inject/memory.h"
#include "inject/registers.h"
#include "inject/sys/proc_maps.h"

namespace ttst::inject {

// The context P resumes in when released from its current stop without a tracer:
// an interrupted syscall (rax = -ERESTART*) or a syscall-entry stop re-runs its
// syscall; anything else continues as is. A call the kernel already resumes
// through restart_syscall (orig_rax = 219: P was stopped and continued inside it,
// e.g. by an earlier attempt) is re-run as `restarted_nr` (original_restart_nr).
user_regs_struct resume_context(const user_regs_struct& saved, bool at_syscall_entry, long restarted_nr = -1);

// For a thread inside restart_syscall (orig_rax = 219, rax = -ERESTART_RESTARTBLOCK):
// the number of the call it resumes, read from the `mov eax, NR; syscall` that
// made it (glibc's wrappers), accepted only when NR is one of the calls the
// kernel resumes through its restart record (poll, nanosleep, clock_nanosleep,
// futex); -1 otherwise (such a P released by a dying supervisor sees EINTR).
long original_restart_nr(pid_t pid, const user_regs_struct& saved);

// The address of glibc's rt_sigreturn trampoline (`mov rax, 15; syscall`) in an
// executable mapping of `pid`; throws InjectError when there is none (a program
// not linked against glibc).
uint64_t find_sigreturn_trampoline(pid_t pid);
// The address of a `syscall; ret` sequence in an executable file mapping of `pid`
// (every glibc has them: getpid, ...); throws InjectError when there is none.
uint64_t find_syscall_ret(pid_t pid);

// The value the reap frame's pid slot holds until a clone writes its child's pid
// there: no process has it (above any pid_max), so wait4 fails with ECHILD.
inline constexpr uint32_t kNoChild = 0x7fffffff;

struct FailSafeFrames {
  Range range;                 // [start, end) of P's stack that the frames occupy
  std::vector<uint8_t> bytes;  // the frames, range.end - range.start bytes
  uint64_t main_uc = 0;        // rsp for P: its own context
  uint64_t reap_uc = 0;        // rsp for P while a clone child may live: reap it, then main_uc
  uint64_t reap_pid = 0;       // address of the reap frame's 32-bit pid (its rdi)
  uint64_t child_uc = 0;       // stack for a child of a remote clone: exit(0)
};

// Where the frames' code lives in P: the trampoline, a `syscall; ret`, and a
// `syscall` instruction (the vDSO's) for the child's exit.
struct FrameCode {
  uint64_t trampoline = 0;
  uint64_t syscall_ret = 0;
  uint64_t exit_site = 0;
};

// Lays out the three frames below `resume.rsp` minus the red zone, inside the
// mapping that holds the stack pointer. `saved` supplies the FPU state and signal
// mask. Throws InjectError when the stack mapping has no room or the FPU state
// lacks the kernel's xstate marker.
FailSafeFrames build_failsafe_frames(const user_regs_struct& resume, const Registers& saved,
                                     const FrameCode& code, const std::vector<sys::Mapping>& maps);

}  // namespace ttst::inject
