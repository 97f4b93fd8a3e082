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

#include "dwarfmeta/dwarf_handle.h"
#include "stfw/abi/ttst_abi.h"

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

// One libdwarf session. Every call goes through ok(): libdwarf errors are never
// fatal (no error handler, an error object always passed) but make the whole
// reading fail-safe (failed: nothing counts as an update point's function). DIEs
// and attributes are freed as the walk leaves them (dwarfmeta turns libdwarf's own
// tracking off process-wide, so nothing may be left to dwarf_finish).
struct Dwarf {
  Dwarf_Debug dbg = nullptr;  // once open(): owned by `session` (dwarf_finish)
  Dwarf_Error err = nullptr;
  bool failed = false;
  dwarfmeta::DwarfSession session;
  bool open(int fd) {
    if (!ok(dwarf_init_b(fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, nullptr, nullptr, &dbg, &err))) return false;
    session.reset(dbg);
    return true;
  }
  bool ok(int rc) {  // DW_DLV_OK; NO_ENTRY is normal; ERROR fails the reading
    if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
    err = nullptr;
    failed = failed || rc == DW_DLV_ERROR;
    return rc == DW_DLV_OK;
  }
};
// DIEs and attributes are owned by dwarfmeta's handles (dwarfmeta/dwarf_handle.h).
using DieRef = dwarfmeta::DwarfDie;
using AttrRef = dwarfmeta::DwarfAttribute;
DieRef die_ref(Dwarf_Die d) { return DieRef(d); }
AttrRef attr_ref(Dwarf& dw, Dwarf_Die die, Dwarf_Half at) {
  Dwarf_Attribute a = nullptr;
  if (!dw.ok(dwarf_attr(die, at, &a, &dw.err))) a = nullptr;
  return AttrRef(a);
}

// The address ranges of `die`: low/high pc, or a DWARF 5 range list (a DWARF 4
// one fails the reading).
void die_ranges(Dwarf& dw, Dwarf_Die die, std::vector<std::pair<uint64_t, uint64_t>>& out) {
  Dwarf_Addr lo = 0, hi = 0;
  Dwarf_Half form = 0;
  Dwarf_Form_Class cls{};
  if (dw.ok(dwarf_lowpc(die, &lo, &dw.err))) {
    if (dw.ok(dwarf_highpc_b(die, &hi, &form, &cls, &dw.err)))
      out.emplace_back(lo, cls == DW_FORM_CLASS_CONSTANT ? lo + hi : hi);
    else
      dw.failed = true;  // code of unknown extent
    return;
  }
  AttrRef at = attr_ref(dw, die, DW_AT_ranges);
  if (!at) return;  // no code (a declaration, an abstract instance)
  Dwarf_Unsigned value = 0, count = 0, global = 0;
  Dwarf_Off off = 0;
  Dwarf_Rnglists_Head head = nullptr;
  if (!dw.ok(dwarf_whatform(at.get(), &form, &dw.err)) ||
      !dw.ok(form == DW_FORM_rnglistx ? dwarf_formudata(at.get(), &value, &dw.err)
                                      : dwarf_global_formref(at.get(), &off, &dw.err)) ||
      !dw.ok(dwarf_rnglists_get_rle_head(at.get(), form, form == DW_FORM_rnglistx ? value : off, &head, &count,
                                         &global, &dw.err))) {
    dw.failed = true;
    return;
  }
  for (Dwarf_Unsigned i = 0; i < count; i++) {
    unsigned len = 0, kind = 0;
    Dwarf_Unsigned raw1 = 0, raw2 = 0, a = 0, b = 0;
    Dwarf_Bool no_addr = 0;
    if (!dw.ok(dwarf_get_rnglists_entry_fields_a(head, i, &len, &kind, &raw1, &raw2, &no_addr, &a, &b, &dw.err)) ||
        no_addr)
      dw.failed = true;
    else if (kind != DW_RLE_end_of_list && kind != DW_RLE_base_address && kind != DW_RLE_base_addressx)
      out.emplace_back(a, b);
  }
  dwarf_dealloc_rnglists_head(head);
}

