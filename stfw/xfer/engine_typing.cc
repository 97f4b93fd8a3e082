// engine_typing.cc — heap objects typed without instrumentation: typed pointers from the
// globals, then per-site types (never from allocation wrappers), prefetching.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

// Typing in passes (engine_containers.cc): containers held by globals are declared
// first; a pass that declares more (held by heap objects) is discarded and typing
// runs again knowing them, so no pointer into a container was seen too early.
// A chain of containers each reached only from a sub-object carved in the previous
// one takes one pass per link: a pool's block list (nginx's ngx_pool_t d.next: a
// cycle pool holds tens of blocks). Every pass that goes on declared at least one
// more container or free-list element, so the passes end by themselves; the bound
// only caps the cost (a pass re-types the whole heap), as the walk's nesting limit
// (64 levels) caps its depth, and a refusal names the last container declared.
namespace {
constexpr int kMaxDeclarationPasses = 64;
}  // namespace

bool Engine::type_objects() {
  heap_end_ = object_count_;
  typing_stack_room_ = 2 * uint64_t(object_count_) + 1;
  typing_stack_ = alloc<uint32_t>(typing_stack_room_);
  if (failed()) return false;
  declare_header_blocks();
  declare_in_globals();
  if (container_count_ && !prepare_carving()) return false;
  if (annotations_.has_free() && !snapshot_containers()) return false;
  const Result before = result_;
  for (int pass = 0;; ++pass) {
    uint32_t known = container_count_;
    uint64_t known_free = free_element_count_;  // TTST_FREE_LIST elements found (engine_free.cc)
    start_typing_pass(known, known_free);  // engine_doomed_pass.cc
    bool typed = type_pass();
    if (!typed && typed_beside_) {  // refused after a sweep on two threads: again on one, for one thread's message
      typed_beside_ = false, typing_beside_off_ = true;
      result_ = before;
      clear_refusal();
      reset_typing();
      typed = type_pass();
    }
    doomed_skips_ = false;
    if (container_count_ == known && free_element_count_ == known_free) return typed && finish_carving();
    if (free_element_count_ != known_free) undeclare_pass_containers();
    if (pass + 1 == kMaxDeclarationPasses) {
      refuse_deep_declarations(kMaxDeclarationPasses);
      return false;
    }
    result_ = before, message_.used = 0;
    if (message_.size) message_.buf[0] = 0;
    if (!prepare_carving()) return false;
    reset_typing();
  }
}

// The refusal of type_objects() past its bound: the last container declared, by its
// path from a root when the typing reached it by a pointer, else by the object whose
// walk declared it (a holder's member, a typed pointer's target).
void Engine::refuse_deep_declarations(int passes) {
  fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: containers declared inside containers (or free lists found in them) more than ");
  message_.number(uint64_t(passes)).text(" levels deep");
  if (last_declared_ >= heap_end_) return;
  message_.text("; the last declared: ");
  describe(message_, objects_[last_declared_]);
  root_path_written_ = false;
  describe_root_path(message_, last_declared_, true);
  if (!root_path_written_ && last_declarer_ < object_count_) {
    message_.text(", declared while walking ");
    describe(message_, objects_[last_declarer_]);
    describe_root_path(message_, last_declarer_, true);
  }
  message_.text(": a chain of containers one per typing pass (a pool's block list), longer than the bound");
  root_path_written_ = true;  // finish() adds no other path
}

bool Engine::type_pass() {
  // Globals first (their targets are only marked), then one sweep over the heap
  // objects in table order (≈ address order, so mostly sequential): an object typed
  // by one already behind the sweep goes on the stack and is processed at once.
  sweep_position_ = global_count_;
  forget_typing_memos();  // engine_type_plan.cc
  prepare_root_paths(), root_local_count_ = 0;  // the refusals' paths (root_paths.cc)
  for (uint32_t i = 0; i < global_count_; ++i)
    if (!(objects_[i].flags & (kReadonly | kRuleMask)) && objects_[i].dst_global != 0xffffffffu) queue_for_typing(i);
  type_queued();
  type_frame_roots();  // the locals of the frames at the update point (frame_roots.cc), after the globals
  type_queued();
  mode_ = kType;
  if (failed() || !type_sweep_beside()) {  // on two threads where it may (engine_parallel_typing.cc)
    for (uint32_t i = global_count_; i < object_count_ && !failed(); ++i) {
      sweep_position_ = i + 1;
      if (!(objects_[i].flags & kQueued)) continue;
      prefetch_object(i + 3 * kAhead);  // its bytes, for the next stage to read its pointers
      prefetch_targets(i + 2 * kAhead, false);
      prefetch_targets(i + kAhead, true);
      current_ = i;
      walk_elements(objects_[i], nullptr);
      learn_site_plan(objects_[i]);
      type_queued();
    }
  }
  sweep_position_ = 0xffffffffu;
  if (pass_doomed()) return true;  // discarded: the sites' typing could declare what the whole pass would not
  if (!failed()) refuse_lone_aggregates();  // an unpaired struct local, an object's only root (frame_roots.cc)
  if (!failed()) refuse_piece_locals();  // a composite (DW_OP_piece) local, an object's only root (frame_roots.cc)
  if (failed()) return false;
  return type_by_sites(global_count_, 0);
}

