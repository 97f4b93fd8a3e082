// dump.cc — text and JSON renderings of a Program.
#include "dwarfmeta/dump.h"

#include <cstdio>
#include <set>

#include "inject/sys/hex.h"

namespace ttst::dwarfmeta {
namespace {

// "  (one of struct a *, struct b *)": a site's candidate types (site_hints.h).
std::string candidates_text(const Program& p, const AllocSite& s) {
  std::string out;
  for (TypeId t : s.candidates) out += (out.empty() ? "  (one of " : ", ") + p.type_name(t) + " *";
  if (s.uncertain && !out.empty()) out += ", void * or char *";
  return out.empty() ? out : out + ")";
}

std::string pad(std::string s, size_t n) {
  if (s.size() < n) s.append(n - s.size(), ' ');
  return s;
}

const char* linkage_name(Linkage l) {
  switch (l) {
    case Linkage::External: return "extern";
    case Linkage::FileStatic: return "static";
    case Linkage::FunctionStatic: return "function-static";
  }
  return "?";
}

// Struct/union types reachable from `id`, in first-seen order.
void reach(const Program& p, TypeId id, std::set<TypeId>& seen, std::vector<TypeId>& order) {
  if (!seen.insert(id).second) return;
  const Type& t = p.type(id);
  if ((t.kind == TypeKind::Struct || t.kind == TypeKind::Union) && !t.declaration) order.push_back(id);
  if (t.kind != TypeKind::Struct && t.kind != TypeKind::Union) reach(p, t.target, seen, order);
  for (const Member& m : t.members) reach(p, m.type, seen, order);
  for (TypeId q : t.params) reach(p, q, seen, order);
}

}  // namespace

void dump_layout(const Program& p, TypeId id, std::ostream& out) {
  const Type& t = p.type(id);
  out << p.type_name(id) << " {\n";
  for (const Member& m : t.members) {
    std::string decl = p.declaration(m.type, m.name);
    if (m.is_bitfield()) decl += ":" + std::to_string(m.bit_size);
    char pos[64];
    if (m.is_bitfield())
      std::snprintf(pos, sizeof pos, "/* %5lu:%u %4u bits */", static_cast<unsigned long>(m.offset), m.bit_offset,
                    m.bit_size);
    else
      std::snprintf(pos, sizeof pos, "/* %5lu %5lu */", static_cast<unsigned long>(m.offset),
                    static_cast<unsigned long>(p.type(m.type).size));
    out << "\t" << pad(decl + ";", 40) << " " << pos << "\n";
  }
  out << "};  /* size: " << t.size << " */\n";
}

void dump_text(const Program& p, std::ostream& out) {
  out << p.path << ": " << (p.pie ? "PIE" : "non-PIE") << ", build-id "
      << (p.build_id.empty() ? "(none)" : p.build_id);
  if (p.debug_file != p.path) out << ", debug info " << p.debug_file;
  out << (p.runtime_addr ? ", ttst runtime at " + sys::hex(p.runtime_addr) : std::string(", not built with ttst-cc"));
  out << "\n\nglobals (" << p.globals.size() << "):\n";
  std::set<TypeId> seen;
  std::vector<TypeId> order;
  for (const Global& g : p.globals) {
    out << "  " << pad(sys::hex(g.addr), 10) << " " << pad(std::to_string(g.size), 6) << " "
        << pad(p.declaration(g.type, g.id), 44) << " /* " << linkage_name(g.linkage)
        << (g.tls ? ", thread-local" : "") << (g.readonly ? ", read-only" : "") << ", " << g.file << " */\n";
    reach(p, g.type, seen, order);
  }
  if (!order.empty()) out << "\ntypes of the state:\n";
  for (TypeId id : order) {
    out << "\n";
    dump_layout(p, id, out);
  }
  size_t described = 0;
  for (const Function& f : p.functions) described += !f.file.empty();
  out << "\nfunctions (" << described << " with debug info; " << p.functions.size() - described
      << " more without, e.g. C runtime start-up, in --json):\n";
  for (const Function& f : p.functions)
    if (!f.file.empty())
      out << "  " << pad(sys::hex(f.low) + "-" + sys::hex(f.high), 22) << " " << f.id << (f.external ? "" : " (static)") << "\n";
  out << "\nallocation sites (" << p.alloc_sites.size() << "):\n";
  for (const AllocSite& s : p.alloc_sites)
    out << "  " << pad(s.id, 28) << " " << pad(s.allocator, 15) << " return " << sys::hex(s.return_addr)
        << (s.type ? "  (stored as " + p.type_name(s.type) + " *)" : std::string()) << candidates_text(p, s) << "\n";
  if (!p.annotations.empty()) {
    out << "\nannotations (" << p.annotations.size() << "):\n";
    for (const Annotation& a : p.annotations)
      out << "  " << pad(annot_kind_name(a.kind), 13) << " " << a.target << (a.arg.empty() ? "" : " " + a.arg)
          << "  (" << a.file << ")\n";
  }
  if (!p.update_points.empty()) {
    out << "\nupdate points (" << p.update_points.size() << "):\n";
    for (const UpdatePoint& u : p.update_points) out << "  " << sys::hex(u.addr) << " in " << u.function << "\n";
  }
  out << "\nstring literal ranges:\n";
  for (const Range& r : p.string_ranges) out << "  " << pad(r.name, 16) << sys::hex(r.start) << "-" << sys::hex(r.end) << "\n";
}

nlohmann::json to_json(const Program& p) {
  using nlohmann::json;
  json types = json::array();
  for (TypeId id = 0; id < p.types.size(); ++id) {
    const Type& t = p.types[id];
    json j = {{"id", id}, {"kind", kind_name(t.kind)}, {"c", p.type_name(id)}, {"size", t.size}};
    if (!t.name.empty()) j["name"] = t.name;
    if (t.kind == TypeKind::Base || t.kind == TypeKind::Enum) j["encoding"] = encoding_name(t.encoding);
    if (t.kind != TypeKind::Base && t.kind != TypeKind::Struct && t.kind != TypeKind::Union &&
        t.kind != TypeKind::Void)
      j["target"] = t.target;
    if (t.kind == TypeKind::Array) j["count"] = t.count == kFlexible ? json("flexible") : json(t.count);
    if (t.declaration) j["declaration"] = true;
    if (t.kind == TypeKind::Struct || t.kind == TypeKind::Union) {
      json ms = json::array();
      for (const Member& m : t.members) {
        json jm = {{"name", m.name}, {"type", m.type}, {"offset", m.offset}};
        if (m.is_bitfield()) jm["bit_size"] = m.bit_size, jm["bit_offset"] = m.bit_offset;
        ms.push_back(jm);
      }
      j["members"] = ms;
    }
    if (t.kind == TypeKind::Enum) {
      json es = json::array();
      for (const Enumerator& e : t.enumerators) es.push_back({{"name", e.name}, {"value", e.value}});
      j["enumerators"] = es;
    }
    if (t.kind == TypeKind::Function) j["params"] = t.params, j["variadic"] = t.variadic;
    types.push_back(j);
  }
  json globals = json::array();
  for (const Global& g : p.globals)
    globals.push_back({{"id", g.id}, {"name", g.name}, {"file", g.file}, {"function", g.function},
                       {"linkage", linkage_name(g.linkage)}, {"addr", g.addr}, {"size", g.size},
                       {"type", g.type}, {"c", p.type_name(g.type)}, {"tls", g.tls}, {"readonly", g.readonly}});
  json fns = json::array();
  for (const Function& f : p.functions)
    fns.push_back({{"id", f.id}, {"name", f.name}, {"file", f.file}, {"low", f.low}, {"high", f.high},
                   {"external", f.external}});
  json sites = json::array();
  for (const AllocSite& s : p.alloc_sites)
    sites.push_back({{"id", s.id}, {"caller", s.caller}, {"ordinal", s.ordinal}, {"allocator", s.allocator},
                     {"call_addr", s.call_addr}, {"return_addr", s.return_addr}, {"type", s.type},
                     {"candidates", s.candidates}, {"size", s.size}, {"uncertain", s.uncertain}});
  json annots = json::array();
  for (const Annotation& a : p.annotations)
    annots.push_back({{"kind", annot_kind_name(a.kind)}, {"file", a.file}, {"target", a.target}, {"arg", a.arg}});
  json ups = json::array();
  for (const UpdatePoint& u : p.update_points) ups.push_back({{"addr", u.addr}, {"function", u.function}});
  json ranges = json::array();
  for (const Range& r : p.string_ranges) ranges.push_back({{"section", r.name}, {"start", r.start}, {"end", r.end}});
  return {{"path", p.path},           {"build_id", p.build_id},   {"pie", p.pie}, {"runtime_addr", p.runtime_addr},
          {"debug_file", p.debug_file}, {"types", types},         {"globals", globals},
          {"functions", fns},         {"alloc_sites", sites},     {"annotations", annots},
          {"update_points", ups},     {"string_ranges", ranges}};
}

}  // namespace ttst::dwarfmeta
