// failsafe_frame.cc — see failsafe_frame.h.
#include "inject/failsafe_frame.h"

#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstddef>
#include <cstring>
#include <map>
#include <mutex>
#include <span>
#include <tuple>
#include <string>
#include <utility>

#include "inject/error.h"
#include "inject/remote_syscalls.h"
#include "inject/sys/hex.h"
#include "inject/sys/proc_maps.h"

namespace ttst::inject {
namespace {

// The kernel's x86-64 signal frame (arch/x86/include/uapi/asm/sigcontext.h and
// asm/ucontext.h). Spelled out here because glibc's headers define different
// structs of the same names.
struct KernelSigcontext {
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
  uint16_t cs, gs, fs, ss;
  uint64_t err, trapno, oldmask, cr2;
  uint64_t fpstate;  // address of the xsave image, 64-byte aligned; 0 = reset FPU
  uint64_t reserved1[8];
};
static_assert(sizeof(KernelSigcontext) == 256);

struct KernelUcontext {
  uint64_t uc_flags;
  uint64_t uc_link;
  uint64_t ss_sp;  // uc_stack: restored by rt_sigreturn unless invalid (below)
  int32_t ss_flags;
  int32_t ss_pad;
  uint64_t ss_size;
  KernelSigcontext mcontext;
  uint64_t sigmask;
};
static_assert(sizeof(KernelUcontext) == 304);

// rt_sigreturn reads the frame at rsp - 8: a return address, then the ucontext,
// then a siginfo.
constexpr size_t kPretcode = 8;
constexpr size_t kSiginfo = 128;
constexpr size_t kFrame = kPretcode + sizeof(KernelUcontext) + kSiginfo;
constexpr size_t kRedZone = 128;

constexpr uint64_t kUcFpXstate = 0x1, kUcSigcontextSs = 0x2, kUcStrictRestoreSs = 0x4;
// Neither 0, SS_ONSTACK nor SS_DISABLE: rt_sigreturn's sigaltstack restore fails
// with EINVAL (which it ignores), so P's alternate signal stack is left as it is.
constexpr int32_t kLeaveAltstackAlone = 3;

constexpr uint32_t kFpXstateMagic1 = 0x46505853, kFpXstateMagic2 = 0x46505845;
constexpr size_t kSwReservedOffset = 464;  // in the legacy 512-byte fxsave area

uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }
uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

KernelSigcontext sigcontext_of(const user_regs_struct& r) {
  KernelSigcontext sc{};
  sc.r8 = r.r8, sc.r9 = r.r9, sc.r10 = r.r10, sc.r11 = r.r11;
  sc.r12 = r.r12, sc.r13 = r.r13, sc.r14 = r.r14, sc.r15 = r.r15;
  sc.rdi = r.rdi, sc.rsi = r.rsi, sc.rbp = r.rbp, sc.rbx = r.rbx;
  sc.rdx = r.rdx, sc.rax = r.rax, sc.rcx = r.rcx, sc.rsp = r.rsp;
  sc.rip = r.rip, sc.eflags = r.eflags;
  sc.cs = static_cast<uint16_t>(r.cs), sc.gs = static_cast<uint16_t>(r.gs);
  sc.fs = static_cast<uint16_t>(r.fs), sc.ss = static_cast<uint16_t>(r.ss);
  return sc;
}

// What rt_sigreturn restores: registers `r`, the xsave image at `fpstate` (0: none,
// the FPU is reset), the signal mask; P's alternate signal stack left alone and ss
// restored strictly.
KernelUcontext ucontext_of(const user_regs_struct& r, uint64_t fpstate, uint64_t sigmask) {
  KernelUcontext uc{};
  uc.uc_flags = (fpstate ? kUcFpXstate : 0) | kUcSigcontextSs | kUcStrictRestoreSs;
  uc.ss_flags = kLeaveAltstackAlone;
  uc.mcontext = sigcontext_of(r);
  uc.mcontext.fpstate = fpstate;
  uc.sigmask = sigmask;
  return uc;
}

void put_ucontext(std::vector<uint8_t>& bytes, uint64_t base, uint64_t uc_addr, const KernelUcontext& uc) {
  std::memcpy(bytes.data() + (uc_addr - base), &uc, sizeof uc);
}

}  // namespace

