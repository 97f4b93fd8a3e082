// load.h — the public entry point: ELF + DWARF of one binary -> dwarfmeta::Program.
//
//   dwarfmeta::Program p = dwarfmeta::load("/proc/1234/exe");
//   const dwarfmeta::Global* g = p.global("file.c::counter");
//
// Throws dwarfmeta::Error (error.h) for files it cannot use.
#ifndef DWARFMETA_LOAD_H
#define DWARFMETA_LOAD_H

#include <string>
#include <vector>

#include "dwarfmeta/error.h"
#include "dwarfmeta/model.h"

namespace ttst::dwarfmeta {

struct LoadOptions {
  // Roots searched for separate debug info: ROOT/.build-id/xx/rest.debug.
  std::vector<std::string> debug_roots = {"/usr/lib/debug"};
  bool alloc_sites = true;  // decode .text with Capstone
};

Program load(const std::string& path, const LoadOptions& options = {});

}  // namespace ttst::dwarfmeta

#endif
