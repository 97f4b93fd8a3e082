// engine_parallel_typing.cc — the typing sweep on two threads. After the globals
// and the frames' locals have typed what they reach (on this thread), the heap is
// swept in chunks taken in table order by this thread and a worker on the agent's
// helper thread (engine_beside.h), each typing through the compiled plans only
// (the fast path, engine_type_plan.cc): a pointer types its target by claiming it
// — an atomic compare-and-swap of the target's type from none, so every object is
// typed once, by one thread, which also writes its parent link and tag — and the
// claimed object is walked by whoever claims its walk (a flag bit, atomically):
// the sweep that meets it queued, or the claimer, from its own stack. A thread
// with many objects on its stack hands half of them to one with none.
// Everything the fast path does not decide (a target typed otherwise, an object
// without a plan, a carved, free-slot or mixed one: where the walk's own rules
// apply) is left to this thread afterwards, which walks those objects as the
// sequential sweep would (a walk over what the plans already typed changes
// nothing). The types given are the same as on one thread: a plain pointer types
// an untyped object the same whichever thread follows it first, and every other
// case is the walk's, on one thread. Which pointer reached an object first (its
// parent link: the path a refusal names) may differ; so a typing refusal after a
// two-thread sweep is not reported as such: the typing runs again on one thread,
// and that run's message (word for word the sequential one) is reported.
// Not used where the engine cannot run beside (engine_beside.cc) nor where the
// typing declares containers, free lists or used lengths (their rules run in the
// walk, on one thread, in the sweep's order).
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_beside.h"

