// engine_transform.cc — the walk (Figure 4): members by name, arrays, scalars widened or
// narrowed, enums by name, bitfields, unions, annotated members.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

void Engine::fail_at_current(int status, const char* what) {
  fail(status, what);
  describe_current();
  describe_path(message_);
  if (current_ < object_count_ && !(objects_[current_].flags & kGlobal)) refused_at_ = current_;  // finish(): its path
}

void Engine::violation(const char* what) {
  fail_at_current(TTST_STFW_STATUS_INVARIANT, "invariant: ");
  message_.text(" ").text(what);
  uint32_t type = 0, index = 0;  // the fix: transfer code for the struct (or global) holding the value
  if (current_member(&type, &index))
    advise_plugin(type);
  else if (current_ < object_count_ && (objects_[current_].flags & kGlobal))
    advise_plugin_global(src_meta().str(src_meta().global_at(objects_[current_].src_global).id));
}

void Engine::refuse_too_deep(const char* what) {
  fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "too deep: ");
  message_.text(" ")
      .text(what)
      .text(" more than ")
      .number(kMaxNesting)
      .text(" levels deep, further than the transfer follows: needs transfer code");
  if (current_ < object_count_ && objects_[current_].src_type) advise_plugin(objects_[current_].src_type);
}

// The walk (Figure 4): one value of the source type into the destination type,
// in the current mode (typing, zeroing or writing).
void Engine::walk(uint32_t src_type, uint32_t dst_type, const uint8_t* src, uint8_t* dst) {
  if (failed()) return;
  if (mode_ == kWrite && !free_element_ && !frame_local_walk_ && is_intptr(src_meta(), src_type) && looks_like_pointer(load_uint(src, 8))) {
    fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    message_.text(" = ")
        .hex(load_uint(src, 8))
        .text(" is a ")
        .text(type_name(src_meta(), src_type))
        .text(" that looks like a pointer: annotate it TTST_PXFER (translate) or TTST_IXFER (copy as is)");
    advise_current("PXFER"), advise_current("IXFER");
    return;
  }
  src_type = src_meta().strip(src_type), dst_type = dst_meta().strip(dst_type);
  const ImageType& src_ty = src_meta().type(src_type);
  const ImageType& dst_ty = dst_meta().type(dst_type);
  if (mode_ == kType) {
    if (!has_pointer(src_type)) return;
  } else if (same_flat(src_type, dst_type)) {
    if (mode_ == kWrite && src_ty.kind == kArray && refuse_char_array_pointer(src_type, src)) return;  // engine_data_words.cc
    if (mode_ == kWrite)
      copy(dst, src, src_ty.size), result_.bytes += src_ty.size;
    else
      zero(dst, src_ty.size);
    return;
  }
  if (const int lock = lock_kind(src_meta(), src_type); lock && lock == lock_kind(dst_meta(), dst_type))
    return transfer_lock(lock, src, dst, src_ty.size);  // pthread locks (engine_locks.cc)
  if ((src_ty.kind == kUnion || dst_ty.kind == kUnion) && frame_local_walk_) {  // frame_roots.cc
    if (mode_ == kWrite && src_ty.size == dst_ty.size) copy(dst, src, src_ty.size);
    return;
  }
  if (src_ty.kind == kUnion || dst_ty.kind == kUnion) return walk_union(src_type, dst_type, src, dst);
  if (src_ty.kind != dst_ty.kind && !(src_ty.kind == kEnum && dst_ty.kind == kBase) &&
      !(src_ty.kind == kBase && dst_ty.kind == kEnum))
    return refuse_kind_change(src_type, dst_type);
  switch (src_ty.kind) {
    case kStruct:
      return walk_struct(src_type, dst_type, src, dst);
    case kArray:
      return walk_array(src_ty, dst_ty, src, dst);
    case kPointer:
      if (pointer_element_value(src_type, src)) return;  // mixed arrays and globals (engine_values.cc)
      return pointer(src_ty, dst_ty, src, dst);
    case kBase:
    case kEnum:
      return scalar(src_type, dst_type, src, dst);
    default:
      if (mode_ == kWrite && src_ty.size == dst_ty.size)
        copy(dst, src, src_ty.size), result_.bytes += src_ty.size;
      else if (mode_ == kZero && src_ty.size == dst_ty.size)
        zero(dst, src_ty.size);
      return;
  }
}

