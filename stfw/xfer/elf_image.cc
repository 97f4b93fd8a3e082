// elf_image.cc — see elf_image.h.
#include "stfw/xfer/elf_image.h"

extern "C" {
#include "inject/agent/alloc.h"
#include "inject/agent/sys.h"
}

namespace ttst::stfw {
namespace {

constexpr uint32_t kPtLoad = 1, kPtDynamic = 2;
constexpr int64_t kDtNull = 0, kDtPltrelsz = 2, kDtHash = 4, kDtStrtab = 5, kDtSymtab = 6, kDtRela = 7, kDtRelasz = 8,
                  kDtStrsz = 10, kDtJmprel = 23, kDtGnuHash = 0x6ffffef5;
constexpr uint32_t kR64 = 1, kRCopy = 5, kRGlobDat = 6, kRJumpSlot = 7;

template <class T>
T at(const uint8_t* p) {
  T v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

bool ElfImage::read(uint64_t addr, void* buf, uint64_t len) const {
  int pid = pid_ ? pid_ : int(agent_syscall3(AGENT_SYS_getpid, 0, 0, 0));
  return agent_read_peer(pid, buf, addr, len) == long(len);
}

bool ElfImage::open(int pid, uint64_t base) {
  pid_ = pid, base_ = base;
  uint8_t h[64];
  if (!read(base, h, sizeof h) || h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F' || h[4] != 2) return false;
  uint64_t phoff = at<uint64_t>(h + 32);
  uint16_t phentsize = at<uint16_t>(h + 54), phnum = at<uint16_t>(h + 56);
  if (phentsize < 56 || phnum > 64) return false;
  uint64_t lo = ~0ull, hi = 0, dynamic = 0;
  for (uint16_t i = 0; i < phnum; ++i) {
    uint8_t ph[56];
    if (!read(base + phoff + uint64_t(i) * phentsize, ph, sizeof ph)) return false;
    uint32_t type = at<uint32_t>(ph);
    uint64_t vaddr = at<uint64_t>(ph + 16), memsz = at<uint64_t>(ph + 40);
    if (type == kPtDynamic) dynamic = vaddr;
    if (type != kPtLoad) continue;
    if ((vaddr & ~4095ull) < lo) lo = vaddr & ~4095ull;
    if (vaddr + memsz > hi) hi = vaddr + memsz;
  }
  extent_ = hi > lo ? ((hi - lo + 4095) & ~4095ull) : 0;
  if (!dynamic) return false;
  // The dynamic section: ld.so has relocated the address entries in place in a
  // loaded library (an entry below the base is still a link-time offset).
  uint64_t hash = 0, gnu_hash = 0, strsz = 0;
  for (uint64_t k = 0; k < 512; ++k) {
    uint8_t e[16];
    if (!read(base + dynamic + 16 * k, e, sizeof e)) return false;
    int64_t tag = at<int64_t>(e);
    uint64_t v = at<uint64_t>(e + 8);
    if (tag == kDtNull) break;
    if (tag == kDtStrsz) strsz = v;
    else if (tag == kDtRelasz) relasz_ = v;
    else if (tag == kDtPltrelsz) pltrelsz_ = v;
    else if (v < base) v += base;
    if (tag == kDtRela) rela_ = v;
    else if (tag == kDtJmprel) jmprel_ = v;
    if (tag == kDtSymtab) symtab_ = v;
    else if (tag == kDtStrtab) strtab_ = v;
    else if (tag == kDtHash) hash = v;
    else if (tag == kDtGnuHash) gnu_hash = v;
  }
  if (!symtab_ || !strtab_ || !strsz || !count_symbols(hash, gnu_hash)) return false;
  // Both tables in the arena once: lookups then cost no system call.
  symbols_ = static_cast<uint8_t*>(agent_alloc(24 * symbol_count_, 16));
  strings_ = static_cast<char*>(agent_alloc(strsz + 1, 1));
  if (!symbols_ || !strings_ || !read(symtab_, symbols_, 24 * symbol_count_) || !read(strtab_, strings_, strsz))
    return false;
  strings_[strsz] = 0, strtab_size_ = strsz;
  return true;
}

bool ElfImage::count_symbols(uint64_t hash, uint64_t gnu_hash) {
  if (hash) {  // nchain = the number of symbols
    uint32_t w[2];
    if (!read(hash, w, sizeof w)) return false;
    symbol_count_ = w[1];
    return true;
  }
  if (!gnu_hash) return false;
  // GNU hash: the highest symbol index any bucket or chain reaches, plus one.
  uint32_t g[4];
  if (!read(gnu_hash, g, sizeof g)) return false;
  uint32_t nbuckets = g[0], symoffset = g[1], bloom = g[2];
  uint64_t buckets = gnu_hash + 16 + 8 * uint64_t(bloom), chains = buckets + 4 * uint64_t(nbuckets);
  uint32_t last = 0;
  for (uint32_t b = 0; b < nbuckets; ++b) {
    uint32_t s = 0;
    if (!read(buckets + 4 * uint64_t(b), &s, 4)) return false;
    if (s > last) last = s;
  }
  if (last < symoffset) return symbol_count_ = symoffset, true;
  for (uint32_t c = 0;; ++last) {
    if (!read(chains + 4 * uint64_t(last - symoffset), &c, 4)) return false;
    if (c & 1) break;
  }
  symbol_count_ = uint64_t(last) + 1;
  return true;
}

bool ElfImage::symbol(uint64_t i, uint32_t* name, uint64_t* value, uint64_t* size) const {
  const uint8_t* s = symbols_ + 24 * i;
  *name = at<uint32_t>(s);
  if (*name >= strtab_size_) return false;
  uint16_t shndx = at<uint16_t>(s + 6);
  *value = at<uint64_t>(s + 8), *size = at<uint64_t>(s + 16);
  // Defined, and not an IFUNC (whose value is its resolver, not the function).
  return shndx != 0 && *value != 0 && (s[4] & 0xf) != 10;
}

bool ElfImage::symbol_at(uint64_t addr, char* name, uint64_t cap, uint64_t* start, uint64_t* size) const {
  for (uint64_t i = 1; i < symbol_count_; ++i) {
    uint32_t n;
    uint64_t v, sz;
    if (!symbol(i, &n, &v, &sz)) continue;
    uint64_t s = base_ + v;
    if (addr < s || (sz ? addr >= s + sz : addr != s)) continue;
    if (cap == 0) return false;
    uint64_t k = 0;
    for (; k + 1 < cap && strings_[n + k]; ++k) name[k] = strings_[n + k];
    name[k] = 0;
    *start = s, *size = sz;
    return true;
  }
  return false;
}

bool ElfImage::symbol_named(const char* name, uint64_t* start, uint64_t* size) const {
  for (uint64_t i = 1; i < symbol_count_; ++i) {
    uint32_t n;
    uint64_t v, sz;
    if (!symbol(i, &n, &v, &sz)) continue;
    const char* a = strings_ + n;
    const char* b = name;
    while (*a && *a == *b) ++a, ++b;
    if (*a == 0 && *b == 0) return *start = base_ + v, *size = sz, true;
  }
  return false;
}

bool ElfImage::load_imports() {
  if (imports_loaded_) return imports_ != nullptr || (relasz_ + pltrelsz_) == 0;
  imports_loaded_ = true;
  uint64_t total = (relasz_ + pltrelsz_) / 24;
  if (total == 0 || total > (1u << 20)) return false;
  uint8_t* raw = static_cast<uint8_t*>(agent_alloc(24 * total, 16));
  imports_ = static_cast<Import*>(agent_alloc(sizeof(Import) * total, 16));
  if (!raw || !imports_) return imports_ = nullptr, false;
  uint64_t n = relasz_ / 24;
  if ((relasz_ && !read(rela_, raw, relasz_)) || (pltrelsz_ && !read(jmprel_, raw + 24 * n, pltrelsz_)))
    return imports_ = nullptr, false;
  for (uint64_t i = 0; i < total; ++i) {
    const uint8_t* r = raw + 24 * i;
    uint64_t offset = at<uint64_t>(r), info = at<uint64_t>(r + 8);
    uint32_t type = uint32_t(info), symi = uint32_t(info >> 32);
    if (symi == 0 || symi >= symbol_count_ ||
        (type != kR64 && type != kRCopy && type != kRGlobDat && type != kRJumpSlot))
      continue;
    const uint8_t* s = symbols_ + 24 * symi;
    Import im{type, at<uint32_t>(s), base_ + offset, at<uint64_t>(s + 16), 0};
    if (im.name >= strtab_size_ || (type != kRCopy && !read(im.addr, &im.value, 8))) continue;
    imports_[import_count_++] = im;
  }
  return true;
}

const char* ElfImage::import_with_value(uint64_t value) {
  if (!load_imports()) return nullptr;
  for (uint64_t i = 0; i < import_count_; ++i)
    if (imports_[i].type != kRCopy && imports_[i].value == value) return strings_ + imports_[i].name;
  return nullptr;
}

const char* ElfImage::copy_holding(uint64_t addr, uint64_t* start) {
  if (!load_imports()) return nullptr;
  for (uint64_t i = 0; i < import_count_; ++i) {
    const Import& im = imports_[i];
    if (im.type == kRCopy && addr >= im.addr && addr < im.addr + (im.size ? im.size : 1))
      return *start = im.addr, strings_ + im.name;
  }
  return nullptr;
}

static bool same(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

bool ElfImage::import_value(const char* name, uint64_t* value) {
  if (!load_imports()) return false;
  for (uint64_t i = 0; i < import_count_; ++i)
    if (imports_[i].type != kRCopy && same(strings_ + imports_[i].name, name)) return *value = imports_[i].value, true;
  return false;
}

bool ElfImage::copy_named(const char* name, uint64_t* start) {
  if (!load_imports()) return false;
  for (uint64_t i = 0; i < import_count_; ++i)
    if (imports_[i].type == kRCopy && same(strings_ + imports_[i].name, name)) return *start = imports_[i].addr, true;
  return false;
}

}  // namespace ttst::stfw
