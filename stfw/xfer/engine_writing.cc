// engine_writing.cc — writing every object (backward: into a scratch image, storing only
// what differs), F's superseded start-up objects, kernel-held words.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/address_order.h"
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

// Forward: F's own start-up heap objects (origin 0, not from a library).
bool Engine::index_startup_objects() {
  startup_capacity_ = 64;
  startup_objects_ = alloc<StartupObject>(startup_capacity_);
  if (failed()) return false;
  int64_t walked = ttst_heap_walk(
      config_.dst_runtime, &Engine::read_own_memory, nullptr,
      [](void* ctx, uint64_t addr, const ttst_heap_desc* desc) -> int {
        Engine* engine = static_cast<Engine*>(ctx);
        if (desc->origin_id == 0 && !(desc->flags & TTST_HEAP_F_FROM_LIB)) engine->add_startup_object(addr, desc->size);
        return 0;
      },
      this);
  return own_walk_succeeded(walked) && !failed();
}

void Engine::add_startup_object(uint64_t addr, uint64_t size) {
  if (startup_count_ == startup_capacity_) {
    StartupObject* bigger = alloc<StartupObject>(startup_capacity_ * 2);
    if (!bigger) return;
    copy(bigger, startup_objects_, startup_count_ * sizeof(StartupObject));
    startup_objects_ = bigger, startup_capacity_ *= 2;
  }
  startup_objects_[startup_count_++] = StartupObject{addr, size, 0, false, false, false, false, 0xffffffffu};
}

// A global's pointer to start-up object `old` is overwritten with `now`: `now` is
// its counterpart, unless another overwrite of a pointer to it disagrees.
void Engine::supersede(uint64_t old, uint64_t now, uint32_t global) {
  if (old == now || old < 4096) return;
  for (uint64_t i = 0; i < startup_count_; ++i) {
    StartupObject& s = startup_objects_[i];
    if (s.addr != old) continue;
    if (s.superseded && s.counterpart != now) s.conflicting = true;
    if (!s.superseded) s.global = global;
    s.superseded = true, s.counterpart = now;
  }
}

void Engine::free_superseded() {
  if (!env_->release) return;
  for (uint64_t i = 0; i < startup_count_; ++i) {
    if (!startup_objects_[i].superseded) continue;
    uint64_t addr = startup_objects_[i].addr;
    bool referenced = false;
    for (uint32_t g = 0; g < dst_meta().global_count() && !referenced; ++g) {
      const ImageGlobal& global = dst_meta().global_at(g);
      if ((global.tls && !config_.dst_tls) || global.readonly || global.size < 8 ||
          streq(dst_meta().str(global.file), "ttst_runtime.c"))
        continue;
      const uint8_t* bytes =
          reinterpret_cast<const uint8_t*>(global.addr + (global.tls ? config_.dst_tls : config_.dst_bias));
      for (uint64_t k = 0; k + 8 <= global.size && !referenced; k += 8) referenced = load_uint(bytes + k, 8) == addr;
    }
    if (referenced || kept_partner(addr, startup_objects_[i].size)) continue;  // still reached from a kept graph (TTST_KEEP_NEW)
    for (uint32_t a = 0; a < config_.library_adapter_count && env_->library_release; ++a)
      env_->library_release(env_->ctx, a, addr, addr + startup_objects_[i].size, 0);  // its registrations (libevent) first
    env_->release(env_->ctx, addr), result_.freed++, startup_objects_[i].freed = true;
  }
}

void Engine::translate_kernel_words() {
  path_depth_ = 0;
  for (uint64_t i = 0; i < config_.kernel_count && !failed(); ++i) {
    uint64_t word = config_.kernel_words[i], translated = word;
    current_ = kKernelWord, current_kernel_word_ = i;
    if (looks_like_pointer(word) && translate(word, &translated)) result_.pointers++;
    config_.kernel_out[i] = translated;
  }
}

