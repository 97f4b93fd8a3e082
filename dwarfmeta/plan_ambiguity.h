// plan_ambiguity.h — pointer ambiguity reachable from a global: void *, unions
// holding pointers and intptr_t/uintptr_t, each at the path where it is met,
// unless an IXFER/PXFER annotation resolves it.
#ifndef DWARFMETA_PLAN_AMBIGUITY_H
#define DWARFMETA_PLAN_AMBIGUITY_H

#include <vector>

#include "dwarfmeta/model.h"
#include "dwarfmeta/plan.h"
#include "dwarfmeta/plan_compare.h"

namespace ttst::dwarfmeta {

// Walks the members and arrays of `g` in place and follows pointers once per struct
// type, to 16 levels (the list is advice for
// annotations: the transfer itself refuses, at any depth, a value that looks like
// a pointer where it cannot tell; an unbounded walk would list every path to every
// deep member of every global).
// `annotations`: the IXFER/PXFER annotations that resolve ambiguity (those of the
// new version apply to both sides of the update). Appends to `out`, once per
// (path, why).
void find_ambiguities(const Program& p, PointerHolders& holders, const std::vector<Annotation>& annotations,
                      const Global& g, std::vector<Ambiguity>& out);

}  // namespace ttst::dwarfmeta

#endif
