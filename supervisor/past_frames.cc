// past_frames.cc — see past_frames.h.
#include "supervisor/past_frames.h"

#include <cstring>
#include <string>

#include "stfw/stfw_task.h"
#include "supervisor/quiesce/unwind.h"

namespace ttst::supervisor {
namespace {

std::vector<ttst_stfw_frame> frames_of(const StoppedThread& t) {
  std::vector<ttst_stfw_frame> out;
  if (t.pid <= 0) return out;
  std::string doubt;
  quiesce::Unwinder unwinder(t.pid);
  const std::vector<quiesce::UnwoundFrame> frames = unwinder.unwind(t.regs, kMaxUnwoundFrames, doubt);
  for (size_t k = 0; k < frames.size(); ++k) {
    const quiesce::UnwoundFrame& f = frames[k];
    ttst_stfw_frame x{};
    x.pc = f.pc, x.cfa = f.cfa;
    if (k == 0) {  // every register of the stopped thread
      const user_regs_struct& r = t.regs;
      const uint64_t all[17] = {r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8,
                                r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip};
      std::memcpy(x.reg, all, sizeof all);
      x.known = (1u << 17) - 1;
    } else {  // a caller: its callee-saved registers as unwound, its rsp
      for (int i = 0; i < 6; ++i)
        if (f.saved_known & (1u << i)) x.reg[quiesce::kCalleeSaved[i]] = f.saved[i], x.known |= 1u << quiesce::kCalleeSaved[i];
      x.reg[7] = f.rsp, x.reg[16] = f.pc, x.known |= (1u << 7) | (1u << 16);
    }
    out.push_back(x);
  }
  return out;
}

void append(std::vector<uint8_t>& out, const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}

}  // namespace

std::vector<uint8_t> frames_input(const StoppedThread& peer, const StoppedThread& self) {
  const std::vector<ttst_stfw_frame> p = frames_of(peer), s = frames_of(self);
  ttst_stfw_frames_header h{TTST_STFW_FRAMES_MAGIC, static_cast<uint32_t>(p.size()), static_cast<uint32_t>(s.size())};
  std::vector<uint8_t> out;
  append(out, &h, sizeof h);
  if (!p.empty()) append(out, p.data(), p.size() * sizeof p[0]);
  if (!s.empty()) append(out, s.data(), s.size() * sizeof s[0]);
  return out;
}

}  // namespace ttst::supervisor