namespace ttst::stfw::engine_detail {
namespace {
constexpr uint32_t kHandOverMin = 64;  // objects on a stack before half of them may go to the other thread
constexpr uint32_t kQueueMax = 1u << 20;  // objects the hand-over queue holds
}

bool Engine::type_sweep_beside() {
  if (typing_beside_off_ || !can_run_beside() || annotations_.has_containers() || annotations_.has_free() ||
      annotations_.has_used())
    return false;
  const uint32_t heap = object_count_ - global_count_;
  BesideShare* s = prepare_beside();
  if (!s) return true;  // out of memory: reported as such
  Engine* w = s->worker;
  s->set_untaken(global_count_, object_count_), s->chunk = chunk_for(heap);
  // Each object is pushed at most once in all: the typing stack's second half
  // (type_objects sizes it for twice the table) is the worker's. The hand-over
  // queue is bounded (4 MiB: not a block the helper would fault in whole).
  s->queue_capacity = heap < kQueueMax ? heap : kQueueMax;
  s->queue = alloc<uint32_t>(s->queue_capacity);
  w->typing_stack_ = typing_stack_ + heap + 1, w->typing_stack_size_ = 0;
  if (failed()) return true;
  w->mode_ = mode_ = kType;
  if (!s->inner->beside(s->inner->ctx, &Engine::type_worker_main, w)) return false;  // nothing typed yet
  env_ = &s->env, share_ = s;
  type_chunks_beside();
  s->inner->beside_wait(s->inner->ctx);
  env_ = s->inner, share_ = nullptr;
  typed_beside_ = true;
  result_.type_threads = 2;
  add_counts(w->result_);
  arena_bytes_ += w->arena_bytes_;
  for (uint32_t i = global_count_; i < object_count_; ++i) objects_[i].flags &= ~kWalkClaimed;
  if (w->failed()) return adopt_failure(*w), true;
  // What the plans did not decide, walked here as the sweep would have.
  sweep_position_ = 0xffffffffu;
  walk_deferred(*this);
  walk_deferred(*w);
  return true;
}

void Engine::walk_deferred(const Engine& holder) {
  for (uint32_t k = 0; k < holder.deferred_count_ && !failed(); ++k) {
    const uint32_t i = holder.deferred_[k];
    current_ = i;
    walk_elements(objects_[i], nullptr);
    learn_site_plan(objects_[i]);
    type_queued();
  }
}

void Engine::type_worker_main(void* engine) { static_cast<Engine*>(engine)->type_chunks_beside(); }

// Both threads: the chunks, then the stacks until neither thread has anything left.
void Engine::type_chunks_beside() {
  BesideShare* s = share_;
  {  // counted from its start: a thread that never started has nothing anyone waits for
    SpinLock hold(&s->lock);
    s->busy++;
  }
  for (uint32_t from, to; s->take_chunk(false, &from, &to);) {
    sweep_end_ = to;
    for (uint32_t i = from; i < to && !failed(); ++i) {
      sweep_position_ = i + 1;  // [sweep_position_, sweep_end_): this thread's sweep will meet them
      prefetch_queued_object(i + 2 * kAhead, false);
      prefetch_queued_object(i + kAhead, true);
      const uint32_t flags = __atomic_load_n(&objects_[i].flags, __ATOMIC_SEQ_CST);
      if (!(flags & kQueued) || (__atomic_fetch_or(&objects_[i].flags, kWalkClaimed, __ATOMIC_ACQ_REL) & kWalkClaimed))
        continue;
      type_beside(i);
      drain_beside();
    }
  }
  sweep_position_ = sweep_end_ = 0;  // every object claimed from now on is walked from the stack
  drain_beside();
  // Out of work: take what the other thread hands over, until neither has any.
  bool busy = true;
  for (;;) {
    uint32_t got = 0;
    {
      SpinLock hold(&s->lock);
      if (s->queue_count) {
        got = s->queue_count < 4096 ? s->queue_count : 4096;
        s->queue_count -= got;
        copy(typing_stack_ + typing_stack_size_, s->queue + s->queue_count, got * 4ull);
        typing_stack_size_ += got;
        if (!busy) s->busy++, busy = true;
      } else {
        if (busy) s->busy--, busy = false;
        if (s->busy == 0) return;
        s->hungry = 1;
      }
    }
    if (got)
      drain_beside();
    else
      __builtin_ia32_pause();
  }
}

// This thread's stack, depth first; half of it handed over when the other thread
// is out of work.
void Engine::drain_beside() {
  BesideShare* s = share_;
  uint32_t pops = 0;  // the stack's pops, for the hand-over check
  while (typing_stack_size_ > 0 && !failed()) {
    prefetch_queued(typing_stack_size_);
    type_beside(typing_stack_[--typing_stack_size_]);
    if ((++pops & 63) == 0) hand_over_if_hungry(s);
  }
}

// The oldest half of this thread's stack (the other end of the depth-first order)
// to the other thread, if it has run out of work.
void Engine::hand_over_if_hungry(BesideShare* s) {
  if (typing_stack_size_ <= kHandOverMin || !__atomic_load_n(&s->hungry, __ATOMIC_RELAXED)) return;
  SpinLock hold(&s->lock);
  const uint32_t room = s->queue_capacity - s->queue_count;
  const uint32_t half = typing_stack_size_ / 2 < room ? typing_stack_size_ / 2 : room;
  if (half == 0) return;
  copy(s->queue + s->queue_count, typing_stack_, half * 4ull);
  s->queue_count += half;
  typing_stack_size_ -= half;
  for (uint32_t k = 0; k < typing_stack_size_; ++k) typing_stack_[k] = typing_stack_[k + half];
  s->hungry = 0;
}

// One object walked by the plans, or left to the walk afterwards.
void Engine::type_beside(uint32_t i) {
  current_ = i;
  if (!type_plain_beside(i)) defer(i);
}

void Engine::defer(uint32_t i) {
  if (deferred_count_ == deferred_capacity_) {
    const uint32_t capacity = deferred_capacity_ ? 2 * deferred_capacity_ : 1024;
    uint32_t* bigger = alloc<uint32_t>(capacity);
    if (!bigger) return;
    if (deferred_count_) copy(bigger, deferred_, deferred_count_ * 4ull);
    deferred_ = bigger, deferred_capacity_ = capacity;
  }
  deferred_[deferred_count_++] = i;
}

// walk_elements' typing of a plain heap object, by its plan only: true when every
// element was typed so (or there was nothing to type), false for the walk.
bool Engine::type_plain_beside(uint32_t i) {
  const Object& o = objects_[i];
  const uint32_t flags = __atomic_load_n(&o.flags, __ATOMIC_ACQUIRE);
  if ((flags & (kGlobal | kFromLibrary | kContainer | kCarved | kFreeSlots | kHoldsContainers)) || o.used_plus1 ||
      o.src_type == 0)
    return false;
  if (mixed_count_ && is_mixed(src_meta().strip(o.src_type), kMixedElements)) return false;
  const uint8_t* src = source_bytes(o.addr, o.size);
  if (!src) return false;
  const PairFacts& facts = pair_facts(o.src_type, o.dst_type);
  if (failed()) return false;
  if (facts.src_size == 0 || !facts.has_pointer) return true;
  const CompiledPlan* plan = facts.plan;
  if (!plan) return false;
  const uint64_t size = facts.src_size, count = o.size / size;
  for (uint64_t k = 0; k < count; ++k) {
    if (k + 2 * kAhead < count) prefetch_plan_targets(*plan, src + (k + 2 * kAhead) * size, false);
    if (k + kAhead < count) prefetch_typing_targets(*plan, src + (k + kAhead) * size);
    if (!type_by_plan_beside(*plan, src + k * size, k * size)) return false;
    if ((k & 255) == 255) hand_over_if_hungry(share_);  // a large array (a bucket array) fills the stack meanwhile
  }
  return true;
}

// type_by_plan (engine_type_plan.cc) with the target claimed atomically: the same
// decisions (plan_step_typing), the same order; false where the walk must decide.
bool Engine::type_by_plan_beside(const CompiledPlan& plan, const uint8_t* src, uint64_t offset) {
#ifdef TTST_STFW_TYPING_WALK_ONLY  // the test variant: every element walked
  return false;
#endif
  for (uint32_t k = 0; k < plan.step_count; ++k) {
    const PlanStep& step = plan.steps[k];
    ttst_heap_desc* target = nullptr;
    uint32_t index = 0;
    const StepTyping does = plan_step_typing(step, src, &target, &index);
    if (does == kSkip) continue;
    if (does != kTypes) return false;  // (kCarves: containers are typed on one thread)
    Object& o = objects_[index];
    uint32_t was = 0;
    if (!__atomic_compare_exchange_n(&o.src_type, &was, step.src_pointee, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      if (was == step.src_pointee) continue;  // the other thread typed it so meanwhile
      return false;
    }
    reached_from_plan(index, offset + step.src_offset);  // the claimer's: the first to type it
    o.dst_type = step.dst_pointee;
    __atomic_store_n(&target->offset, step.src_pointee + 1, __ATOMIC_RELEASE);
    __atomic_fetch_or(&o.flags, kQueued, __ATOMIC_SEQ_CST);  // published: its types are set
    if (typing_walk_empty(o)) continue;
    if (index >= sweep_position_ && index < sweep_end_) continue;  // this thread's sweep meets it
    // In a chunk no thread has taken yet: the sweep that takes it meets it queued
    // (its taking and its load of the flags come after this, in the one order of
    // sequentially consistent operations), as on one thread.
    if (index >= share_->front()) continue;
    if (__atomic_fetch_or(&o.flags, kWalkClaimed, __ATOMIC_ACQ_REL) & kWalkClaimed) continue;  // a sweep took it
    typing_stack_[typing_stack_size_++] = index;
  }
  return true;
}

// prefetch_targets for an object queued already (its types published: another
// thread may be typing the rest).
void Engine::prefetch_queued_object(uint32_t i, bool deep) {
  if (i >= object_count_ || !(__atomic_load_n(&objects_[i].flags, __ATOMIC_ACQUIRE) & kQueued)) return;
  prefetch_targets(i, deep);
}

}  // namespace ttst::stfw::engine_detail
