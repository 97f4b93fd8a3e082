// plan.cc — matching v1 and v2 state objects and comparing their types member by
// member. Pointers are compared by what they point to (its C spelling), never
// followed: the pointee is an object of its own with its own entry.
#include "dwarfmeta/plan.h"

#include <cstdio>
#include <map>
#include <set>

namespace ttst::dwarfmeta {
namespace {

bool is_integral(const Type& t) {
  if (t.kind == TypeKind::Enum) return true;
  return t.kind == TypeKind::Base && t.encoding != Encoding::Float && t.encoding != Encoding::Complex &&
         t.encoding != Encoding::Other;
}

bool is_float(const Type& t) {
  return t.kind == TypeKind::Base && (t.encoding == Encoding::Float || t.encoding == Encoding::Complex);
}

bool is_signed(const Type& t) { return t.encoding == Encoding::Signed || t.encoding == Encoding::SignedChar; }

// Does a type hold a pointer in place (not behind a pointer)? Memoized per type;
// a type that contains itself (not valid C) counts as holding one, so a change to
// it is never taken for a plain copy.
class PointerHolders {
 public:
  explicit PointerHolders(const Program& p) : p_(p), state_(p.types.size(), kUnknown) {}
  bool operator()(TypeId id) {
    id = p_.strip(id);
    if (state_[id] == kVisiting) return true;
    if (state_[id] != kUnknown) return state_[id] == kYes;
    state_[id] = kVisiting;
    const Type& t = p_.type(id);
    bool holds = t.kind == TypeKind::Pointer || (t.kind == TypeKind::Array && (*this)(t.target));
    for (size_t i = 0; i < t.members.size() && !holds; ++i) holds = (*this)(t.members[i].type);
    state_[id] = holds ? kYes : kNo;
    return holds;
  }

 private:
  enum : uint8_t { kUnknown, kVisiting, kNo, kYes };
  const Program& p_;
  std::vector<uint8_t> state_;
};

// `rel` (a path relative to a member) under `path`: "a" + "b" = "a.b", "a" + "[]" = "a[]".
std::string under(const std::string& path, const std::string& rel) {
  if (rel.empty()) return path;
  if (path.empty() || rel[0] == '[') return path + rel;
  return path + "." + rel;
}

// The changes from a v1 type to a v2 type, member by member, to any depth. The
// changes of each pair of types are computed once (relative to the pair) and
// listed under every path where the pair occurs.
class Comparer {
 public:
  Comparer(const Program& a, const Program& b) : a_(a), b_(b), holders_a_(a), holders_b_(b) {
    // Members the user annotated IXFER / PXFER / NO_TRANSFER ("struct tag.m",
    // "union tag.m", in either version): their changes need no transfer code.
    for (const Program* p : {&a, &b})
      for (const Annotation& an : p->annotations) {
        if (an.kind != AnnotKind::IXfer && an.kind != AnnotKind::PXfer && an.kind != AnnotKind::NoTransfer) continue;
        std::string t = an.target;
        for (const char* prefix : {"struct ", "union "})
          if (t.rfind(prefix, 0) == 0) t = t.substr(std::string(prefix).size());
        size_t dot = t.find('.');
        if (dot != std::string::npos && t.find('.', dot + 1) == std::string::npos)
          annotated_[{t.substr(0, dot), t.substr(dot + 1)}] = an.kind;
      }
  }

  // Appends the changes from `ta` (v1) to `tb` (v2), their paths under `path`.
  void compare(TypeId ta, TypeId tb, const std::string& path, std::vector<Change>& out) {
    for (const Change& c : changes(ta, tb)) {
      out.push_back(c);
      out.back().path = under(path, c.path);
    }
  }

 private:
  struct Pair {
    bool done = false;
    std::vector<Change> changes;  // paths relative to the pair
  };

  const std::vector<Change>& changes(TypeId ta, TypeId tb) {
    ta = a_.strip(ta), tb = b_.strip(tb);
    Pair& p = pairs_[{ta, tb}];
    if (p.done) return p.changes;
    if (!p.changes.empty()) return p.changes;  // met again while being compared
    // A type that contains itself (not valid C; found only in broken DWARF) says
    // nothing about how to transform it: reported, never taken as unchanged.
    p.changes.push_back(Change{"", "type-changed", a_.type_name(ta), b_.type_name(tb), true});
    std::vector<Change> out;
    compare_types(ta, tb, out);
    p.changes = std::move(out);
    p.done = true;
    return p.changes;
  }

