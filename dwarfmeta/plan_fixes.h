// plan_fixes.h — the line that resolves each semantic object of a plan, worded as
// the transfer's refusal of it would be (stfw/xfer/advice_text.h), so the plan
// lists, before any process is touched, the same fix the refusal would print.
#ifndef TTST_DWARFMETA_PLAN_FIXES_H
#define TTST_DWARFMETA_PLAN_FIXES_H

#include <string>

#include "dwarfmeta/model.h"
#include "dwarfmeta/plan.h"

namespace ttst::dwarfmeta {

// Fills PlanObject::fixes of every semantic object (v1: the older version).
void add_fixes(Plan& plan, const Program& v1);

// The transfer plugin target a semantic change of `o` needs, as `ttst-meta
// xfer-skeleton` writes its functions: the struct (or typedef) its member path
// ends in ("struct entry", *member = "value"), else the object itself (a global's
// state ID, *global true; a heap type's spelling).
std::string plugin_target(const Program& v1, const PlanObject& o, const Change& c, bool* global, std::string* member);
// The struct type (v1, stripped) a member path of a value of type t ends in, and the member's name.
TypeId owner_of(const Program& p, TypeId t, const std::string& path, std::string* member);
// A type as plugins and annotations name it: "struct S", "union U", a typedef's name ("" if none).
std::string target_of(const Program& p, TypeId t);

}  // namespace ttst::dwarfmeta

#endif
