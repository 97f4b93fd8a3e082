// xfer_header.cc — see xfer_header.h.
#include "dwarfmeta/xfer_header.h"

#include "dwarfmeta/plan_fixes.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <vector>

namespace ttst::dwarfmeta {
namespace {

// One version's types spelled in C under a prefix ("v1_").
class TypeWriter {
 public:
  TypeWriter(const Program& p, std::string prefix) : p_(p), prefix_(std::move(prefix)) {}

  void collect() {
    for (const Global& g : p_.globals)
      if (g.file != "ttst_runtime.c") reach(g.type);
    for (const AllocSite& s : p_.alloc_sites) reach(s.type);
    for (TypeId t = 1; t < p_.types.size(); ++t)  // typedef names for anonymous structs
      if (p_.type(t).kind == TypeKind::Typedef) {
        TypeId s = p_.strip(t);
        if (aggregate(s) && p_.type(s).name.empty() && !typedef_name_.count(s)) typedef_name_[s] = p_.type(t).name;
      }
    std::map<std::string, int> used;
    for (TypeId t : reached_) {
      const Type& ty = p_.type(t);
      if (!aggregate(t) || ty.declaration) continue;
      std::string base = !ty.name.empty() ? std::string(ty.kind == TypeKind::Union ? "union_" : "struct_") + ty.name
                         : typedef_name_.count(t) ? typedef_name_[t]
                                                  : "";
      if (base.empty()) continue;
      int n = used[base]++;
      name_[t] = prefix_ + base + (n ? "_" + std::to_string(n + 1) : "");
    }
  }

  void write(std::ostream& out) {
    out << "\n/* ---- " << prefix_ << ": " << p_.path << " ---- */\n";
    for (const auto& [t, n] : name_)
      out << "typedef " << (p_.type(t).kind == TypeKind::Union ? "union " : "struct ") << n << " " << n << ";\n";
    write_enumerators(out);
    for (const auto& [t, n] : name_) define(t, out);
  }

 private:
  bool aggregate(TypeId t) const {
    return p_.type(t).kind == TypeKind::Struct || p_.type(t).kind == TypeKind::Union;
  }

  void reach(TypeId t) {
    for (int depth = 0; t != kVoid && depth < 64 && reached_.insert(t).second; ++depth) {
      const Type& ty = p_.type(t);
      for (const Member& m : ty.members) reach(m.type);
      t = ty.target;
    }
  }

  // A complete definition of a declared-only struct (same kind and name), else itself.
  TypeId complete(TypeId t) const {
    const Type& ty = p_.type(t);
    if (!ty.declaration || ty.name.empty()) return t;
    for (const auto& [u, n] : name_)
      if (p_.type(u).kind == ty.kind && p_.type(u).name == ty.name) return u;
    return t;
  }

  std::string base_name(const Type& ty) const {
    const uint64_t n = ty.size;
    switch (ty.encoding) {
      case Encoding::Signed: return n == 1 ? "int8_t" : n == 2 ? "int16_t" : n == 4 ? "int32_t" : n == 8 ? "int64_t" : "__int128";
      case Encoding::Unsigned:
        return n == 1 ? "uint8_t" : n == 2 ? "uint16_t" : n == 4 ? "uint32_t" : n == 8 ? "uint64_t" : "unsigned __int128";
      case Encoding::SignedChar: return "char";
      case Encoding::UnsignedChar: return "unsigned char";
      case Encoding::Bool: return "_Bool";
      case Encoding::Float: return n == 4 ? "float" : n == 8 ? "double" : "long double";
      default: return "";
    }
  }

  static std::string bytes(const std::string& inner, uint64_t size) {
    return "unsigned char " + inner + "[" + std::to_string(size) + "]";
  }