  void compare_types(TypeId ta, TypeId tb, std::vector<Change>& out) {
    const Type& A = a_.type(ta);
    const Type& B = b_.type(tb);
    std::string na = a_.type_name(ta), nb = b_.type_name(tb);
    if ((is_integral(A) && is_integral(B)) || (is_float(A) && is_float(B))) {
      primitive(A, B, na, nb, out);
      if (A.kind == TypeKind::Enum && B.kind == TypeKind::Enum) enums(A, B, out);
      return;
    }
    if ((is_integral(A) && is_float(B)) || (is_float(A) && is_integral(B))) {
      add(out, "", "converted", na, nb, true);
      return;
    }
    if (A.kind != B.kind) {
      bool ptr_int = (A.kind == TypeKind::Pointer && is_integral(B)) || (is_integral(A) && B.kind == TypeKind::Pointer);
      add(out, "", ptr_int ? "pointer-integer" : "type-changed", na, nb, true);
      return;
    }
    switch (A.kind) {
      case TypeKind::Pointer:
        pointers(A, B, na, nb, out);
        return;
      case TypeKind::Array:
        if (A.count != B.count) {
          if (A.count == kFlexible || B.count == kFlexible)
            add(out, "", "type-changed", na, nb, true);
          else
            add(out, "", B.count > A.count ? "grown" : "truncated", na, nb, false);
        }
        compare(A.target, B.target, "[]", out);
        return;
      case TypeKind::Struct:
        members(A, B, out);
        return;
      case TypeKind::Union: {
        std::vector<Change> inner;
        members(A, B, inner);
        if (inner.empty()) return;
        if (holders_a_(ta) || holders_b_(tb))
          add(out, "", "union-changed", na, nb, true);
        else
          out.insert(out.end(), inner.begin(), inner.end());
        return;
      }
      case TypeKind::Function:
        if (na != nb) add(out, "", "signature-changed", na, nb, false);
        return;
      default:
        if (A.size != B.size) add(out, "", "type-changed", na, nb, true);
        return;
    }
  }

  // Pointers are compared by the C spelling of what they point to, never followed.
  void pointers(const Type& A, const Type& B, const std::string& na, const std::string& nb, std::vector<Change>& out) {
    TypeId pa = a_.strip(A.target), pb = b_.strip(B.target);
    const Type& PA = a_.type(pa);
    const Type& PB = b_.type(pb);
    std::string sa = a_.type_name(pa), sb = b_.type_name(pb);
    if (sa == Program::kUnspellable || sb == Program::kUnspellable) {
      add(out, "", "type-changed", na, nb, true);  // a pointer chain that loops (broken DWARF)
    } else if (PA.kind == TypeKind::Function && PB.kind == TypeKind::Function) {
      if (sa != sb) add(out, "", "signature-changed", na, nb, false);
    } else if (sa != sb) {
      // To a different kind of thing (char -> struct blob, struct -> pointer):
      // the objects pointed to cannot be converted, only rebuilt by user code.
      // base <-> enum converts; void says nothing (the object keeps its type).
      auto cls = [](TypeKind k) { return k == TypeKind::Enum ? TypeKind::Base : k; };
      bool unrelated = PA.kind != TypeKind::Void && PB.kind != TypeKind::Void && cls(PA.kind) != cls(PB.kind);
      add(out, "", "retargeted", na, nb, unrelated);
    }
  }

  static void add(std::vector<Change>& out, const std::string& path, const std::string& what, const std::string& from,
                  const std::string& to, bool semantic) {
    out.push_back(Change{path, what, from, to, semantic});
  }

  static void primitive(const Type& A, const Type& B, const std::string& na, const std::string& nb,
                        std::vector<Change>& out) {
    if (A.size != B.size)
      add(out, "", B.size > A.size ? "widened" : "narrowed", na, nb, false);
    else if (is_integral(A) && is_signed(A) != is_signed(B) && A.encoding != Encoding::Bool &&
             B.encoding != Encoding::Bool)
      add(out, "", "sign-changed", na, nb, false);
  }

  static void enums(const Type& A, const Type& B, std::vector<Change>& out) {
    std::map<std::string, int64_t> vb;
    for (const Enumerator& e : B.enumerators) vb[e.name] = e.value;
    std::set<std::string> na;
    for (const Enumerator& e : A.enumerators) {
      na.insert(e.name);
      auto it = vb.find(e.name);
      if (it == vb.end())
        add(out, "", "enumerator-dropped", e.name, "", true);
      else if (it->second != e.value)
        add(out, "", "renumbered", e.name + "=" + std::to_string(e.value),
            e.name + "=" + std::to_string(it->second), false);
    }
    for (const Enumerator& e : B.enumerators)
      if (!na.count(e.name)) add(out, "", "enumerator-added", "", e.name, false);
  }

