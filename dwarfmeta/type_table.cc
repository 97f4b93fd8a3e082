// type_table.cc — offset resolution, implicit sizes and deduplication of types.
#include "dwarfmeta/type_table.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>

namespace ttst::dwarfmeta {
namespace {

// Deduplication key of a type: a 128-bit hash of its structure. References to
// named struct/union/enum types hash their tag only, which also makes pointers to
// a declaration and to the definition the same pointer type, and ends recursion
// through self-references.
struct Key {
  uint64_t a = 0, b = 0;
  bool operator==(const Key&) const = default;
};
struct KeyHash {
  size_t operator()(const Key& k) const { return k.a ^ (k.b * 0x9e3779b97f4a7c15ull); }
};

class Signatures {
 public:
  // Tags with more than one distinct definition in the program (two different
  // `struct config` in two files) are referenced by tag plus shallow layout, so
  // pointers to each keep pointing to their own definition.
  explicit Signatures(const std::vector<Type>& types) : types_(types), memo_(types.size()), state_(types.size()) {
    std::map<std::pair<int, std::string>, Key> first;
    for (TypeId id = 1; id < types.size(); ++id) {
      const Type& t = types[id];
      if (!tagged(t) || t.declaration) continue;
      Key k = shallow(t);
      auto [it, fresh] = first.emplace(std::make_pair(int(t.kind), t.name), k);
      if (!fresh && !(it->second == k)) ambiguous_.insert(it->first);
    }
  }
  Key full(TypeId id) {
    if (state_[id] == 2) return memo_[id];
    if (state_[id] == 1) return Key{1, 1};  // a cycle without a tag (cannot happen in C)
    state_[id] = 1;
    const Type& t = types_[id];
    Hasher h;
    h.u(uint64_t(t.kind)), h.s(t.name), h.u(t.size), h.u(uint64_t(t.encoding)), h.u(t.count);
    h.u(uint64_t(t.declaration) | uint64_t(t.variadic) << 1);
    if (t.kind != TypeKind::Struct && t.kind != TypeKind::Union && t.kind != TypeKind::Base &&
        t.kind != TypeKind::Void)
      h.k(ref(t.target));
    h.u(t.members.size());
    for (const Member& m : t.members) h.s(m.name), h.u(m.offset), h.u(m.bit_size), h.u(m.bit_offset), h.k(ref(m.type));
    h.u(t.enumerators.size());
    for (const Enumerator& e : t.enumerators) h.s(e.name), h.u(uint64_t(e.value));
    h.u(t.params.size());
    for (TypeId p : t.params) h.k(ref(p));
    memo_[id] = h.key();
    state_[id] = 2;
    return memo_[id];
  }
  Key ref(TypeId id) {
    const Type& t = types_[id];
    if (tagged(t)) {
      Hasher h;
      h.u(0xabcdef), h.u(uint64_t(t.kind)), h.s(t.name);
      if (!ambiguous_.empty() && ambiguous_.count({int(t.kind), t.name})) {
        if (t.declaration) h.u(0xdec1);
        else h.k(shallow(t));
      }
      return h.key();
    }
    return full(id);
  }

