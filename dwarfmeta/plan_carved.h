// plan_carved.h — the plan's entries for carved containers (TTST_CONTAINER / TTST_SLAB,
// ttst_abi.h §1 kind 7): each sub-object type an annotation names ("of=T|U") stays
// at its offset inside its container during the transfer, so a layout change of
// it (size, a member added, dropped or moved) cannot be transformed in place: the
// entry is semantic (exit 3), naming the type. One entry per named type.
#ifndef DWARFMETA_PLAN_CARVED_H
#define DWARFMETA_PLAN_CARVED_H

#include <string>
#include <vector>

#include "dwarfmeta/model.h"
#include "dwarfmeta/plan.h"
#include "dwarfmeta/plan_compare.h"

namespace ttst::dwarfmeta {

void plan_carved_types(const Program& v1, const Program& v2, TypeComparer& types, std::vector<PlanObject>& out);
// The type a name designates: "struct tag", "union tag", a typedef name, else a
// struct or union tag (kVoid: none).
TypeId type_named(const Program& p, const std::string& name);

}  // namespace ttst::dwarfmeta

#endif
