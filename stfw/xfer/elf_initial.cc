// elf_initial.cc — see elf_initial.h.
#include "stfw/xfer/elf_initial.h"

#include "inject/agent/sys.h"
#include "stfw/xfer/decimal.h"

namespace ttst::stfw {
namespace {
constexpr long kSysPread64 = 17, kSysOpen = 2, kOCloexec = 02000000;
constexpr uint32_t kPtLoad = 1, kPfWrite = 2;
}  // namespace

bool InitialImage::open(int pid) {
  char path[64] = "/proc/";
  char digits[kDecimalDigitsMax] = "self";
  if (pid) decimal_digits(uint64_t(pid), digits);
  uint32_t k = 6;
  for (const char* d = digits; *d && k < 40;) path[k++] = *d++;
  for (const char* s = "/exe"; *s;) path[k++] = *s++;
  path[k] = 0;
  long fd = agent_syscall3(kSysOpen, reinterpret_cast<long>(path), kOCloexec, 0);
  if (fd < 0) return false;
  fd_ = int(fd);
  uint8_t header[64];
  if (agent_syscall6(kSysPread64, fd_, reinterpret_cast<long>(header), 64, 0, 0, 0) != 64) return false;
  if (header[0] != 0x7f || header[1] != 'E' || header[4] != 2) return false;  // ELF64
  uint64_t phoff;
  uint16_t phentsize, phnum;
  __builtin_memcpy(&phoff, header + 32, 8);
  __builtin_memcpy(&phentsize, header + 54, 2);
  __builtin_memcpy(&phnum, header + 56, 2);
  for (uint16_t i = 0; i < phnum && count_ < 16; ++i) {
    uint8_t ph[56];
    if (phentsize < 56 ||
        agent_syscall6(kSysPread64, fd_, reinterpret_cast<long>(ph), 56, long(phoff + uint64_t(i) * phentsize), 0, 0) != 56)
      return false;
    uint32_t type, flags;
    __builtin_memcpy(&type, ph, 4);
    __builtin_memcpy(&flags, ph + 4, 4);
    if (type != kPtLoad || !(flags & kPfWrite)) continue;
    Segment& s = segments_[count_++];
    __builtin_memcpy(&s.offset, ph + 8, 8);
    __builtin_memcpy(&s.vaddr, ph + 16, 8);
    __builtin_memcpy(&s.filesz, ph + 32, 8);
    __builtin_memcpy(&s.memsz, ph + 40, 8);
  }
  return true;
}

void InitialImage::close() {
  constexpr long kSysClose = 3;
  if (fd_ >= 0) agent_syscall3(kSysClose, fd_, 0, 0);
  fd_ = -1;
}

long InitialImage::read(uint64_t link_addr, void* buf, uint64_t len) const {
  for (uint32_t i = 0; i < count_; ++i) {
    const Segment& s = segments_[i];
    if (link_addr < s.vaddr || link_addr + len > s.vaddr + s.memsz || link_addr + len < link_addr) continue;
    uint64_t off = link_addr - s.vaddr;
    uint64_t from_file = off >= s.filesz ? 0 : (s.filesz - off < len ? s.filesz - off : len);
    uint8_t* b = static_cast<uint8_t*>(buf);
    for (uint64_t k = from_file; k < len; ++k) b[k] = 0;
    if (from_file &&
        agent_syscall6(kSysPread64, fd_, reinterpret_cast<long>(b), long(from_file), long(s.offset + off), 0, 0) !=
            long(from_file))
      return -1;
    return long(from_file);
  }
  return -1;
}

}  // namespace ttst::stfw
