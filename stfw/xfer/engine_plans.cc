// engine_plans.cc — compiled element plans: the walk of a type pair flattened into byte
// copies and pointer slots, applied per element.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"
#include "stfw/xfer/inheritance.h"

namespace ttst::stfw::engine_detail {

bool Engine::compile_plan(uint32_t src_type, uint32_t dst_type, uint32_t src_offset, uint32_t dst_offset,
                          CompiledPlan& out, int depth) {
  src_type = src_meta().strip(src_type), dst_type = dst_meta().strip(dst_type);
  const ImageType& src_ty = src_meta().type(src_type);
  const ImageType& dst_ty = dst_meta().type(dst_type);
  if (depth > 8 || out.step_count >= 47) return false;
  if (src_ty.kind == kUnion && has_pointer(src_type)) return false;
  if (src_ty.kind == kStruct && annotated(src_type, dst_type)) return false;
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
  if (src_ty.kind == kPointer && dst_ty.kind == kPointer) {
    uint32_t src_pointee = src_meta().strip(src_ty.target);
    uint32_t dst_pointee = dst_meta().strip(dst_ty.target);
    if (dst_pointee == 0 && src_pointee != 0) dst_pointee = counterpart(src_pointee);
    if (container_pointee(src_pointee, dst_pointee)) return false;  // the walk declares (engine_containers.cc)
    const ImageType& pointee_ty = src_meta().type(src_pointee);
    uint64_t pointee_size = (src_pointee != 0 && pointee_ty.kind != kFunc && pointee_ty.size > 0) ? pointee_ty.size : 0;
    out.steps[out.step_count++] =
        PlanStep{kStepPointer, 8, src_offset, dst_offset, src_pointee, dst_pointee, pointee_size};
    return true;
  }
  if (src_ty.kind == kStruct && dst_ty.kind == kStruct) {
    const uint32_t* pairs = member_plan(src_type, dst_type, src_ty, dst_ty);
    if (!pairs) return false;
    for (uint32_t i = 0; i < pairs[0]; ++i) {
      const ImageMember& src_member = src_meta().members(src_ty)[pairs[1 + 2 * i]];
      const ImageMember& dst_member = dst_meta().members(dst_ty)[pairs[2 + 2 * i]];
      if (src_member.bit_size || dst_member.bit_size) return false;
      if (!compile_plan(src_member.type, dst_member.type, src_offset + uint32_t(src_member.offset),
                        dst_offset + uint32_t(dst_member.offset), out, depth + 1))
        return false;
    }
    return true;
  }
  return false;
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
      plan->step_count = 0;
      if (compile_plan(src_type, dst_type, 0, 0, *plan, 0)) slot.plan = plan;
      return slot.plan;
    }
    if (slot.key == key) return slot.plan;
  }
  return nullptr;
}

bool Engine::apply_plan(const CompiledPlan& plan, const uint8_t* src, uint8_t* dst) {
  // Locals: the byte stores through dst may alias any member, which would otherwise
  // be reloaded after each of them.
  const Mode mode = mode_;
  const uint32_t step_count = plan.step_count;
  uint64_t bytes = 0, pointers = 0;
  bool ok = true;
  for (uint32_t i = 0; i < step_count; ++i) {
    const PlanStep step = plan.steps[i];
    if (step.kind != kStepPointer) {
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
    uint64_t v;
    __builtin_memcpy(&v, src + step.src_offset, 8);
    if (mode == kZero) {
      zero(dst + step.dst_offset, 8);
      continue;
    }
    if (v < 4096) {
      if (mode == kWrite) __builtin_memcpy(dst + step.dst_offset, &v, 8), bytes += 8;
      continue;
    }
    ttst_heap_desc* target = base_descriptor(v);
    if (!target) {
      ok = false;
      break;
    }
    if (mode == kWrite) {
      uint64_t translated = reinterpret_cast<uint64_t>(target->next);
      // a container's base may be a sub-object that maps through itself (engine_plugin_place.cc)
      if (!translated || (own_places_ && (objects_[reinterpret_cast<uint64_t>(target->prev) & 0xffffffffu].flags & kContainer))) {
        ok = false;
        break;
      }
      __builtin_memcpy(dst + step.dst_offset, &translated, 8), bytes += 8, pointers++;
      continue;
    }
    // kType
    if (target->offset == step.src_pointee + 1 || step.pointee_size == 0) continue;
    uint32_t index = uint32_t(reinterpret_cast<uint64_t>(target->prev) & 0xffffffffu);
    Object& o = objects_[index];
    if (o.src_type != 0 || (o.flags & (kGlobal | kFromLibrary | kContainer)) ||
        (o.size != step.pointee_size && o.size % step.pointee_size != 0) ||
        (o.size != step.pointee_size && site_returned_struct(src_meta(), o.site - config_.src_bias, o.size))) {
      ok = false;  // the walk decides (a derived struct: inheritance.h)
      break;
    }
    note_reached(index, src + step.src_offset);  // the refusals' paths (root_paths.cc)
    o.src_type = step.src_pointee, o.dst_type = step.dst_pointee;
    target->offset = step.src_pointee + 1;
    queue_for_typing(index);
  }
  result_.bytes += bytes, result_.pointers += pointers;
  if (ok && mode == kWrite) result_.transforms++;
  return ok;
}

}  // namespace ttst::stfw::engine_detail
