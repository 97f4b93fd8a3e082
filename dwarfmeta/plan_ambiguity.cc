// plan_ambiguity.cc — see plan_ambiguity.h.
#include "dwarfmeta/plan_ambiguity.h"

#include <set>
#include <string>

namespace ttst::dwarfmeta {
namespace {

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

}  // namespace

void find_ambiguities(const Program& p, PointerHolders& holders, const std::vector<Annotation>& annotations,
                      const Global& g, std::vector<Ambiguity>& out) {
  AmbiguityFinder(p, holders, annotations, out).walk(g);
}

}  // namespace ttst::dwarfmeta