 public:
  // C declaration of `inner` (a name, or a declarator) of type t.
  std::string spell(TypeId t, const std::string& inner, int depth = 0) const {
    t = p_.strip(t);
    const Type& ty = p_.type(t);
    if (depth > 32) return bytes(inner, ty.size);
    switch (ty.kind) {
      case TypeKind::Void: return "void " + inner;
      case TypeKind::Base: {
        std::string b = base_name(ty);
        return b.empty() ? bytes(inner, ty.size) : b + " " + inner;
      }
      case TypeKind::Enum: return std::string(ty.size == 1 ? "uint8_t " : ty.size == 2 ? "uint16_t " : ty.size == 8 ? "uint64_t " : "uint32_t ") + inner;
      case TypeKind::Struct:
      case TypeKind::Union: {
        auto it = name_.find(complete(t));
        return it != name_.end() && !p_.type(it->first).declaration ? it->second + " " + inner : bytes(inner, ty.size);
      }
      case TypeKind::Pointer: {
        TypeId to = p_.strip(ty.target);
        const Type& tt = p_.type(to);
        bool plain = tt.kind == TypeKind::Void || tt.kind == TypeKind::Base || tt.kind == TypeKind::Enum ||
                     tt.kind == TypeKind::Pointer || (aggregate(to) && name_.count(complete(to)));
        return plain ? spell(to, "*" + inner, depth + 1) : "void *" + inner;
      }
      case TypeKind::Array: {
        std::string n = ty.count == kFlexible ? "" : std::to_string(ty.count);
        if (!inner.empty() && inner[0] == '*') return "void *" + inner.substr(1);  // pointer to array
        return spell(ty.target, inner + "[" + n + "]", depth + 1);
      }
      default: return bytes(inner, ty.size ? ty.size : 1);
    }
  }

  uint64_t align(TypeId t, int depth = 0) const {
    t = p_.strip(t);
    const Type& ty = p_.type(t);
    if (depth > 32) return 1;
    switch (ty.kind) {
      case TypeKind::Pointer: return 8;
      case TypeKind::Array: return align(ty.target, depth + 1);
      case TypeKind::Struct:
      case TypeKind::Union: {
        uint64_t a = 1;
        for (const Member& m : ty.members) a = std::max(a, align(m.type, depth + 1));
        return a;
      }
      default: return ty.size == 0 ? 1 : std::min<uint64_t>(ty.size, 16);
    }
  }

 private:
  void write_enumerators(std::ostream& out) {
    for (TypeId t : reached_) {
      const Type& ty = p_.type(t);
      if (ty.kind != TypeKind::Enum || ty.enumerators.empty()) continue;
      out << "enum {";
      for (const Enumerator& e : ty.enumerators)
        if (enumerators_.insert(e.name).second) out << " " << prefix_ << e.name << " = " << e.value << "LL,";
      out << " " << prefix_ << "enum_end_" << t << " };\n";
    }
  }

  // Dependencies first (types embedded by value), then the type; each once.
  void define(TypeId t, std::ostream& out) {
    if (!defined_.insert(t).second) return;
    for (const Member& m : p_.type(t).members) {
      TypeId e = p_.strip(m.type);
      for (int k = 0; k < 32 && p_.type(e).kind == TypeKind::Array; ++k) e = p_.strip(p_.type(e).target);
      if (aggregate(e) && name_.count(complete(e))) define(complete(e), out);
    }
    write_definition(t, out);
  }

  void write_definition(TypeId t, std::ostream& out) {
    const Type& ty = p_.type(t);
    const std::string& n = name_.at(t);
    const bool is_union = ty.kind == TypeKind::Union;
    uint64_t a = 1;
    for (uint64_t want = align(t); a * 2 <= want && ty.size % (a * 2) == 0;) a *= 2;
    out << "\n" << (is_union ? "union" : "struct") << " __attribute__((packed, aligned(" << a << "))) " << n << " {\n";
    std::vector<std::string> checks;
    uint64_t at = 0;
    int pad = 0;
    for (const Member& m : ty.members) {
      const uint64_t size = p_.type(p_.strip(m.type)).size;
      if (m.is_bitfield() || m.name.empty() || (!is_union && m.offset < at)) {
        out << "  /* " << (m.name.empty() ? "(anonymous)" : m.name) << ": "
            << (m.is_bitfield() ? std::to_string(m.bit_size) + "-bit bitfield at bit " + std::to_string(m.bit_offset)
                                : "overlapping or anonymous member")
            << " at +" << m.offset << ", kept as bytes */\n";
        continue;
      }
      if (!is_union && m.offset > at) out << "  unsigned char ttst_pad" << pad++ << "[" << m.offset - at << "];\n";
      out << "  " << spell(m.type, m.name) << ";  /* +" << m.offset << " */\n";
      checks.push_back("_Static_assert(__builtin_offsetof(" + n + ", " + m.name + ") == " + std::to_string(m.offset) +
                       ", \"" + n + "." + m.name + ": offset differs from DWARF\");");
      bool flexible = p_.type(p_.strip(m.type)).kind == TypeKind::Array && p_.type(p_.strip(m.type)).count == kFlexible;
      if (!is_union) at = m.offset + (flexible ? 0 : size);
    }
    if (is_union) out << "  unsigned char ttst_size[" << ty.size << "];\n";
    else if (ty.size > at) out << "  unsigned char ttst_pad" << pad++ << "[" << ty.size - at << "];\n";
    out << "};\n";
    out << "_Static_assert(sizeof(" << n << ") == " << ty.size << ", \"" << n << ": size differs from DWARF\");\n";
    for (const std::string& c : checks) out << c << "\n";
  }

