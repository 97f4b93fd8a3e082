// decode.cc — see decode.h.
#include "inject/decode.h"

#include <capstone/capstone.h>
#include <gelf.h>
#include <libelf.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "inject/error.h"
#include "inject/memory.h"
#include "inject/sys/proc_maps.h"
#include "inject/sys/x86_decoder.h"

namespace ttst::inject {
namespace {

csh capstone() {
  static sys::X86Decoder decoder;
  if (!decoder.opened()) throw InjectError("capstone: cannot open an x86-64 decoder");
  return decoder.handle();
}

// The vDSO's .text section: [offset, size) in the image.
std::pair<size_t, size_t> vdso_text(std::vector<uint8_t>& image) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_memory(reinterpret_cast<char*>(image.data()), image.size());
  if (!elf) throw InjectError("the vDSO is not a readable ELF image");
  size_t shstrndx = 0;
  elf_getshdrstrndx(elf, &shstrndx);
  std::pair<size_t, size_t> text{0, 0};
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* name = elf_strptr(elf, shstrndx, sh.sh_name);
    if (name && std::strcmp(name, ".text") == 0) text = {sh.sh_offset, sh.sh_size};
  }
  elf_end(elf);
  if (text.second == 0 || text.first + text.second > image.size())
    throw InjectError("the vDSO has no .text section");
  return text;
}

bool uses_stack(const cs_insn& insn) {
  std::string m = insn.mnemonic;
  std::string ops = insn.op_str;
  return m == "leave" || m == "ret" || m == "pop" || m == "push" ||
         ops.find("rsp") != std::string::npos || ops.find("rbp") != std::string::npos;
}

}  // namespace

Instruction decode_instruction(std::span<const uint8_t> bytes, uint64_t address) {
  Instruction out;
  out.address = address;
  cs_insn* insn = nullptr;
  size_t n = cs_disasm(capstone(), bytes.data(), bytes.size(), address, 1, &insn);
  if (n == 1) {
    out.size = insn[0].size;
    out.text = std::string(insn[0].mnemonic) + (insn[0].op_str[0] ? " " : "") + insn[0].op_str;
  }
  if (insn) cs_free(insn, n);
  return out;
}

Instruction decode_remote_instruction(pid_t pid, uint64_t address) {
  uint8_t buf[16];
  size_t n = try_read_memory(pid, address, buf);
  if (n == 0) return Instruction{address, 0, ""};
  return decode_instruction(std::span<const uint8_t>(buf, n), address);
}

uint64_t find_syscall_site(pid_t pid) {
  uint64_t base = 0, end = 0;
  for (const sys::Mapping& m : sys::read_maps(pid))
    if (m.path == "[vdso]") base = m.start, end = m.end;
  if (!base) throw InjectError("process " + std::to_string(pid) + " has no vDSO mapping");

  // The vDSO's contents are the same in every process of this kernel: decode once.
  static std::mutex mu;
  static std::vector<uint8_t> cached_image;
  static uint64_t cached_offset = 0;
  std::lock_guard lock(mu);
  std::vector<uint8_t> image = read_memory(pid, base, end - base);
  if (image == cached_image && cached_offset) return base + cached_offset;

  auto [off, size] = vdso_text(image);
  cs_insn* insn = nullptr;
  size_t n = cs_disasm(capstone(), image.data() + off, size, off, 0, &insn);
  uint64_t any = 0, best = 0;
  for (size_t i = 0; i < n && !best; ++i) {
    if (insn[i].id != X86_INS_SYSCALL) continue;
    if (!any) any = insn[i].address;
    if (i + 1 < n && uses_stack(insn[i + 1])) best = insn[i].address;
  }
  if (insn) cs_free(insn, n);
  uint64_t site = best ? best : any;
  if (!site) throw InjectError("no syscall instruction in the vDSO of process " + std::to_string(pid));
  cached_image = std::move(image);
  cached_offset = site;
  return base + site;
}

}  // namespace ttst::inject
