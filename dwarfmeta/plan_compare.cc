// plan_compare.cc — see plan_compare.h.
#include "dwarfmeta/plan_compare.h"

#include <cstdint>
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

// `rel` (a path relative to a member) under `path`: "a" + "b" = "a.b", "a" + "[]" = "a[]".
std::string under(const std::string& path, const std::string& rel) {
  if (rel.empty()) return path;
  if (path.empty() || rel[0] == '[') return path + rel;
  return path + "." + rel;
}

}  // namespace

bool PointerHolders::operator()(TypeId id) {
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

class TypeComparer::Impl {
 public:
  Impl(const Program& a, const Program& b) : a_(a), b_(b), holders_a_(a), holders_b_(b) {
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
    // v2's member renames (RENAMED_FROM "struct tag.new", old) and deliberate drops
    // (DROPPED "struct tag.old"): a member dropped while one of its type is added
    // is a suspected rename unless one of these says which.
    for (const Annotation& an : b.annotations) {
      if (an.kind != AnnotKind::RenamedFrom && an.kind != AnnotKind::Dropped) continue;
      std::string t = an.target;
      for (const char* prefix : {"struct ", "union "})
        if (t.rfind(prefix, 0) == 0) t = t.substr(std::string(prefix).size());
      size_t dot = t.find('.');
      if (dot == std::string::npos || t.find('.', dot + 1) != std::string::npos) continue;
      if (an.kind == AnnotKind::RenamedFrom)
        renamed_[{t.substr(0, dot), t.substr(dot + 1)}] = an.arg;
      else
        dropped_.insert({t.substr(0, dot), t.substr(dot + 1)});
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
          else if (A.count != 0 && B.count != 0 && a_.type(a_.strip(A.target)).kind == TypeKind::Pointer)
            // Where an element of an array of pointers belongs may depend on the
            // length (a hash table's buckets): the transfer refuses it.
            add(out, "", "pointer-array-resized", na, nb, true);
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
    std::vector<size_t> gone;
    for (size_t i = 0; i < A.members.size(); ++i) {
      std::string k = member_key(A, i);
      seen.insert(k);
      auto it = ib.find(k);
      if (it == ib.end()) {
        gone.push_back(i);
        continue;
      }
      member(A, B, A.members[i], B.members[it->second], k, out);
    }
    std::vector<size_t> added;
    for (size_t i = 0; i < B.members.size(); ++i)
      if (!seen.count(member_key(B, i))) added.push_back(i);
    for (size_t i : gone) dropped_member(A, B, i, added, out);
    for (size_t i : added)
      if (i != kTaken) add(out, member_key(B, i), "added", "", b_.declaration(B.members[i].type, B.members[i].name), false);
  }

  // v1's member `i` has no member of its name in v2: renamed (RENAMED_FROM on an
  // added member; that one is then taken), or dropped; dropped while a member of
  // the same type is added and no DROPPED says so, a suspected rename (semantic:
  // the transfer refuses it, stfw/xfer/engine_types.cc).
  void dropped_member(const Type& A, const Type& B, size_t i, std::vector<size_t>& added, std::vector<Change>& out) {
    const Member& ma = A.members[i];
    std::string k = member_key(A, i);
    for (size_t& j : added) {
      if (j == kTaken) continue;
      auto r = renamed_.find({B.name, member_key(B, j)});
      if (r == renamed_.end() || r->second != k) continue;
      add(out, member_key(B, j), "renamed", k, member_key(B, j), false);
      member(A, B, ma, B.members[j], member_key(B, j), out);
      j = kTaken;
      return;
    }
    add(out, k, "dropped", a_.declaration(ma.type, ma.name), "", false);
    if (ma.name.empty() || dropped_.count({A.name, k})) return;
    std::string spelled = a_.type_name(a_.strip(ma.type));
    for (size_t j : added) {
      if (j == kTaken || B.members[j].name.empty() || b_.type_name(b_.strip(B.members[j].type)) != spelled) continue;
      std::string tag = (A.kind == TypeKind::Union ? "union " : "struct ") + A.name;
      add(out, k, "suspected-rename", tag + "." + k,
          tag + "." + B.members[j].name + " (both " + spelled + "): annotate TTST_RENAMED_FROM(" + tag + "." +
              B.members[j].name + ", " + k + ") or TTST_DROPPED(" + tag + "." + k + ")",
          true);
      return;
    }
  }
  static constexpr size_t kTaken = SIZE_MAX;

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
  std::map<std::pair<std::string, std::string>, std::string> renamed_;  // v2's (type name, member) -> v1's name
  std::set<std::pair<std::string, std::string>> dropped_;               // (type name, v1's member) DROPPED in v2
  std::map<std::pair<TypeId, TypeId>, Pair> pairs_;
};

TypeComparer::TypeComparer(const Program& v1, const Program& v2) : impl_(std::make_unique<Impl>(v1, v2)) {}
TypeComparer::~TypeComparer() = default;
void TypeComparer::compare(TypeId ta, TypeId tb, const std::string& path, std::vector<Change>& out) {
  impl_->compare(ta, tb, path, out);
}

}  // namespace ttst::dwarfmeta