// Heap objects from `from` reached only through void * / char *: a site's learnt
// type, else its hint; in up to four rounds (an object so typed may type others),
// numbered from `first_round` for typed_object_of_site's memo (a second run's own,
// engine_delta.cc).
bool Engine::type_by_sites(uint32_t from, uint32_t first_round) {
  for (int round = 0; round < 4; ++round) {
    typing_round_ = first_round + uint32_t(round);
    bool more = false;
    for (uint32_t i = from; i < object_count_; ++i) {
      Object& o = objects_[i];
      if (o.src_type != 0 || (o.flags & (kFromLibrary | kContainer))) continue;
      uint32_t src_type = 0, dst_type = 0;
      const auto* site_info = src_meta().alloc_site(site_of(o) - config_.src_bias);
      if (site_info) {
        if (wrapper_site(*site_info)) continue;  // one site for every type its callers want: no guess
        const auto* learnt = typed_object_of_site(site_of(o));
        if (learnt == &polymorphic_marker_) continue;  // the site allocates several types: no guess
        if (learnt)
          src_type = learnt->src_type, dst_type = learnt->dst_type;
        else if (site_info->type) {
          current_ = i, path_depth_ = 0;  // the object a refusal names
          src_type = site_info->type;
          dst_type = counterpart(src_type);
        } else if (uint32_t returned = returned_type(*site_info)) {  // T *f(): its one site makes T (engine_values.cc)
          current_ = i, path_depth_ = 0;
          src_type = returned, dst_type = counterpart(returned);
        }
      }
      if (src_type && dst_type && type_size(src_meta(), src_type) > 0 &&
          o.size % type_size(src_meta(), src_type) == 0) {
        o.src_type = src_type, o.dst_type = dst_type;
        queue_for_typing(i);
        more = true;
      }
    }
    type_queued();
    if (failed()) return false;
    if (!more) break;
  }
  return true;
}

const Object* Engine::typed_object_of_site(uint64_t site) {
  constexpr uint32_t kNone = 0xffffffffu, kSeveralTypes = 0xfffffffeu;
  SiteTypeSlot& slot = site_types_[(site >> 2) & 1023];
  if (slot.round == typing_round_ + 1 && slot.site == site)
    return slot.object == kNone           ? nullptr
           : slot.object == kSeveralTypes ? &polymorphic_marker_
                                          : &objects_[slot.object];
  uint32_t found = kNone;
  for (uint32_t i = global_count_; i < object_count_ && found != kSeveralTypes; ++i) {
    const Object& o = objects_[i];
    if (o.src_type == 0 || (o.flags & kFromLibrary) || site_of(o) != site) continue;
    if (found == kNone)
      found = i;
    else if (src_meta().strip(objects_[found].src_type) != src_meta().strip(o.src_type))
      found = kSeveralTypes;
  }
  slot.site = site, slot.object = found, slot.round = typing_round_ + 1;
  return found == kNone ? nullptr : found == kSeveralTypes ? &polymorphic_marker_ : &objects_[found];
}

bool Engine::polymorphic_site(uint64_t site) {
  const auto* site_info = src_meta().alloc_site(site - config_.src_bias);
  return (site_info && wrapper_site(*site_info)) || typed_object_of_site(site) == &polymorphic_marker_;
}

// A site inside an allocation wrapper: a function returning void * (xmalloc), or
// one the user annotated TTST_ALLOCATOR. Its objects are of whatever type each
// caller wanted, so neither its typed objects nor dwarfmeta's hint type the rest.
bool Engine::wrapper_site(const dwarfmeta::image::ImageAllocSite& site) const {
  const char* caller = src_meta().str(site.caller);
  for (uint32_t i = 0; i < src_meta().annotation_count(); ++i)
    if (src_meta().annotation(i).kind == TTST_ANNOT_ALLOCATOR && streq(src_meta().str(src_meta().annotation(i).target), caller))
      return true;
  const auto* f = src_meta().function(caller);
  if (!f) return false;
  const ImageType& returned = src_meta().type(src_meta().strip(f->return_type));
  return returned.kind == kPointer && src_meta().strip(returned.target) == 0;
}