// Unions as bytes (min of both sizes), unless a member that holds a pointer holds
// one now: refused (AMBIGUOUS), the user annotates the union.
void Engine::walk_union(uint32_t src_type, uint32_t dst_type, const uint8_t* src, uint8_t* dst) {
  const ImageType& src_ty = src_meta().type(src_type);
  const ImageType& dst_ty = dst_meta().type(dst_type);
  if (src_ty.kind != dst_ty.kind) return refuse_kind_change(src_type, dst_type);
  if (mode_ == kType) return;
  if (mode_ == kWrite && has_pointer(src_type) && !free_element_)  // (a free element's bytes: carried)
    for (uint32_t i = 0; i < src_meta().member_count(src_ty); ++i) {
      const ImageMember& m = src_meta().members(src_ty)[i];
      if (!has_pointer(m.type) || m.offset + 8 > src_ty.size || !looks_like_pointer(load_uint(src + m.offset, 8)))
        continue;
      fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
      message_.text(" is a union whose member ")
          .text(src_meta().str(m.name))
          .text(" = ")
          .hex(load_uint(src + m.offset, 8))
          .text(" looks like a pointer: annotate the union TTST_PXFER (translate) or TTST_IXFER (copy as is)");
      advise_current("PXFER"), advise_current("IXFER");
      return;
    }
  uint64_t n = src_ty.size < dst_ty.size ? src_ty.size : dst_ty.size;
  if (mode_ == kWrite)
    copy(dst, src, n), result_.bytes += n;
  else
    zero(dst, n);
}

