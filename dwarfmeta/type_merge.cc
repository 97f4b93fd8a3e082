// type_merge.cc — candidate buckets, the structural comparison and the rounds of
// declaration resolution (see type_merge.h).
#include "dwarfmeta/type_merge.h"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

namespace ttst::dwarfmeta {
namespace {

bool tagged(const Type& t) {
  return !t.name.empty() && (t.kind == TypeKind::Struct || t.kind == TypeKind::Union || t.kind == TypeKind::Enum);
}

// Everything of two types except the types they refer to (and sizes that are
// their target's).
bool same_fields(const Type& a, const Type& b) {
  if (a.kind != b.kind || a.name != b.name || (a.size != b.size && !size_from_target(a.kind)) ||
      a.encoding != b.encoding || a.count != b.count ||
      a.declaration != b.declaration || a.variadic != b.variadic || a.members.size() != b.members.size() ||
      a.params.size() != b.params.size() || a.enumerators != b.enumerators)
    return false;
  for (size_t i = 0; i < a.members.size(); ++i) {
    const Member& x = a.members[i];
    const Member& y = b.members[i];
    if (x.name != y.name || x.offset != y.offset || x.bit_size != y.bit_size || x.bit_offset != y.bit_offset)
      return false;
  }
  return true;
}

class Merger {
 public:
  explicit Merger(const std::vector<Type>& types)
      : types_(types), parent_(types.size()), definition_of_(types.size(), kVoid), paired_(types.size(), kUnpaired) {
    for (TypeId id = 1; id < types.size(); ++id)
      if (tagged(types[id])) {
        Tag& tag = tags_[{int(types[id].kind), types[id].name}];
        (types[id].declaration ? tag.declarations : tag.definitions).push_back(id);
      }
    // Definitions that differ in their own fields can never become one type.
    for (auto& [name, tag] : tags_) {
      tag.resolved = !tag.definitions.empty();
      for (TypeId d : tag.definitions) tag.resolved = tag.resolved && same_fields(types[d], types[tag.definitions[0]]);
    }
  }

  std::vector<TypeId> run(const KeyFunction& key) {
    do {
      start_round();
      merge_candidates(key);
    } while (unresolve_tags());
    std::vector<TypeId> canon(types_.size());
    for (TypeId id = 0; id < types_.size(); ++id) canon[id] = representative(id);
    return canon;
  }

 private:
  static constexpr TypeId kUnpaired = UINT32_MAX;
  struct Tag {
    std::vector<TypeId> definitions, declarations;
    bool resolved = false;  // its declarations stand for its (first) definition
  };

  // Union-find over proven-equal types; a class's root is its lowest id.
  TypeId find(TypeId id) {
    while (parent_[id] != id) id = parent_[id] = parent_[parent_[id]];
    return id;
  }
  void unite(TypeId a, TypeId b) {
    a = find(a), b = find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }
  // The class that stands for `id`: a resolved declaration stands for its definition.
  TypeId representative(TypeId id) {
    id = find(id);
    return definition_of_[id] != kVoid ? find(definition_of_[id]) : id;
  }

  // Nothing merged yet; declarations of resolved tags stand for their definition.
  void start_round() {
    for (TypeId id = 0; id < types_.size(); ++id) parent_[id] = types_[id].kind == TypeKind::Void ? kVoid : id;
    buckets_.clear();
    for (auto& [name, tag] : tags_)
      for (TypeId d : tag.declarations) definition_of_[d] = tag.resolved ? tag.definitions.front() : kVoid;
  }

  // Each type against the earlier types with its key.
  void merge_candidates(const KeyFunction& key) {
    for (TypeId id = 1; id < types_.size(); ++id) {
      if (find(id) != id) continue;  // void, or merged while comparing an earlier type
      std::vector<TypeId>& bucket = buckets_[key(id)];
      bool merged = false;
      for (TypeId other : bucket)
        if (find(other) == other && same(other, id)) {
          merged = true;
          break;
        }
      if (!merged) bucket.push_back(id);
    }
  }

  // Resolved tags whose definitions did not all become one type are resolved no
  // longer; true when there was one (the round's merges may rest on it).
  bool unresolve_tags() {
    bool any = false;
    for (auto& [name, tag] : tags_) {
      if (!tag.resolved) continue;
      for (TypeId d : tag.definitions)
        if (find(d) != find(tag.definitions.front())) {
          tag.resolved = false, any = true;
          break;
        }
    }
    return any;
  }

  // Are `a` and `b` the same type? Compares every pair of types reachable from
  // (a, b) by the same references; a pair met again (a cycle) is not compared
  // twice. When no pair differs, the pairs form a proof that all of them are equal
  // and they are all merged.
  bool same(TypeId a, TypeId b) {
    bool equal = true;
    visit(a, b);
    while (equal && !work_.empty()) {
      auto [x, y] = work_.back();
      work_.pop_back();
      const Type& tx = types_[x];
      const Type& ty = types_[y];
      equal = same_fields(tx, ty);
      if (!equal) break;
      visit(tx.target, ty.target);
      for (size_t i = 0; i < tx.members.size(); ++i) visit(tx.members[i].type, ty.members[i].type);
      for (size_t i = 0; i < tx.params.size(); ++i) visit(tx.params[i], ty.params[i]);
    }
    if (equal)
      for (auto [x, y] : pairs_) unite(x, y);
    for (auto [x, y] : pairs_) paired_[x] = kUnpaired;
    pairs_.clear();
    extra_pairs_.clear();
    work_.clear();
    return equal;
  }
  // Queues the pair (x, y) unless it is already proven equal or already queued.
  void visit(TypeId x, TypeId y) {
    x = representative(x), y = representative(y);
    if (x == y) return;
    if (paired_[x] == y) return;
    if (paired_[x] == kUnpaired) {
      paired_[x] = y;
    } else {  // x met with a second partner in this comparison: rare
      for (auto [ex, ey] : extra_pairs_)
        if (ex == x && ey == y) return;
      extra_pairs_.emplace_back(x, y);
    }
    pairs_.emplace_back(x, y);
    work_.emplace_back(x, y);
  }

  const std::vector<Type>& types_;
  std::vector<TypeId> parent_;
  std::vector<TypeId> definition_of_;  // declaration -> a definition, once its tag is resolved
  std::map<std::pair<int, std::string>, Tag> tags_;
  std::unordered_map<TypeKey, std::vector<TypeId>, TypeKeyHash> buckets_;
  // One comparison's state: pairs met (x -> its first partner in paired_), queued.
  std::vector<TypeId> paired_;
  std::vector<std::pair<TypeId, TypeId>> pairs_, extra_pairs_, work_;
};

}  // namespace

std::vector<TypeId> merge_types(const std::vector<Type>& types, const KeyFunction& key) {
  return Merger(types).run(key);
}

}  // namespace ttst::dwarfmeta