void Engine::queue_for_typing(uint32_t i) {
  if (objects_[i].flags & kQueued) return;
  if (delta_ && i < delta_first_new_) {  // a block of the first run typed (again) now: its block here has that type's size
    delta_refuse("a block of the first run is typed otherwise now");
    return;
  }
  objects_[i].flags |= kQueued;
  if (i >= sweep_position_) return;  // the sweep will reach it
  if (typing_walk_empty(objects_[i])) return;  // engine_type_plan.cc: a name's chars, say
  typing_stack_[typing_stack_size_++] = i;
}

void Engine::type_queued() {
  mode_ = kType;
  while (typing_stack_size_ > 0 && !failed()) {
    prefetch_queued(typing_stack_size_);  // engine_type_plan.cc
    uint32_t i = typing_stack_[--typing_stack_size_];
    Object& o = objects_[i];
    current_ = i;
    walk_elements(o, nullptr);
    learn_site_plan(o);
  }
}

// Runs the walk over every element of an object (heap arrays) or the global.
void Engine::walk_elements(const Object& o, uint8_t* dst) {
  const uint8_t* src = source_bytes(o.addr, o.size);
  if (!src) {
    fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: ");
    describe(message_, o);
    message_.text(" is not in the copy of the source's memory");
    return;
  }
  path_depth_ = 0;
  if (o.flags & kGlobal) {
    const bool holder = annotations_.has_containers() &&  // a holder of containers: to their bases
                        annotations_.container_global(src_meta().str(src_meta().global_at(o.src_global).id));
    container_ref_ = holder;
    int64_t link = -1;  // a FREE_SLOTS / FREE_LIST global (engine_free.cc)
    Annotations::FreeForm form = annotations_.has_free() ? global_free_form(o, &link) : Annotations::kFreeNone;
    if (form == Annotations::kFreeList && mode_ == kType)
      declare_free_list(o.src_type, dst_meta().global_at(o.dst_global).type, load_uint(src, 8), link);
    free_pointer_ = form == Annotations::kFreePointer;
    walk(o.src_type, o.dst_type, src, dst);
    container_ref_ = free_pointer_ = false;
    return;
  }
  if (o.flags & kCarved) return skip_doomed_walk(o) ? void() : walk_carved(o, src, dst);
  const PairFacts& facts = pair_facts(o.src_type, o.dst_type);
  uint64_t src_elem_size = facts.src_size, dst_elem_size = facts.dst_size;
  if (src_elem_size == 0) return;
  uint64_t count = o.size / src_elem_size;
  if (o.used_plus1 && o.used_plus1 - 1 < count) {  // TTST_USED_N: the tail is not state
    uint64_t used = o.used_plus1 - 1;
    if (mode_ == kWrite && !config_.backward) zero(dst + used * dst_elem_size, (count - used) * dst_elem_size);
    count = used;  // backward: R keeps its own bytes there (P's, as R was forked from P)
  }
  if (mode_ == kType && !facts.has_pointer) return;
  if (mode_ != kType && facts.flat) {
    if (mode_ == kWrite)
      copy(dst, src, count * src_elem_size), result_.bytes += count * src_elem_size;
    else
      zero(dst, count * src_elem_size);
    return;
  }
  const CompiledPlan* plan = facts.plan;
  const bool was_free_pointer = free_pointer_;
  if (o.flags & kFreeSlots) free_pointer_ = true, plan = nullptr;  // TTST_FREE_SLOTS_N's slots (engine_free.cc)
  const bool was_container_ref = container_ref_;
  if (o.flags & kHoldsContainers) container_ref_ = true, plan = nullptr;  // slab_list: to the pages' bases
  if (mixed_count_ && is_mixed(src_meta().strip(o.src_type), kMixedElements)) plan = nullptr;  // engine_values.cc
  const bool typing = mode_ == kType;  // typing: the fast path (engine_type_plan.cc), prefetched in two stages
  const uint64_t ahead = typing ? 2 * kAhead : kAhead;
  for (uint64_t k = 0; k < count && !failed(); ++k) {
    if (plan && k + ahead < count) prefetch_plan_targets(*plan, src + (k + ahead) * src_elem_size, false);
    if (plan && typing && k + kAhead < count) prefetch_typing_targets(*plan, src + (k + kAhead) * src_elem_size);
    if (plan && (typing ? type_by_plan(*plan, src + k * src_elem_size, k * src_elem_size)
                        : apply_plan(*plan, src + k * src_elem_size, dst ? dst + k * dst_elem_size : nullptr)))
      continue;
    path_[0].name = nullptr, path_[0].index = k, path_depth_ = 1;
    if (mode_ != kZero) ++result_.walked;
    walk(o.src_type, o.dst_type, src + k * src_elem_size, dst ? dst + k * dst_elem_size : nullptr);
  }
  free_pointer_ = was_free_pointer, container_ref_ = was_container_ref;
  path_depth_ = 0;
}

