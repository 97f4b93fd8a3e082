// plan.cc — matching v1 and v2 state objects by ID (annotations rename), their
// kinds from the type comparison (plan_compare.h) and annotations, the pointer
// ambiguity of each (plan_ambiguity.h), and the plan as JSON and as a table.
#include "dwarfmeta/plan.h"

#include <cstdio>
#include <map>
#include <set>

#include "dwarfmeta/plan_ambiguity.h"
#include "dwarfmeta/plan_carved.h"
#include "dwarfmeta/plan_compare.h"
#include "dwarfmeta/plan_fixes.h"
#include "dwarfmeta/plan_heap_types.h"
#include "dwarfmeta/plan_site_candidates.h"

namespace ttst::dwarfmeta {
namespace {

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
      const Global* g = (a.kind == AnnotKind::NoTransfer || a.kind == AnnotKind::IXfer || a.kind == AnnotKind::PXfer ||
                         a.kind == AnnotKind::KeepNew)
                            ? annotated_global(p, a)
                            : nullptr;
      if (!g || g->id != (side ? id2 : id1)) continue;
      if (a.kind == AnnotKind::KeepNew) return "kept-new";  // v2's start-up value and graph (stfw/README.md)
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
      if (!matched_v1_.count(g1.id)) add_dropped(g1.id, "global", v1_.type_name(g1.type));
    alloc_sites();
    plan_carved_types(v1_, v2_, types_, plan_.objects);  // sub-objects of carved containers stay in place
    plan_heap_types(v1_, v2_, annotated_globals(), types_, plan_.objects);
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
      find_ambiguities(v1_, holders1_, v2_.annotations, *g1, o.ambiguities);
    }
    find_ambiguities(v2_, holders2_, v2_.annotations, g2, o.ambiguities);
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
    if (std::string(how) == "not-transferred" || std::string(how) == "kept-new") o.ambiguities.clear();
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
      const AllocSite* v1_site = nullptr;
      for (const AllocSite& s1 : v1_.alloc_sites)
        if (s1.id == s.id) {
          v1_site = &s1;
          o.type_v1 = s1.allocator;
          if (s1.allocator != s.allocator) {
            o.kind = ObjectKind::Structural;
            o.changes.push_back(Change{"", "allocator-changed", s1.allocator, s.allocator, false});
          }
        }
      plan_site_candidates(v1_, v2_, v1_site, s, types_, o);  // -O2 sites typed "one of" (plan_site_candidates.h)
      plan_.objects.push_back(std::move(o));
    }
    for (const AllocSite& s : v1_.alloc_sites)
      if (!sites2.count(s.id)) add_dropped(s.id, "alloc_site", s.allocator);
  }

  // v1's IDs of the globals annotated as a whole (NO_TRANSFER, IXFER, PXFER, and
  // KEEP_NEW's "kept-new"): the transfer types nothing through them.
  std::set<std::string> annotated_globals() const {
    std::set<std::string> ids;
    for (const PlanObject& o : plan_.objects)
      for (const Change& c : o.changes)
        if (o.what == "global" && c.path.empty() &&
            (c.what == "not-transferred" || c.what == "copied-as-bytes" || c.what == "translated-as-pointer" ||
             c.what == "kept-new"))
          ids.insert(o.old_id.empty() ? o.id : o.old_id);
    return ids;
  }

  // An object of v1 that v2 no longer has (`what` its kind, `type_v1` its type).
  void add_dropped(const std::string& id, const char* what, const std::string& type_v1) {
    PlanObject o;
    o.id = id;
    o.what = what;
    o.kind = ObjectKind::Dropped;
    o.type_v1 = type_v1;
    plan_.objects.push_back(std::move(o));
  }

  const Program& v1_;
  const Program& v2_;
  TypeComparer types_;
  PointerHolders holders1_, holders2_;
  std::map<std::string, std::string> renamed_;
  std::set<std::string> matched_v1_;
  Plan plan_;
};

}  // namespace

Plan make_plan(const Program& v1, const Program& v2) {
  Plan plan = Planner(v1, v2).run();
  add_fixes(plan, v1);  // plan_fixes.h
  return plan;
}

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
    if (!o.fixes.empty()) j["fixes"] = o.fixes;
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
    for (const std::string& fix : o.fixes) out << "    fix: " << fix << "\n";
    for (const Ambiguity& a : o.ambiguities)
      out << "    ? " << (a.path.empty() ? "(value)" : a.path) << ": " << a.why
          << "   [ambiguous pointer: annotate IXFER or PXFER if the transfer is wrong]\n";
  }
  out << "\n" << plan.objects.size() << " state objects: " << counts[ObjectKind::Unchanged] << " unchanged, "
      << counts[ObjectKind::Structural] << " structural, " << counts[ObjectKind::Semantic] << " semantic, "
      << counts[ObjectKind::Dropped] << " dropped, " << counts[ObjectKind::Added] << " added\n";
  if (plan.needs_user_code())
    out << "needs user transfer code for the semantic changes (marked !), or the update is refused: write a "
           "transfer plugin (ttst-meta xfer-skeleton V1 V2 writes its skeleton; ttst-supervise --xfer PLUGIN) or "
           "annotate each in v2 (TTST_NO_TRANSFER keeps v2's own value, TTST_IXFER / TTST_PXFER copy or translate "
           "it; see ttst.h)\n";
  else
    out << "fully automatic: the state transfer framework handles every change\n";
}

}  // namespace ttst::dwarfmeta
