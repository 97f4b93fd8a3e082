// upoint_map.cc — see upoint_map.h.
#include "supervisor/quiesce/upoint_map.h"

#include <fcntl.h>
#include <gelf.h>
#include <libdwarf/dwarf.h>
#include <libdwarf/libdwarf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
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

// libdwarf objects, freed when the scope ends (dwarfmeta turns libdwarf's own
// tracking off process-wide, so nothing may be left to dwarf_finish).
using DieRef = std::unique_ptr<std::remove_pointer_t<Dwarf_Die>, void (*)(Dwarf_Die)>;
using AttrRef = std::unique_ptr<std::remove_pointer_t<Dwarf_Attribute>, void (*)(Dwarf_Attribute)>;
DieRef die_ref(Dwarf_Die d) { return DieRef(d, dwarf_dealloc_die); }
AttrRef attr_ref(Dwarf_Die die, Dwarf_Half at) {
  Dwarf_Attribute a = nullptr;
  if (dwarf_attr(die, at, &a, nullptr) != DW_DLV_OK) a = nullptr;
  return AttrRef(a, dwarf_dealloc_attribute);
}

// The address ranges of `die` (low/high pc, or a DWARF 5 range list); false when
// it has a range list this reader cannot decode.
bool die_ranges(Dwarf_Die die, std::vector<std::pair<uint64_t, uint64_t>>& out) {
  Dwarf_Addr lo = 0, hi = 0;
  Dwarf_Half form = 0;
  Dwarf_Form_Class cls{};
  if (dwarf_lowpc(die, &lo, nullptr) == DW_DLV_OK && dwarf_highpc_b(die, &hi, &form, &cls, nullptr) == DW_DLV_OK) {
    out.emplace_back(lo, cls == DW_FORM_CLASS_CONSTANT ? lo + hi : hi);
    return true;
  }
  AttrRef at = attr_ref(die, DW_AT_ranges);
  if (!at) return true;  // no code (a declaration, an abstract instance)
  Dwarf_Unsigned value = 0, count = 0, global = 0;
  Dwarf_Off off = 0;
  if (dwarf_whatform(at.get(), &form, nullptr) != DW_DLV_OK) return false;
  if (form == DW_FORM_rnglistx ? dwarf_formudata(at.get(), &value, nullptr) != DW_DLV_OK
                               : dwarf_global_formref(at.get(), &off, nullptr) != DW_DLV_OK)
    return false;
  if (form != DW_FORM_rnglistx) value = off;
  Dwarf_Rnglists_Head head = nullptr;
  if (dwarf_rnglists_get_rle_head(at.get(), form, value, &head, &count, &global, nullptr) != DW_DLV_OK)
    return false;  // e.g. DWARF 4 .debug_ranges
  bool ok = true;
  for (Dwarf_Unsigned i = 0; i < count && ok; i++) {
    unsigned len = 0, kind = 0;
    Dwarf_Unsigned raw1 = 0, raw2 = 0, a = 0, b = 0;
    Dwarf_Bool no_addr = 0;
    ok = dwarf_get_rnglists_entry_fields_a(head, i, &len, &kind, &raw1, &raw2, &no_addr, &a, &b, nullptr) ==
             DW_DLV_OK && !no_addr;
    if (ok && kind != DW_RLE_end_of_list && kind != DW_RLE_base_address && kind != DW_RLE_base_addressx)
      out.emplace_back(a, b);
  }
  dwarf_dealloc_rnglists_head(head);
  return ok;
}