// The name of the function `die` is an instance of, following abstract_origin /
// specification; `artificial` when that function is marked so.
std::string origin_name(Dwarf& dw, Dwarf_Die die, bool& artificial, uint64_t& origin) {
  DieRef hold;
  std::string name;
  for (int hop = 0; hop < 4; hop++) {
    Dwarf_Off here = 0;
    if (dw.ok(dwarf_dieoffset(die, &here, &dw.err))) origin = here;
    char* n = nullptr;
    Dwarf_Bool has = 0;
    if (name.empty() && dw.ok(dwarf_diename(die, &n, &dw.err))) name = n;
    if (dw.ok(dwarf_hasattr(die, DW_AT_artificial, &has, &dw.err)) && has) artificial = true;
    Dwarf_Off off = 0;
    Dwarf_Die next = nullptr;
    {
      AttrRef at = attr_ref(dw, die, DW_AT_abstract_origin);
      if (!at) at = attr_ref(dw, die, DW_AT_specification);
      if (!at || !dw.ok(dwarf_global_formref(at.get(), &off, &dw.err)) ||
          !dw.ok(dwarf_offdie_b(dw.dbg, off, true, &next, &dw.err)))
        break;
    }
    hold = die_ref(next);
    die = next;
  }
  return name;
}

}  // namespace

void UpdatePointMap::read_scopes(int fd) {
  Dwarf dw;
  if (!dw.open(fd)) return;
  std::function<void(Dwarf_Die, uint32_t)> walk = [&](Dwarf_Die die, uint32_t depth) {
    Dwarf_Half tag = 0;
    Dwarf_Off off = 0;
    dw.ok(dwarf_tag(die, &tag, &dw.err));
    if ((tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) && dw.ok(dwarf_dieoffset(die, &off, &dw.err))) {
      std::vector<std::pair<uint64_t, uint64_t>> ranges;
      die_ranges(dw, die, ranges);
      bool artificial = false;
      uint64_t origin = off;
      std::string name = origin_name(dw, die, artificial, origin);
      if (!ranges.empty() && !(artificial && tag == DW_TAG_inlined_subroutine)) {
        for (auto& [lo, hi] : ranges) scopes_.push_back({lo, hi, depth, off, name, origin});
        depth++;
      }
    }
    Dwarf_Die child = nullptr;
    if (!dw.ok(dwarf_child(die, &child, &dw.err))) return;
    for (DieRef c = die_ref(child); c;) {
      walk(c.get(), depth);
      Dwarf_Die next = nullptr;
      c = die_ref(dw.ok(dwarf_siblingof_b(dw.dbg, c.get(), true, &next, &dw.err)) ? next : nullptr);
    }
  };
  Dwarf_Unsigned hdr_len = 0, abbrev = 0, typeoff = 0, next_cu = 0;
  Dwarf_Half version = 0, addr_size = 0, len_size = 0, ext_size = 0, cu_type = 0;
  Dwarf_Sig8 sig{};
  while (dw.ok(dwarf_next_cu_header_d(dw.dbg, true, &hdr_len, &version, &abbrev, &addr_size, &len_size, &ext_size,
                                      &sig, &typeoff, &next_cu, &cu_type, &dw.err))) {
    Dwarf_Die cu = nullptr;
    if (dw.ok(dwarf_siblingof_b(dw.dbg, nullptr, true, &cu, &dw.err))) walk(die_ref(cu).get(), 0);
  }
  scopes_complete_ = !dw.failed && !scopes_.empty();
  if (!scopes_complete_) scopes_.clear();
  for (uint64_t u : upoints_)
    if (const Scope* s = scope_at(inject::LinkAddr(u))) upoint_dies_.push_back(s->die);
  resolve_pollers();
}

const Scope* UpdatePointMap::scope_at(inject::LinkAddr at) const {
  const uint64_t a = at.value();
  const Scope* best = nullptr;
  for (const Scope& s : scopes_)
    if (a >= s.lo && a < s.hi && (!best || s.depth > best->depth)) best = &s;
  return best;
}

bool UpdatePointMap::in_upoint_scope(inject::LinkAddr a) const {
  const Scope* s = scope_at(a);
  return s && is_upoint_instance(*s);
}

bool UpdatePointMap::is_upoint_instance(const Scope& s) const {
  return std::find(upoint_dies_.begin(), upoint_dies_.end(), s.die) != upoint_dies_.end();
}

