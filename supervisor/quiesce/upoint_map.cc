// upoint_map.cc — see upoint_map.h.
#include "supervisor/quiesce/upoint_map.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "stfw/runtime/ttst_abi.h"

namespace ttst::quiesce {
namespace {

struct ElfFile {
  int fd = -1;
  Elf* elf = nullptr;
  explicit ElfFile(const std::string& path) {
    if (elf_version(EV_CURRENT) == EV_NONE) throw std::runtime_error("libelf: version mismatch");
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + strerror(errno));
    elf = elf_begin(fd, ELF_C_READ, nullptr);
    if (!elf || elf_kind(elf) != ELF_K_ELF) {
      close();
      throw std::runtime_error(path + " is not an ELF file");
    }
  }
  void close() {
    if (elf) elf_end(elf);
    if (fd >= 0) ::close(fd);
    elf = nullptr;
    fd = -1;
  }
  ~ElfFile() { close(); }
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;
};

}  // namespace

UpdatePointMap UpdatePointMap::load(const std::string& path) {
  ElfFile f(path);
  GElf_Ehdr eh;
  if (!gelf_getehdr(f.elf, &eh) || eh.e_machine != EM_X86_64)
    throw std::runtime_error(path + " is not an x86-64 ELF file");
  UpdatePointMap m;
  m.pie_ = eh.e_type == ET_DYN;

  size_t nph = 0;
  elf_getphdrnum(f.elf, &nph);
  for (size_t i = 0; i < nph; i++) {
    GElf_Phdr ph;
    if (!gelf_getphdr(f.elf, static_cast<int>(i), &ph) || ph.p_type != PT_LOAD) continue;
    m.first_load_ = std::min<uint64_t>(m.first_load_, ph.p_vaddr & ~uint64_t{0xfff});
    if (ph.p_flags & PF_X) {
      m.text_lo_ = ph.p_vaddr;
      m.text_hi_ = ph.p_vaddr + ph.p_memsz;
    }
  }

  size_t shstrndx = 0;
  elf_getshdrstrndx(f.elf, &shstrndx);
  bool have_symtab = false;
  for (Elf_Scn* scn = elf_nextscn(f.elf, nullptr); scn; scn = elf_nextscn(f.elf, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* name = elf_strptr(f.elf, shstrndx, sh.sh_name);
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) continue;
    if (name && strcmp(name, TTST_UPOINTS_SECTION) == 0) {
      size_t n = data->d_size / sizeof(uint64_t);
      const auto* p = static_cast<const uint64_t*>(data->d_buf);
      m.upoints_.assign(p, p + n);
    } else if (sh.sh_type == SHT_SYMTAB) {
      have_symtab = true;
      size_t n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
      for (size_t i = 0; i < n; i++) {
        GElf_Sym s;
        if (!gelf_getsym(data, static_cast<int>(i), &s)) continue;
        const char* sn = elf_strptr(f.elf, sh.sh_link, s.st_name);
        if (!sn) continue;
        if (GELF_ST_TYPE(s.st_info) == STT_FUNC && s.st_size > 0 && s.st_shndx != SHN_UNDEF)
          m.funcs_.push_back({sn, s.st_value, s.st_value + s.st_size, false});
        else if (GELF_ST_TYPE(s.st_info) == STT_OBJECT && strcmp(sn, TTST_RUNTIME_SYMBOL) == 0)
          m.runtime_sym_ = s.st_value;
      }
    }
  }
  if (!have_symtab)
    throw std::runtime_error(path + " has no symbol table (stripped?): rebuild it with ttst-cc and do not strip it");
  std::sort(m.funcs_.begin(), m.funcs_.end(), [](const Function& a, const Function& b) { return a.lo < b.lo; });
  for (uint64_t u : m.upoints_)
    for (auto& fn : m.funcs_)
      if (u >= fn.lo && u < fn.hi) fn.has_upoint = true;
  return m;
}

const Function* UpdatePointMap::function_at(uint64_t a) const {
  auto it = std::upper_bound(funcs_.begin(), funcs_.end(), a,
                             [](uint64_t v, const Function& f) { return v < f.lo; });
  // Symbols may nest (aliases); look back a few for one that covers `a`.
  for (int k = 0; k < 4 && it != funcs_.begin(); k++) {
    --it;
    if (a >= it->lo && a < it->hi) return &*it;
  }
  return nullptr;
}

}  // namespace ttst::quiesce
