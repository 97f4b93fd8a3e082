// engine_values.cc — what a pointer member holds when it is not simply a pointer to
// live state: tagged unions (TTST_TAGGED: the type named by a sibling field's value,
// or an integer), *mixed* members (a pointer member that holds an integer in some
// object: its live-looking values are ambiguous and refused unless TTST_TAGGED
// covers it), and objects typed by the return type of the function that allocated
// them. See stfw/README.md, "Values in pointer members".
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"
#include "stfw/xfer/inheritance.h"

namespace ttst::stfw::engine_detail {

// The value of struct member `m` (an integer, enum, bool or bitfield) in the
// struct at struct_src, sign-extended when its type is signed.
int64_t Engine::tag_value(const ImageMember& m, const uint8_t* struct_src) const {
  const ImageType& ty = src_meta().type(src_meta().strip(m.type));
  uint64_t bits = m.bit_size ? m.bit_size : (ty.size < 8 ? ty.size : 8) * 8;
  uint64_t pos = m.offset * 8 + m.bit_offset, v = 0;
  for (uint64_t i = 0; i < bits; ++i) v |= uint64_t((struct_src[(pos + i) / 8] >> ((pos + i) % 8)) & 1) << i;
  bool is_signed = ty.kind == kEnum || (ty.kind == kBase && (ty.encoding == eSigned || ty.encoding == eSChar));
  if (is_signed && bits < 64 && ((v >> (bits - 1)) & 1)) v |= ~0ull << bits;
  return int64_t(v);
}

// TTST_TAGGED (tagged_unions.h): member src_index of src_type holds what its
// sibling tag says: an integer (its bits carried, counted `integers=`) or a T *
// (walked as one: the object is typed T, the pointer translated). A tag value the
// annotation does not list: the member's default walk, but a live-looking value
// is refused (it may be an integer). True when handled here.
bool Engine::tagged_member(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                           const uint8_t* struct_src, uint8_t* struct_dst) {
  const TaggedEntry* e = annotations_.tagged().find(src_newer(), src_type, src_index);
  if (!e) return false;
  const ImageType& sty = src_meta().type(src_type);
  const ImageMember& sm = src_meta().members(sty)[src_index];
  const ImageMember& dm = dst_meta().members(dst_meta().type(dst_type))[dst_index];
  if (dst_meta().type(dst_meta().strip(dm.type)).kind != kPointer) return false;  // a kind change: the walk refuses
  const uint8_t* src = struct_src + sm.offset;
  uint8_t* dst = struct_dst ? struct_dst + dm.offset : nullptr;
  int64_t tag = tag_value(src_meta().members(sty)[e->tag], struct_src);
  const TaggedCase* c = annotations_.tagged().case_of(*e, tag);
  uint64_t v = load_uint(src, 8);
  if (!c || c->pointer_type == kTaggedUnknownType) {
    if (mode_ == kWrite && looks_like_pointer(v)) {
      fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
      message_.text(" = ").hex(v).text(" looks like a pointer, but its tag ");
      message_.text(src_meta().str(src_meta().members(sty)[e->tag].name)).text(" = ").signed_number(tag);
      message_.text(c ? " names a type this version does not have" : " is not listed")
          .text(" in TTST_TAGGED(")
          .text(e->text)
          .text(", ...): add the value to the annotation");
      advise_tagged(src_type, src_index);
      return true;
    }
    walk(sm.type, dm.type, src, dst);
    return true;
  }
  if (c->pointer_type == kTaggedInteger) {
    if (mode_ == kWrite) {
      copy(dst, src, 8), result_.bytes += 8;
      if (v) result_.integers++;
    } else if (mode_ == kZero) {
      zero(dst, 8);
    }
    return true;
  }
  uint32_t dp = counterpart(c->pointer_type);
  if (!dp || dst_meta().type(dp).kind != kPointer) {
    walk(sm.type, dm.type, src, dst);  // no counterpart type in the destination: the member's own walk
    return true;
  }
  pointer(src_meta().type(c->pointer_type), dst_meta().type(dp), src, dst);
  return true;
}

// In no mapping of the source at all (and not NULL, a small sentinel or above the
// user address space): no address P could use, so an integer.
bool Engine::in_no_mapping(uint64_t v) const {
  if (v < 4096 || v >= (1ull << 56) || !config_.src_mappings) return false;
  if (v >= config_.src_heap_lo && v < config_.src_heap_hi) return false;
  return !in_source_mapping(v);
}

// Typing (forward): a data pointer member (not TTST_TAGGED) of src_type that
// holds an integer here is *mixed*: remembered with this object as the example.
void Engine::note_member_value(uint32_t src_type, uint32_t src_index, const uint8_t* value) {
  // Forward only: backward, F's copies of P's dead pointers lie in no mapping of F
  // and would look like integers; and a value the backward run translates wrongly
  // shows up in the diff (R != P), while the forward run has nothing after it.
  if (config_.backward) return;
  // An element of a TTST_FREE_LIST is no evidence: its members are stale (a closed
  // connection's pointers into freed, maybe unmapped memory), not integers.
  if (free_element_) return;
  uint64_t v = load_uint(value, 8);
  if (v < 4096 || base_descriptor(v) || !in_no_mapping(v)) return;
  // A dangling pointer into memory unmapped since (or of an earlier process, carried
  // by an earlier update), or stale text, is no integer either (engine_dead_values.cc).
  if (no_integer_evidence(v)) return;
  for (uint32_t i = 0; i < mixed_count_; ++i)
    if (mixed_[i].type == src_type && mixed_[i].index == src_index) return;
  if (mixed_count_ == kMaxMixed) return;  // the first ones are refused by name already
  mixed_[mixed_count_++] = MixedMember{src_type, src_index, current_, v};
}

// Writing: a live-looking value in a mixed member may be an integer a client chose
// that equals a live address (translating it would round-trip exactly: R == P,
// while F held a changed integer): refused naming the member. True if refused.
bool Engine::refuse_mixed(uint32_t src_type, uint32_t src_index, const uint8_t* value) {
  uint64_t v = load_uint(value, 8);
  for (uint32_t i = 0; i < mixed_count_; ++i) {
    const MixedMember& m = mixed_[i];
    if (m.type != src_type || m.index != src_index || !looks_like_pointer(v)) continue;
    const ImageType& sty = src_meta().type(src_type);
    const char* member = src_meta().str(src_meta().members(sty)[src_index].name);
    fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    message_.text(" = ").hex(v).text(" looks like a pointer, but ").text(type_name(src_meta(), src_type));
    message_.text(".").text(member).text(" holds integers in other objects (");
    if (m.object < object_count_) describe(message_, objects_[m.object]);
    message_.text(" holds ").number(m.value).text(" = ").hex(m.value);
    message_.text(", in no mapping), so this value may be an integer equal to a live address: declare what the ")
        .text("member holds by a sibling field, TTST_TAGGED(")
        .text(sty.kind == kUnion ? "union " : "struct ")
        .text(type_name(src_meta(), src_type))
        .text(".")
        .text(member)
        .text(", ");
    name_tag_candidates(sty, src_index);
    message_.text(", <value>:int, <value>:<type>, ...) (ttst.h)");
    advise_tagged(src_type, src_index);  // the line with the tag values seen (refusal_advice.cc)
    return true;
  }
  return false;
}

// walk_struct's hook for a member with no rule: typing notes mixed members,
// writing refuses live-looking values in them. True if refused.
bool Engine::pointer_member_value(uint32_t src_type, uint32_t src_index, const uint8_t* src) {
  if (mode_ == kZero || (mode_ == kWrite && mixed_count_ == 0)) return false;
  if (free_element_) return false;  // a free list's stale bytes: no evidence, carried quietly (engine_free.cc)
  const ImageMember& sm = src_meta().members(src_meta().type(src_type))[src_index];
  const ImageType& mty = src_meta().type(src_meta().strip(sm.type));
  if (mty.kind != kPointer || src_meta().type(src_meta().strip(mty.target)).kind == kFunc) return false;
  if (mode_ == kType) return note_member_value(src_type, src_index, src + sm.offset), false;
  return refuse_mixed(src_type, src_index, src + sm.offset);
}

// walk()'s hook for a data pointer that is no struct member itself: an element of
// a pointer array (an array member's, a global's, a heap array's) or a pointer
// global. It is keyed like a member: the array member holding it, else the global
// (kMixedGlobal, its index), else the heap arrays of its pointer type
// (kMixedElements). Free slots and frame locals are no evidence. True if refused.
bool Engine::pointer_element_value(uint32_t src_type, const uint8_t* src) {
  if (mode_ == kZero || (mode_ == kWrite && mixed_count_ == 0) || free_element_ || free_pointer_ || frame_local_walk_)
    return false;
  if (path_depth_ > 0 && path_[path_depth_ - 1].name) return false;  // a member: pointer_member_value
  if (src_meta().type(src_meta().strip(src_meta().type(src_type).target)).kind == kFunc) return false;
  uint32_t type = 0, index = 0;
  if (!current_member(&type, &index)) {
    if (current_ >= object_count_) return false;
    const Object& o = objects_[current_];
    if (o.flags & kGlobal)
      type = kMixedGlobal, index = o.src_global;
    else
      type = src_type, index = kMixedElements;
  }
  if (mode_ == kType) return note_member_value(type, index, src), false;
  if (!looks_like_pointer(load_uint(src, 8))) return false;
  for (uint32_t i = 0; i < mixed_count_; ++i)
    if (mixed_[i].type == type && mixed_[i].index == index) return refuse_mixed_element(mixed_[i], load_uint(src, 8));
  return false;
}

// A live-looking element of a pointer array (or a pointer global) whose other
// elements hold integers: no sibling field can tell them apart, so the fix is
// transfer code for the struct or global holding it.
bool Engine::refuse_mixed_element(const MixedMember& m, uint64_t v) {
  fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  message_.text(" = ").hex(v).text(" looks like a pointer, but ");
  const uint32_t pointee = m.index == kMixedElements ? src_meta().strip(src_meta().type(m.type).target) : 0;
  if (m.type == kMixedGlobal)
    message_.text("the global ").text(src_meta().str(src_meta().global_at(m.index).id));
  else if (m.index == kMixedElements)
    message_.text("the heap arrays of ").text(pointee ? type_name(src_meta(), pointee) : "void").text(" *");
  else
    spell_member(message_, m.type, m.index);
  message_.text(" holds integers in other elements (");
  if (m.object < object_count_) describe(message_, objects_[m.object]);
  message_.text(" holds ").number(m.value).text(" = ").hex(m.value);
  message_.text(", in no mapping), so this value may be an integer equal to a live address: needs transfer code ")
      .text("that knows which elements hold pointers");
  uint32_t holder = 0, member = 0;
  if (m.type == kMixedGlobal)
    advise_plugin_global(src_meta().str(src_meta().global_at(m.index).id));
  else if (m.index != kMixedElements)
    advise_plugin(m.type);
  else if (current_ < object_count_ && parent_member(current_, &holder, &member))
    advise_plugin(holder);  // the struct whose member points to the array
  else if (current_ < heap_end_ && parents_ && parents_[current_].parent < object_count_ &&
           (objects_[parents_[current_].parent].flags & kGlobal))  // the global pointing to it
    advise_plugin_global(src_meta().str(src_meta().global_at(objects_[parents_[current_].parent].src_global).id));
  return true;
}

// The members of `sty` that could be the tag of member `except` (integers, enums,
// bitfields), "a|b", for the refusal's copy-pasteable line; "<sibling>" if none.
void Engine::name_tag_candidates(const ImageType& sty, uint32_t except) {
  bool any = false;
  for (uint32_t i = 0; i < src_meta().member_count(sty); ++i) {
    const ImageMember& m = src_meta().members(sty)[i];
    uint8_t kind = src_meta().type(src_meta().strip(m.type)).kind;
    if (i == except || (kind != kBase && kind != kEnum)) continue;
    message_.text(any ? "|" : "").text(src_meta().str(m.name));
    any = true;
  }
  if (!any) message_.text("<sibling>");
}

bool Engine::mixed_type(uint32_t src_type) const {
  for (uint32_t i = 0; i < mixed_count_; ++i)
    if (mixed_[i].type == src_type) return true;
  return false;
}

bool Engine::is_mixed(uint32_t type, uint32_t index) const {
  for (uint32_t i = 0; i < mixed_count_; ++i)
    if (mixed_[i].type == type && mixed_[i].index == index) return true;
  return false;
}

// After typing: the compiled plans of types holding a mixed member are dropped
// (annotated() now says so), so every value of such a member passes walk_struct.
void Engine::settle_mixed_members() {
  if (mixed_count_ == 0) return;
  for (CompiledSlot& slot : compiled_plans_) slot.state = 0, slot.plan = nullptr;
  for (SitePlan& slot : site_plans_) slot = SitePlan{};
  forget_pair_facts();
}

// The type a site's objects have because the function holding the site returns a
// T * (T a struct or union) and allocates nothing else: `struct list *list_new()`.
// 0 when unknown. Sites inside allocation wrappers never get here (wrapper_site).
uint32_t Engine::returned_type(const dwarfmeta::image::ImageAllocSite& site) {
  ReturnSlot& slot = returned_memo_[(site.return_addr >> 2) & 255];
  if (slot.site == site.return_addr + 1) return slot.type;
  uint32_t result = 0;
  const uint32_t pointee = site_returned_pointee(src_meta(), site);  // inheritance.h: the one T *f() rule
  if (pointee) {
    uint32_t sites_in_function = 0;
    for (uint32_t k = 0; k < src_meta().site_count() && sites_in_function < 2; ++k)
      sites_in_function += streq(src_meta().str(src_meta().site_at(k).caller), src_meta().str(site.caller));
    if (sites_in_function == 1) result = pointee;
  }
  slot.site = site.return_addr + 1, slot.type = result;
  return result;
}

}  // namespace ttst::stfw::engine_detail