void Engine::write_objects() {
  release_library_state();  // forward: F's own registrations in memory about to be overwritten
  for (uint32_t i = global_count_; i < object_count_; ++i)  // a sub-object at a container's base is not the container
    if (!(objects_[i].flags & kCarved)) set_dst_in_copy(objects_[i].addr, objects_[i].dst_addr);
  if (kept_count_) unmap_kept_bases();  // engine_keep_new.cc
  uint32_t* order = backward_write_order();
  if (order) write_list_ = order, write_list_count_ = object_count_;
  if (!write_beside(global_count_, object_count_)) write_range(0, object_count_);  // engine_parallel_write.cc
  if (order) write_list_ = nullptr, note_done(object_count_);
  if (!failed() && plugin_slot_count_) plugin_finish();  // init callbacks, owned objects (engine_plugin.cc)
}

// Backward: the table's order with its carved sub-objects in R's address order.
// They are carved in the typing's order (memcached: along the LRU lists and hash
// chains, page to page), and the write reads R through engine_own_memory.cc's
// window: in that order the write of a memcached of 50,000 keys refilled its 4 MiB
// window about 180 times (~0.7 GB read for 68 MB); in R's order 65 times, once per
// slab page.
// Null (the table's order) when there are none.
uint32_t* Engine::backward_write_order() {
  const uint32_t carved = object_count_ - heap_end_;
  if (!config_.backward || write_list_ || carved < 2) return nullptr;
  uint32_t* list = alloc<uint32_t>(object_count_);
  AddressKey* keys = alloc<AddressKey>(carved);
  AddressKey* tmp = alloc<AddressKey>(carved);
  uint32_t* bucket = alloc<uint32_t>(65536);
  if (failed()) return nullptr;
  for (uint32_t i = 0; i < heap_end_; ++i) list[i] = i;
  for (uint32_t k = 0; k < carved; ++k) keys[k] = AddressKey{objects_[heap_end_ + k].dst_addr, heap_end_ + k};
  const AddressKey* sorted = sort_address_keys(keys, tmp, bucket, carved);
  for (uint32_t k = 0; k < carved; ++k) list[heap_end_ + k] = uint32_t(sorted[k].index);
  return list;
}

void Engine::write_range(uint32_t from, uint32_t to) {
  for (uint32_t i = from; i < to && !failed(); ++i) {
    prefetch_written(i + kAhead);
    if ((i & 0xfff) == 0 && !share_ && !write_list_) note_done(i);
    write_one(written_at(i));
    if (failed()) write_failed_at_ = i;
  }
}

void Engine::write_range_down(uint32_t from, uint32_t to) {
  for (uint32_t i = to; i-- > from && !failed();) {
    if (i >= from + kAhead) prefetch_written(i - kAhead);
    write_one(written_at(i));
    if (failed()) write_failed_at_ = i;
  }
}

void Engine::write_one(uint32_t i) {
  Object& o = objects_[i];
  if (o.dst_addr == 0 || (o.flags & (kReadonly | kFromLibrary | kKept))) return;
  if ((o.flags & kContainer) && o.dst_global == 0xffffffffu) return;  // containers: sub-objects only
  if ((o.flags & kGlobal) && o.dst_global == 0xffffffffu) return;
  if (o.flags & kOwned) return;  // the plugin's (engine_plugin.cc)
  current_ = i;
  uint8_t* dst = reinterpret_cast<uint8_t*>(o.dst_addr);
  if (!config_.backward) return write_object(o, dst);
  // Backward: the object's image is built in a scratch copy of R's object (its
  // bytes zeroed, then written: a missing write still shows up in the diff), and
  // only the words that differ are stored. R's pages that come back equal stay
  // shared with P: no copy-on-write faults here, and the differ's page-level
  // fast path sees them as equal.
  uint8_t* image = backward_image_buffer(backward_span(o));
  if (!image) return;
  copy(image, own_bytes(o.dst_addr, o.dst_size), o.dst_size);
  write_object(o, image);
  if (!failed()) store_own(o.dst_addr, image, o.dst_size);
}

// Backward: the bytes of R's object the image spans (a whole number of the
// destination type's elements, at least the object).
uint64_t Engine::backward_span(const Object& o) {
  uint64_t span = o.dst_size;
  if (!(o.flags & kGlobal) && o.src_type != 0) {
    const PairFacts& facts = pair_facts(o.src_type, o.dst_type);
    uint64_t whole = o.size == facts.src_size ? facts.dst_size
                     : facts.src_size         ? o.size / facts.src_size * facts.dst_size
                                              : 0;
    if (whole > span) span = whole;
  }
  return span;
}

