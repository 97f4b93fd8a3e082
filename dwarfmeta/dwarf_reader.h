// dwarf_reader.h — walk the DWARF of one ELF file (libdwarf) into Program::types and
// Program::globals, plus what DWARF says about functions. The copies of a type
// that compilation units repeat are merged (exactly: type_merge.h) and declarations
// resolved to their definitions.
#ifndef DWARFMETA_DWARF_READER_H
#define DWARFMETA_DWARF_READER_H

#include <string>
#include <vector>

#include "dwarfmeta/model.h"

namespace ttst::dwarfmeta {

struct DwarfFunction {
  std::string name;
  std::string file;
  uint64_t low = 0, high = 0;
  bool external = false;
  uint64_t return_off = ~uint64_t{0};  // DIE offset of DW_AT_type (internal)
  TypeId return_type = kVoid;          // resolved once the types are built
};

struct HintScopes;  // site_hints.h

// Reads types, globals (with state IDs), DWARF functions; with `hints`, the scopes
// of code and their variables for the allocation sites' type hints. Throws Error{BadDwarf}.
void read_dwarf(int fd, const std::string& path, Program& prog, std::vector<DwarfFunction>& functions,
                HintScopes* hints = nullptr);

}  // namespace ttst::dwarfmeta

#endif
