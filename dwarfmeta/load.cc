// load.cc — dwarfmeta::load(): assemble a Program from the ELF file, its DWARF
// (in the file or in separate debug info found by build-id), Capstone's view of
// its code, and the ttst sections.
#include "dwarfmeta/load.h"

#include <elf.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>

#include "dwarfmeta/alloc_sites.h"
#include "dwarfmeta/site_hints.h"
#include "dwarfmeta/dwarf_reader.h"
#include "dwarfmeta/debug_lookup.h"
#include "dwarfmeta/elf_file.h"
#include "dwarfmeta/ttst_sections.h"
#include "stfw/abi/ttst_abi.h"

namespace ttst::dwarfmeta {
namespace {

// GCC's clones that replace a function keep its identity: "make.isra.0" and
// "make.constprop.0" have the ID of "make". Fragments of a function split in two
// ("make.cold", "make.part.0") keep their own name, so IDs stay unique.
std::string unclone(const std::string& name) {
  for (const char* suffix : {".isra.", ".constprop."}) {
    auto at = name.find(suffix);
    if (at != std::string::npos && at > 0) return name.substr(0, at);
  }
  return name;
}

std::vector<Function> build_functions(const std::vector<Symbol>& symbols, const std::vector<DwarfFunction>& dwarf) {
  std::map<uint64_t, const DwarfFunction*> by_low;
  for (const DwarfFunction& f : dwarf) by_low.emplace(f.low, &f);
  std::map<uint64_t, Function> out;
  for (const Symbol& s : symbols) {
    if (s.type != STT_FUNC || s.shndx == SHN_UNDEF || s.value == 0 || s.name.empty()) continue;
    Function f;
    f.name = s.name;
    f.low = s.value;
    f.high = s.value + s.size;
    f.external = s.bind == STB_GLOBAL || s.bind == STB_WEAK;
    auto d = by_low.find(s.value);
    if (d != by_low.end()) {
      f.file = d->second->file;
      f.return_type = d->second->return_type;
      if (d->second->high > f.high) f.high = d->second->high;
    }
    auto [it, fresh] = out.emplace(f.low, f);
    if (!fresh && f.external && !it->second.external) it->second = f;  // prefer the global alias
  }
  for (const DwarfFunction& d : dwarf) {  // stripped binaries: DWARF only
    if (d.name.empty() || out.count(d.low)) continue;
    out.emplace(d.low, Function{"", d.name, d.file, d.low, d.high, d.external, kVoid, d.return_type});
  }
  std::vector<Function> fns;
  std::map<std::string, int> seen;
  for (auto& [low, f] : out) {
    std::string base = unclone(f.name);
    f.id = (!f.external && !f.file.empty()) ? f.file + "::" + base : base;
    if (seen[f.id]++) f.id += "@" + std::to_string(seen[f.id] - 1);
    fns.push_back(std::move(f));
  }
  return fns;
}

}  // namespace

namespace {
// DWARFMETA_TIMING=1 prints the time of each phase on stderr (for benchmarks).
struct PhaseTimer {
  bool on = std::getenv("DWARFMETA_TIMING") != nullptr;
  std::chrono::steady_clock::time_point t = std::chrono::steady_clock::now();
  void lap(const char* what) {
    if (!on) return;
    auto now = std::chrono::steady_clock::now();
    std::fprintf(stderr, "dwarfmeta: %-14s %8.2f ms\n", what,
                 std::chrono::duration<double, std::milli>(now - t).count());
    t = now;
  }
};
}  // namespace

Program load(const std::string& path, const LoadOptions& options) {
  PhaseTimer timer;
  ElfFile elf(path);
  Program prog;
  prog.path = path;
  prog.build_id = elf.build_id();
  prog.pie = elf.pie();

  std::unique_ptr<ElfFile> debug;
  const ElfFile* dw = &elf;
  const DebugLookup found = find_debug_info(elf, path, options.debug_roots);  // debug_lookup.h
  if (!elf.has_dwarf() && !found.path.empty()) {
    debug = std::make_unique<ElfFile>(found.path);
    dw = debug.get();
  }
  if (!dw->has_dwarf())
    throw Error(ErrorKind::NoDwarf,
                path + ": built without -g: rebuild with ttst-cc or -g, or install its separate debug info (" +
                    (found.looked.empty() ? std::string("it has no build id and no .gnu_debuglink")
                                          : "looked for " + found.where_looked()) +
                    "; --debug-dir names another root)");
  prog.debug_file = dw->path();
  if (dw->section(".debug_types"))
    throw Error(ErrorKind::BadDwarf, path + ": DWARF type units (-fdebug-types-section) are not supported: rebuild "
                                            "without -fdebug-types-section");

  std::vector<DwarfFunction> dfns;
  timer.lap("elf");
  HintScopes hint_scopes;  // site_hints.h
  read_dwarf(dw->fd(), path, prog, dfns, options.alloc_sites ? &hint_scopes : nullptr);
  timer.lap("dwarf");

  std::vector<Symbol> symbols = elf.section(".symtab") ? elf.symbols() : dw->symbols();
  prog.functions = build_functions(symbols, dfns);

  for (const Symbol& s : symbols)
    if (s.name == TTST_RUNTIME_SYMBOL && s.shndx != SHN_UNDEF) prog.runtime_addr = s.value;

  // Globals: symbol sizes cover flexible arrays; const objects live in read-only
  // data, or in RELRO data (const objects holding relocated pointers, and statics
  // the compiler proved never written), which the loader makes read-only.
  const auto [relro_start, relro_end] = elf.relro();
  std::map<uint64_t, uint64_t> object_size;
  for (const Symbol& s : symbols)
    if (s.type == STT_OBJECT && s.shndx != SHN_UNDEF) object_size[s.value] = std::max(object_size[s.value], s.size);
  for (Global& g : prog.globals) {
    if (g.tls) continue;
    auto it = object_size.find(g.addr);
    if (it != object_size.end() && it->second > g.size) g.size = it->second;
    for (const Section& s : elf.sections())
      if ((s.flags & SHF_ALLOC) && g.addr >= s.addr && g.addr < s.addr + s.size && !(s.flags & SHF_TLS))
        g.readonly = !(s.flags & SHF_WRITE);
    if (g.addr >= relro_start && g.addr < relro_end) g.readonly = true;
  }

  for (const Section& s : elf.sections())
    if (s.name.rfind(".rodata", 0) == 0 && (s.flags & SHF_ALLOC) && !(s.flags & SHF_WRITE) && s.size)
      prog.string_ranges.push_back(Range{s.name, s.addr, s.addr + s.size});

  if (const Section* s = elf.section(TTST_ANNOT_SECTION)) prog.annotations = parse_annotations(elf.data(*s));
  if (const Section* s = elf.section(TTST_UPOINTS_SECTION)) prog.update_points = parse_update_points(elf.data(*s));
  prog.reindex();
  for (UpdatePoint& u : prog.update_points)
    if (const Function* f = prog.function_at(u.addr)) u.function = f->id;

  if (options.alloc_sites) {
    std::set<std::string> allocators = standard_allocators();
    for (const Annotation& a : prog.annotations)
      if (a.kind == AnnotKind::Allocator) allocators.insert(a.target);
    timer.lap("functions");
    prog.alloc_sites = find_alloc_sites(elf, prog.functions, allocators);
    std::set<uint64_t> received;  // sites whose result goes straight to a global or frame slot
    hint_alloc_types(elf, prog, &received);
    hint_from_scopes(hint_scopes, prog, received, trace_results(elf, prog));
    timer.lap("alloc sites");
  }
  prog.reindex();
  return prog;
}

}  // namespace ttst::dwarfmeta