std::vector<const Scope*> UpdatePointMap::scope_chain(inject::LinkAddr at) const {
  const uint64_t a = at.value();
  std::vector<const Scope*> chain;
  for (const Scope& s : scopes_)
    if (a >= s.lo && a < s.hi) chain.push_back(&s);
  std::sort(chain.begin(), chain.end(), [](const Scope* x, const Scope* y) { return x->depth > y->depth; });
  // Depths n, n-1, ..., 0, each once: one nest of instances, else no answer.
  for (size_t i = 0; i < chain.size(); i++)
    if (chain[i]->depth != chain.size() - 1 - i) return {};
  return chain;
}

namespace {

// "f1, f2 f3" -> {f1, f2, f3}; false when a name is not a C identifier.
bool parse_poller_path(const char* text, size_t len, std::vector<std::string>& out) {
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(cur);
    cur.clear();
  };
  for (size_t i = 0; i < len; i++) {
    const char c = text[i];
    if (c == ',' || c == ' ' || c == '\t') {
      flush();
    } else if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9' && !cur.empty())) {
      cur += c;
    } else {
      return false;
    }
  }
  flush();
  return !out.empty();
}

}  // namespace

void UpdatePointMap::resolve_pollers() {
  // Each name must be one function: the origin (abstract or only DIE) shared by
  // all its instances. None or several (two static functions of one name): the
  // path is not used, and the program is then driven to its update point instead.
  std::vector<std::vector<std::string>> kept;
  for (const auto& path : poller_paths_) {
    std::vector<uint64_t> origins;
    std::string library_fn;
    for (const std::string& name : path) {
      std::vector<uint64_t> found;
      for (const Scope& s : scopes_)
        if (s.name == name && std::find(found.begin(), found.end(), s.origin) == found.end()) found.push_back(s.origin);
      // The last name may be a function the program imports from a library
      // (resolved in the process by quiesce.cc: library_function.h).
      if (found.empty() && &name == &path.back() &&
          std::find(imports_.begin(), imports_.end(), name) != imports_.end()) {
        library_fn = name;
        break;
      }
      if (found.size() != 1) {
        pollers_unresolved_ += (pollers_unresolved_.empty() ? "" : "; ") + name +
                               (found.empty() ? " is no function with code" : " names several functions");
        break;
      }
      origins.push_back(found[0]);
    }
    if (origins.size() + !library_fn.empty() != path.size()) continue;
    kept.push_back(path);
    poller_origins_.push_back(std::move(origins));
    poller_library_fn_.push_back(library_fn);
  }
  poller_paths_ = std::move(kept);
}

void UpdatePointMap::read_pollers(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const void* nul = i + 2 < n ? memchr(p + i + 2, 0, n - i - 2) : nullptr;
    if (p[i] != TTST_POLLER_TAG || i + 2 >= n || p[i + 1] != TTST_POLLER_VERSION || !nul) {
      pollers_malformed_ = true;
      return;
    }
    const char* text = reinterpret_cast<const char*>(p + i + 2);
    const size_t len = static_cast<const uint8_t*>(nul) - (p + i + 2);
    std::vector<std::string> path;
    if (parse_poller_path(text, len, path))
      poller_paths_.push_back(std::move(path));
    else
      pollers_malformed_ = true;
    i += 2 + len + 1;
  }
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
    } else if (name && strcmp(name, TTST_POLLERS_SECTION) == 0) {
      m.read_pollers(static_cast<const uint8_t*>(data->d_buf), data->d_size);
    } else if (sh.sh_type == SHT_DYNSYM) {
      size_t n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
      for (size_t i = 0; i < n; i++) {
        GElf_Sym s;
        const char* sn = gelf_getsym(data, static_cast<int>(i), &s) ? elf_strptr(f.elf, sh.sh_link, s.st_name) : nullptr;
        if (sn && GELF_ST_TYPE(s.st_info) == STT_FUNC && s.st_shndx == SHN_UNDEF) m.imports_.push_back(sn);
      }
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

const Function* UpdatePointMap::function_at(inject::LinkAddr at) const {
  const uint64_t a = at.value();
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