// The name of the function `die` is an instance of, following abstract_origin /
// specification; `artificial` when that function is marked so.
std::string origin_name(Dwarf_Debug dbg, Dwarf_Die die, bool& artificial) {
  DieRef hold(nullptr, dwarf_dealloc_die);
  std::string name;
  for (int hop = 0; hop < 4 && die; hop++) {
    char* n = nullptr;
    Dwarf_Bool has = 0;
    if (name.empty() && dwarf_diename(die, &n, nullptr) == DW_DLV_OK) name = n;
    if (dwarf_hasattr(die, DW_AT_artificial, &has, nullptr) == DW_DLV_OK && has) artificial = true;
    Dwarf_Off off = 0;
    Dwarf_Die next = nullptr;
    {
      AttrRef at = attr_ref(die, DW_AT_abstract_origin);
      if (!at) at = attr_ref(die, DW_AT_specification);
      if (!at || dwarf_global_formref(at.get(), &off, nullptr) != DW_DLV_OK ||
          dwarf_offdie_b(dbg, off, true, &next, nullptr) != DW_DLV_OK)
        break;
    }
    hold = die_ref(next);
    die = next;
  }
  return name;
}

}  // namespace

void UpdatePointMap::read_scopes(int fd) {
  Dwarf_Debug dbg = nullptr;
  if (dwarf_init_b(fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, nullptr, nullptr, &dbg, nullptr) != DW_DLV_OK) return;
  struct Finish {
    Dwarf_Debug d;
    ~Finish() { dwarf_finish(d, nullptr); }
  } finish{dbg};
  bool ok = true;
  std::function<void(Dwarf_Die, uint32_t)> walk = [&](Dwarf_Die die, uint32_t depth) {
    Dwarf_Half tag = 0;
    dwarf_tag(die, &tag, nullptr);
    if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
      std::vector<std::pair<uint64_t, uint64_t>> ranges;
      ok = die_ranges(die, ranges) && ok;
      bool artificial = false;
      std::string name = origin_name(dbg, die, artificial);
      Dwarf_Off off = 0;
      dwarf_dieoffset(die, &off, nullptr);
      if (!ranges.empty() && !(artificial && tag == DW_TAG_inlined_subroutine)) {
        for (auto& [lo, hi] : ranges) scopes_.push_back({lo, hi, depth, off, name});
        depth++;
      }
    }
    Dwarf_Die child = nullptr;
    if (dwarf_child(die, &child, nullptr) != DW_DLV_OK) return;
    for (DieRef c = die_ref(child); c;) {
      walk(c.get(), depth);
      Dwarf_Die next = nullptr;
      c = die_ref(dwarf_siblingof_b(dbg, c.get(), true, &next, nullptr) == DW_DLV_OK ? next : nullptr);
    }
  };
  Dwarf_Unsigned hdr_len = 0, abbrev = 0, typeoff = 0, next_cu = 0;
  Dwarf_Half version = 0, addr_size = 0, len_size = 0, ext_size = 0, cu_type = 0;
  Dwarf_Sig8 sig{};
  while (dwarf_next_cu_header_d(dbg, true, &hdr_len, &version, &abbrev, &addr_size, &len_size, &ext_size, &sig,
                                &typeoff, &next_cu, &cu_type, nullptr) == DW_DLV_OK) {
    Dwarf_Die cu = nullptr;
    if (dwarf_siblingof_b(dbg, nullptr, true, &cu, nullptr) != DW_DLV_OK) {
      ok = false;
      break;
    }
    walk(die_ref(cu).get(), 0);
  }
  scopes_complete_ = ok && !scopes_.empty();
  if (!scopes_complete_) scopes_.clear();
  for (uint64_t u : upoints_)
    if (const Scope* s = scope_at(u)) upoint_dies_.push_back(s->die);
}

const Scope* UpdatePointMap::scope_at(uint64_t a) const {
  const Scope* best = nullptr;
  for (const Scope& s : scopes_)
    if (a >= s.lo && a < s.hi && (!best || s.depth > best->depth)) best = &s;
  return best;
}

bool UpdatePointMap::in_upoint_scope(uint64_t a) const {
  const Scope* s = scope_at(a);
  return s && std::find(upoint_dies_.begin(), upoint_dies_.end(), s->die) != upoint_dies_.end();
}

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
  m.read_scopes(f.fd);
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
