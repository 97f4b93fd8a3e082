// type_table.cc — offset resolution, implicit sizes, merging and compaction of types.
#include "dwarfmeta/type_table.h"

#include <algorithm>

#include "dwarfmeta/type_merge.h"

namespace ttst::dwarfmeta {
namespace {

// Sizes DWARF leaves implicit: qualifiers and typedefs take their target's, arrays
// count * element; enums without an encoding take their underlying type's.
class SizeCompleter {
 public:
  explicit SizeCompleter(std::vector<Type>& types) : types_(types), state_(types.size(), 0) {}
  void run() {
    for (TypeId id = 1; id < types_.size(); ++id) size_of(id);
  }

 private:
  uint64_t size_of(TypeId id) {
    Type& t = types_[id];
    if (state_[id] != 0) return t.size;  // done, or a cycle (not valid C): left as DWARF says
    state_[id] = 1;
    switch (t.kind) {
      case TypeKind::Typedef: case TypeKind::Const: case TypeKind::Volatile:
      case TypeKind::Restrict: case TypeKind::Atomic:
        if (t.size == 0) t.size = size_of(t.target);
        break;
      case TypeKind::Array:
        t.size = (t.count == kFlexible) ? 0 : t.count * size_of(t.target);
        break;
      case TypeKind::Enum:
        if (t.encoding == Encoding::None) t.encoding = types_[t.target].encoding;
        if (t.encoding == Encoding::None) t.encoding = Encoding::Unsigned;
        break;
      default:
        break;
    }
    state_[id] = 2;
    return t.size;
  }
  std::vector<Type>& types_;
  std::vector<uint8_t> state_;
};

}  // namespace

void TypeTable::reserve(size_t n) {
  raw_.reserve(n);
  by_off_.reserve(n);
}

uint64_t TypeTable::add(RawType r, uint64_t die_offset) {
  raw_.push_back(std::move(r));
  uint64_t index = raw_.size() - 1;
  if (die_offset != kNoOffset) by_off_.emplace_back(die_offset, static_cast<uint32_t>(index));
  return index;
}

TypeId TypeTable::raw_id(uint64_t off) const {
  if (off == kNoOffset) return kVoid;
  auto it = std::lower_bound(by_off_.begin(), by_off_.end(), std::make_pair(off, uint32_t(0)));
  return it == by_off_.end() || it->first != off ? kVoid : it->second + 1;
}

TypeId TypeTable::type_of(uint64_t die_offset) const {
  TypeId raw = raw_id(die_offset);
  return raw < final_.size() ? final_[raw] : kVoid;
}

std::vector<Type> TypeTable::build() {
  std::vector<Type> types = resolve_references();
  SizeCompleter(types).run();
  TypeKeys keys(types);
  std::vector<TypeId> canon = merge_types(types, [&](TypeId id) {
    TypeKey k = keys.of(id);
    return key_override_ ? key_override_(types[id], k) : k;
  });
  std::vector<Type> out = compact(types, canon);
  SizeCompleter(out).run();  // a typedef of a declaration now has the definition's size
  raw_.clear();
  return out;
}

// Offsets -> ids (raw index + 1: id 0 is void).
std::vector<Type> TypeTable::resolve_references() {
  std::vector<Type> types(raw_.size() + 1);
  std::sort(by_off_.begin(), by_off_.end());
  for (size_t i = 0; i < raw_.size(); ++i) {
    RawType& r = raw_[i];
    Type& t = types[i + 1];
    t = std::move(r.t);
    t.target = r.target_is_raw ? static_cast<TypeId>(r.target_off + 1) : raw_id(r.target_off);
    for (size_t m = 0; m < t.members.size(); ++m) t.members[m].type = raw_id(r.member_offs[m]);
    for (uint64_t p : r.param_offs) t.params.push_back(raw_id(p));
  }
  return types;
}

// One type per class of `canon`, references renumbered; final_ maps raw ids.
std::vector<Type> TypeTable::compact(std::vector<Type>& types, const std::vector<TypeId>& canon) {
  std::vector<TypeId> newid(types.size(), kVoid);
  std::vector<Type> out;
  out.push_back(Type{});
  for (TypeId id = 1; id < types.size(); ++id)
    if (canon[id] == id) {
      newid[id] = static_cast<TypeId>(out.size());
      out.push_back(std::move(types[id]));
    }
  auto map = [&](TypeId id) { return newid[canon[id]]; };
  for (Type& t : out) {
    t.target = map(t.target);
    for (Member& m : t.members) m.type = map(m.type);
    for (TypeId& p : t.params) p = map(p);
  }
  final_.resize(types.size());
  for (TypeId id = 0; id < types.size(); ++id) final_[id] = map(id);
  return out;
}

}  // namespace ttst::dwarfmeta
