// inheritance.cc — see inheritance.h.
#include "stfw/xfer/inheritance.h"

namespace ttst::stfw {
namespace {

using dwarfmeta::image::ImageMember;
using dwarfmeta::image::ImageType;
using dwarfmeta::image::View;

constexpr uint8_t kStructKind = 2, kUnionKind = 3, kPointerKind = 5;  // dwarfmeta TypeKind

bool same_name(const View& meta, uint32_t a, uint32_t b) {
  const char* x = meta.str(a);
  const char* y = meta.str(b);
  while (*x && *x == *y) ++x, ++y;
  return *x == *y;
}

// Members equal: same name, offset, bits and (stripped) type. Nested anonymous
// structs compare by their own layout.
bool same_member(const View& meta, const ImageMember& a, const ImageMember& b, int depth) {
  if (a.offset != b.offset || a.bit_size != b.bit_size || a.bit_offset != b.bit_offset || !same_name(meta, a.name, b.name))
    return false;
  uint32_t ta = meta.strip(a.type), tb = meta.strip(b.type);
  if (ta == tb) return true;
  const ImageType& x = meta.type(ta);
  const ImageType& y = meta.type(tb);
  return depth < 8 && x.kind == kStructKind && y.kind == kStructKind && x.size == y.size &&
         layout_prefix(meta, ta, tb) && layout_prefix(meta, tb, ta);
}

bool prefix(const View& meta, uint32_t base, uint32_t derived, int depth) {
  base = meta.strip(base), derived = meta.strip(derived);
  if (base == derived) return true;
  const ImageType& b = meta.type(base);
  const ImageType& d = meta.type(derived);
  if (b.kind != kStructKind || d.kind != kStructKind || b.size == 0 || b.size > d.size || depth > 8) return false;
  const uint32_t bn = meta.member_count(b), dn = meta.member_count(d);
  if (dn == 0) return false;
  const ImageMember& first = meta.members(d)[0];
  // struct derived { struct base base; ... }: the first member is (a derived of) the base.
  if (first.offset == 0 && first.bit_size == 0 && prefix(meta, base, first.type, depth + 1)) return true;
  // The base's members repeated at the same places.
  if (bn == 0 || bn > dn) return false;
  for (uint32_t i = 0; i < bn; ++i)
    if (!same_member(meta, meta.members(b)[i], meta.members(d)[i], depth + 1)) return false;
  return true;
}

}  // namespace

bool layout_prefix(const View& meta, uint32_t base, uint32_t derived) { return prefix(meta, base, derived, 0); }

uint32_t site_returned_pointee(const View& meta, const dwarfmeta::image::ImageAllocSite& site) {
  const auto* f = meta.function(meta.str(site.caller));
  if (!f) return 0;
  const ImageType& returned = meta.type(meta.strip(f->return_type));
  if (returned.kind != kPointerKind) return 0;
  const uint32_t target = meta.strip(returned.target);
  const ImageType& t = meta.type(target);
  return (t.kind == kStructKind || t.kind == kUnionKind) && t.size > 0 ? target : 0;
}

uint32_t site_returned_struct(const View& meta, uint64_t site_link, uint64_t object_size) {
  const auto* site = meta.alloc_site(site_link);
  const uint32_t target = site ? site_returned_pointee(meta, *site) : 0;
  const ImageType& t = meta.type(target);
  if (!target || t.kind != kStructKind || object_size < t.size || object_size % t.size != 0) return 0;
  return target;
}

}  // namespace ttst::stfw