// Members matched by name (member_plan); annotated members by their rule,
// bitfields bit by bit, the rest walked.
void Engine::walk_struct(uint32_t src_type, uint32_t dst_type, const uint8_t* src, uint8_t* dst) {
  result_.transforms++;
  const ImageType& src_ty = src_meta().type(src_type);
  const ImageType& dst_ty = dst_meta().type(dst_type);
  const uint32_t* pairs = member_plan(src_type, dst_type, src_ty, dst_ty);
  if (!pairs) return;
  if (pairs[0] > 0 && path_depth_ >= kMaxNesting) return refuse_too_deep("holds members nested");
  const ImageMember* src_members = src_meta().members(src_ty);
  const ImageMember* dst_members = dst_meta().members(dst_ty);
  int32_t library = library_embedded_count_ ? embedded_adapter(src_type) : -1;  // libevent's struct event...
  const bool was_free_element = free_element_;  // TTST_FREE_LIST: an element on a free list (engine_free.cc)
  if (annotations_.has_free() && !free_element_) free_element_ = free_element_at(src_type, dst_type, src);
  for (uint32_t i = 0; i < pairs[0] && !failed(); ++i) {
    const ImageMember& src_member = src_members[pairs[1 + 2 * i]];
    const ImageMember& dst_member = dst_members[pairs[2 + 2 * i]];
    path_[path_depth_].name = dst_meta().str(dst_member.name), path_[path_depth_].index = 0;
    path_[path_depth_].holder_type = src_type, path_[path_depth_].holder_index = pairs[1 + 2 * i];
    ++path_depth_;
    // Annotated, in either version? (Else every question below answers "no": asked
    // once, not a dozen times, for each member of every item of a slab page.)
    const bool named = annotations_.member_named(src_newer(), src_type, pairs[1 + 2 * i]) ||
                       annotations_.member_named(!src_newer(), dst_type, pairs[2 + 2 * i]);
    Rule rule = named ? member_rule(src_type, pairs[1 + 2 * i], dst_type, pairs[2 + 2 * i]) : kRuleDefault;
    if (named && mode_ == kType && annotations_.has_containers() && !free_element_)  // a holder of carved containers
      declare_in_member(src_type, pairs[1 + 2 * i], dst_type, pairs[2 + 2 * i], src);
    if (named && mode_ == kType && annotations_.has_used() && !free_element_)  // TTST_USED_N: the array's used length
      limit_used(src_type, pairs[1 + 2 * i], dst_type, pairs[2 + 2 * i], src);
    if (named && mode_ == kType && annotations_.has_free() && !free_element_)  // FREE_SLOTS_N / FREE_LIST holders
      declare_free(src_type, pairs[1 + 2 * i], dst_type, pairs[2 + 2 * i], src);
    int64_t free_arg = -1;
    const bool was_free_pointer = free_pointer_;  // TTST_FREE_SLOTS(holder): it may point to free memory
    if (named && annotations_.has_free()) {
      Annotations::FreeForm form = free_form(src_type, pairs[1 + 2 * i], dst_type, pairs[2 + 2 * i], &free_arg);
      if (form == Annotations::kFreePointer || form == Annotations::kFreeRange) free_pointer_ = true;
    }
    const bool was_container_ref = container_ref_;  // a holder of containers: to their bases
    if (named && annotations_.has_containers() &&
        holds_containers(src_type, pairs[1 + 2 * i], dst_type, pairs[2 + 2 * i]))
      container_ref_ = true;
    if (rule != kRuleDefault)
      transfer_annotated(rule, src + src_member.offset, type_size(src_meta(), src_member.type),
                         dst ? dst + dst_member.offset : nullptr, type_size(dst_meta(), dst_member.type));
    else if (src_member.bit_size || dst_member.bit_size)
      bitfield(src_member, dst_member, src, dst);
    else if (annotations_.tagged().any() &&  // TTST_TAGGED (engine_values.cc)
             tagged_member(src_type, pairs[1 + 2 * i], dst_type, pairs[2 + 2 * i], src, dst))
      ;
    else if (named && annotations_.has_pointees() &&
             declared_pointer(src_type, pairs[1 + 2 * i], dst_type, pairs[2 + 2 * i], src + src_member.offset,
                              dst ? dst + dst_member.offset : nullptr))
      ;
    else if (!pointer_member_value(src_type, pairs[1 + 2 * i], src))  // mixed members (engine_values.cc)
      walk(src_member.type, dst_member.type, src + src_member.offset, dst ? dst + dst_member.offset : nullptr);
    free_pointer_ = was_free_pointer, container_ref_ = was_container_ref;
    --path_depth_;
  }
  free_element_ = was_free_element;
  if (library >= 0) library_written(library, src_type, dst_type, src, dst);
}

