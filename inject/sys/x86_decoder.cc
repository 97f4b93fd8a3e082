// x86_decoder.cc — see x86_decoder.h.
#include "inject/sys/x86_decoder.h"

namespace ttst::sys {

X86Decoder::X86Decoder(bool detail) {
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle_) != CS_ERR_OK) {
    handle_ = 0;
    return;
  }
  if (detail) cs_option(handle_, CS_OPT_DETAIL, CS_OPT_ON);
  insn_ = cs_malloc(handle_);
}

X86Decoder::~X86Decoder() {
  if (insn_) cs_free(insn_, 1);
  if (handle_) cs_close(&handle_);
}

const cs_insn* X86Decoder::next(const uint8_t*& code, size_t& size, uint64_t& address) {
  return insn_ && cs_disasm_iter(handle_, &code, &size, &address, insn_) ? insn_ : nullptr;
}

}  // namespace ttst::sys
