// engine_plans.cc — compiled element plans: the walk of a type pair flattened into byte
// copies and pointer slots, applied per element.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

bool Engine::compile_plan(uint32_t src_type, uint32_t dst_type, uint32_t src_offset, uint32_t dst_offset,
                          CompiledPlan& out, int depth) {
  // intptr_t / uintptr_t: the walk checks whether the value looks like a pointer
  // (engine_transform.cc); the typedef is gone once stripped, so it is asked first.
  if (is_intptr(src_meta(), src_type) || is_intptr(dst_meta(), dst_type)) return false;
  src_type = src_meta().strip(src_type), dst_type = dst_meta().strip(dst_type);
  const ImageType& src_ty = src_meta().type(src_type);
  const ImageType& dst_ty = dst_meta().type(dst_type);
  if (depth > 8 || out.step_count >= 47) return false;
  if (src_ty.kind == kUnion && has_pointer(src_type)) return false;
  if (src_ty.kind == kStruct && mixed_count_ && mixed_type(src_type)) return false;  // engine_values.cc
  if (same_flat(src_type, dst_type) || (src_ty.kind == kUnion && dst_ty.kind == kUnion)) {
    uint32_t n = uint32_t(src_ty.size < dst_ty.size ? src_ty.size : dst_ty.size);
    if (char_array(src_type))  // checked for kept pointers (engine_data_words.cc): a step of its own
      return out.steps[out.step_count++] = PlanStep{kStepChars, n, src_offset, dst_offset, 0, 0, 0}, true;
    if (out.step_count > 0) {  // merge with the previous copy when contiguous on both sides
      PlanStep& last = out.steps[out.step_count - 1];
      if (last.kind == kStepCopy && last.src_offset + last.size == src_offset &&
          last.dst_offset + last.size == dst_offset)
        return last.size += n, true;
    }
    out.steps[out.step_count++] = PlanStep{kStepCopy, n, src_offset, dst_offset, 0, 0, 0};
    return true;
  }
  // A zero-length array on both sides (`void *end[0]`, `char data[]`: a flexible
  // member, whose bytes are the object's tail) holds nothing the walk would visit.
  if (src_ty.kind == kArray && dst_ty.kind == kArray && type_size(src_meta(), src_type) == 0 &&
      type_size(dst_meta(), dst_type) == 0)
    return true;
  if (src_ty.kind == kBase && dst_ty.kind == kBase)
    return compile_int_step(src_ty, dst_ty, src_offset, dst_offset, out);
  if (src_ty.kind == kPointer && dst_ty.kind == kPointer)
    return compile_pointer_step(src_ty.target, dst_ty.target, src_offset, dst_offset, out);
  if (src_ty.kind == kStruct && dst_ty.kind == kStruct)
    return compile_members(src_type, dst_type, src_ty, dst_ty, src_offset, dst_offset, out, depth);
  return false;
}

// A pointer slot aimed at src_target / dst_target (unstripped pointees).
bool Engine::compile_pointer_step(uint32_t src_target, uint32_t dst_target, uint32_t src_offset, uint32_t dst_offset,
                                  CompiledPlan& out) {
  uint32_t src_pointee = src_meta().strip(src_target);
  uint32_t dst_pointee = dst_meta().strip(dst_target);
  if (dst_pointee == 0 && src_pointee != 0) dst_pointee = counterpart(src_pointee);
  if (container_pointee(src_pointee, dst_pointee)) return false;  // the walk declares (engine_containers.cc)
  const ImageType& pointee_ty = src_meta().type(src_pointee);
  uint64_t pointee_size = (src_pointee != 0 && pointee_ty.kind != kFunc && pointee_ty.size > 0) ? pointee_ty.size : 0;
  out.steps[out.step_count++] = PlanStep{kStepPointer, 8, src_offset, dst_offset, src_pointee, dst_pointee, pointee_size};
  return true;
}

