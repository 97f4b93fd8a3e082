// engine_blind_spots.cc — refusals for what a plain transfer would carry over wrong
// while the backward run restores it exactly (R is a clone of P, so R == P hides it):
//   - an object copied as bytes (no type: reached only through void *) whose site
//     allocates, in the other version, a type of another layout;
//   - an array of pointers whose length changes (a global's or a member's), and a
//     transferred array of pointers that replaces F's start-up object of the same
//     site but of another length: where an element belongs may depend on the
//     length (a hash table's buckets), which no metadata says;
//   - a pointer at a boundary: one past the end of a global (or member) that is also
//     the start of the next one, where the other version puts them apart: the
//     pointer's declared target type decides (not a refusal: see pick_at_boundary).
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

namespace {
constexpr uint64_t kFlex = dwarfmeta::image::kFlexibleCount;
}

// The source struct / union type named like the destination's `dst_type`, or 0.
uint32_t Engine::source_named_like(uint32_t dst_type) const {
  const ImageType& d = dst_meta().type(dst_type);
  if (d.name == dwarfmeta::image::kNone) return 0;
  for (uint32_t i = 1; i < src_meta().type_count(); ++i) {
    const ImageType& s = src_meta().type(i);
    if (s.kind == d.kind && s.name != dwarfmeta::image::kNone && !(s.flags & dwarfmeta::image::kTypeDeclaration) &&
        streq(src_meta().str(s.name), dst_meta().str(d.name)))
      return i;
  }
  return 0;
}

// An untyped heap object (copied as bytes) whose site, in the destination, allocates
// a type (dwarfmeta's hint) whose layout differs from the source's type of that name
// (or of the source site's hint), or that the source does not have: its bytes would
// be reinterpreted. Refused (AMBIGUOUS) naming the site and type; true if refused.
bool Engine::refuse_untyped_layout(const Object& o) {
  const auto* src_info = src_meta().alloc_site(site_of(o) - config_.src_bias);
  if (!src_info || wrapper_site(*src_info)) return false;  // a wrapper serves every type: no hint to trust
  // A copy of a string is text, whatever the other version's site of that ID
  // allocates (kvserver v3: cmd_set#0 was strdup, is malloc of a struct blob).
  const char* allocator = src_meta().str(src_info->allocator);
  if (streq(allocator, "strdup") || streq(allocator, "strndup")) return false;
  uint64_t site = dst_site(site_of(o));
  const auto* dst_info = site ? dst_meta().alloc_site(site - config_.dst_bias) : nullptr;
  if (!dst_info || dst_info->type == 0) return false;
  uint32_t dst_type = dst_meta().strip(dst_info->type);
  const ImageType& dst_ty = dst_meta().type(dst_type);
  if (dst_ty.kind != kStruct && dst_ty.kind != kUnion) return false;
  uint32_t src_type = src_info->type ? src_meta().strip(src_info->type) : source_named_like(dst_type);
  if (src_type && same_layout(src_type, dst_type)) return false;
  const char* other = config_.backward ? "v1" : "v2";
  fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  describe(message_, o);
  message_.text(" has no type (reached only through void * or char *) and would be copied as bytes, but its site "
                "allocates ")
      .text(type_name(dst_meta(), dst_type))
      .text(" in ")
      .text(other);
  if (src_type)
    message_.text(", whose layout differs (")
        .number(type_size(src_meta(), src_type))
        .text(" -> ")
        .number(dst_ty.size)
        .text(" bytes or members moved)");
  else
    message_.text(", a type the other version does not have");
  message_.text(": its bytes would be reinterpreted; needs transfer code (or a typed pointer to it, TTST_POINTS_TO)");
  advise_points_to(o);
  return true;
}