  // Members match by name; anonymous members by their position among anonymous ones.
  static std::string member_key(const Type& t, size_t i) {
    if (!t.members[i].name.empty()) return t.members[i].name;
    size_t n = 0;
    for (size_t j = 0; j < i; ++j) n += t.members[j].name.empty();
    return "<anonymous#" + std::to_string(n) + ">";
  }

  void members(const Type& A, const Type& B, std::vector<Change>& out) {
    std::map<std::string, size_t> ib;
    for (size_t i = 0; i < B.members.size(); ++i) ib[member_key(B, i)] = i;
    std::set<std::string> seen;
    for (size_t i = 0; i < A.members.size(); ++i) {
      std::string k = member_key(A, i);
      seen.insert(k);
      const Member& ma = A.members[i];
      auto it = ib.find(k);
      if (it == ib.end()) {
        add(out, k, "dropped", a_.declaration(ma.type, ma.name), "", false);
        continue;
      }
      member(A, B, ma, B.members[it->second], k, out);
    }
    for (size_t i = 0; i < B.members.size(); ++i)
      if (!seen.count(member_key(B, i)))
        add(out, member_key(B, i), "added", "", b_.declaration(B.members[i].type, B.members[i].name), false);
  }

  // One member kept from v1 to v2 (key `k`): its place, then its type.
  void member(const Type& A, const Type& B, const Member& ma, const Member& mb, const std::string& k,
              std::vector<Change>& out) {
    uint64_t ba = ma.offset * 8 + ma.bit_offset, bb = mb.offset * 8 + mb.bit_offset;
    if (ma.is_bitfield() || mb.is_bitfield()) {
      if (ma.bit_size != mb.bit_size)
        add(out, k, mb.bit_size > ma.bit_size ? "widened" : "narrowed", std::to_string(ma.bit_size) + " bits",
            std::to_string(mb.bit_size) + " bits", false);
      if (ba != bb) add(out, k, "bitfield-moved", "bit " + std::to_string(ba), "bit " + std::to_string(bb), false);
    } else if (ma.offset != mb.offset) {
      add(out, k, "moved", "offset " + std::to_string(ma.offset), "offset " + std::to_string(mb.offset), false);
    }
    auto ann = annotated_.find({A.name, k});
    if (ann == annotated_.end()) ann = annotated_.find({B.name, k});
    if (ann == annotated_.end()) {
      compare(ma.type, mb.type, k, out);
      return;
    }
    // Annotated: the user said how it is carried over; list what changed anyway.
    size_t first = out.size();
    compare(ma.type, mb.type, k, out);
    for (size_t i = first; i < out.size(); ++i) out[i].semantic = false;
    add(out, k,
        ann->second == AnnotKind::NoTransfer ? "not-transferred"
        : ann->second == AnnotKind::IXfer    ? "copied-as-bytes"
                                             : "translated-as-pointer",
        "", "", false);
  }

  const Program& a_;
  const Program& b_;
  PointerHolders holders_a_, holders_b_;
  std::map<std::pair<std::string, std::string>, AnnotKind> annotated_;  // (type name, member)
  std::map<std::pair<TypeId, TypeId>, Pair> pairs_;
};

// Pointer ambiguity reachable from a global: walks members and arrays in place and
// follows pointers once per struct type, to 16 levels (the list is advice for
// annotations: the transfer itself refuses, at any depth, a value that looks like
// a pointer where it cannot tell; an unbounded walk would list every path to every
// deep member of every global).
class AmbiguityFinder {
 public:
  // `annotations`: the IXFER/PXFER annotations that resolve ambiguity (those of
  // the new version apply to both sides of the update).
  AmbiguityFinder(const Program& p, PointerHolders& holders, const std::vector<Annotation>& annotations,
                  std::vector<Ambiguity>& out)
      : p_(p), holders_(holders), out_(out) {
    for (const Annotation& a : annotations)
      if (a.kind == AnnotKind::IXfer || a.kind == AnnotKind::PXfer) resolved_.insert(a.target);
  }
  void walk(const Global& g) {
    if (resolved_.count(g.id) || resolved_.count(g.name)) return;
    visit(g.type, "", "", 0);
  }

