// failsafe_frame.cc — see failsafe_frame.h.
#include "inject/failsafe_frame.h"

#include <sys/syscall.h>

#include <cstddef>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "inject/error.h"
#include "inject/remote_syscalls.h"

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

void put_ucontext(std::vector<uint8_t>& bytes, uint64_t base, uint64_t uc_addr, const KernelUcontext& uc) {
  std::memcpy(bytes.data() + (uc_addr - base), &uc, sizeof uc);
}

}  // namespace

user_regs_struct resume_context(const user_regs_struct& saved, bool at_syscall_entry) {
  user_regs_struct r = saved;
  const auto rax = static_cast<int64_t>(saved.rax);
  const bool in_syscall = static_cast<int64_t>(saved.orig_rax) >= 0;
  if (in_syscall && (at_syscall_entry || rax == -512 || rax == -513 || rax == -514)) {
    r.rax = saved.orig_rax;  // ERESTARTSYS / NOINTR / NOHAND, or not yet run: run again
    r.rip -= 2;
  } else if (in_syscall && rax == -516) {
    r.rax = SYS_restart_syscall;  // ERESTART_RESTARTBLOCK: the kernel's own resumption
    r.rip -= 2;
  }
  return r;
}

uint64_t find_sigreturn_trampoline(pid_t pid) {
  static const uint8_t kTrampoline[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
  // Where it was found before, by file and offset: checked again, never trusted.
  static std::mutex mu;
  static std::map<std::pair<std::string, uint64_t>, uint64_t> known;
  std::lock_guard lock(mu);
  auto is_trampoline = [pid](uint64_t addr) {
    uint8_t b[sizeof kTrampoline];
    return try_read_memory(pid, addr, b) == sizeof b && std::memcmp(b, kTrampoline, sizeof b) == 0;
  };
  std::vector<Mapping> maps = read_maps(pid);
  for (const Mapping& m : maps) {
    auto it = known.find({m.path, m.offset});
    if (it != known.end() && m.start + it->second < m.end && is_trampoline(m.start + it->second))
      return m.start + it->second;
  }
  for (const Mapping& m : maps) {
    if (m.perms.size() < 3 || m.perms[2] != 'x' || !m.readable() || m.path.empty() || m.path[0] != '/')
      continue;
    std::vector<uint8_t> text(m.end - m.start);
    size_t n = try_read_memory(pid, m.start, text);
    for (size_t i = 0; i + sizeof kTrampoline <= n; ++i)
      if (text[i] == kTrampoline[0] && std::memcmp(&text[i], kTrampoline, sizeof kTrampoline) == 0) {
        known[{m.path, m.offset}] = i;
        return m.start + i;
      }
  }
  throw InjectError("process " + std::to_string(pid) +
                    " has no rt_sigreturn trampoline (is it linked against glibc?)");
}

FailSafeFrames build_failsafe_frames(const user_regs_struct& resume, const Registers& saved,
                                     uint64_t exit_site, const std::vector<Mapping>& maps) {
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

  // From the top down: FPU image (64-aligned), P's frame, the child's frame.
  const uint64_t top = align_down(resume.rsp - kRedZone, 64);
  const uint64_t fp = align_down(top - align_up(xsize + sizeof kFpXstateMagic2, 64), 64);
  const uint64_t main_frame = align_down(fp - kFrame, 16);
  const uint64_t child_frame = align_down(main_frame - kFrame, 16);
  FailSafeFrames f;
  f.range = {child_frame, top};
  f.main_uc = main_frame + kPretcode;
  f.child_uc = child_frame + kPretcode;

  bool room = false;
  for (const Mapping& m : maps)
    if (m.start <= resume.rsp - 1 && resume.rsp - 1 < m.end)
      room = m.writable() && m.start <= child_frame;
  if (!room)
    throw InjectError("no room for the fail-safe frame below the stack pointer " + fmt_hex(resume.rsp) +
                      " (" + std::to_string(top - child_frame) + " bytes needed)");

  f.bytes.assign(top - child_frame, 0);
  std::memcpy(f.bytes.data() + (fp - child_frame), saved.xstate.data(), xsize);
  std::memcpy(f.bytes.data() + (fp - child_frame) + kSwReservedOffset, &sw, sizeof sw);
  std::memcpy(f.bytes.data() + (fp - child_frame) + xsize, &kFpXstateMagic2, sizeof kFpXstateMagic2);

  KernelUcontext uc{};
  uc.uc_flags = kUcFpXstate | kUcSigcontextSs | kUcStrictRestoreSs;
  uc.ss_flags = kLeaveAltstackAlone;
  uc.mcontext = sigcontext_of(resume);
  uc.mcontext.fpstate = fp;
  uc.sigmask = saved.sigmask;
  put_ucontext(f.bytes, child_frame, f.main_uc, uc);

  // The child: exit(0) at a syscall instruction, every signal blocked, no stack.
  user_regs_struct c = resume;
  c.rip = exit_site;
  c.rax = SYS_exit;
  c.rdi = 0;
  c.rsp = kPoisonStack;
  c.rbp = kPoisonStack;
  KernelUcontext cuc{};
  cuc.uc_flags = kUcSigcontextSs | kUcStrictRestoreSs;
  cuc.ss_flags = kLeaveAltstackAlone;
  cuc.mcontext = sigcontext_of(c);
  cuc.mcontext.fpstate = 0;
  cuc.sigmask = ~0ull;
  put_ucontext(f.bytes, child_frame, f.child_uc, cuc);
  return f;
}

}  // namespace ttst::inject
