// plan_site_candidates.cc — see plan_site_candidates.h.
#include "dwarfmeta/plan_site_candidates.h"

#include <string>

namespace ttst::dwarfmeta {
namespace {

// "struct tag" / "union tag" for a candidate (stripped); "" when anonymous.
std::string tag_of(const Program& p, TypeId t) {
  const Type& ty = p.type(p.strip(t));
  if (ty.name.empty()) return "";
  return (ty.kind == TypeKind::Union ? "union " : "struct ") + ty.name;
}

// The definition of the struct / union of the same kind and tag in `p`, or void.
TypeId same_tag(const Program& p, const Type& want) {
  for (TypeId id = 1; id < p.types.size(); ++id) {
    const Type& t = p.types[id];
    if (t.kind == want.kind && t.name == want.name && !t.declaration) return id;
  }
  return kVoid;
}

// Does `t` (in `from`) have another layout in `to` (or is it missing there)? Its
// name when so, else "". `v1_side`: `from` is v1.
std::string changed(const Program& from, const Program& to, bool v1_side, TypeId t, TypeComparer& types) {
  const Type& ty = from.type(from.strip(t));
  if (ty.name.empty()) return "";
  TypeId other = same_tag(to, ty);
  if (other == kVoid) return tag_of(from, t);
  std::vector<Change> changes;
  if (v1_side) types.compare(from.strip(t), other, "", changes);
  else types.compare(other, from.strip(t), "", changes);
  for (const Change& c : changes)
    if (c.what != "renamed") return tag_of(from, t);
  return "";
}

// One version's site: its candidates' list, and the first that changes, if any.
bool check(const Program& from, const Program& to, bool v1_side, const AllocSite& s, TypeComparer& types,
           std::string* list, std::string* which) {
  if (s.candidates.size() < (s.uncertain ? 1u : 2u) || s.size == 0) return false;
  list->clear();
  for (TypeId t : s.candidates) *list += (list->empty() ? "" : ", ") + tag_of(from, t);
  if (s.uncertain) *list += ", or bytes (a void * / char * in scope)";
  for (TypeId t : s.candidates)
    if (std::string c = changed(from, to, v1_side, t, types); !c.empty()) return *which = c, true;
  return false;
}

}  // namespace

void plan_site_candidates(const Program& v1, const Program& v2, const AllocSite* s1, const AllocSite& s2,
                          TypeComparer& types, PlanObject& o) {
  std::string list, which;
  if (!(s1 && check(v1, v2, true, *s1, types, &list, &which)) && !check(v2, v1, false, s2, types, &list, &which))
    return;
  o.kind = ObjectKind::Semantic;
  o.changes.push_back(Change{"", "site-candidates", "one of " + list, which + " changes layout", true});
}

}  // namespace ttst::dwarfmeta
