// engine_type_plan.cc — the typing fast path: one element typed by its compiled plan
// (engine_plans.cc), the walk's decisions for the plan's pointers with the costly
// per-pointer look-ups memoised, and the typing sweeps' deep prefetch.
// Why: at a million objects the type phase was mostly these look-ups (a by-name
// function search per untyped target to see whether its site is a constructor, a
// binary search of the whole table per pointer into a global) and cache misses on
// the table entries and parent links of the objects it types.
// Anything the fast path does not decide (a target typed otherwise, a derived struct,
// a container, a pointer that is neither a heap object's base nor into a global) makes
// the element fall back to the walk; the walk redoes it all.
// Built with TTST_STFW_TYPING_WALK_ONLY (a test variant, never shipped) the fast path
// is off: every element is typed by the walk, every object popped from the stack.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"
#include "stfw/xfer/inheritance.h"

namespace ttst::stfw::engine_detail {

// A plan's pointer step while typing: kSkip, it types nothing (no pointer, a
// global's address, a target typed so already); kWalk, the walk must decide (a
// target that is no heap object's base, a library's or a container, sized for no
// whole number of the pointee, or a derived struct: inheritance.h); kTypes, it
// types heap object *index (descriptor *target) if that object is still untyped —
// the caller's check, plain on one thread, a compare-and-swap on two
// (engine_parallel_typing.cc). Tags and flags are read atomically for the latter.
Engine::StepTyping Engine::plan_step_typing(const PlanStep& step, const uint8_t* src, ttst_heap_desc** target,
                                            uint32_t* index) {
  if (step.kind != kStepPointer) return kSkip;  // copies, chars and integers type nothing
  uint64_t v;
  __builtin_memcpy(&v, src + step.src_offset, 8);
  if (v < 4096) return kSkip;
  ttst_heap_desc* t = known_elsewhere(v) ? nullptr : base_descriptor(v);
  if (!t && carved_slots_) return plan_step_carving(step, v, index);
  if (!t) return plan_global(step, v, true) >= 0 ? kSkip : kWalk;  // a global is never typed by a pointer (engine_plans.cc)
  if (__atomic_load_n(&t->offset, __ATOMIC_ACQUIRE) == step.src_pointee + 1 || step.pointee_size == 0)
    return kSkip;  // typed so already
  const uint32_t i = uint32_t(reinterpret_cast<uint64_t>(t->prev) & 0xffffffffu);
  const Object& o = objects_[i];
  if ((__atomic_load_n(&o.flags, __ATOMIC_RELAXED) & (kGlobal | kFromLibrary | kContainer)) ||
      (o.size != step.pointee_size && o.size % step.pointee_size != 0) ||
      (o.size != step.pointee_size && returned_struct_of_site(site_of(o), o.size)))
    return kWalk;
  *target = t, *index = i;
  return kTypes;
}

// A plan's pointer that is no heap object's base, with containers declared: a
// sub-object's start carved as the step's pointee already (one probe of the carved
// table): kSkip, as carve() would find it; nothing carved there yet, inside a
// container, a struct or union pointee: kCarves (*index the container), for
// carve_new unless the pass is doomed (engine_doomed_pass.cc); a global's address as
// plan_global; anything else the walk's (a sub-object of another type there, text,
// one past the end, kept graphs).
Engine::StepTyping Engine::plan_step_carving(const PlanStep& step, uint64_t v, uint32_t* index) {
  if (const int64_t s = carved_at(v); s >= 0)
    return step.src_pointee != 0 && src_meta().strip(objects_[s].src_type) == step.src_pointee ? kSkip : kWalk;
  const int64_t at = holding_memo(v);
  if (at < 0 || !(objects_[at].flags & kContainer)) return plan_global(step, v, true) >= 0 ? kSkip : kWalk;
  const Object& c = objects_[at];
  const ImageType& pointee = src_meta().type(step.src_pointee);
  if ((c.flags & (kGlobal | kFromLibrary)) || annotations_.has_keep_new() || step.pointee_size == 0 ||
      (pointee.kind != kStruct && pointee.kind != kUnion) || v - c.addr >= c.size)
    return kWalk;
  *index = uint32_t(at);
  return kCarves;
}

// The plan's pointers typing their targets as pointer() would, in the same order;
// false where the walk must decide (the caller walks the element).
// `offset`: where src is in the object being walked (objects_[current_]), for its
// parent links.
bool Engine::type_by_plan(const CompiledPlan& plan, const uint8_t* src, uint64_t offset) {
#ifdef TTST_STFW_TYPING_WALK_ONLY  // the test variant (//stfw:typing_paths_test): every element walked
  return false;
#endif
  const uint32_t step_count = plan.step_count;
  for (uint32_t i = 0; i < step_count; ++i) {
    const PlanStep& step = plan.steps[i];
    ttst_heap_desc* target = nullptr;
    uint32_t index = 0;
    const StepTyping does = plan_step_typing(step, src, &target, &index);
    if (does == kSkip) continue;
    if (does == kCarves) {  // as pointer() would: the container reached, a sub-object carved
      uint64_t v;
      __builtin_memcpy(&v, src + step.src_offset, 8);
      reached_from_plan(index, offset + step.src_offset);
      if (pass_doomed() && !type_may_declare(step.src_pointee)) continue;
      carve_new(index, v, step.src_pointee, step.dst_pointee);
      if (failed()) return false;
      continue;
    }
    Object& o = objects_[index];
    if (does == kWalk || o.src_type != 0) return false;  // the walk decides (typed otherwise: its rules)
    reached_from_plan(index, offset + step.src_offset);  // the refusals' paths (root_paths.cc)
    o.src_type = step.src_pointee, o.dst_type = step.dst_pointee;
    target->offset = step.src_pointee + 1;
    queue_for_typing(index);
  }
  return true;
}

// site_returned_struct (inheritance.h) with the site's returned pointee memoised:
// the function is found by name, once per site instead of once per object.
uint32_t Engine::returned_struct_of_site(uint64_t site, uint64_t size) {
  ReturnedSlot& slot = returned_struct_memo_[address_slot(site, 256)];
  if (slot.site != site + 1) {
    const auto* info = src_meta().alloc_site(site - config_.src_bias);
    slot.site = site + 1, slot.pointee = info ? site_returned_pointee(src_meta(), *info) : 0;
  }
  const uint32_t target = slot.pointee;
  if (!target) return 0;
  const ImageType& t = src_meta().type(target);
  if (t.kind != kStruct || size < t.size || size % t.size != 0) return 0;
  return target;
}

// note_reached (root_paths.cc) for a pointer at `offset` in objects_[current_], the
// heap object walk_elements is typing: the same link, without finding the holder's
// bytes again to compute the offset.
void Engine::reached_from_plan(uint32_t index, uint64_t offset) {
  constexpr uint32_t kNoParentLink = 0xffffffffu;  // root_paths.cc's kNoParent
  if (!parents_ || index >= heap_end_ || parents_[index].parent != kNoParentLink || current_ == kKernelWord) return;
  parents_[index] = ParentLink{current_, current_ < object_count_ ? uint32_t(offset) : 0};
}

// holding_memo's slot: cheap (it is looked up for every pointer while typing), and
// spread enough for the few globals' addresses that pointers hold.
uint32_t Engine::holding_slot(uint64_t v) { return uint32_t((v ^ (v >> 6) ^ (v >> 12)) >> 3) & 63; }

// A value holding_memo answered before: no heap object's base (base_descriptor found
// none, and its answer does not change during typing either).
bool Engine::known_elsewhere(uint64_t v) const { return holding_memo_[holding_slot(v)].v == v + 1; }

// object_holding for one value, memoised: during typing the table's heap part, its
// address order and the copy's descriptor tags do not change (sub-objects carved
// meanwhile are after heap_end_, which object_holding does not search), so the
// answer for a value stays the same. Forgotten at each typing pass.
int64_t Engine::holding_memo(uint64_t v) {
  HoldingSlot& slot = holding_memo_[holding_slot(v)];
  if (slot.v == v + 1) return slot.index;
  const int64_t index = object_holding(v);
  slot.v = v + 1, slot.index = index;
  return index;
}

void Engine::forget_typing_memos() {
  zero(holding_memo_, sizeof holding_memo_);
  zero(returned_struct_memo_, sizeof returned_struct_memo_);
}

// The second stage of the typing sweeps' prefetch (the first requested the targets'
// descriptors): for each target not typed as this pointer would type it, its table
// entry and parent link, which type_by_plan is about to read and write.
void Engine::prefetch_typing_targets(const CompiledPlan& plan, const uint8_t* src) {
  for (uint32_t k = 0; k < plan.step_count; ++k) {
    const PlanStep& step = plan.steps[k];
    if (step.kind != kStepPointer || step.pointee_size == 0) continue;
    uint64_t v;
    __builtin_memcpy(&v, src + step.src_offset, 8);
    if (v < 4096 + kDescSize || known_elsewhere(v)) continue;
    const ttst_heap_desc* target = base_descriptor(v);
    if (!target || target->offset == step.src_pointee + 1) continue;
    const uint64_t index = reinterpret_cast<uint64_t>(target->prev) & 0xffffffffu;
    __builtin_prefetch(&objects_[index], 1);
    if (parents_) __builtin_prefetch(&parents_[index], 1);
  }
}

// A heap object whose typing walk would do nothing: walk_elements in kType returns
// before its first element when the element type holds no pointer (or has no size)
// and its bytes are in the copy (else it fails, so it is walked). Such an object is
// not pushed on the typing stack: a million heap strings typed `char` by their
// holders' pointers were a million pops, each a miss on the table. Its type can only
// change through pointer()'s upgrade, which queues it again.
bool Engine::typing_walk_empty(const Object& o) {
#ifdef TTST_STFW_TYPING_WALK_ONLY
  return false;
#endif
  if (o.src_type == 0 || (o.flags & (kGlobal | kCarved))) return false;
  const PairFacts& facts = pair_facts(o.src_type, o.dst_type);
  if (facts.src_size != 0 && facts.has_pointer) return false;
  return source_bytes(o.addr, o.size) != nullptr;
}

// The typing stack's look-ahead. Objects behind the sweep are typed from the stack,
// depth first: when the sweep meets the one object that reaches the rest (a hash
// table's bucket array, allocated last or mapped apart from the brk heap), the whole
// heap is typed from it in an order the hardware cannot predict. The entries under
// the top are what comes next (pushes in between only delay them): the deepest one
// looked at has its table entry requested, the next its bytes, the next its targets'
// descriptors, the nearest their table entries and parent links. Hints only.
void Engine::prefetch_queued(uint32_t size) {
  constexpr uint32_t kStage = kAhead;
  if (size > 4 * kStage) {
    const uint32_t j = typing_stack_[size - 1 - 4 * kStage];
    if (j < object_count_) __builtin_prefetch(&objects_[j]), __builtin_prefetch(reinterpret_cast<const uint8_t*>(&objects_[j]) + sizeof(Object) - 1);
  }
  if (size > 3 * kStage) {
    const uint32_t j = typing_stack_[size - 1 - 3 * kStage];
    const uint64_t n = j < object_count_ && !(objects_[j].flags & kGlobal) ? (objects_[j].size > 64 ? 64 : objects_[j].size) : 0;
    if (n)
      if (const uint8_t* p = source_bytes(objects_[j].addr, n)) __builtin_prefetch(p), __builtin_prefetch(p + n - 1);
  }
  if (size > 2 * kStage) prefetch_targets(typing_stack_[size - 1 - 2 * kStage], false);
  if (size > kStage) prefetch_targets(typing_stack_[size - 1 - kStage], true);
}

}  // namespace ttst::stfw::engine_detail
