// engine_types.cc — type facts: sizes, whether a type holds pointers, identical flat layouts,
// destination counterparts by name, errors and the source memory lookup.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

Message& Engine::fail(int status, const char* what) {
  if (result_.status == 0) {
    result_.status = status;
    message_.used = 0;
    advice_.used = 0, advice_buf_[0] = 0, advice_allowed_ = true;  // refusal_advice.cc
    return message_.text(what);
  }
  advice_allowed_ = false;
  static char sink[1];
  static Message dummy{sink, 0};
  return dummy;
}

// A refusal forgotten: its message, advice and path (a typing redone on one
// thread, a second run starting).
void Engine::clear_refusal() {
  message_.used = 0;
  if (message_.size) message_.buf[0] = 0;
  advice_.used = advice_args_.used = 0, advice_buf_[0] = advice_args_buf_[0] = 0;
  refused_at_ = 0xffffffffu, root_path_written_ = advice_allowed_ = false;
}

Result Engine::finish() {
  if (result_.status != 0 && refused_at_ != 0xffffffffu && !root_path_written_)
    describe_root_path(message_, refused_at_);  // the refused value's holder, by its path from a root (root_paths.cc)
  if (result_.status != 0 && advice_.used) message_.text(TTST_STFW_FIX_MARKER).text(advice_buf_);  // refusal_advice.cc
  if (result_.status != 0) message_.end();
  result_.out_used = message_.used;
  return result_;
}

const uint8_t* Engine::source_bytes(uint64_t addr, uint64_t len) const {
  if (last_region_ && addr - last_region_->addr <= last_region_->size &&
      len <= last_region_->size - (addr - last_region_->addr))
    return last_region_->local + (addr - last_region_->addr);  // most lookups hit the heap's region again
  uint64_t lo = 0, hi = config_.region_count;
  while (lo < hi) {
    uint64_t middle = lo + (hi - lo) / 2;
    if (config_.regions[middle].addr <= addr)
      lo = middle + 1;
    else
      hi = middle;
  }
  if (lo == 0) return nullptr;
  const Region& region = config_.regions[lo - 1];
  if (addr - region.addr > region.size || len > region.size - (addr - region.addr)) return nullptr;
  last_region_ = &region;
  return region.local + (addr - region.addr);
}

uint64_t Engine::type_size(const View& v, uint32_t t) const {
  const ImageType& ty = v.type(v.strip(t));
  if (ty.kind == kArray) return ty.count == dwarfmeta::image::kFlexibleCount ? 0 : ty.count * type_size(v, ty.target);
  return ty.size;
}

// Does the source type hold a pointer the transfer must translate?
// (Unions holding pointers and intptr_t/uintptr_t values count: both may need
// an annotation, so their bytes are never copied blindly.)
bool Engine::has_pointer(uint32_t type) {
  if (type >= src_meta().type_count()) return false;
  uint8_t& memo = has_pointer_memo_[type];
  if (memo) return memo == 2;
  uint32_t stripped = src_meta().strip(type);
  const ImageType& ty = src_meta().type(stripped);
  bool result = is_intptr(src_meta(), type);
  if (ty.kind == kPointer)
    result = true;
  else if (ty.kind == kArray)
    result = result || has_pointer(ty.target);
  else if (ty.kind == kStruct || ty.kind == kUnion)
    for (uint32_t i = 0; i < src_meta().member_count(ty) && !result; ++i)
      result = has_pointer(src_meta().members(ty)[i].type);
  memo = result ? 2 : 1;
  return result;
}

// intptr_t / uintptr_t (through any typedefs or qualifiers): an integer meant to
// hold an address.
bool Engine::is_intptr(const View& v, uint32_t t) {
  for (uint32_t guard = 0; guard < v.type_count(); ++guard) {  // longer: a cycle
    const ImageType& ty = v.type(t);
    if (ty.kind != kTypedef && !is_qualifier(ty.kind)) return false;
    if (ty.kind == kTypedef && ty.name != dwarfmeta::image::kNone &&
        (streq(v.str(ty.name), "intptr_t") || streq(v.str(ty.name), "uintptr_t")))
      return true;
    t = ty.target;
  }
  return false;
}

bool Engine::annotated(uint32_t src_type, uint32_t dst_type) const {
  return annotations_.type_annotated(src_newer(), src_type) || annotations_.type_annotated(!src_newer(), dst_type) ||
         (mixed_count_ && mixed_type(src_type));  // engine_values.cc
}

Rule Engine::member_rule(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index) const {
  Rule rule = annotations_.member_rule(src_newer(), src_type, src_index);
  return rule != kRuleDefault ? rule : annotations_.member_rule(!src_newer(), dst_type, dst_index);
}

