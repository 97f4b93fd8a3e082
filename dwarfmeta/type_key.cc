// type_key.cc — the candidate key of a type (see type_key.h).
#include "dwarfmeta/type_key.h"

#include <map>

namespace ttst::dwarfmeta {
namespace {

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
  void k(TypeKey key) { u(key.a), u(key.b); }
  TypeKey key() const { return TypeKey{a, b}; }
};

bool tagged(const Type& t) {
  return !t.name.empty() && (t.kind == TypeKind::Struct || t.kind == TypeKind::Union || t.kind == TypeKind::Enum);
}

}  // namespace

TypeKeys::TypeKeys(const std::vector<Type>& types) : types_(types), memo_(types.size()), state_(types.size()) {
  std::map<std::pair<int, std::string>, TypeKey> first;
  for (TypeId id = 1; id < types.size(); ++id) {
    const Type& t = types[id];
    if (!tagged(t) || t.declaration) continue;
    TypeKey k = shallow(t);
    auto [it, fresh] = first.emplace(std::make_pair(int(t.kind), t.name), k);
    if (!fresh && !(it->second == k)) ambiguous_.insert(it->first);
  }
}

TypeKey TypeKeys::of(TypeId id) {
  if (state_[id] == 2) return memo_[id];
  // A cycle that passes no tag cannot be written in C; should DWARF hold one, its
  // key is merely weak: the comparison that follows decides.
  if (state_[id] == 1) return TypeKey{1, 1};
  state_[id] = 1;
  const Type& t = types_[id];
  Hasher h;
  h.u(uint64_t(t.kind)), h.s(t.name), h.u(size_from_target(t.kind) ? 0 : t.size), h.u(uint64_t(t.encoding));
  h.u(t.count);
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

TypeKey TypeKeys::ref(TypeId id) {
  const Type& t = types_[id];
  if (!tagged(t)) return of(id);
  Hasher h;
  h.u(0xabcdef), h.u(uint64_t(t.kind)), h.s(t.name);
  if (!ambiguous_.empty() && ambiguous_.count({int(t.kind), t.name})) {
    if (t.declaration) h.u(0xdec1);
    else h.k(shallow(t));
  }
  return h.key();
}

TypeKey TypeKeys::shallow(const Type& t) const {
  Hasher h;
  h.u(uint64_t(t.kind)), h.s(t.name), h.u(t.size);
  for (const Member& m : t.members) {
    const Type& mt = types_[m.type];
    h.s(m.name), h.u(m.offset), h.u(m.bit_size), h.u(m.bit_offset), h.u(uint64_t(mt.kind)), h.u(mt.size), h.s(mt.name);
  }
  for (const Enumerator& e : t.enumerators) h.s(e.name), h.u(uint64_t(e.value));
  return h.key();
}

}  // namespace ttst::dwarfmeta