// TTST_USED_N(holder, count_member), met while typing: the heap array the holder
// points to (at its base) has `count_member` elements in use, the sibling read in
// the source's layout; several holders: the largest count. Set before the array is
// walked: pointer() only queues it, and the walk of this struct comes first. An
// array typed before (reached first by another pointer) was typed from its whole
// extent: a stale pointer can then only add a type conflict (refused, never unsafe);
// its writing walks the used elements only.
void Engine::limit_used(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                        const uint8_t* struct_src) {
  const ImageType& sty = src_meta().type(src_type);
  int64_t used = annotations_.member_used(src_newer(), src_type, src_index);
  if (used < 0) {  // the other version's annotation: its sibling, by name, in the source's type
    const ImageType& dty = dst_meta().type(dst_type);
    int64_t dst_used = annotations_.member_used(!src_newer(), dst_type, dst_index);
    const ImageMember* m = dst_used < 0 ? nullptr : src_meta().member(sty, member_name(dst_meta(), dty, dst_used));
    if (!m) return;
    used = m - src_meta().members(sty);
  }
  const ImageMember& count = src_meta().members(sty)[used];
  const ImageMember& holder = src_meta().members(sty)[src_index];
  uint64_t n = load_uint(struct_src + count.offset, type_size(src_meta(), count.type));
  uint64_t p = load_uint(struct_src + holder.offset, 8);
  // A char pointer's count is its text's length (engine_text_runs.cc): it says which
  // bytes are text, not that a block's other bytes are unused (a request line at the
  // start of a header buffer): no heap block is shortened by it.
  const ImageType& holder_ty = src_meta().type(src_meta().strip(holder.type));
  if (holder_ty.kind == kPointer && char_pointee(src_meta().strip(holder_ty.target))) {
    if (annotations_.has_containers()) note_text_length(p, n, src_meta().strip(holder_ty.target));
    return;
  }
  ttst_heap_desc* desc = p ? base_descriptor(p) : nullptr;
  if (!desc || n >= 0xfffffffeull) return;
  Object& o = objects_[reinterpret_cast<uint64_t>(desc->prev) & 0xffffffffu];
  if (o.addr != p || (o.flags & (kGlobal | kFromLibrary | kContainer | kCarved))) return;
  if (o.used_plus1 == 0 || o.used_plus1 < n + 1) o.used_plus1 = uint32_t(n + 1);
}

// TTST_POINTS_TO(holder, T): a `void *` / `char *` member that holds a T * is
// walked as a T * (typing the object, carving it out of a container); the other
// version's type is its own annotation's, else the counterpart of this one's.
bool Engine::declared_pointer(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                              const uint8_t* src, uint8_t* dst) {
  uint32_t sp = annotations_.member_pointee(src_newer(), src_type, src_index);
  uint32_t dp = annotations_.member_pointee(!src_newer(), dst_type, dst_index);
  if (!sp && !dp) return false;
  const ImageMember& dm = dst_meta().members(dst_meta().type(dst_type))[dst_index];
  const ImageMember& sm = src_meta().members(src_meta().type(src_type))[src_index];
  // The members' own pointer types, aimed at the declared pointees.
  ImageType src_pointer = src_meta().type(src_meta().strip(sm.type));
  ImageType dst_pointer = dst_meta().type(dst_meta().strip(dm.type));
  if (dst_pointer.kind != kPointer || src_pointer.kind != kPointer) return false;  // the walk decides
  if (sp) src_pointer.target = sp;
  if (dp) dst_pointer.target = dp;
  else if (!(dst_pointer.target = counterpart(src_meta().strip(sp)))) return false;
  pointer(src_pointer, dst_pointer, src, dst);
  return true;
}

// Element by element: grown, the new tail keeps its value; truncated, the tail is dropped.
void Engine::walk_array(const ImageType& src_ty, const ImageType& dst_ty, const uint8_t* src, uint8_t* dst) {
  uint64_t src_count = src_ty.count == dwarfmeta::image::kFlexibleCount ? 0 : src_ty.count;
  uint64_t dst_count = dst_ty.count == dwarfmeta::image::kFlexibleCount ? 0 : dst_ty.count;
  uint64_t src_elem_size = type_size(src_meta(), src_ty.target);
  uint64_t dst_elem_size = type_size(dst_meta(), dst_ty.target);
  uint64_t n = src_count < dst_count ? src_count : dst_count;
  if (mode_ == kWrite && src_count != dst_count && refuse_resized_pointer_array(src_ty, dst_ty)) return;
  if (n > 0 && path_depth_ >= kMaxNesting) return refuse_too_deep("holds array elements nested");
  for (uint64_t k = 0; k < n && !failed(); ++k) {
    path_[path_depth_].name = nullptr, path_[path_depth_].index = k;
    ++path_depth_;
    walk(src_ty.target, dst_ty.target, src + k * src_elem_size, dst ? dst + k * dst_elem_size : nullptr);
    --path_depth_;
  }
}