// Identical layout and no pointer: the bytes are copied as they are.
bool Engine::same_flat(uint32_t src_type, uint32_t dst_type, int depth) {
  // Types nest by value without cycles: deeper than the type count is a broken image.
  if (uint32_t(depth) > src_meta().type_count()) return false;
  src_type = src_meta().strip(src_type), dst_type = dst_meta().strip(dst_type);
  uint64_t key = (uint64_t(src_type) << 32) | dst_type;
  uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> 52;  // 4096 slots
  for (uint64_t k = 0; k < 4096; ++k) {
    Memo& slot = same_flat_memo_[(h + k) & 4095];
    if (slot.v == 0) break;
    if (slot.key == key) return slot.v == 2;
  }
  const ImageType& src_ty = src_meta().type(src_type);
  const ImageType& dst_ty = dst_meta().type(dst_type);
  bool result = src_ty.kind == dst_ty.kind && src_ty.size == dst_ty.size && !has_pointer(src_type) &&
                !lock_kind(src_meta(), src_type);  // a pthread lock is never bytes (engine_locks.cc)
  if (result) {
    if (src_ty.kind == kBase)
      result = src_ty.encoding == dst_ty.encoding;
    else if (src_ty.kind == kEnum) {
      result = src_meta().enumerator_count(src_ty) == dst_meta().enumerator_count(dst_ty);
      for (uint32_t i = 0; result && i < src_meta().enumerator_count(src_ty); ++i)
        result = src_meta().enumerators(src_ty)[i].value == dst_meta().enumerators(dst_ty)[i].value &&
                 streq(src_meta().str(src_meta().enumerators(src_ty)[i].name),
                       dst_meta().str(dst_meta().enumerators(dst_ty)[i].name));
    } else if (src_ty.kind == kArray)
      result = src_ty.count == dst_ty.count && same_flat(src_ty.target, dst_ty.target, depth + 1);
    else if (src_ty.kind == kStruct) {
      result = src_meta().member_count(src_ty) == dst_meta().member_count(dst_ty) && !annotated(src_type, dst_type);
      for (uint32_t i = 0; result && i < src_meta().member_count(src_ty); ++i) {
        const ImageMember& src_member = src_meta().members(src_ty)[i];
        const ImageMember& dst_member = dst_meta().members(dst_ty)[i];
        result = src_member.offset == dst_member.offset && src_member.bit_size == dst_member.bit_size &&
                 src_member.bit_offset == dst_member.bit_offset &&
                 streq(src_meta().str(src_member.name), dst_meta().str(dst_member.name)) &&
                 same_flat(src_member.type, dst_member.type, depth + 1);
      }
    }
  }
  for (uint64_t k = 0; k < 4096; ++k) {
    Memo& slot = same_flat_memo_[(h + k) & 4095];
    if (slot.v == 0 || slot.key == key) {
      slot.key = key, slot.v = result ? 2 : 1;
      break;
    }
  }
  return result;
}

// The destination type that corresponds to a source type (by name), 0 if none.
// Unnamed pointers, arrays and qualifiers by their target's counterpart: a chain
// of them deeper than kMaxNesting is refused (0 would read as "v2 lacks it", and an
// object typed by its site would then be copied as bytes).
uint32_t Engine::counterpart(uint32_t src_type, int depth) {
  if (src_type == 0) return 0;
  if (depth > int(kMaxNesting))
    return refuse_too_deep("has a type whose unnamed pointers, arrays or qualifiers nest"), 0;
  uint32_t& memo = counterpart_memo_[src_type];
  if (memo != 0xffffffffu) return memo;
  const ImageType& src_ty = src_meta().type(src_type);
  uint32_t found = 0;
  const char* name = src_ty.name == dwarfmeta::image::kNone ? nullptr : src_meta().str(src_ty.name);
  uint32_t target = (src_ty.kind == kPointer || is_qualifier(src_ty.kind)) ? counterpart(src_ty.target, depth + 1) : 0;
  for (uint32_t i = 1; i < dst_meta().type_count() && !found; ++i) {
    const ImageType& dst_ty = dst_meta().type(i);
    if (dst_ty.kind != src_ty.kind) continue;
    if (name) {
      if (dst_ty.name != dwarfmeta::image::kNone && streq(dst_meta().str(dst_ty.name), name) &&
          !(dst_ty.flags & dwarfmeta::image::kTypeDeclaration))
        found = i;
    } else if (src_ty.kind == kPointer || is_qualifier(src_ty.kind)) {
      if (dst_ty.target == target && (target != 0 || src_meta().strip(src_ty.target) == 0)) found = i;
    } else if (src_ty.kind == kArray) {
      if (dst_ty.count == src_ty.count && dst_ty.target == counterpart(src_ty.target, depth + 1)) found = i;
    }
  }
  memo = found;
  return found;
}

