// model.cc — lookups on a Program and C spelling of its types.
#include "dwarfmeta/model.h"

#include <algorithm>

namespace ttst::dwarfmeta {

const char* kind_name(TypeKind k) {
  switch (k) {
    case TypeKind::Void: return "void";
    case TypeKind::Base: return "base";
    case TypeKind::Struct: return "struct";
    case TypeKind::Union: return "union";
    case TypeKind::Enum: return "enum";
    case TypeKind::Pointer: return "pointer";
    case TypeKind::Array: return "array";
    case TypeKind::Typedef: return "typedef";
    case TypeKind::Const: return "const";
    case TypeKind::Volatile: return "volatile";
    case TypeKind::Restrict: return "restrict";
    case TypeKind::Atomic: return "_Atomic";
    case TypeKind::Function: return "function";
  }
  return "?";
}

const char* encoding_name(Encoding e) {
  switch (e) {
    case Encoding::None: return "none";
    case Encoding::Signed: return "signed";
    case Encoding::Unsigned: return "unsigned";
    case Encoding::SignedChar: return "signed_char";
    case Encoding::UnsignedChar: return "unsigned_char";
    case Encoding::Bool: return "bool";
    case Encoding::Float: return "float";
    case Encoding::Complex: return "complex";
    case Encoding::Other: return "other";
  }
  return "?";
}

const char* annot_kind_name(AnnotKind k) {
  switch (k) {
    case AnnotKind::IXfer: return "IXFER";
    case AnnotKind::PXfer: return "PXFER";
    case AnnotKind::RenamedFrom: return "RENAMED_FROM";
    case AnnotKind::NoTransfer: return "NO_TRANSFER";
    case AnnotKind::Allocator: return "ALLOCATOR";
    case AnnotKind::Deallocator: return "DEALLOCATOR";
    case AnnotKind::Container: return "CONTAINER";
    case AnnotKind::PointsTo: return "POINTS_TO";
    case AnnotKind::UsedN: return "USED_N";
    case AnnotKind::Dropped: return "DROPPED";
    case AnnotKind::KeepNew: return "KEEP_NEW";
    case AnnotKind::Tagged: return "TAGGED";
    case AnnotKind::FreeSlots: return "FREE_SLOTS";
    case AnnotKind::Embedded: return "EMBEDDED";
  }
  return "?";
}

void Program::reindex() {
  global_index_.clear();
  function_index_.clear();
  for (size_t i = 0; i < globals.size(); ++i) global_index_.emplace(globals[i].id, i);
  for (size_t i = 0; i < functions.size(); ++i) function_index_.emplace(functions[i].id, i);
  for (size_t i = 0; i < functions.size(); ++i) function_index_.emplace(functions[i].name, i);
}

const Global* Program::global(const std::string& id) const {
  auto it = global_index_.find(id);
  return it == global_index_.end() ? nullptr : &globals[it->second];
}

const Function* Program::function(const std::string& id) const {
  auto it = function_index_.find(id);
  return it == function_index_.end() ? nullptr : &functions[it->second];
}

const Function* Program::function_at(uint64_t addr) const {
  auto it = std::upper_bound(functions.begin(), functions.end(), addr,
                             [](uint64_t a, const Function& f) { return a < f.low; });
  while (it != functions.begin()) {
    --it;
    if (addr >= it->low && addr < it->high) return &*it;
    if (it->high <= it->low) continue;  // zero-sized symbol: look further back
    break;
  }
  return nullptr;
}

const AllocSite* Program::alloc_site_at(uint64_t return_addr) const {
  auto it = std::lower_bound(alloc_sites.begin(), alloc_sites.end(), return_addr,
                             [](const AllocSite& s, uint64_t a) { return s.return_addr < a; });
  return it != alloc_sites.end() && it->return_addr == return_addr ? &*it : nullptr;
}

// Chains of typedefs, qualifiers, pointers and arrays are as long as C wrote them;
// only a loop (broken DWARF) is longer than the number of types.
TypeId Program::strip(TypeId id) const {
  for (size_t step = 0; step <= types.size(); ++step) {
    const Type& t = types.at(id);
    if (t.kind != TypeKind::Typedef && t.kind != TypeKind::Const && t.kind != TypeKind::Volatile &&
        t.kind != TypeKind::Restrict && t.kind != TypeKind::Atomic)
      return id;
    id = t.target;
  }
  return id;
}

static std::string join(const std::string& a, const std::string& b) {
  if (b.empty()) return a;
  if (b[0] == '[') return a + b;
  return a + " " + b;
}

std::string Program::declaration(TypeId id, const std::string& inner) const {
  std::string name = inner;
  for (size_t step = 0; step <= types.size(); ++step) {
    const Type& t = types.at(id);
    switch (t.kind) {
      case TypeKind::Void: return join(t.name.empty() ? "void" : t.name, name);
      case TypeKind::Base: case TypeKind::Typedef: return join(t.name, name);
      case TypeKind::Struct: case TypeKind::Union: case TypeKind::Enum: {
        std::string tag = std::string(kind_name(t.kind)) + " " + (t.name.empty() ? "<anonymous>" : t.name);
        return join(tag, name);
      }
      case TypeKind::Pointer: {
        TypeKind tk = types.at(t.target).kind;
        name = (tk == TypeKind::Array || tk == TypeKind::Function) ? "(*" + name + ")" : "*" + name;
        id = t.target;
        break;
      }
      case TypeKind::Array:
        name += "[" + (t.count == kFlexible ? std::string() : std::to_string(t.count)) + "]";
        id = t.target;
        break;
      case TypeKind::Function: {
        std::string params;
        for (size_t i = 0; i < t.params.size(); ++i) params += (i ? ", " : "") + type_name(t.params[i]);
        if (t.variadic) params += t.params.empty() ? "..." : ", ...";
        if (t.params.empty() && !t.variadic) params = "void";
        name += "(" + params + ")";
        id = t.target;
        break;
      }
      case TypeKind::Const: case TypeKind::Volatile: case TypeKind::Restrict: case TypeKind::Atomic: {
        std::string q = kind_name(t.kind);
        if (types.at(t.target).kind == TypeKind::Array) {  // C qualifies the elements
          id = t.target;
          break;
        }
        if (types.at(t.target).kind == TypeKind::Pointer) {
          name = q + (name.empty() ? "" : " " + name);
          id = t.target;
          break;
        }
        return q + " " + declaration(t.target, name);
      }
    }
  }
  return kUnspellable;
}

std::string Program::type_name(TypeId id) const { return declaration(id, ""); }

}  // namespace ttst::dwarfmeta