 private:
  void visit(TypeId id, const std::string& path, const std::string& member_key, int depth) {
    if (depth > 16) return;
    if (!member_key.empty() && resolved_.count(member_key)) return;
    // Typedef names say what plain types cannot.
    TypeId named = id;
    for (size_t steps = 0; steps <= p_.types.size(); ++steps) {
      const Type& ty = p_.type(named);
      if (ty.kind == TypeKind::Typedef && (ty.name == "intptr_t" || ty.name == "uintptr_t")) {
        flag(path, "pointer-sized integer " + ty.name);
        return;
      }
      if (ty.kind != TypeKind::Typedef && ty.kind != TypeKind::Const && ty.kind != TypeKind::Volatile &&
          ty.kind != TypeKind::Atomic && ty.kind != TypeKind::Restrict)
        break;
      named = ty.target;
    }
    TypeId sid = p_.strip(id);
    const Type& t = p_.type(sid);
    switch (t.kind) {
      case TypeKind::Pointer: {
        TypeId target = p_.strip(t.target);
        const Type& tt = p_.type(target);
        if (tt.kind == TypeKind::Void) {
          flag(path, "void *");
        } else if ((tt.kind == TypeKind::Struct || tt.kind == TypeKind::Union) && followed_.insert(target).second) {
          visit(target, path + "->", "", depth + 1);
        }
        return;
      }
      case TypeKind::Array:
        visit(t.target, path + "[]", member_key, depth + 1);
        return;
      case TypeKind::Union:
        if (holders_(sid)) {
          flag(path, "union with pointer members");
          return;
        }
        [[fallthrough]];
      case TypeKind::Struct: {
        std::string sep = (path.empty() || (path.size() >= 2 && path.compare(path.size() - 2, 2, "->") == 0)) ? "" : ".";
        for (const Member& m : t.members) {
          std::string key = std::string(kind_name(t.kind)) + " " + t.name + "." + m.name;
          visit(m.type, path + sep + (m.name.empty() ? "<anonymous>" : m.name), key, depth + 1);
        }
        return;
      }
      default:
        return;
    }
  }
  void flag(const std::string& path, const std::string& why) {
    for (const Ambiguity& a : out_)
      if (a.path == path && a.why == why) return;
    out_.push_back(Ambiguity{path, why});
  }

  const Program& p_;
  PointerHolders& holders_;
  std::vector<Ambiguity>& out_;
  std::set<std::string> resolved_;
  std::set<TypeId> followed_;
};

std::string basename_of(const std::string& s) {
  auto slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

// The global an annotation's target designates in `p` (grammar in ttst_abi.h).
const Global* annotated_global(const Program& p, const Annotation& a) {
  if (const Global* g = p.global(basename_of(a.file) + "::" + a.target)) return g;
  return p.global(a.target);
}

// "not-transferred" / "copied-as-bytes" / "translated-as-pointer" when v1's global
// `id1` or v2's `id2` carries NO_TRANSFER / IXFER / PXFER, else nullptr.
const char* whole_object_annotation(const Program& v1, const Program& v2, const std::string& id1,
                                    const std::string& id2) {
  for (int side = 0; side < 2; ++side) {
    const Program& p = side ? v2 : v1;
    for (const Annotation& a : p.annotations) {
      const Global* g = (a.kind == AnnotKind::NoTransfer || a.kind == AnnotKind::IXfer || a.kind == AnnotKind::PXfer)
                            ? annotated_global(p, a)
                            : nullptr;
      if (!g || g->id != (side ? id2 : id1)) continue;
      return a.kind == AnnotKind::NoTransfer ? "not-transferred"
             : a.kind == AnnotKind::IXfer    ? "copied-as-bytes"
                                             : "translated-as-pointer";
    }
  }
  return nullptr;
}

}  // namespace

const char* object_kind_name(ObjectKind k) {
  switch (k) {
    case ObjectKind::Unchanged: return "unchanged";
    case ObjectKind::Structural: return "structural";
    case ObjectKind::Semantic: return "semantic";
    case ObjectKind::Dropped: return "dropped";
    case ObjectKind::Added: return "added";
  }
  return "?";
}

std::string Change::text() const {
  std::string s = (path.empty() ? std::string("(value)") : path) + ": " + what;
  if (!from.empty() && !to.empty()) s += " " + from + " -> " + to;
  else if (!from.empty()) s += " " + from;
  else if (!to.empty()) s += " " + to;
  return s;
}

bool Plan::needs_user_code() const {
  for (const PlanObject& o : objects)
    if (o.kind == ObjectKind::Semantic) return true;
  return false;
}

const PlanObject* Plan::object(const std::string& id) const {
  for (const PlanObject& o : objects)
    if (o.id == id) return &o;
  return nullptr;
}

namespace {

// Kind of a matched object from its changes: semantic if one is, structural if
// anything but a rename changed.
ObjectKind kind_of(const std::vector<Change>& changes) {
  ObjectKind kind = ObjectKind::Unchanged;
  for (const Change& c : changes) {
    if (c.semantic) kind = ObjectKind::Semantic;
    else if (kind == ObjectKind::Unchanged && c.what != "renamed") kind = ObjectKind::Structural;
  }
  return kind;
}

class Planner {
 public:
  Planner(const Program& v1, const Program& v2) : v1_(v1), v2_(v2), types_(v1, v2), holders1_(v1), holders2_(v2) {
    for (const Annotation& a : v2.annotations)  // v2 ID -> v1 ID for renamed objects
      if (a.kind == AnnotKind::RenamedFrom)
        if (const Global* g = annotated_global(v2, a)) renamed_[g->id] = a.arg;
  }

