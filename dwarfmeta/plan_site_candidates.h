// plan_site_candidates.h — the plan's view of optimised allocation sites that
// DWARF types only as "one of these structs" (site_hints.h, AllocSite::candidates):
// when the site's size is known (a constant argument; every candidate listed fits
// it) and a candidate's layout differs between v1 and v2 (or one version lacks
// it), the transfer would refuse its untyped records (stfw/xfer/
// engine_site_candidates.cc): the site's entry becomes semantic with the change
// "site-candidates" (from: the candidates; to: the changed one), fixed by a
// TTST_POINTS_TO on the void * member that holds the records or the candidates'
// plugin functions (plan_fixes.cc). Only two or more candidates (or one with a
// `void *` / `char *` in scope) count: a site with one certain suspect is left to
// the transfer, as is a site of unknown size (the transfer knows each record's size
// and whether a typed pointer reaches it; refusing single suspects here refused
// updates that commit, commit bf5b505).
#ifndef DWARFMETA_PLAN_SITE_CANDIDATES_H
#define DWARFMETA_PLAN_SITE_CANDIDATES_H

#include "dwarfmeta/model.h"
#include "dwarfmeta/plan.h"
#include "dwarfmeta/plan_compare.h"

namespace ttst::dwarfmeta {

// `o` is v2's site `s2`'s entry; `s1` v1's site of that ID (or null).
void plan_site_candidates(const Program& v1, const Program& v2, const AllocSite* s1, const AllocSite& s2,
                          TypeComparer& types, PlanObject& o);

}  // namespace ttst::dwarfmeta

#endif
