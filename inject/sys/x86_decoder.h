// x86_decoder.h — one Capstone x86-64 decoder: its handle and its instruction
// buffer, closed on destruction.
// Why: dwarfmeta (allocation sites, PLT stubs), the quiescence rule (the call before
// a return address) and inject (the vDSO's syscall, a crash's instruction) all
// decode x86-64; one owner of Capstone's handle instead of one per user.
// A handle is not thread-safe: one decoder per thread.
#pragma once

#include <capstone/capstone.h>

#include <cstddef>
#include <cstdint>

namespace ttst::sys {

class X86Decoder {
 public:
  // `detail`: operand details too (slower). Check opened(): Capstone may fail to start.
  explicit X86Decoder(bool detail = false);
  ~X86Decoder();
  X86Decoder(const X86Decoder&) = delete;
  X86Decoder& operator=(const X86Decoder&) = delete;

  bool opened() const { return insn_ != nullptr; }
  csh handle() const { return handle_; }
  // The instruction at `code` (code, size and address then advanced past it), or
  // nullptr when the bytes there do not decode (nothing advanced). Valid until the
  // next call.
  const cs_insn* next(const uint8_t*& code, size_t& size, uint64_t& address);

 private:
  csh handle_ = 0;
  cs_insn* insn_ = nullptr;
};

}  // namespace ttst::sys
