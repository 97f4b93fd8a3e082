// dump.h — a Program for people (pahole-like text) and for tools (JSON).
#ifndef DWARFMETA_DUMP_H
#define DWARFMETA_DUMP_H

#include <nlohmann/json.hpp>
#include <ostream>

#include "dwarfmeta/model.h"

namespace ttst::dwarfmeta {

// Globals, then the layout of every struct/union reachable from them, then
// functions, allocation sites, annotations, update points, string ranges.
void dump_text(const Program& prog, std::ostream& out);
// Everything, with types by index: {"types": [...], "globals": [...], ...}.
nlohmann::json to_json(const Program& prog);
// The layout of one struct/union type, pahole style.
void dump_layout(const Program& prog, TypeId id, std::ostream& out);

}  // namespace ttst::dwarfmeta

#endif