  Plan run() {
    for (const Global& g2 : v2_.globals) plan_.objects.push_back(global(g2));
    for (const Global& g1 : v1_.globals)
      if (!matched_v1_.count(g1.id)) {
        PlanObject o;
        o.id = g1.id;
        o.what = "global";
        o.kind = ObjectKind::Dropped;
        o.type_v1 = v1_.type_name(g1.type);
        plan_.objects.push_back(std::move(o));
      }
    alloc_sites();
    return std::move(plan_);
  }

 private:
  // v2's global, matched with v1's by ID (or by the name it was renamed from).
  PlanObject global(const Global& g2) {
    PlanObject o;
    o.id = g2.id;
    o.what = "global";
    o.type_v2 = v2_.type_name(g2.type);
    std::string old = renamed_.count(g2.id) ? renamed_[g2.id] : g2.id;
    const Global* g1 = v1_.global(old);
    if (!g1) {
      o.kind = ObjectKind::Added;
    } else {
      matched_v1_.insert(g1->id);
      o.type_v1 = v1_.type_name(g1->type);
      if (old != g2.id) {
        o.old_id = old;
        o.changes.push_back(Change{"", "renamed", old, g2.id, false});
      }
      if (g1->tls != g2.tls)
        o.changes.push_back(Change{"", "tls-changed", g1->tls ? "thread-local" : "global",
                                   g2.tls ? "thread-local" : "global", true});
      types_.compare(g1->type, g2.type, "", o.changes);
      o.kind = kind_of(o.changes);
      AmbiguityFinder(v1_, holders1_, v2_.annotations, o.ambiguities).walk(*g1);
    }
    AmbiguityFinder(v2_, holders2_, v2_.annotations, o.ambiguities).walk(g2);
    apply_whole_object_annotation(o);
    // A dropped member needs no annotation: nothing of it is transferred.
    std::erase_if(o.ambiguities, [&](const Ambiguity& a) {
      for (const Change& c : o.changes)
        if (c.what == "dropped" && (a.path == c.path || a.path.rfind(c.path + ".", 0) == 0 ||
                                    a.path.rfind(c.path + "->", 0) == 0))
          return true;
      return false;
    });
    return o;
  }

  // Annotated as a whole (IXFER, PXFER, NO_TRANSFER in either version): the user
  // said how to carry it over (or not to), so it needs no transfer code.
  void apply_whole_object_annotation(PlanObject& o) {
    const char* how = whole_object_annotation(v1_, v2_, o.old_id.empty() ? o.id : o.old_id, o.id);
    if (!how) return;
    for (Change& c : o.changes) c.semantic = false;
    o.changes.push_back(Change{"", how, "", "", false});
    if (o.kind == ObjectKind::Semantic) o.kind = ObjectKind::Structural;
    if (std::string(how) == "not-transferred") o.ambiguities.clear();
  }