const char* Engine::type_name(const View& v, uint32_t t) const {
  const ImageType& ty = v.type(t);
  if (ty.name != dwarfmeta::image::kNone) return v.str(ty.name);
  if (ty.kind == kPointer) return "pointer";
  if (ty.kind == kArray) return "array";
  return "anonymous type";
}

// Same declared type in the two images: kind, size and name; pointers and arrays
// by their targets (void * only like void *); anonymous structs never (no name
// to tell them apart by).
bool Engine::same_declared_type(uint32_t src_t, uint32_t dst_t, int depth) const {
  src_t = src_meta().strip(src_t), dst_t = dst_meta().strip(dst_t);
  if (src_t == 0 || dst_t == 0) return src_t == dst_t;
  const ImageType& a = src_meta().type(src_t);
  const ImageType& b = dst_meta().type(dst_t);
  if (a.kind != b.kind || a.size != b.size || depth > 8) return false;
  if (a.kind == kPointer || a.kind == kArray)
    return a.count == b.count && same_declared_type(a.target, b.target, depth + 1);
  if (a.name == dwarfmeta::image::kNone || b.name == dwarfmeta::image::kNone) return false;
  return streq(src_meta().str(a.name), dst_meta().str(b.name));
}

void Engine::name_declared_type(Message& m, const View& v, uint32_t t) const {
  t = v.strip(t);
  uint32_t stars = 0;
  while (t && v.type(t).kind == kPointer && stars < 8) t = v.strip(v.type(t).target), ++stars;
  const ImageType& ty = v.type(t);
  m.text(t == 0 ? "void" : ty.kind == kStruct ? "struct " : ty.kind == kUnion ? "union " : "")
      .text(t == 0 ? "" : type_name(v, t));
  if (stars) m.text(" ");
  while (stars--) m.text("*");
}

// A member v1's struct has and v2's lacks while v2's adds one of the same type,
// neither matched by name or TTST_RENAMED_FROM: the data may be meant for the new
// member (a rename: copying nothing would cut lists, lose counters). Refused
// unless TTST_DROPPED(struct S.old) says the v1 member is gone on purpose.
bool Engine::suspected_rename(uint32_t src_type, uint32_t dst_type, const uint32_t* pairs) {
  const ImageType& src_ty = src_meta().type(src_type);
  const ImageType& dst_ty = dst_meta().type(dst_type);
  auto matched = [pairs](uint32_t index, int side) {
    for (uint32_t k = 0; k < pairs[0]; ++k)
      if (pairs[1 + side + 2 * k] == index) return true;
    return false;
  };
  for (uint32_t j = 0; j < src_meta().member_count(src_ty); ++j) {
    if (matched(j, 0)) continue;
    const ImageMember& gone = src_meta().members(src_ty)[j];
    for (uint32_t i = 0; i < dst_meta().member_count(dst_ty); ++i) {
      const ImageMember& added = dst_meta().members(dst_ty)[i];
      if (matched(i, 1) || !same_declared_type(gone.type, added.type, 0)) continue;
      bool dropped = config_.backward ? annotations_.member_dropped(dst_type, i) : annotations_.member_dropped(src_type, j);
      if (dropped) continue;
      // (backward the source is v2: its unmatched member is the added one)
      const char* v1_name = config_.backward ? dst_meta().str(added.name) : src_meta().str(gone.name);
      const char* v2_name = config_.backward ? src_meta().str(gone.name) : dst_meta().str(added.name);
      const char* tag = type_name(src_meta(), src_type);
      fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: struct ")
          .text(tag).text(" drops member ").text(v1_name).text(" and adds ").text(v2_name)
          .text(" of the same type (");
      name_declared_type(message_, src_meta(), gone.type);
      message_.text("): a suspected rename; say which with TTST_RENAMED_FROM(struct ")
          .text(tag).text(".").text(v2_name).text(", ").text(v1_name).text(") or TTST_DROPPED(struct ")
          .text(tag).text(".").text(v1_name).text(")");
      spell_type(advice_args(), src_meta(), src_type);  // the fix, copy-pasteable
      advice_args_.text(".").text(v2_name).text(", ").text(v1_name);
      advise("RENAMED_FROM");
      spell_type(advice_args(), src_meta(), src_type);
      advice_args_.text(".").text(v1_name);
      advise("DROPPED");
      return true;
    }
  }
  return false;
}

}  // namespace ttst::stfw::engine_detail
