// plan_carved.cc — see plan_carved.h.
#include "dwarfmeta/plan_carved.h"

#include <set>
#include <string>

namespace ttst::dwarfmeta {
namespace {

// The sub-object type names of a CONTAINER annotation's "of=T|U" (trimmed).
std::vector<std::string> carved_names(const Annotation& a) {
  std::vector<std::string> names;
  size_t at = a.arg.rfind("of=", 0) == 0 ? 0 : a.arg.find(",of=");
  if (at == std::string::npos) return names;
  std::string list = a.arg.substr(at == 0 ? 3 : at + 4);
  list = list.substr(0, list.find(','));
  size_t start = 0;
  while (start <= list.size()) {
    size_t bar = list.find('|', start);
    std::string name = list.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (!name.empty()) names.push_back(name);
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return names;
}

TypeId type_of_kind(const Program& p, const std::string& name) {
  TypeKind want = TypeKind::Typedef;
  std::string tag = name;
  if (name.rfind("struct ", 0) == 0) want = TypeKind::Struct, tag = name.substr(7);
  if (name.rfind("union ", 0) == 0) want = TypeKind::Union, tag = name.substr(6);
  TypeId found = kVoid;
  for (TypeId id = 1; id < p.types.size(); ++id) {
    const Type& t = p.types[id];
    if (t.kind != want || t.name != tag) continue;
    if (!p.type(p.strip(id)).declaration) return id;
    found = id;
  }
  return found;
}


// Same size, members (names, offsets, bits) and encodings at every level.
bool same_layout(const Program& a, TypeId ta, const Program& b, TypeId tb, int depth = 0) {
  const Type& x = a.type(a.strip(ta));
  const Type& y = b.type(b.strip(tb));
  if (depth > 64 || x.kind != y.kind || x.size != y.size) return false;
  // `T end[0]` (GNU) and `T end[]` (C99) are the same flexible tail
  auto tail = [](uint64_t count) { return count == 0 || count == kFlexible; };
  if (x.kind == TypeKind::Array)
    return (x.count == y.count || (tail(x.count) && tail(y.count))) && same_layout(a, x.target, b, y.target, depth + 1);
  if (x.kind == TypeKind::Base) return x.encoding == y.encoding;
  if (x.kind != TypeKind::Struct && x.kind != TypeKind::Union) return true;
  if (x.members.size() != y.members.size()) return false;
  for (size_t i = 0; i < x.members.size(); ++i) {
    const Member& m = x.members[i];
    const Member& n = y.members[i];
    if (m.name != n.name || m.offset != n.offset || m.bit_size != n.bit_size || m.bit_offset != n.bit_offset ||
        !same_layout(a, m.type, b, n.type, depth + 1))
      return false;
  }
  return true;
}

}  // namespace

TypeId type_named(const Program& p, const std::string& name) {
  TypeId id = type_of_kind(p, name);
  if (id != kVoid || name.find(' ') != std::string::npos) return id;
  id = type_of_kind(p, "struct " + name);
  return id != kVoid ? id : type_of_kind(p, "union " + name);
}

void plan_carved_types(const Program& v1, const Program& v2, TypeComparer& types, std::vector<PlanObject>& out) {
  std::set<std::string> seen;
  for (const Program* p : {&v1, &v2})
    for (const Annotation& a : p->annotations) {
      if (a.kind != AnnotKind::Container) continue;
      for (const std::string& name : carved_names(a)) {
        if (!seen.insert(name).second) continue;
        TypeId t1 = type_named(v1, name), t2 = type_named(v2, name);
        if (t1 == kVoid || t2 == kVoid) continue;  // the engine refuses a type v2 lacks, by name
        PlanObject o;
        o.id = name;
        o.what = "carved";
        o.type_v1 = v1.type_name(t1);
        o.type_v2 = v2.type_name(t2);
        types.compare(t1, t2, "", o.changes);
        for (Change& c : o.changes) c.semantic = false;
        if (same_layout(v1, t1, v2, t2)) {
          o.kind = o.changes.empty() ? ObjectKind::Unchanged : ObjectKind::Structural;
        } else {
          o.kind = ObjectKind::Semantic;
          o.changes.push_back(Change{"", "layout-changed", "sub-object of carved containers (" + a.target + ")",
                                     "stays at its offset: needs transfer code", true});
        }
        out.push_back(std::move(o));
      }
    }
}

}  // namespace ttst::dwarfmeta