user_regs_struct resume_context(const user_regs_struct& saved, bool at_syscall_entry, long restarted_nr) {
  user_regs_struct r = saved;
  const auto rax = static_cast<int64_t>(saved.rax);
  const bool in_syscall = static_cast<int64_t>(saved.orig_rax) >= 0;
  if (in_syscall && (at_syscall_entry || rax == -512 || rax == -513 || rax == -514)) {
    r.rax = saved.orig_rax;  // ERESTARTSYS / NOINTR / NOHAND, or not yet run: run again
    r.rip -= 2;
  } else if (in_syscall && rax == -516) {
    // ERESTART_RESTARTBLOCK: the kernel would resume through restart_syscall, but
    // rt_sigreturn (how a released P gets home) resets the restart record, and
    // restart_syscall would then fail with EINTR. Run the original call again,
    // with its arguments, which are still in the registers. A call that already was
    // a kernel restart (orig_rax = restart_syscall: P was stopped and continued
    // inside it) runs as `restarted_nr` (original_restart_nr), or, when that is
    // unknown, as restart_syscall, which then fails with EINTR (inject/README.md).
    r.rax = saved.orig_rax == SYS_restart_syscall && restarted_nr > 0 ? static_cast<uint64_t>(restarted_nr)
                                                                         : saved.orig_rax;
    r.rip -= 2;
  }
  return r;
}

long original_restart_nr(pid_t pid, const user_regs_struct& saved) {
  if (saved.orig_rax != SYS_restart_syscall || static_cast<int64_t>(saved.rax) != -516) return -1;
  uint8_t b[7];
  if (try_read_memory(pid, saved.rip - sizeof b, b) != sizeof b) return -1;
  if (b[0] != 0xb8 || b[2] || b[3] || b[4] || b[5] != 0x0f || b[6] != 0x05) return -1;
  const long nr = b[1];
  return nr == SYS_poll || nr == SYS_nanosleep || nr == SYS_clock_nanosleep || nr == SYS_futex ? nr : -1;
}

namespace {

// The address of `pattern` in an executable file mapping of `pid` (cached by file
// and offset, and checked again each time: never trusted); 0 when there is none.
uint64_t find_code(pid_t pid, std::span<const uint8_t> pattern) {
  static std::mutex mu;
  static std::map<std::tuple<std::vector<uint8_t>, std::string, uint64_t>, uint64_t> known;
  std::lock_guard lock(mu);
  const std::vector<uint8_t> key(pattern.begin(), pattern.end());
  auto is_there = [&](uint64_t addr) {
    std::vector<uint8_t> b(pattern.size());
    return try_read_memory(pid, addr, b) == b.size() && b == key;
  };
  std::vector<sys::Mapping> maps = sys::read_maps(pid);
  for (const sys::Mapping& m : maps) {
    auto it = known.find({key, m.path, m.offset});
    if (it != known.end() && m.start + it->second < m.end && is_there(m.start + it->second))
      return m.start + it->second;
  }
  for (const sys::Mapping& m : maps) {
    if (m.perms.size() < 3 || m.perms[2] != 'x' || !m.readable() || m.path.empty() || m.path[0] != '/')
      continue;
    std::vector<uint8_t> text(m.end - m.start);
    size_t n = try_read_memory(pid, m.start, text);
    for (size_t i = 0; i + pattern.size() <= n; ++i)
      if (text[i] == pattern[0] && std::memcmp(&text[i], pattern.data(), pattern.size()) == 0) {
        known[{key, m.path, m.offset}] = i;
        return m.start + i;
      }
  }
  return 0;
}

}  // namespace