// One object written into `dst` (backward: a scratch image, zeroed where written).
void Engine::write_object(Object& o, uint8_t* dst) {
  if (plugin_table_ && plugin_write(o, dst)) return;  // user transfer code (engine_plugin.cc)
  if (Rule rule = Rule((o.flags & kRuleMask) >> kRuleShift)) {
    path_depth_ = 0;
    const uint8_t* src = source_bytes(o.addr, o.size);
    if (config_.backward) mode_ = kZero, transfer_annotated(rule, src, o.size, dst, o.dst_size);
    mode_ = kWrite, transfer_annotated(rule, src, o.size, dst, o.dst_size);
    if (rule != kRuleSkip) result_.objects++;
    return;
  }
  if (o.flags & kContainer) {  // a header wrapper's block: its header (the object is a sub-object)
    copy(dst, source_bytes(o.addr, o.dst_global), o.dst_global), result_.bytes += o.dst_global;
    return;
  }
  if (!(o.flags & kGlobal) && o.src_type == 0) {  // untyped policy: bytes
    copy(dst, source_bytes(o.addr, o.size), o.dst_size);
    result_.bytes += o.dst_size;
    result_.objects++;
    return;
  }
  if (config_.backward && write_backward_by_plan(o, dst)) {
    result_.objects++;
    return;
  }
  if (config_.backward) {
    mode_ = kZero;
    walk_elements(o, dst);
  }
  mode_ = kWrite;
  walk_elements(o, dst);
  result_.objects++;
}

// Backward, a plain heap object whose elements have a compiled plan (or identical
// pointer-free layouts): one pass instead of zeroing every element's bytes and then
// writing them. A plan that succeeds writes exactly the bytes its zeroing would have
// cleared; an element it cannot write has those bytes zeroed, then the walk writes
// it (and names what is wrong), as walk_elements' two passes would. Anything else
// (globals, sub-objects, USED_N, free slots, container holders, mixed members):
// false, the two passes.
bool Engine::write_backward_by_plan(const Object& o, uint8_t* image) {
  if ((o.flags & (kGlobal | kCarved | kFreeSlots | kHoldsContainers)) || o.used_plus1) return false;
  if (mixed_count_ && is_mixed(src_meta().strip(o.src_type), kMixedElements)) return false;
  const PairFacts& facts = pair_facts(o.src_type, o.dst_type);
  const CompiledPlan* plan = facts.plan;
  const uint8_t* src = source_bytes(o.addr, o.size);
  if (failed() || facts.src_size == 0 || (!plan && !facts.flat) || !src) return false;
  const uint64_t src_elem_size = facts.src_size, dst_elem_size = facts.dst_size, count = o.size / src_elem_size;
  if (facts.flat) {  // the zeroing cleared exactly what this copy writes
    copy(image, src, count * src_elem_size), result_.bytes += count * src_elem_size;
    return true;
  }
  for (uint64_t k = 0; k < count && !failed(); ++k) {
    if (k + kAhead < count) prefetch_plan_targets(*plan, src + (k + kAhead) * src_elem_size, false);
    mode_ = kWrite;
    if (apply_plan(*plan, src + k * src_elem_size, image + k * dst_elem_size)) continue;
    mode_ = kZero;
    apply_plan(*plan, src + k * src_elem_size, image + k * dst_elem_size);
    mode_ = kWrite;
    path_[0].name = nullptr, path_[0].index = k, path_depth_ = 1;
    ++result_.walked;
    walk(o.src_type, o.dst_type, src + k * src_elem_size, image + k * dst_elem_size);
  }
  mode_ = kWrite, path_depth_ = 0;
  return true;
}

uint8_t* Engine::backward_image_buffer(uint64_t n) {
  if (n > backward_image_capacity_) {
    uint64_t cap = n < 4096 ? 4096 : n;
    backward_image_ = alloc<uint8_t>(cap);
    backward_image_capacity_ = backward_image_ ? cap : 0;
  }
  return backward_image_;
}

}  // namespace ttst::stfw::engine_detail