// Members matched by name (added members keep the destination's value, dropped
// ones vanish), computed once per (source type, destination type):
// [n, src index, dst index, ...].
const uint32_t* Engine::member_plan(uint32_t src_type, uint32_t dst_type, const ImageType& src_ty,
                                    const ImageType& dst_ty) {
  uint64_t key = (uint64_t(src_type) << 32) | dst_type;
  uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> 50;  // 16384 slots
  for (uint64_t k = 0; k < 16384; ++k) {
    PlanSlot& slot = member_plans_[(h + k) & 16383];
    if (slot.plan == nullptr) {
      uint32_t n = dst_meta().member_count(dst_ty);
      uint32_t* pairs = alloc<uint32_t>(1 + 2 * uint64_t(n));
      if (!pairs) return nullptr;
      pairs[0] = 0;
      for (uint32_t i = 0; i < n; ++i) {
        const char* name = dst_meta().str(dst_meta().members(dst_ty)[i].name);
        int64_t from = -1;
        for (uint32_t j = 0; j < src_meta().member_count(src_ty) && from < 0; ++j)
          if (streq(src_meta().str(src_meta().members(src_ty)[j].name), name)) from = j;
        if (from < 0 && !config_.backward) {  // RENAMED_FROM on v2's member: v1 called it...
          const char* old = annotations_.older_member_name(dst_type, i);
          for (uint32_t j = 0; old && j < src_meta().member_count(src_ty) && from < 0; ++j)
            if (streq(src_meta().str(src_meta().members(src_ty)[j].name), old)) from = j;
        } else if (from < 0) {  // backward: the v2 member renamed from this v1 name
          from = annotations_.newer_member_renamed_from(src_type, name);
        }
        if (from >= 0) pairs[1 + 2 * pairs[0]] = uint32_t(from), pairs[2 + 2 * pairs[0]] = i, pairs[0]++;
      }
      if (src_ty.kind == kStruct && dst_ty.kind == kStruct && suspected_rename(src_type, dst_type, pairs))
        return nullptr;  // refused (not cached: the failure stands)
      slot.key = key, slot.plan = pairs;
      return pairs;
    }
    if (slot.key == key) return slot.plan;
  }
  fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: more than 16384 pairs of struct types");
  return nullptr;
}

// The destination's run-time site for a source site (same site ID), cached.
uint64_t Engine::dst_site(uint64_t src_site) {
  SiteSlot& slot = dst_site_memo_[(src_site >> 2) & 1023];
  if (slot.src_site == src_site && slot.src_site != 0) return slot.dst_site;
  uint64_t site = 0;
  const auto* site_info = src_meta().alloc_site(src_site - config_.src_bias);
  if (site_info)
    for (uint32_t k = 0; k < dst_meta().site_count(); ++k)
      if (streq(dst_meta().str(dst_meta().site_at(k).id), src_meta().str(site_info->id))) {
        site = dst_meta().site_at(k).return_addr + config_.dst_bias;
        break;
      }
  slot.src_site = src_site, slot.dst_site = site;
  return site;
}

// A global or member the user annotated (annotations.h).
void Engine::transfer_annotated(Rule rule, const uint8_t* src, uint64_t src_size, uint8_t* dst, uint64_t dst_size) {
  if (rule == kRuleSkip || mode_ == kType) return;  // NO_TRANSFER: the destination keeps its value
  uint64_t n = src_size < dst_size ? src_size : dst_size;
  if (mode_ == kZero) return zero(dst, n);
  copy(dst, src, n), result_.bytes += n;
  if (rule == kRuleBytes) return;
  if (n < 8) {
    fail_at_current(TTST_STFW_STATUS_BAD_INPUT, "bad input: ");
    message_.text(" is annotated TTST_PXFER but is smaller than a pointer: fix the annotation");
    return;
  }
  uint64_t out = 0;
  if (translate(load_uint(src, 8), &out)) store_uint(dst, 8, out), result_.pointers++;
}