 private:
  struct Hasher {
    uint64_t a = 0x243f6a8885a308d3ull, b = 0x13198a2e03707344ull;
    void u(uint64_t v) {
      a = (a ^ v) * 0x100000001b3ull;
      a ^= a >> 29;
      b = (b + v) * 0xff51afd7ed558ccdull;
      b ^= b >> 31;
    }
    void s(const std::string& str) {
      u(str.size());
      for (unsigned char c : str) a = (a ^ c) * 0x100000001b3ull, b = (b ^ c) * 0xc4ceb9fe1a85ec53ull;
    }
    void k(Key key) { u(key.a), u(key.b); }
    Key key() const { return Key{a, b}; }
  };
  static bool tagged(const Type& t) {
    return !t.name.empty() && (t.kind == TypeKind::Struct || t.kind == TypeKind::Union || t.kind == TypeKind::Enum);
  }
  // Layout without following references.
  Key shallow(const Type& t) const {
    Hasher h;
    h.u(uint64_t(t.kind)), h.s(t.name), h.u(t.size);
    for (const Member& m : t.members) {
      const Type& mt = types_[m.type];
      h.s(m.name), h.u(m.offset), h.u(m.bit_size), h.u(m.bit_offset), h.u(uint64_t(mt.kind)), h.u(mt.size), h.s(mt.name);
    }
    for (const Enumerator& e : t.enumerators) h.s(e.name), h.u(uint64_t(e.value));
    return h.key();
  }
  const std::vector<Type>& types_;
  std::vector<Key> memo_;
  std::vector<uint8_t> state_;
  std::set<std::pair<int, std::string>> ambiguous_;
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
  // 1. Offsets -> ids (index + 1: id 0 is void).
  std::vector<Type> types(raw_.size() + 1);
  std::sort(by_off_.begin(), by_off_.end());
  auto resolve = [&](uint64_t off) { return raw_id(off); };
  for (size_t i = 0; i < raw_.size(); ++i) {
    RawType& r = raw_[i];
    Type& t = types[i + 1];
    t = std::move(r.t);
    t.target = r.target_is_raw ? static_cast<TypeId>(r.target_off + 1) : resolve(r.target_off);
    for (size_t m = 0; m < t.members.size(); ++m) t.members[m].type = resolve(r.member_offs[m]);
    for (uint64_t p : r.param_offs) t.params.push_back(resolve(p));
  }
  // 2. Sizes DWARF leaves implicit.
  std::vector<int> state(types.size(), 0);
  std::function<uint64_t(TypeId)> size_of = [&](TypeId id) -> uint64_t {
    Type& t = types[id];
    if (state[id] == 2 || state[id] == 1) return t.size;
    state[id] = 1;
    switch (t.kind) {
      case TypeKind::Typedef: case TypeKind::Const: case TypeKind::Volatile:
      case TypeKind::Restrict: case TypeKind::Atomic:
        if (t.size == 0) t.size = size_of(t.target);
        break;
      case TypeKind::Array:
        t.size = (t.count == kFlexible) ? 0 : t.count * size_of(t.target);
        break;
      case TypeKind::Enum:
        if (t.encoding == Encoding::None) t.encoding = types[t.target].encoding;
        if (t.encoding == Encoding::None) t.encoding = Encoding::Unsigned;
        break;
      default:
        break;
    }
    state[id] = 2;
    return t.size;
  };
  for (TypeId id = 1; id < types.size(); ++id) size_of(id);

  // 3. Declarations -> the one definition with the same tag, when it is unique.
  std::map<std::pair<int, std::string>, std::vector<TypeId>> defs;
  for (TypeId id = 1; id < types.size(); ++id) {
    const Type& t = types[id];
    if ((t.kind == TypeKind::Struct || t.kind == TypeKind::Union || t.kind == TypeKind::Enum) && !t.name.empty() &&
        !t.declaration)
      defs[{int(t.kind), t.name}].push_back(id);
  }
  Signatures sig(types);
  std::vector<TypeId> canon(types.size());
  std::unordered_map<Key, TypeId, KeyHash> seen;
  seen.reserve(types.size());
  for (TypeId id = 0; id < types.size(); ++id) {
    const Type& t = types[id];
    if (id == 0) {
      canon[0] = 0;
      continue;
    }
    if (t.kind == TypeKind::Void) {
      canon[id] = 0;
      continue;
    }
    auto [it, fresh] = seen.emplace(sig.full(id), id);
    canon[id] = it->second;
  }
  for (TypeId id = 1; id < types.size(); ++id) {
    const Type& t = types[id];
    if (!t.declaration || t.name.empty()) continue;
    auto it = defs.find({int(t.kind), t.name});
    if (it == defs.end()) continue;
    TypeId def = canon[it->second.front()];
    bool unique = true;
    for (TypeId d : it->second) unique = unique && canon[d] == def;
    if (unique) canon[id] = def;
  }
  // 4. Compact.
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
  raw_.clear();
  return out;
}

}  // namespace ttst::dwarfmeta