// walk_array's check (writing): an array of pointers whose length differs in the
// destination. Refused (AMBIGUOUS) naming the value; true if refused.
bool Engine::refuse_resized_pointer_array(const ImageType& src_ty, const ImageType& dst_ty) {
  if (src_ty.count == dst_ty.count || src_ty.count == kFlex || dst_ty.count == kFlex || src_ty.count == 0 ||
      dst_ty.count == 0 || src_meta().type(src_meta().strip(src_ty.target)).kind != kPointer)
    return false;
  fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  message_.text(" is an array of ")
      .number(src_ty.count)
      .text(" pointers that has ")
      .number(dst_ty.count)
      .text(" in ")
      .text(config_.backward ? "v1" : "v2")
      .text(": where an element belongs may depend on the length (a hash table's buckets), which the metadata does "
            "not say: needs transfer code");
  advise_current("NO_TRANSFER");  // the fix: v2's own array, or the holder's transfer code
  uint32_t type = 0, index = 0;
  if (current_member(&type, &index)) advise_plugin(type);
  return true;
}

// Forward, a global's pointer overwritten: `old` (F's value) one of F's start-up
// objects, `v` the source's pointer. When `v` is the base of an array of pointers
// whose counterpart comes from the same site as `old` but with another length, v2's
// start-up chose the length anew (a bucket count): refused (AMBIGUOUS); true if so.
bool Engine::refuse_resized_startup(uint64_t old, uint64_t v) {
  if (config_.backward || old < 4096) return false;
  bool startup = false;
  for (uint64_t i = 0; i < startup_count_ && !startup; ++i) startup = startup_objects_[i].addr == old;
  const ttst_heap_desc* target = startup ? base_descriptor(v) : nullptr;
  if (!target) return false;
  const Object& o = objects_[reinterpret_cast<uint64_t>(target->prev) & 0xffffffffu];
  if (o.src_type == 0 || (o.flags & (kCarved | kContainer)) ||
      src_meta().type(src_meta().strip(o.src_type)).kind != kPointer)
    return false;
  const ttst_heap_desc* own = reinterpret_cast<const ttst_heap_desc*>(old - kDescSize);
  uint64_t site = dst_site(site_of(o));
  if (site == 0 || own->site != site || own->size == o.dst_size) return false;
  fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  message_.text(" points to ");
  describe(message_, o);
  message_.text(", an array of ")
      .number(o.size / 8)
      .text(" pointers, which replaces v2's start-up object of the same site, an array of ")
      .number(own->size / 8)
      .text(": v2's start-up chose another length, and where an element belongs may depend on it (a hash table's "
            "buckets): needs transfer code");
  advise_current("NO_TRANSFER");  // the fix: v2's own start-up object kept
  if (current_ < object_count_ && (objects_[current_].flags & kGlobal))
    advise_plugin_global(src_meta().str(src_meta().global_at(objects_[current_].src_global).id));
  return true;
}

// Does a value of source type `t` end (at its last byte) with a value of type
// `pointee` (itself, its last array element, the member that ends it)? `start`:
// begin with one instead (itself, its first element, its member at offset 0).
bool Engine::holds_at_edge(uint32_t t, uint32_t pointee, bool start, int depth) const {
  t = src_meta().strip(t);
  if (pointee == 0 || depth > 16) return false;
  if (t == pointee) return true;
  const ImageType& ty = src_meta().type(t);
  if (ty.kind == kArray) return ty.count != 0 && ty.count != kFlex && holds_at_edge(ty.target, pointee, start, depth + 1);
  if (ty.kind != kStruct && ty.kind != kUnion) return false;
  for (uint32_t i = 0; i < src_meta().member_count(ty); ++i) {
    const ImageMember& m = src_meta().members(ty)[i];
    uint64_t size = type_size(src_meta(), m.type);
    if (m.bit_size == 0 && (start ? m.offset == 0 : m.offset + size == ty.size) &&
        holds_at_edge(m.type, pointee, start, depth + 1))
      return true;
  }
  return false;
}