// Does this word hold the address of something the transfer moves (an object of
// the state, a function, a string literal)?
bool Engine::looks_like_pointer(uint64_t v) {
  if (v < 4096 || v >= 0xfffffffffffff000ull) return false;
  if (object_holding(v) >= 0) return true;
  const auto* function = src_meta().function_containing(v - config_.src_bias);
  return (function && function->low == v - config_.src_bias) || src_meta().in_string_ranges(v - config_.src_bias) ||
         library_holding(v);
}

const LibRange* Engine::library_holding(uint64_t v) const {
  for (uint64_t k = 0; k < config_.lib_count; ++k)
    if (v >= config_.libs[k].src_start && v < config_.libs[k].src_end) return &config_.libs[k];
  return nullptr;
}

void Engine::refuse_kind_change(uint32_t src_type, uint32_t dst_type) {
  fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  message_.text(" changed from ")
      .text(type_name(src_meta(), src_type))
      .text(" to ")
      .text(type_name(dst_meta(), dst_type))
      .text(": needs transfer code");
}

void Engine::bitfield(const ImageMember& src_member, const ImageMember& dst_member, const uint8_t* src, uint8_t* dst) {
  if (mode_ == kType) return;
  uint64_t src_bits = src_member.bit_size ? src_member.bit_size : type_size(src_meta(), src_member.type) * 8;
  uint64_t dst_bits = dst_member.bit_size ? dst_member.bit_size : type_size(dst_meta(), dst_member.type) * 8;
  uint64_t src_pos = src_member.offset * 8 + src_member.bit_offset,
           dst_pos = dst_member.offset * 8 + dst_member.bit_offset;
  const ImageType& src_ty = src_meta().type(src_meta().strip(src_member.type));
  const ImageType& dst_ty = dst_meta().type(dst_meta().strip(dst_member.type));
  bool src_signed = src_ty.kind == kBase && (src_ty.encoding == eSigned || src_ty.encoding == eSChar);
  bool dst_signed = dst_ty.kind == kBase && (dst_ty.encoding == eSigned || dst_ty.encoding == eSChar);
  uint64_t v = 0;
  for (uint64_t i = 0; i < src_bits; ++i) v |= uint64_t((src[(src_pos + i) / 8] >> ((src_pos + i) % 8)) & 1) << i;
  int64_t value =
      (src_signed && src_bits < 64 && (v >> (src_bits - 1)) & 1) ? int64_t(v | (~0ull << src_bits)) : int64_t(v);
  if (mode_ == kWrite && !fits(value, src_signed, dst_bits, dst_signed)) {
    fail_at_current(TTST_STFW_STATUS_INVARIANT, "invariant: ");
    message_.text(" = ")
        .signed_number(value)
        .text(" does not fit in a ")
        .number(dst_bits)
        .text("-bit field (v2's type)");
    return;
  }
  for (uint64_t i = 0; i < dst_bits; ++i) {
    uint8_t& byte = dst[(dst_pos + i) / 8];
    uint8_t bit = uint8_t(1u << ((dst_pos + i) % 8));
    bool on = mode_ == kWrite && (i < 64 ? (uint64_t(value) >> i) & 1 : value < 0);
    byte = on ? (byte | bit) : (byte & ~bit);
  }
  result_.bytes += (dst_bits + 7) / 8;
}

bool Engine::fits(int64_t v, bool v_signed, uint64_t bits, bool dst_signed) {
  if (!v_signed && v < 0) {  // an unsigned value above INT64_MAX
    return !dst_signed && bits >= 64;
  }
  if (dst_signed) return bits >= 64 || (v >= -(int64_t(1) << (bits - 1)) && v < (int64_t(1) << (bits - 1)));
  return v >= 0 && (bits >= 64 || uint64_t(v) < (uint64_t(1) << bits));
}

