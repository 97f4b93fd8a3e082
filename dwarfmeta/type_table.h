// type_table.h — types as the DWARF walk finds them, with references still as DIE
// offsets, turned into Program::types: offsets resolved to TypeIds, sizes DWARF
// leaves implicit (typedefs, arrays) computed, the copies every compilation unit
// repeats merged (type_merge.h), declarations resolved to their unique definition.
#ifndef DWARFMETA_TYPE_TABLE_H
#define DWARFMETA_TYPE_TABLE_H

#include <cstdint>
#include <utility>
#include <vector>

#include "dwarfmeta/model.h"
#include "dwarfmeta/type_key.h"

namespace ttst::dwarfmeta {

inline constexpr uint64_t kNoOffset = UINT64_MAX;

struct RawType {
  Type t;                               // references in t are ignored
  uint64_t target_off = kNoOffset;      // DIE offset, or a raw index if target_is_raw
  bool target_is_raw = false;           // nested arrays of a multi-dimensional array DIE
  std::vector<uint64_t> member_offs;    // DIE offsets of member types, in order
  std::vector<uint64_t> param_offs;     // DIE offsets of parameter types
};

class TypeTable {
 public:
  // Test seam: replaces each type's candidate key (given the one type_key.h
  // computed), e.g. to make every type collide. dwarfmeta::load never sets it.
  using KeyOverride = TypeKey (*)(const Type& t, TypeKey computed);
  explicit TypeTable(KeyOverride key_override = nullptr) : key_override_(key_override) {}

  void reserve(size_t n);
  // Adds a type found at `die_offset` (kNoOffset for synthesised ones); returns
  // its raw index.
  uint64_t add(RawType r, uint64_t die_offset);
  // The final types (index 0 is void). Call once, after the walk.
  std::vector<Type> build();
  // After build(): the TypeId of the type DIE at `die_offset` (void if unknown).
  TypeId type_of(uint64_t die_offset) const;

 private:
  TypeId raw_id(uint64_t die_offset) const;  // raw index + 1, or 0
  std::vector<Type> resolve_references();
  std::vector<Type> compact(std::vector<Type>& types, const std::vector<TypeId>& canon);
  KeyOverride key_override_;
  std::vector<RawType> raw_;
  std::vector<std::pair<uint64_t, uint32_t>> by_off_;  // sorted by build()
  std::vector<TypeId> final_;                          // raw index + 1 -> TypeId
};

}  // namespace ttst::dwarfmeta

#endif