// An integer member of another size or signedness (bankserver's `unsigned` counts
// widened to uint64_t): converted per element like scalar() does; a value that does
// not fit makes the element fall back to the walk, which refuses it by name.
bool Engine::compile_int_step(const ImageType& src_ty, const ImageType& dst_ty, uint32_t src_offset,
                              uint32_t dst_offset, CompiledPlan& out) {
  auto integer = [](const ImageType& t) {
    return (t.encoding == eSigned || t.encoding == eUnsigned || t.encoding == eSChar || t.encoding == eUChar) &&
           (t.size == 1 || t.size == 2 || t.size == 4 || t.size == 8);
  };
  if (!integer(src_ty) || !integer(dst_ty)) return false;  // bool, floats, odd sizes: the walk
  const bool src_signed = src_ty.encoding == eSigned || src_ty.encoding == eSChar;
  const bool dst_signed = dst_ty.encoding == eSigned || dst_ty.encoding == eSChar;
  const bool converts = src_ty.size != dst_ty.size || src_ty.encoding != dst_ty.encoding;
  const uint32_t bits = (src_signed ? kIntSrcSigned : 0) | (dst_signed ? kIntDstSigned : 0) | (converts ? kIntConverts : 0);
  out.steps[out.step_count++] = PlanStep{kStepInt, uint32_t(dst_ty.size), src_offset, dst_offset, uint32_t(src_ty.size), bits, 0};
  return true;
}

// A struct's members in pairs. Annotated members keep the plan only when POINTS_TO is
// all they carry (the declared pointee then types and translates, as declared_pointer
// does); any other annotation (a rule, containers, USED_N, free memory, TAGGED) is
// the walk's.
bool Engine::compile_members(uint32_t src_type, uint32_t dst_type, const ImageType& src_ty, const ImageType& dst_ty,
                             uint32_t src_offset, uint32_t dst_offset, CompiledPlan& out, int depth) {
  const uint32_t* pairs = member_plan(src_type, dst_type, src_ty, dst_ty);
  if (!pairs) return false;
  const bool annotated_members = annotated(src_type, dst_type);
  if (annotated_members && annotations_.tagged().any()) return false;
  for (uint32_t i = 0; i < pairs[0]; ++i) {
    const uint32_t si = pairs[1 + 2 * i], di = pairs[2 + 2 * i];
    const ImageMember& src_member = src_meta().members(src_ty)[si];
    const ImageMember& dst_member = dst_meta().members(dst_ty)[di];
    if (src_member.bit_size || dst_member.bit_size || out.step_count >= 47) return false;
    const uint32_t so = src_offset + uint32_t(src_member.offset), dof = dst_offset + uint32_t(dst_member.offset);
    // A free list's link member of the element type itself (memcached's item.next):
    // a plain pointer in an element not on the list; the plan is marked so that only
    // a caller that has asked whether the element is free uses it (carved_by_plan).
    // (The other version's member a link too, or plain: no rule, pointee or free form.)
    auto link = [&](bool newer, uint32_t type, uint32_t index) {
      return annotations_.member_free_link_only(newer, type, index);
    };
    auto plain = [&](bool newer, uint32_t type, uint32_t index) {
      return annotations_.member_pointee_only(newer, type, index) && annotations_.member_pointee(newer, type, index) == 0;
    };
    if (annotated_members && depth == 0 &&
        ((link(src_newer(), src_type, si) && (link(!src_newer(), dst_type, di) || plain(!src_newer(), dst_type, di))) ||
         (link(!src_newer(), dst_type, di) && plain(src_newer(), src_type, si)))) {
      out.free_link = true;
      if (!compile_plan(src_member.type, dst_member.type, so, dof, out, depth + 1)) return false;
      continue;
    }
    if (annotated_members) {
      if (!annotations_.member_pointee_only(src_newer(), src_type, si) ||
          !annotations_.member_pointee_only(!src_newer(), dst_type, di))
        return false;
      const uint32_t sp = annotations_.member_pointee(src_newer(), src_type, si);
      const uint32_t dp = annotations_.member_pointee(!src_newer(), dst_type, di);
      if (sp || dp) {  // as declared_pointer (engine_types.cc): both members pointers, the declared targets
        const ImageType& sptr = src_meta().type(src_meta().strip(src_member.type));
        const ImageType& dptr = dst_meta().type(dst_meta().strip(dst_member.type));
        if (sptr.kind != kPointer || dptr.kind != kPointer) return false;
        const uint32_t dst_target = dp ? dp : counterpart(src_meta().strip(sp));
        if (!dst_target || !compile_pointer_step(sp ? sp : sptr.target, dst_target, so, dof, out)) return false;
        continue;
      }
    }
    if (!compile_plan(src_member.type, dst_member.type, so, dof, out, depth + 1)) return false;
  }
  return true;
}