void Engine::scalar(uint32_t src_type, uint32_t dst_type, const uint8_t* src, uint8_t* dst) {
  if (mode_ == kType) return;
  const ImageType& src_ty = src_meta().type(src_type);
  const ImageType& dst_ty = dst_meta().type(dst_type);
  if (mode_ == kZero) return zero(dst, dst_ty.size);
  result_.bytes += dst_ty.size;
  bool src_float = src_ty.kind == kBase && src_ty.encoding == eFloat,
       dst_float = dst_ty.kind == kBase && dst_ty.encoding == eFloat;
  if (src_float || dst_float) {
    if (src_float != dst_float) return refuse_kind_change(src_type, dst_type);
    if (src_ty.size == dst_ty.size) return copy(dst, src, src_ty.size);
    if (src_ty.size == 4 && dst_ty.size == 8) {
      float f;
      __builtin_memcpy(&f, src, 4);
      double x = f;
      return copy(dst, &x, 8);
    }
    if (src_ty.size == 8 && dst_ty.size == 4) {
      double x;
      __builtin_memcpy(&x, src, 8);
      float f = float(x);
      if (double(f) != x && x == x) return violation("loses precision as float (v2's type)");
      return copy(dst, &f, 4);
    }
    return refuse_kind_change(src_type, dst_type);
  }
  // Integers, enums, bool.
  uint64_t raw = load_uint(src, src_ty.size);
  bool src_signed = src_ty.kind == kEnum || src_ty.encoding == eSigned || src_ty.encoding == eSChar;
  if (src_ty.kind == kEnum) {
    const ImageType& underlying = src_meta().type(src_meta().strip(src_ty.target));
    if (underlying.kind == kBase && (underlying.encoding == eUnsigned || underlying.encoding == eUChar))
      src_signed = false;
  }
  int64_t v = (src_signed && src_ty.size < 8 && (raw >> (src_ty.size * 8 - 1)) & 1)
                  ? int64_t(raw | (~0ull << (src_ty.size * 8)))
                  : int64_t(raw);
  if (src_ty.kind == kEnum && dst_ty.kind == kEnum) {
    const char* name = nullptr;
    for (uint32_t i = 0; i < src_meta().enumerator_count(src_ty); ++i)
      if (src_meta().enumerators(src_ty)[i].value == v) name = src_meta().str(src_meta().enumerators(src_ty)[i].name);
    if (name) {
      bool found = false;
      for (uint32_t i = 0; i < dst_meta().enumerator_count(dst_ty) && !found; ++i)
        if (streq(dst_meta().str(dst_meta().enumerators(dst_ty)[i].name), name))
          v = dst_meta().enumerators(dst_ty)[i].value, found = true;
      if (!found) {
        fail_at_current(TTST_STFW_STATUS_INVARIANT, "invariant: ");
        message_.text(" = ").text(name).text(": enumerator not in v2's ").text(type_name(dst_meta(), dst_type));
        return;
      }
      src_signed = true;
    }
  }
  bool dst_signed = dst_ty.kind == kEnum || dst_ty.encoding == eSigned || dst_ty.encoding == eSChar;
  if (dst_ty.kind == kBase && dst_ty.encoding == eBool) {
    store_uint(dst, dst_ty.size, v != 0);
    return;
  }
  if (!fits(v, src_signed, dst_ty.size * 8, dst_signed) && !(dst_ty.kind == kEnum)) {
    fail_at_current(TTST_STFW_STATUS_INVARIANT, "invariant: ");
    message_.text(" = ");
    if (src_signed)
      message_.signed_number(v);
    else
      message_.number(uint64_t(v));
    message_.text(" does not fit in ").text(type_name(dst_meta(), dst_type)).text(" (v2's type)");
    return;
  }
  if (src_ty.size != dst_ty.size || src_ty.encoding != dst_ty.encoding) result_.transforms++;
  store_uint(dst, dst_ty.size, uint64_t(v));
}

}  // namespace ttst::stfw::engine_detail
