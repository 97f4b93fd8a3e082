// plan_heap_types.cc — see plan_heap_types.h.
#include "dwarfmeta/plan_heap_types.h"

#include <utility>

namespace ttst::dwarfmeta {
namespace {

// "struct tag.m" / "union tag.m" / "tag.m" -> (tag, m); ("", "") when not a member.
std::pair<std::string, std::string> member_target(std::string t) {
  for (const char* prefix : {"struct ", "union "})
    if (t.rfind(prefix, 0) == 0) t = t.substr(std::string(prefix).size());
  size_t dot = t.find('.');
  if (dot == std::string::npos || t.find('.', dot + 1) != std::string::npos) return {};
  return {t.substr(0, dot), t.substr(dot + 1)};
}

// The definition of a struct / union / typedef named `name` ("struct tag", a tag, a
// typedef name), stripped; kVoid when none.
TypeId definition_named(const Program& p, std::string name, TypeKind kind = TypeKind::Void) {
  if (name.rfind("struct ", 0) == 0) kind = TypeKind::Struct, name = name.substr(7);
  if (name.rfind("union ", 0) == 0) kind = TypeKind::Union, name = name.substr(6);
  for (TypeId id = 1; id < p.types.size(); ++id) {
    const Type& t = p.types[id];
    if (t.name != name || (kind != TypeKind::Void && t.kind != kind)) continue;
    if (kind == TypeKind::Void && t.kind != TypeKind::Typedef && t.kind != TypeKind::Struct && t.kind != TypeKind::Union)
      continue;
    TypeId s = p.strip(id);
    const Type& d = p.type(s);
    if ((d.kind == TypeKind::Struct || d.kind == TypeKind::Union) && !d.declaration) return s;
  }
  return kVoid;
}

class HeapTypes {
 public:
  HeapTypes(const Program& v1, const Program& v2) : v1_(v1) {
    for (const Program* p : {&v1, &v2})
      for (const Annotation& a : p->annotations)
        if (a.kind == AnnotKind::IXfer || a.kind == AnnotKind::PXfer || a.kind == AnnotKind::NoTransfer) {
          auto m = member_target(a.target);
          if (!m.first.empty()) not_followed_.insert(m);
        }
  }

  // Everything v1's state reaches; the structs and unions behind pointers are heap types.
  void reach(const std::set<std::string>& skipped) {
    for (const Global& g : v1_.globals)
      if (!skipped.count(g.id)) visit(g.type, false, 0);
    for (const AllocSite& s : v1_.alloc_sites)
      if (s.type != kVoid) visit(s.type, true, 0);
    for (const Annotation& a : v1_.annotations)  // POINTS_TO(holder, T): a void * member holding a T *
      if (a.kind == AnnotKind::PointsTo)
        if (TypeId t = definition_named(v1_, a.arg)) visit(t, true, 0);
  }

  // A heap type and its name: "struct tag", "union tag", or for an anonymous one the
  // typedef name it was reached through (how the transfer pairs it with v2's).
  struct Heap {
    TypeId type;
    std::string name;
  };
  const std::vector<Heap>& heap() const { return heap_; }

 private:
  void visit(TypeId raw, bool behind_pointer, int depth) {
    TypeId t = v1_.strip(raw);
    const Type* ty = &v1_.type(t);
    if ((ty->kind == TypeKind::Struct || ty->kind == TypeKind::Union) && ty->declaration && !ty->name.empty())
      if (TypeId d = definition_named(v1_, ty->name, ty->kind)) t = d, ty = &v1_.type(t);
    if (depth > 256) return;
    bool aggregate = ty->kind == TypeKind::Struct || ty->kind == TypeKind::Union;
    std::string name = !ty->name.empty() ? (ty->kind == TypeKind::Union ? "union " : "struct ") + ty->name
                       : v1_.type(raw).kind == TypeKind::Typedef ? v1_.type(raw).name
                                                                 : "";
    if (aggregate && ty->declaration) return;  // opaque (a library's own type): nothing of it is transferred
    if (aggregate && behind_pointer && !name.empty() && heap_seen_.insert(t).second) heap_.push_back(Heap{t, name});
    if (!seen_.insert(t).second) return;
    if (ty->kind == TypeKind::Pointer) return visit(ty->target, true, depth + 1);
    if (ty->kind == TypeKind::Array) return visit(ty->target, behind_pointer, depth + 1);
    if (!aggregate) return;
    for (const Member& m : ty->members)
      if (!not_followed_.count({ty->name, m.name})) visit(m.type, false, depth + 1);
  }

  const Program& v1_;
  std::set<std::pair<std::string, std::string>> not_followed_;  // (tag, member) annotated
  std::set<TypeId> seen_, heap_seen_;
  std::vector<Heap> heap_;
};

ObjectKind kind_of_changes(const std::vector<Change>& changes) {
  ObjectKind kind = ObjectKind::Unchanged;
  for (const Change& c : changes) {
    if (c.semantic) kind = ObjectKind::Semantic;
    else if (kind == ObjectKind::Unchanged && c.what != "renamed") kind = ObjectKind::Structural;
  }
  return kind;
}

}  // namespace

void plan_heap_types(const Program& v1, const Program& v2, const std::set<std::string>& skipped, TypeComparer& types,
                     std::vector<PlanObject>& out) {
  HeapTypes reached(v1, v2);
  reached.reach(skipped);
  for (const auto& [t1, name] : reached.heap()) {
    const Type& a = v1.type(t1);
    PlanObject o;
    o.id = name;
    o.what = "type";
    o.type_v1 = o.id;
    bool listed = false;
    for (const PlanObject& other : out)
      listed |= other.id == o.id || (other.what == "carved" && definition_named(v1, other.id) == t1);
    if (listed) continue;  // a carved sub-object type has its own entry (plan_carved.h)
    TypeId t2 = a.name.empty() ? definition_named(v2, name) : definition_named(v2, a.name, a.kind);
    if (t2 == kVoid) {
      o.kind = ObjectKind::Dropped;
      out.push_back(std::move(o));
      continue;
    }
    o.type_v2 = o.id;
    types.compare(t1, t2, "", o.changes);
    if (o.changes.empty()) continue;
    o.kind = kind_of_changes(o.changes);
    out.push_back(std::move(o));
  }
}

}  // namespace ttst::dwarfmeta
