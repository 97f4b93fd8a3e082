// call_sites.cc — see call_sites.h.
#include "supervisor/quiesce/call_sites.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "inject/memory.h"
#include "inject/sys/x86_decoder.h"

namespace ttst::quiesce {
namespace {

constexpr uint64_t kMaxInsn = 15;                // longest x86 instruction
constexpr uint64_t kMaxFunction = 16ull << 20;   // larger: kUnknown, not a huge read

// The id of the instruction at *code (code, size and address advanced past it),
// or 0 (X86_INS_INVALID) when it cannot be decoded. One decoder per thread (a
// Capstone handle is not thread-safe), details off: the id is all the rule needs.
unsigned next_instruction(const uint8_t*& code, size_t& size, uint64_t& address) {
  thread_local sys::X86Decoder decoder;
  if (!decoder.opened()) throw std::runtime_error("capstone: cannot open an x86-64 decoder");
  const cs_insn* insn = decoder.next(code, size, address);
  return insn ? insn->id : 0;
}

}  // namespace

const char* call_check_name(CallCheck c) {
  switch (c) {
    case CallCheck::kCall: return "call";
    case CallCheck::kNotCall: return "not a call";
    case CallCheck::kUnknown: return "unknown";
  }
  return "?";
}

CallCheck call_ends_at(std::span<const uint8_t> code, uint64_t entry, uint64_t ret, uint64_t* direct_target) {
  if (direct_target) *direct_target = 0;
  if (ret <= entry) return CallCheck::kNotCall;  // no instruction of this function ends there
  const uint8_t* p = code.data();
  size_t size = code.size();
  uint64_t address = entry;
  unsigned id = 0;
  const uint8_t* last = p;
  while (address < ret) {
    last = p;
    id = next_instruction(p, size, address);
    if (id == X86_INS_INVALID) return CallCheck::kUnknown;  // undecodable, or the bytes ran out
  }
  if (address != ret) return CallCheck::kNotCall;  // `ret` is inside an instruction
  if (id != X86_INS_CALL) return CallCheck::kNotCall;
  // e8 rel32, exactly five bytes: a direct call, its target relative to `ret`.
  if (direct_target && p - last == 5 && last[0] == 0xe8) {
    int32_t rel;
    std::memcpy(&rel, last + 1, 4);
    *direct_target = ret + static_cast<uint64_t>(static_cast<int64_t>(rel));
  }
  return CallCheck::kCall;
}

CallCheck call_ends_at(pid_t pid, const UpdatePointMap& map, inject::LoadBias bias, inject::RemoteAddr ret,
                       uint64_t* direct_target) {
  if (direct_target) *direct_target = 0;
  if (ret.value() <= bias.value()) return CallCheck::kUnknown;
  const inject::LinkAddr link = ret - bias;
  const Function* f = map.function_at(link - 1);  // the function holding the call's last byte
  if (!f) {
    // Bytes before a function's entry that no symbol covers are padding between
    // functions: a function pointer, not a return address. Anything else: no symbol.
    const Function* g = map.function_at(link);
    return g && g->lo == link.value() ? CallCheck::kNotCall : CallCheck::kUnknown;
  }
  const uint64_t end = std::min(f->hi, link.value() + kMaxInsn);
  if (end - f->lo > kMaxFunction) return CallCheck::kUnknown;
  std::vector<uint8_t> code(end - f->lo);
  code.resize(inject::try_read_memory(pid, inject::LinkAddr(f->lo) + bias, code));
  return call_ends_at(code, f->lo, link.value(), direct_target);  // a link-time target
}

bool is_syscall(std::span<const uint8_t> code) {
  const uint8_t* p = code.data();
  size_t size = code.size();
  uint64_t address = 0;
  return next_instruction(p, size, address) == X86_INS_SYSCALL;
}

bool is_syscall_at(pid_t pid, inject::RemoteAddr addr) {
  uint8_t buf[kMaxInsn];
  size_t n = inject::try_read_memory(pid, addr, buf);
  return is_syscall(std::span<const uint8_t>(buf, n));
}

}  // namespace ttst::quiesce