// A pointer at a boundary: one past the end of A (at destination `end`) that is
// also the start of B (at `start`). The same place in the destination: no question;
// else the end only when the pointer's declared target type fits A's last element
// and not B's start (a `struct pair *` one past `pairs[3]`, followed by a `long`).
// Otherwise the start: a pointer to an object's own start (a `void *` callback
// argument, a `char *` to the next buffer) is by far the commoner reading; a
// `void *` or same-typed end pointer at a boundary stays a known limit (README).
uint64_t Engine::pick_at_boundary(uint32_t a_type, uint32_t b_type, uint64_t end, uint64_t start) const {
  if (end == start) return end;
  bool fits_end = holds_at_edge(a_type, pointee_hint_, false), fits_start = holds_at_edge(b_type, pointee_hint_, true);
  return fits_end && !fits_start ? end : start;
}

// translate()'s boundary case: `v` is the start of global `b` (an object_holding()
// result) and one past the end of the global right before it. -1: no such
// boundary (translate as usual); else 1 (translated into *out) or 0 (refused).
int Engine::translate_at_global_boundary(uint64_t v, uint32_t b, uint64_t* out) {
  const Object& B = objects_[b];
  if (!(B.flags & kGlobal) || B.addr != v) return -1;
  uint64_t lo = 0, hi = heap_end_ ? heap_end_ : object_count_;  // the first sorted address >= v
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (sorted_addr_[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return -1;
  const Object& A = objects_[sorted_index_[lo - 1]];
  if (!(A.flags & kGlobal) || A.size == 0 || A.addr + A.size != v) return -1;
  uint64_t end_off = 0;
  bool end_ok = A.dst_addr != 0 && map_offset(A.src_type, A.dst_type, A.size, &end_off);
  if (failed()) return 0;
  if (!end_ok && B.dst_addr == 0) return -1;  // neither exists: translate_into_object names B
  if (!end_ok) return *out = B.dst_addr, 1;
  if (B.dst_addr == 0) return *out = A.dst_addr + end_off, 1;
  return *out = pick_at_boundary(A.src_type, B.src_type, A.dst_addr + end_off, B.dst_addr), 1;
}

// map_offset()'s struct case, offset `off` (> 0) inside struct src_ty: the member
// holding it, or the member ending there (one past a member array), or both (a
// boundary, picked by the pointer's type). False: no destination offset (the
// caller names the missing target) or refused (too deep).
bool Engine::map_struct_offset(const ImageType& src_ty, const ImageType& dst_ty, uint64_t off, uint64_t* out,
                               int depth) {
  const ImageMember* inside = nullptr;
  const ImageMember* ending = nullptr;
  for (uint32_t i = 0; i < src_meta().member_count(src_ty); ++i) {
    const ImageMember& member = src_meta().members(src_ty)[i];
    uint64_t member_size = type_size(src_meta(), member.type);
    if (member.bit_size) continue;
    if (!inside && off >= member.offset && off - member.offset < (member_size ? member_size : 1)) inside = &member;
    if (member_size && member.offset < off && member.offset + member_size == off) ending = &member;
  }
  uint64_t in_out = 0, end_out = 0;
  bool in_ok = false, end_ok = false;
  if (inside) {
    const ImageMember* dst_member = dst_meta().member(dst_ty, src_meta().str(inside->name));
    uint64_t inner = 0;
    in_ok = dst_member && map_offset(inside->type, dst_member->type, off - inside->offset, &inner, depth + 1);
    in_out = in_ok ? dst_member->offset + inner : 0;
  }
  if (failed()) return false;
  if (ending && !(off == src_ty.size && !inside)) {
    const ImageMember* dst_member = dst_meta().member(dst_ty, src_meta().str(ending->name));
    uint64_t inner = 0;
    end_ok = dst_member && map_offset(ending->type, dst_member->type, off - ending->offset, &inner, depth + 1);
    end_out = end_ok ? dst_member->offset + inner : 0;
  } else if (off == src_ty.size) {  // one past the whole struct
    end_ok = true, end_out = dst_ty.size;
  }
  if (failed()) return false;
  if (!inside || !in_ok) return end_ok && (*out = end_out, true);
  if (!end_ok) return *out = in_out, true;
  return *out = pick_at_boundary(ending ? ending->type : 0, inside->type, end_out, in_out), true;
}

}  // namespace ttst::stfw::engine_detail