  // Heap objects are matched by the site that allocated them.
  void alloc_sites() {
    std::set<std::string> sites1, sites2;
    for (const AllocSite& s : v1_.alloc_sites) sites1.insert(s.id);
    for (const AllocSite& s : v2_.alloc_sites) sites2.insert(s.id);
    for (const AllocSite& s : v2_.alloc_sites) {
      PlanObject o;
      o.id = s.id;
      o.what = "alloc_site";
      o.kind = sites1.count(s.id) ? ObjectKind::Unchanged : ObjectKind::Added;
      o.type_v2 = s.allocator;
      for (const AllocSite& s1 : v1_.alloc_sites)
        if (s1.id == s.id) {
          o.type_v1 = s1.allocator;
          if (s1.allocator != s.allocator) {
            o.kind = ObjectKind::Structural;
            o.changes.push_back(Change{"", "allocator-changed", s1.allocator, s.allocator, false});
          }
        }
      plan_.objects.push_back(std::move(o));
    }
    for (const AllocSite& s : v1_.alloc_sites)
      if (!sites2.count(s.id)) {
        PlanObject o;
        o.id = s.id;
        o.what = "alloc_site";
        o.kind = ObjectKind::Dropped;
        o.type_v1 = s.allocator;
        plan_.objects.push_back(std::move(o));
      }
  }

  const Program& v1_;
  const Program& v2_;
  Comparer types_;
  PointerHolders holders1_, holders2_;
  std::map<std::string, std::string> renamed_;
  std::set<std::string> matched_v1_;
  Plan plan_;
};

}  // namespace

Plan make_plan(const Program& v1, const Program& v2) { return Planner(v1, v2).run(); }

nlohmann::json to_json(const Plan& plan) {
  using nlohmann::json;
  json objs = json::array();
  for (const PlanObject& o : plan.objects) {
    json changes = json::array();
    for (const Change& c : o.changes)
      changes.push_back({{"path", c.path}, {"change", c.what}, {"from", c.from}, {"to", c.to},
                         {"semantic", c.semantic}, {"text", c.text()}});
    json amb = json::array();
    for (const Ambiguity& a : o.ambiguities) amb.push_back({{"path", a.path}, {"why", a.why}});
    json j = {{"id", o.id}, {"kind", object_kind_name(o.kind)}, {"object", o.what}, {"changes", changes},
              {"ambiguous", amb}};
    if (!o.old_id.empty()) j["old_id"] = o.old_id;
    if (!o.type_v1.empty()) j["v1"] = o.type_v1;
    if (!o.type_v2.empty()) j["v2"] = o.type_v2;
    objs.push_back(j);
  }
  return {{"objects", objs}, {"needs_user_code", plan.needs_user_code()}};
}

void print_plan(const Plan& plan, std::ostream& out, bool verbose) {
  std::map<ObjectKind, int> counts;
  for (const PlanObject& o : plan.objects) counts[o.kind]++;
  char line[512];
  std::snprintf(line, sizeof line, "%-11s %-10s %-28s %s\n", "KIND", "OBJECT", "ID", "TYPE (v1 -> v2)");
  out << line;
  for (const PlanObject& o : plan.objects) {
    if (!verbose && o.kind == ObjectKind::Unchanged && o.ambiguities.empty() && o.changes.empty()) continue;
    std::string type = o.type_v1.empty() ? o.type_v2
                       : o.type_v2.empty() || o.type_v1 == o.type_v2 ? o.type_v1
                                                                     : o.type_v1 + " -> " + o.type_v2;
    std::snprintf(line, sizeof line, "%-11s %-10s %-28s %s\n", object_kind_name(o.kind), o.what.c_str(),
                  o.id.c_str(), type.c_str());
    out << line;
    for (const Change& c : o.changes)
      out << "    " << (c.semantic ? "! " : "- ") << c.text() << (c.semantic ? "   [needs user transfer code]" : "")
          << "\n";
    for (const Ambiguity& a : o.ambiguities)
      out << "    ? " << (a.path.empty() ? "(value)" : a.path) << ": " << a.why
          << "   [ambiguous pointer: annotate IXFER or PXFER if the transfer is wrong]\n";
  }
  out << "\n" << plan.objects.size() << " state objects: " << counts[ObjectKind::Unchanged] << " unchanged, "
      << counts[ObjectKind::Structural] << " structural, " << counts[ObjectKind::Semantic] << " semantic, "
      << counts[ObjectKind::Dropped] << " dropped, " << counts[ObjectKind::Added] << " added\n";
  if (plan.needs_user_code())
    out << "needs user transfer code for the semantic changes (marked !), or the update is refused: annotate each "
           "in v2 (TTST_NO_TRANSFER keeps v2's own value, TTST_IXFER / TTST_PXFER copy or translate it; see ttst.h); "
           "user transfer code (--xfer) is not supported yet\n";
  else
    out << "fully automatic: the state transfer framework handles every change\n";
}

}  // namespace ttst::dwarfmeta
