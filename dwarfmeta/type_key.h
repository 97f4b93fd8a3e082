// type_key.h — a 128-bit hash of a type's structure, used to find the types that
// may be the same C type. Only a filter: types with different keys are never the
// same, types with equal keys are compared in full (type_merge.h) before anything
// is merged, so a collision costs a comparison, never a wrong merge.
#ifndef DWARFMETA_TYPE_KEY_H
#define DWARFMETA_TYPE_KEY_H

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dwarfmeta/model.h"

namespace ttst::dwarfmeta {

struct TypeKey {
  uint64_t a = 0, b = 0;
  bool operator==(const TypeKey&) const = default;
};

// Typedefs, qualifiers and arrays take their size from their target, which may
// be a declaration (size 0) that later stands for its definition: their size is
// not part of what makes them the same type (their target is).
inline bool size_from_target(TypeKind k) {
  return k == TypeKind::Typedef || k == TypeKind::Const || k == TypeKind::Volatile || k == TypeKind::Restrict ||
         k == TypeKind::Atomic || k == TypeKind::Array;
}

struct TypeKeyHash {
  size_t operator()(const TypeKey& k) const { return k.a ^ (k.b * 0x9e3779b97f4a7c15ull); }
};

// The keys of one program's types. A reference to a named struct/union/enum
// hashes its tag only (so a pointer to a declaration and one to the definition get
// the same key, and recursion stops at tags); tags with definitions of different
// layouts add the referenced definition's own layout, to keep their keys apart.
class TypeKeys {
 public:
  explicit TypeKeys(const std::vector<Type>& types);
  TypeKey of(TypeId id);

 private:
  TypeKey ref(TypeId id);
  TypeKey shallow(const Type& t) const;  // layout without following references

  const std::vector<Type>& types_;
  std::vector<TypeKey> memo_;
  std::vector<uint8_t> state_;  // 0 not computed, 1 being computed, 2 in memo_
  std::set<std::pair<int, std::string>> ambiguous_;  // (kind, tag) with different layouts
};

}  // namespace ttst::dwarfmeta

#endif
