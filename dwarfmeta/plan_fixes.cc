// plan_fixes.cc — see plan_fixes.h. Per semantic change:
//   suspected-rename       RENAMED_FROM(struct S.new, old), or DROPPED(struct S.old)
//   site-candidates        each candidate struct's plugin functions (plan_site_candidates.h)
//   pointer-array-resized  NO_TRANSFER of the array (a global, or the member of the
//                          struct its path ends in): v2's own value; or the plugin
//   anything else          the transfer plugin's functions for the struct the
//                          change's member path ends in, else for the object (a heap
//                          type's, a global's): those `ttst-meta xfer-skeleton` writes
//                          (plugin_target is its choice too, xfer_header.cc)
#include "dwarfmeta/plan_fixes.h"

#include <algorithm>
#include <string>

#include "dwarfmeta/plan_carved.h"
#include "stfw/xfer/advice_text.h"

namespace ttst::dwarfmeta {
namespace {

struct Line {
  std::string s;
  Line& text(const char* t) {
    s += t;
    return *this;
  }
};

std::string annotation(const std::string& kind, const std::string& args) {
  Line l;
  stfw::advice::annotation(l, kind.c_str(), args.c_str());
  return l.s;
}

std::string plugin(const std::string& target, bool global) {
  Line l;
  stfw::advice::plugin(l, target.c_str(), global);
  return l.s;
}

// "struct S.old" (from) and "struct S.new (both T): ..." (to): the two lines.
void rename_fixes(const Change& c, std::vector<std::string>& out) {
  const size_t dot = c.from.rfind('.'), end = c.to.find(" (both ");
  if (dot == std::string::npos || end == std::string::npos) return;
  const std::string old_member = c.from.substr(dot + 1), renamed = c.to.substr(0, end);
  out.push_back(annotation("RENAMED_FROM", renamed + ", " + old_member));
  out.push_back(annotation("DROPPED", c.from));
}

void add_unique(std::vector<std::string>& out, const std::string& line) {
  for (const std::string& l : out)
    if (l == line) return;
  out.push_back(line);
}

}  // namespace

// The struct type (v1, stripped) a member path of an object's type ends in, and the
// member's name: "value" of struct entry; "a.b" walks through a; "x[]" an array.
TypeId owner_of(const Program& p, TypeId t, const std::string& path, std::string* member) {
  std::string rest = path;
  t = p.strip(t);
  for (int depth = 0; depth < 32; ++depth) {
    while (p.type(t).kind == TypeKind::Array) t = p.strip(p.type(t).target);
    size_t dot = rest.find('.');
    std::string head = rest.substr(0, dot);
    while (head.size() > 2 && head.compare(head.size() - 2, 2, "[]") == 0) head.resize(head.size() - 2);
    if (dot == std::string::npos) return *member = head, t;
    const Member* m = nullptr;
    for (const Member& c : p.type(t).members)
      if (c.name == head) m = &c;
    if (!m) return *member = head, t;
    t = p.strip(m->type), rest = rest.substr(dot + 1);
  }
  return *member = rest, t;
}

std::string target_of(const Program& p, TypeId t) {
  const Type& ty = p.type(p.strip(t));
  if (!ty.name.empty()) return std::string(ty.kind == TypeKind::Union ? "union " : "struct ") + ty.name;
  for (TypeId u = 1; u < p.types.size(); ++u)
    if (p.type(u).kind == TypeKind::Typedef && p.strip(u) == p.strip(t)) return p.type(u).name;
  return "";
}

std::string plugin_target(const Program& v1, const PlanObject& o, const Change& c, bool* global, std::string* member) {
  TypeId t = kVoid;
  if (o.what == "carved") {  // a carved sub-object type: its struct, as the engine's refusal names it
    const std::string target = target_of(v1, type_named(v1, o.id));
    if (!target.empty()) return member->clear(), *global = false, target;
  }
  if (o.what == "global") {
    if (const Global* g = v1.global(o.old_id.empty() ? o.id : o.old_id)) t = g->type;
  } else {
    for (const AllocSite& s : v1.alloc_sites)
      if (s.id == (o.old_id.empty() ? o.id : o.old_id)) t = s.type;
  }
  member->clear();
  const TypeId owner = c.path.empty() || c.path == "(value)" ? kVoid : owner_of(v1, t, c.path, member);
  const std::string target = owner ? target_of(v1, owner) : "";
  if (!target.empty()) return *global = false, target;
  member->clear();
  return *global = o.what == "global", o.id;
}

void add_fixes(Plan& plan, const Program& v1) {
  for (PlanObject& o : plan.objects) {
    if (o.kind != ObjectKind::Semantic) continue;
    for (const Change& c : o.changes) {
      if (!c.semantic) continue;
      if (c.what == "suspected-rename") {
        rename_fixes(c, o.fixes);
        continue;
      }
      if (c.what == "site-candidates") {  // "one of struct a, struct b": each one's functions
        for (size_t at = c.from.find(' ', 4) + 1, end; at != 0 && at < c.from.size(); at = end + 2) {
          end = std::min(c.from.find(", ", at), c.from.size());
          const std::string name = c.from.substr(at, end - at);
          if (name.rfind("struct ", 0) == 0 || name.rfind("union ", 0) == 0) add_unique(o.fixes, plugin(name, false));
        }
        continue;
      }
      bool global = false;
      std::string member;
      const std::string target = plugin_target(v1, o, c, &global, &member);
      if (c.what == "pointer-array-resized" && (global || !member.empty()))
        add_unique(o.fixes, annotation("NO_TRANSFER", global ? target : target + "." + member));
      add_unique(o.fixes, plugin(target, global));
    }
  }
}

}  // namespace ttst::dwarfmeta
