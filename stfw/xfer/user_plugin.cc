// user_plugin.cc — see user_plugin.h. ELF64 x86-64 only; no libc (the agent's).
#include "stfw/xfer/user_plugin.h"

extern "C" {
#include "inject/agent/alloc.h"
#include "inject/agent/sys.h"
}

namespace ttst::stfw {
namespace {

// The few ELF64 structures and constants used (no <elf.h> freestanding).
struct Ehdr {
  uint8_t ident[16];
  uint16_t type, machine;
  uint32_t version;
  uint64_t entry, phoff, shoff;
  uint32_t flags;
  uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct Phdr {
  uint32_t type, flags;
  uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
struct Dyn {
  int64_t tag;
  uint64_t val;
};
struct Rela {
  uint64_t offset, info;
  int64_t addend;
};
constexpr uint32_t kPtLoad = 1, kPtDynamic = 2, kPtInterp = 3, kPfX = 1;
constexpr int64_t kDtNull = 0, kDtNeeded = 1, kDtPltRelSz = 2, kDtRela = 7, kDtRelaSz = 8, kDtRel = 17, kDtRelr = 36;
constexpr uint32_t kRelative = 8;
constexpr long kSysMprotect = 10;
constexpr long kProtRead = 1, kProtExec = 4;
constexpr uint64_t kPage = 4096;

bool fits(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

}  // namespace

uint64_t load_user_plugin(const uint8_t* bytes, uint64_t size, const char** why) {
  const Ehdr* eh = reinterpret_cast<const Ehdr*>(bytes);
  if (size < sizeof(Ehdr) || __builtin_memcmp(eh->ident, "\177ELF", 4) != 0 || eh->ident[4] != 2 ||
      eh->machine != 62 || eh->type != 3 || eh->phentsize != sizeof(Phdr) ||
      !fits(eh->phoff, uint64_t(eh->phnum) * sizeof(Phdr), size))
    return *why = "bad input: the transfer plugin is not an x86-64 position-independent ELF (build it with "
                  "ttst-cc --xfer-plugin)",
           0;
  const Phdr* ph = reinterpret_cast<const Phdr*>(bytes + eh->phoff);
  uint64_t span = 0;
  const Phdr* dynamic = nullptr;
  for (uint16_t i = 0; i < eh->phnum; ++i) {
    if (ph[i].type == kPtInterp)
      return *why = "bad input: the transfer plugin asks for a dynamic loader: it must be freestanding "
                    "(ttst-cc --xfer-plugin links it -static-pie -nostdlib)",
             0;
    if (ph[i].type == kPtDynamic) dynamic = &ph[i];
    if (ph[i].type != kPtLoad) continue;
    if (!fits(ph[i].offset, ph[i].filesz, size) || ph[i].filesz > ph[i].memsz || ph[i].vaddr > (1ull << 32) ||
        ph[i].memsz > (1ull << 32))
      return *why = "bad input: the transfer plugin's program headers are malformed", 0;
    if (ph[i].vaddr + ph[i].memsz > span) span = ph[i].vaddr + ph[i].memsz;
  }
  span = (span + kPage - 1) & ~(kPage - 1);
  uint8_t* base = static_cast<uint8_t*>(agent_alloc(span ? span : kPage, kPage));
  if (!base) return *why = "no memory: the agent's arena cannot hold the transfer plugin", 0;
  for (uint64_t k = 0; k < span; ++k) base[k] = 0;
  for (uint16_t i = 0; i < eh->phnum; ++i)
    if (ph[i].type == kPtLoad) __builtin_memcpy(base + ph[i].vaddr, bytes + ph[i].offset, ph[i].filesz);
  uint64_t rela = 0, rela_size = 0;
  for (const Dyn* d = dynamic ? reinterpret_cast<const Dyn*>(base + dynamic->vaddr) : nullptr; d && d->tag != kDtNull;
       ++d) {
    if (reinterpret_cast<const uint8_t*>(d + 1) > base + span) break;
    if (d->tag == kDtNeeded || d->tag == kDtRel || d->tag == kDtRelr || (d->tag == kDtPltRelSz && d->val))
      return *why = "bad input: the transfer plugin needs a library, a symbol no one provides or a relocation "
                    "format the agent does not apply (a plugin may call only the ttst_xfer.h API; build it with "
                    "ttst-cc --xfer-plugin)",
             0;
    if (d->tag == kDtRela) rela = d->val;
    if (d->tag == kDtRelaSz) rela_size = d->val;
  }
  if (!fits(rela, rela_size, span)) return *why = "bad input: the transfer plugin's relocations are malformed", 0;
  for (uint64_t k = 0; k + sizeof(Rela) <= rela_size; k += sizeof(Rela)) {
    const Rela* r = reinterpret_cast<const Rela*>(base + rela + k);
    if (uint32_t(r->info) != kRelative || !fits(r->offset, 8, span))
      return *why = "bad input: the transfer plugin has a relocation other than R_X86_64_RELATIVE (it refers to "
                    "a symbol no one provides: a plugin may call only the ttst_xfer.h API)",
             0;
    uint64_t v = reinterpret_cast<uint64_t>(base) + uint64_t(r->addend);
    __builtin_memcpy(base + r->offset, &v, 8);
  }
  for (uint16_t i = 0; i < eh->phnum; ++i) {
    if (ph[i].type != kPtLoad || !(ph[i].flags & kPfX)) continue;
    uint64_t lo = ph[i].vaddr & ~(kPage - 1), hi = (ph[i].vaddr + ph[i].memsz + kPage - 1) & ~(kPage - 1);
    if (agent_syscall3(kSysMprotect, reinterpret_cast<long>(base + lo), long(hi - lo), kProtRead | kProtExec) != 0)
      return *why = "bad input: the transfer plugin's code cannot be made executable here (mprotect failed)", 0;
  }
  if (eh->entry == 0 || eh->entry >= span) return *why = "bad input: the transfer plugin has no entry point", 0;
  return reinterpret_cast<uint64_t>(base) + eh->entry;
}

}  // namespace ttst::stfw