uint64_t find_sigreturn_trampoline(pid_t pid) {
  static const uint8_t kTrampoline[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
  if (uint64_t a = find_code(pid, kTrampoline)) return a;
  throw InjectError("process " + std::to_string(pid) +
                    " has no rt_sigreturn trampoline (is it linked against glibc?)");
}

uint64_t find_syscall_ret(pid_t pid) {
  static const uint8_t kSyscallRet[] = {0x0f, 0x05, 0xc3};
  if (uint64_t a = find_code(pid, kSyscallRet)) return a;
  throw InjectError("process " + std::to_string(pid) + " has no `syscall; ret` sequence (is it linked against glibc?)");
}

FailSafeFrames build_failsafe_frames(const user_regs_struct& resume, const Registers& saved,
                                     const FrameCode& code, const std::vector<sys::Mapping>& maps) {
  const size_t xsize = saved.xstate.size();
  if (xsize < 512 + 64) throw InjectError("the saved FPU state is too small for a signal frame");
  // ptrace's xsave image keeps XCR0 (the user feature mask) where a signal frame
  // keeps its software-reserved descriptor; write the descriptor rt_sigreturn
  // checks (struct _fpx_sw_bytes) in its place.
  uint64_t xcr0 = 0;
  std::memcpy(&xcr0, saved.xstate.data() + kSwReservedOffset, sizeof xcr0);
  if ((xcr0 & 0x3) != 0x3) throw InjectError("the saved FPU state has no XCR0 word; cannot build a signal frame");
  struct {
    uint32_t magic1, extended_size;
    uint64_t xfeatures;
    uint32_t xstate_size, padding[7];
  } sw{kFpXstateMagic1, static_cast<uint32_t>(xsize + sizeof kFpXstateMagic2), xcr0,
       static_cast<uint32_t>(xsize), {}};
  static_assert(sizeof sw == 48);

  // From the top down: FPU image (64-aligned), P's frame, the reap frame, the
  // child's frame.
  const uint64_t top = align_down(resume.rsp - kRedZone, 64);
  const uint64_t fp = align_down(top - align_up(xsize + sizeof kFpXstateMagic2, 64), 64);
  const uint64_t main_frame = align_down(fp - kFrame, 16);
  const uint64_t reap_frame = align_down(main_frame - kFrame, 16);
  const uint64_t child_frame = align_down(reap_frame - kFrame, 16);
  FailSafeFrames f;
  f.range = {child_frame, top};
  f.main_uc = main_frame + kPretcode;
  f.reap_uc = reap_frame + kPretcode;
  f.reap_pid = f.reap_uc + offsetof(KernelUcontext, mcontext) + offsetof(KernelSigcontext, rdi);
  f.child_uc = child_frame + kPretcode;

  bool room = false;
  for (const sys::Mapping& m : maps)
    if (m.start <= resume.rsp - 1 && resume.rsp - 1 < m.end)
      room = m.writable() && m.start <= child_frame;
  if (!room)
    throw InjectError("no room for the fail-safe frame below the stack pointer " + sys::hex_digits(resume.rsp) +
                      " (" + std::to_string(top - child_frame) + " bytes needed)");

  f.bytes.assign(top - child_frame, 0);
  std::memcpy(f.bytes.data() + (fp - child_frame), saved.xstate.data(), xsize);
  std::memcpy(f.bytes.data() + (fp - child_frame) + kSwReservedOffset, &sw, sizeof sw);
  std::memcpy(f.bytes.data() + (fp - child_frame) + xsize, &kFpXstateMagic2, sizeof kFpXstateMagic2);

  put_ucontext(f.bytes, child_frame, f.main_uc, ucontext_of(resume, fp, saved.sigmask));
  // The main frame's return address is the trampoline: `ret` at the end of the
  // reap chain lands there with rsp at P's context, as a signal handler returns.
  std::memcpy(f.bytes.data() + (main_frame - child_frame), &code.trampoline, sizeof code.trampoline);

  // The reap: wait4(child, NULL, __WALL, NULL) at a `syscall; ret`, every signal
  // blocked, the stack at the main frame's return address. The child's pid is
  // written into rdi's low half by the clone (CLONE_PARENT_SETTID).
  user_regs_struct w = resume;
  w.rip = code.syscall_ret;
  w.rax = SYS_wait4;
  w.rdi = kNoChild;
  w.rsi = 0;
  w.rdx = __WALL;
  w.r10 = 0;
  w.rsp = main_frame;
  w.eflags &= ~0x500ull;
  put_ucontext(f.bytes, child_frame, f.reap_uc, ucontext_of(w, 0, ~0ull));

  // The child: exit(0) at a syscall instruction, every signal blocked, no stack.
  user_regs_struct c = resume;
  c.rip = code.exit_site;
  c.rax = SYS_exit;
  c.rdi = 0;
  c.rsp = kPoisonStack;
  c.rbp = kPoisonStack;
  put_ucontext(f.bytes, child_frame, f.child_uc, ucontext_of(c, 0, ~0ull));
  return f;
}

}  // namespace ttst::inject