const Engine::CompiledPlan* Engine::compiled_plan(uint32_t src_type, uint32_t dst_type) {
  uint64_t key = (uint64_t(src_type) << 32) | dst_type;
  uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> 56;  // 256 slots
  for (uint64_t k = 0; k < 256; ++k) {
    CompiledSlot& slot = compiled_plans_[(h + k) & 255];
    if (slot.state == 0) {
      slot.key = key, slot.state = 1, slot.plan = nullptr;
      CompiledPlan* plan = alloc<CompiledPlan>(1);
      if (!plan) return nullptr;
      plan->step_count = 0, plan->free_link = false;
      if (compile_plan(src_type, dst_type, 0, 0, *plan, 0)) slot.plan = plan;
      return slot.plan;
    }
    if (slot.key == key) return slot.plan;
  }
  return nullptr;
}

// Writing (kWrite) or the backward image's zeroing (kZero); typing has its own
// path, type_by_plan (engine_type_plan.cc).
bool Engine::apply_plan(const CompiledPlan& plan, const uint8_t* src, uint8_t* dst) {
  // Locals: the byte stores through dst may alias any member, which would otherwise
  // be reloaded after each of them.
  const Mode mode = mode_;
  const uint32_t step_count = plan.step_count;
  uint64_t bytes = 0, pointers = 0;
  bool ok = true;
  uint64_t conversions = 0;
  for (uint32_t i = 0; i < step_count; ++i) {
    const PlanStep step = plan.steps[i];
    if (step.kind == kStepCopy || step.kind == kStepChars) {
      if (step.kind == kStepChars && mode == kWrite && chars_may_point(src + step.src_offset, step.size)) {
        ok = false;
        break;
      }
      if (mode == kWrite)
        copy(dst + step.dst_offset, src + step.src_offset, step.size), bytes += step.size;
      else if (mode == kZero)
        zero(dst + step.dst_offset, step.size);
      continue;
    }
    if (step.kind == kStepInt) {
      if (mode == kWrite) {
        if (!apply_int_step(step, src, dst)) {
          ok = false;
          break;
        }
        bytes += step.size, conversions += (step.dst_pointee & kIntConverts) ? 1 : 0;
      } else if (mode == kZero) {
        zero(dst + step.dst_offset, step.size);
      }
      continue;
    }
    uint64_t v;
    __builtin_memcpy(&v, src + step.src_offset, 8);
    if (mode == kZero) {
      zero(dst + step.dst_offset, 8);
      continue;
    }
    if (v < 4096) {
      __builtin_memcpy(dst + step.dst_offset, &v, 8), bytes += 8;
      continue;
    }
    ttst_heap_desc* target = base_descriptor(v);
    if (!target) {
      if (uint64_t into = 0; carved_destination(v, &into)) {  // a sub-object's start (memcached's item to item)
        __builtin_memcpy(dst + step.dst_offset, &into, 8), bytes += 8, pointers++;
        continue;
      }
      if (plan_pointer_elsewhere(step, v, dst)) {
        bytes += 8, pointers++;
        continue;
      }
      ok = false;
      break;
    }
    uint64_t translated = reinterpret_cast<uint64_t>(target->next);
    // a container's base may be a sub-object that maps through itself (engine_plugin_place.cc)
    if (!translated || (own_places_ && (objects_[reinterpret_cast<uint64_t>(target->prev) & 0xffffffffu].flags & kContainer))) {
      ok = false;
      break;
    }
    __builtin_memcpy(dst + step.dst_offset, &translated, 8), bytes += 8, pointers++;
  }
  result_.bytes += bytes, result_.pointers += pointers;
  if (ok && mode == kWrite) result_.transforms += 1 + conversions;
  return ok;
}