  const Program& p_;
  std::string prefix_;
  std::set<TypeId> reached_, defined_;
  std::map<TypeId, std::string> name_, typedef_name_;
  std::set<std::string> enumerators_;
};

std::string c_name(const std::string& target) {
  std::string n;
  for (char c : target) n += (isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return n;
}

struct Needed {
  std::string target;  // "struct entry" or a global's state ID
  bool global = false;
  std::vector<std::string> notes;  // the plan's changes, for comments
  std::set<std::string> handled;   // members the user writes (semantic changes)
};

}  // namespace

std::string xfer_types_header(const Program& v1, const Program& v2) {
  std::ostringstream out;
  out << "/* Generated by ttst-meta xfer-skeleton: the state types of both versions for\n"
         " * user transfer code (stfw/xfer/PLUGINS.md). v1_ = " << v1.path << "\n * v2_ = " << v2.path
      << "\n * Packed structs with explicit padding at DWARF's offsets; every size and offset\n"
         " * is checked below, so this header stops compiling when it no longer matches the\n"
         " * binaries. Bitfields and anonymous members are kept as bytes (reach them with\n"
         " * ttst_xfer_member). Pointers hold the SOURCE's addresses: translate them. */\n"
         "#ifndef TTST_XFER_TYPES_H\n#define TTST_XFER_TYPES_H\n\n#include <stdint.h>\n#include \"ttst_xfer.h\"\n";
  for (int side = 0; side < 2; ++side) {
    TypeWriter w(side ? v2 : v1, side ? "v2_" : "v1_");
    w.collect();
    w.write(out);
  }
  out << "\n#endif /* TTST_XFER_TYPES_H */\n";
  return out.str();
}

namespace {

std::vector<Needed> needed_functions(const Plan& plan, const Program& v1, std::vector<std::string>* owns) {
  std::vector<Needed> needed;
  auto slot = [&](const std::string& target, bool global) -> Needed& {
    for (Needed& n : needed)
      if (n.target == target) return n;
    needed.push_back({target, global, {}, {}});
    return needed.back();
  };
  for (const PlanObject& o : plan.objects) {
    if (o.kind != ObjectKind::Semantic) continue;
    for (const Change& c : o.changes) {
      if (!c.semantic) continue;
      std::string member;
      bool global = false;
      const std::string target = plugin_target(v1, o, c, &global, &member);  // plan_fixes.h: as the plan's fix
      Needed& n = slot(target, global);
      n.notes.push_back(c.text());
      if (!member.empty()) n.handled.insert(member);
      if (c.what == "retargeted" && !global && !member.empty()) {
        const std::string own = target + "." + member;
        if (std::find(owns->begin(), owns->end(), own) == owns->end()) owns->push_back(own);
      }
    }
  }
  return needed;
}

// The complete struct/union type a target names ("struct S", "union U", a typedef
// name), as the engine resolves it (stfw/xfer/engine_plugin.cc), else void.
TypeId target_type(const Program& p, const std::string& target) {
  for (TypeId t = 1; t < p.types.size(); ++t) {
    const Type& ty = p.type(t);
    TypeId s = p.strip(t);
    bool aggregate = p.type(s).kind == TypeKind::Struct || p.type(s).kind == TypeKind::Union;
    if (!aggregate || p.type(s).declaration) continue;
    if ((ty.kind == TypeKind::Typedef && ty.name == target) || (t == s && target_of(p, t) == target)) return s;
  }
  return kVoid;
}

// The name TypeWriter gives a type after its prefix: "struct_S", or the typedef's.
std::string c_spelling(const Program& p, TypeId t) {
  const Type& ty = p.type(t);
  if (!ty.name.empty()) return std::string(ty.kind == TypeKind::Union ? "union_" : "struct_") + ty.name;
  return target_of(p, t);
}

// The members of a struct target both versions have (transferred automatically)
// and those only one has, from the plan's types.
void write_function(std::ostream& out, const Needed& n, const Program& from, const Program& to, const char* dir,
                    const char* from_prefix, const char* to_prefix) {
  const TypeId tf = n.global ? kVoid : target_type(from, n.target), tt = n.global ? kVoid : target_type(to, n.target);
  const std::string fn = std::string(dir) + "_" + c_name(n.target);
  out << "\n/* " << (dir[0] == 'f' ? "Forward (in F): v1 -> v2" : "Backward (in R): v2 -> v1, dst zeroed before the call")
      << ", " << (n.global ? "global " : "") << n.target << ". */\n";
  out << "static int " << fn << "(struct ttst_xfer *x, const void *src, void *dst) {\n";
  if (tf && tt) {
    const std::string sn = from_prefix + c_spelling(from, tf), dn = to_prefix + c_spelling(to, tt);
    out << "  const " << sn << " *s = src;\n  " << dn << " *d = dst;\n  (void)s, (void)d;\n";
    for (const Member& m : to.type(tt).members) {
      bool both = false;
      for (const Member& k : from.type(tf).members) both |= k.name == m.name;
      if (m.name.empty()) continue;
      if (!both && dir[0] == 'f') out << "  /* TODO " << m.name << ": only in v2, set it */\n";
      else if (!both)
        out << "  /* TODO " << m.name << ": only in v1, set it (or ttst_xfer_keep(x, \"" << m.name
            << "\"): the old value stays, not validated) */\n";
      else if (n.handled.count(m.name)) out << "  /* TODO " << m.name << ": changed semantically, write it */\n";
      else out << "  if (ttst_xfer_member(x, \"" << m.name << "\")) return -1;\n";
    }
  } else {
    out << "  (void)src, (void)dst;\n  /* TODO: write the whole object (ttst_xfer_whole(x) runs the automatic transfer) */\n";
  }
  for (const std::string& note : n.notes) out << "  /* plan: " << note << " */\n";
  out << "  return 0;\n}\n";
}

}  // namespace

std::string xfer_skeleton(const Plan& plan, const Program& v1, const Program& v2, const std::string& header_name,
                          int* count) {
  std::vector<std::string> owns;
  std::vector<Needed> needed = needed_functions(plan, v1, &owns);
  std::ostringstream out;
  out << "/* Transfer plugin skeleton generated by ttst-meta xfer-skeleton for\n *   v1 = " << v1.path
      << "\n *   v2 = " << v2.path
      << "\n * Build: ttst-cc --xfer-plugin -o xfer.plugin xfer.c; use: ttst-supervise ... --xfer xfer.plugin\n"
         " * (stfw/xfer/PLUGINS.md). Each forward function has its backward one: the update is\n"
         " * validated only where the pair round-trips. */\n#include \"" << header_name << "\"\n";
  for (const Needed& n : needed) {
    write_function(out, n, v1, v2, "fwd", "v1_", "v2_");
    write_function(out, n, v2, v1, "bwd", "v2_", "v1_");
  }
  out << "\nTTST_XFER_PLUGIN(";
  const char* sep = "\n";
  for (const Needed& n : needed) {
    const char* kind = n.global ? "GLOBAL" : "TYPE";
    out << sep << "    TTST_XFER_" << kind << "_FORWARD(\"" << n.target << "\", fwd_" << c_name(n.target) << "),\n";
    out << "    TTST_XFER_" << kind << "_BACKWARD(\"" << n.target << "\", bwd_" << c_name(n.target) << ")";
    sep = ",\n";
  }
  for (const std::string& o : owns) out << sep << "    TTST_XFER_OWNS(\"" << o << "\")", sep = ",\n";
  out << ")\n";
  if (count) *count = int(needed.size() * 2);
  return out.str();
}

}  // namespace ttst::dwarfmeta
