// xfer_header.h — what a user needs to write transfer code (stfw/xfer/PLUGINS.md):
// a C header holding both versions' state types side by side (prefixes v1_ and
// v2_: `v1_struct_entry`, `v2_struct_entry`), generated from DWARF through the
// Program model, every size and member offset checked with _Static_assert so a
// header that no longer matches the binaries does not compile; and a skeleton
// plugin with exactly the functions the plan says are needed (a forward and a
// backward function per struct type or global with a semantic change, a
// TTST_XFER_OWNS line per retargeted pointer member), members both versions share
// transferred by the automatic transfer (ttst_xfer_member), the rest left as TODOs.
// `ttst-meta xfer-skeleton V1 V2 --out DIR` writes both (dwarfmeta/ttst_meta.cc).
#ifndef DWARFMETA_XFER_HEADER_H
#define DWARFMETA_XFER_HEADER_H

#include <string>

#include "dwarfmeta/model.h"
#include "dwarfmeta/plan.h"

namespace ttst::dwarfmeta {

// The types of both versions reachable from their globals and allocation sites,
// as packed structs with explicit padding at DWARF's offsets (bitfields and
// anonymous members as bytes), and their enumerators as constants.
std::string xfer_types_header(const Program& v1, const Program& v2);

// The skeleton plugin (C source including `header_name`) for the plan's semantic
// changes; `needed` receives how many functions it declares (0: nothing needed).
std::string xfer_skeleton(const Plan& plan, const Program& v1, const Program& v2, const std::string& header_name,
                          int* needed = nullptr);

}  // namespace ttst::dwarfmeta

#endif