const Engine::PairFacts& Engine::compute_pair_facts(uint32_t src_type, uint32_t dst_type) {
  PairSlot& slot = pair_slots_[pair_slot(src_type, dst_type)];
  PairFacts& facts = slot.facts;
  facts.src_type = src_type, facts.dst_type = dst_type;
  facts.src_size = type_size(src_meta(), src_type), facts.dst_size = type_size(dst_meta(), dst_type);
  facts.has_pointer = has_pointer(src_type);
  facts.flat = same_flat(src_type, dst_type);
  facts.live_plan = facts.src_size ? compiled_plan(src_type, dst_type) : nullptr;
  facts.plan = facts.live_plan && !facts.live_plan->free_link ? facts.live_plan : nullptr;
  slot.valid = !failed();
  return facts;
}

void Engine::forget_pair_facts() {
  for (PairSlot& slot : pair_slots_) slot.valid = false;
}

void Engine::prefetch_plan_targets(const CompiledPlan& plan, const uint8_t* src, bool deep) {
  if (deep) return prefetch_typing_targets(plan, src);  // engine_type_plan.cc
  for (uint32_t k = 0; k < plan.step_count; ++k) {
    const PlanStep& step = plan.steps[k];
    if (step.kind != kStepPointer) continue;
    uint64_t v;
    __builtin_memcpy(&v, src + step.src_offset, 8);
    if (v < 4096 + kDescSize || known_elsewhere(v)) continue;  // a global's address (engine_type_plan.cc)
    // Both lines of the 64-byte descriptor (a 16-aligned block's straddles two):
    // prev and next in the first, offset and magic in the last.
    if (const uint8_t* p = source_bytes(v - kDescSize, kDescSize)) __builtin_prefetch(p), __builtin_prefetch(p + kDescSize - 8);
    // A pointer into a container is looked up in the carved table (plan_step_carving, carved_destination).
    if (carved_slots_) __builtin_prefetch(&carved_slots_[address_slot(v, carved_capacity_)]);
  }
}

// The first stage of the sweep's prefetch: the object's own first bytes. Heap objects
// come in address order (the hardware's prefetch follows), carved sub-objects in
// the order they were carved: memcached's items all over its slab pages.
void Engine::prefetch_object(uint32_t i) {
  if (i >= object_count_ || !(objects_[i].flags & kCarved)) return;
  if (const uint8_t* src = source_bytes(objects_[i].addr, 64)) __builtin_prefetch(src), __builtin_prefetch(src + 63);
}

void Engine::prefetch_targets(uint32_t i, bool deep) {
  if (i >= object_count_) return;
  const Object& o = objects_[i];
  if (o.flags & (kGlobal | kFromLibrary)) return;
  const CompiledPlan* plan = nullptr;
  if (o.src_type) {
    const PairFacts& facts = pair_facts(o.src_type, o.dst_type);
    if (facts.src_size == 0 || o.size < facts.src_size) return;
    plan = (o.flags & kCarved) ? facts.live_plan : facts.plan;
  } else {
    const uint64_t site = site_of(o);
    const SitePlan& learnt = site_plans_[(site >> 4) & 255];
    if (learnt.site != site || o.size < learnt.size) return;
    plan = learnt.plan;
  }
  if (!plan) return;
  if ((o.flags & kCarved) && free_capacity_)  // carved_by_plan asks whether it is on a free list first
    __builtin_prefetch(&free_elements_[address_slot(o.addr, free_capacity_)]);
  if (const uint8_t* src = source_bytes(o.addr, o.size)) prefetch_plan_targets(*plan, src, deep);
}

void Engine::learn_site_plan(const Object& o) {
  if (o.src_type == 0 || (o.flags & (kGlobal | kFromLibrary))) return;
  const PairFacts& facts = pair_facts(o.src_type, o.dst_type);
  const uint64_t site = site_of(o);
  SitePlan& slot = site_plans_[(site >> 4) & 255];
  slot.site = site, slot.size = facts.src_size, slot.plan = facts.plan;
}

}  // namespace ttst::stfw::engine_detail
