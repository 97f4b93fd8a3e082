// plan_heap_types.h — the plan's entries for heap types: the structs and unions the
// state reaches through pointers (from v1's globals, its sites' type hints and
// TTST_POINTS_TO declarations), where heap objects get their types in the
// transfer. Each such type with changes is an object "type" ("struct tag") listing
// them member by member, to any depth (plan_compare.h): semantic where the transfer
// refuses from the metadata alone (a suspected rename, an array of pointers
// resized, a kind change), else structural; a type v2 no longer has is "dropped"
// (its objects, if any, are refused at run time). Globals annotated NO_TRANSFER /
// IXFER / PXFER and members annotated so are not followed: the transfer types
// nothing through them. Types never reached are not checked.
#ifndef DWARFMETA_PLAN_HEAP_TYPES_H
#define DWARFMETA_PLAN_HEAP_TYPES_H

#include <set>
#include <string>
#include <vector>

#include "dwarfmeta/model.h"
#include "dwarfmeta/plan.h"
#include "dwarfmeta/plan_compare.h"

namespace ttst::dwarfmeta {

// `skipped`: v1 global IDs annotated as a whole (not followed).
void plan_heap_types(const Program& v1, const Program& v2, const std::set<std::string>& skipped, TypeComparer& types,
                     std::vector<PlanObject>& out);

}  // namespace ttst::dwarfmeta

#endif