// A pointer to a carved sub-object's start, translated as translate() would: by its
// offset in its container (translate_into_object), when nothing else could decide it
// (the kept graphs of TTST_KEEP_NEW, a plugin's own places, a container typed or owned).
bool Engine::carved_destination(uint64_t v, uint64_t* out) const {
  if (!carved_slots_ || kept_count_ || own_places_ || annotations_.has_keep_new()) return false;
  const int64_t s = carved_at(v);
  if (s < 0) return false;
  const Object& c = objects_[objects_[s].src_global];
  if ((c.flags & (kOwned | kGlobal)) || !(c.flags & kContainer) || c.src_type != 0 || c.dst_addr == 0 ||
      v - c.addr > c.dst_size)
    return false;
  return *out = c.dst_addr + (v - c.addr), true;
}

bool Engine::apply_int_step(const PlanStep& step, const uint8_t* src, uint8_t* dst) {
  const uint32_t n = step.src_pointee;  // the source's bytes
  const uint64_t raw = load_uint(src + step.src_offset, n);
  const bool src_signed = step.dst_pointee & kIntSrcSigned, dst_signed = step.dst_pointee & kIntDstSigned;
  const int64_t v =
      (src_signed && n < 8 && (raw >> (n * 8 - 1)) & 1) ? int64_t(raw | (~0ull << (n * 8))) : int64_t(raw);
  if (!fits(v, src_signed, uint64_t(step.size) * 8, dst_signed)) return false;  // the walk names it
  store_uint(dst + step.dst_offset, step.size, uint64_t(v));
  return true;
}

// A pointer that is not at a heap object's base: a global's address (bankserver's
// `policy`, into policies[]) keeps the plan; anything else is the walk's (-1).
// Pointers to a library adapter's handle type (engine_library.cc) are always the
// walk's. `memo`: found through typing's memo of object_holding (engine_type_plan.cc).
int64_t Engine::plan_global(const PlanStep& step, uint64_t v, bool memo) {
  if (kept_count_ || free_element_) return -1;
  if (config_.library_adapter_count && handle_adapter(step.src_pointee) >= 0) return -1;  // pointer()'s library_handle
  const int64_t index = memo ? holding_memo(v) : object_holding(v);
  if (index < 0 || !(objects_[index].flags & kGlobal) || (objects_[index].flags & kFromLibrary)) return -1;
  return index;
}

// Writing a pointer into a global (plan_global): translated as pointer() would,
// quietly: a failure is undone and the walk redoes the element, naming what is wrong.
bool Engine::plan_pointer_elsewhere(const PlanStep& step, uint64_t v, uint8_t* dst) {
  const int64_t index = plan_global(step, v, false);
  if (index < 0 || mode_ != kWrite || objects_[index].dst_addr == 0) return false;
  const Result saved = result_;
  const uint64_t used = message_.used;
  const uint32_t refused_at = refused_at_;
  const bool root_path_written = root_path_written_;
  uint64_t translated = 0;
  pointee_hint_ = step.src_pointee;  // decides a boundary (engine_blind_spots.cc), as in pointer()
  const bool ok = translate(v, &translated);
  pointee_hint_ = 0;
  if (!ok || failed()) {
    result_ = saved, message_.used = used, refused_at_ = refused_at, root_path_written_ = root_path_written;
    if (used < message_.size) message_.buf[used] = 0;
    return false;
  }
  __builtin_memcpy(dst + step.dst_offset, &translated, 8);
  return true;
}

}  // namespace ttst::stfw::engine_detail
