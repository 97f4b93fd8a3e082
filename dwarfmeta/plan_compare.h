// plan_compare.h — the changes from a v1 type to a v2 type, member by member, to
// any depth: what decides whether a state object is unchanged, structural or
// semantic (plan.h). Pointers are compared by the C spelling of what they point
// to, never followed: the pointee is an object of its own with its own entry.
#ifndef DWARFMETA_PLAN_COMPARE_H
#define DWARFMETA_PLAN_COMPARE_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dwarfmeta/model.h"
#include "dwarfmeta/plan.h"

namespace ttst::dwarfmeta {

// Does a type hold a pointer in place (not behind a pointer)? Memoized per type;
// a type that contains itself (not valid C) counts as holding one, so a change to
// it is never taken for a plain copy.
class PointerHolders {
 public:
  explicit PointerHolders(const Program& p) : p_(p), state_(p.types.size(), kUnknown) {}
  bool operator()(TypeId id);

 private:
  enum : uint8_t { kUnknown, kVisiting, kNo, kYes };
  const Program& p_;
  std::vector<uint8_t> state_;
};

// The changes from a v1 type to a v2 type, member by member, to any depth. The
// changes of each pair of types are computed once (relative to the pair) and
// listed under every path where the pair occurs.
class TypeComparer {
 public:
  // Member annotations (IXFER / PXFER / NO_TRANSFER on "struct tag.m") of either
  // version make the changes of that member need no transfer code.
  TypeComparer(const Program& v1, const Program& v2);
  ~TypeComparer();
  // Appends the changes from `ta` (v1) to `tb` (v2), their paths under `path`.
  void compare(TypeId ta, TypeId tb, const std::string& path, std::vector<Change>& out);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ttst::dwarfmeta

#endif
