// engine_index.cc — the object table: the source's globals paired by state ID (renames,
// annotations), its heap objects from its descriptors, lookups by address.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

#include "stfw/xfer/address_order.h"

namespace ttst::stfw::engine_detail {

// Phase 2 (index): the object table, sorted by source address.
bool Engine::index_objects() {
  if (!src_meta().valid() || !dst_meta().valid())
    return fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: metadata image missing"), false;
  if (!allocate_memos() || !resolve_annotations() || !allocate_table()) return false;
  index_globals();
  if (!index_heap()) return false;
  if (heap_walk_descending_) return merge_globals_into_heap_order();
  return merge_out_of_order() || (!failed() && radix_sort_by_address());
}

// The memo tables of the type facts and plans, empty.
bool Engine::allocate_memos() {
  has_pointer_memo_ = alloc<uint8_t>(src_meta().type_count());
  counterpart_memo_ = alloc<uint32_t>(src_meta().type_count());
  same_flat_memo_ = alloc<Memo>(4096);
  member_plans_ = alloc<PlanSlot>(16384);
  dst_site_memo_ = alloc<SiteSlot>(1024);
  if (failed()) return false;
  zero(member_plans_, 16384 * sizeof(PlanSlot));
  zero(dst_site_memo_, 1024 * sizeof(SiteSlot));
  zero(has_pointer_memo_, src_meta().type_count());
  for (uint32_t i = 0; i < src_meta().type_count(); ++i) counterpart_memo_[i] = 0xffffffffu;
  zero(same_flat_memo_, 4096 * sizeof(Memo));
  return true;
}

// Both versions' annotations; one that names nothing is bad input, named.
bool Engine::resolve_annotations() {
  const dwarfmeta::image::ImageAnnotation* bad = nullptr;
  bool bad_in_newer = false;
  const View& older = config_.backward ? dst_meta() : src_meta();
  const View& newer = config_.backward ? src_meta() : dst_meta();
  if (annotations_.init(older, newer, env_->scratch, env_->ctx, &bad, &bad_in_newer)) return true;
  if (!bad)
    return fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: the agent's arena is exhausted (give it a larger heap)"), false;
  const View& meta = bad_in_newer ? newer : older;
  static const char* const kinds[] = {"",          "IXFER",       "PXFER",    "RENAMED_FROM",
                                      "NO_TRANSFER", "ALLOCATOR", "DEALLOCATOR", "CONTAINER",
                                      "POINTS_TO",   "USED_N",    "DROPPED",     "KEEP_NEW",
                                      "FREE_SLOTS"};
  fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: annotation TTST_")
      .text(bad->kind == TTST_ANNOT_TAGGED     ? "TAGGED"
            : bad->kind == TTST_ANNOT_EMBEDDED ? "EMBEDDED"
                                               : kinds[bad->kind < sizeof kinds / sizeof kinds[0] ? bad->kind : 0])
      .text("(")
      .text(meta.str(bad->target))
      .text(") in ")
      .text(meta.str(bad->file))
      .text(" names nothing in ")
      .text(bad_in_newer ? "v2" : "v1")
      .text("'s metadata: fix the annotation");
  if (bad->kind == TTST_ANNOT_TAGGED)  // engine_values.cc
    message_.text(" (TTST_TAGGED: ").text(meta.str(bad->arg)).text(": a pointer member, a sibling tag and V:T cases, "
                                                                   "every type T named in that version)");
  if (bad->kind == TTST_ANNOT_EMBEDDED)  // engine_embedded.cc
    message_.text(" (TTST_EMBEDDED: ").text(meta.str(bad->arg)).text(": a struct member, the embedded type, a sibling "
                                                                     "F:MASK or nothing, and N / sibling / F:MASK:N terms)");
  return false;
}

// The object table, sized from the source runtime's count of live heap blocks.
bool Engine::allocate_table() {
  const ttst_runtime* runtime =
      reinterpret_cast<const ttst_runtime*>(source_bytes(config_.src_runtime, sizeof(ttst_runtime)));
  if (!runtime || runtime->magic != TTST_RUNTIME_MAGIC) {
    fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: no ttst runtime block at ")
        .hex(config_.src_runtime)
        .text(" in the source (built with ttst-cc?)");
    return false;
  }
  uint64_t live = 0;
  for (uint32_t stripe = 0; stripe < TTST_HEAP_STRIPES; ++stripe) live += runtime->stripes[stripe].live;
  const uint64_t filled = live + src_meta().global_count() * (1 + config_.thread_tls_count);
  // Kept for second runs (engine_delta.cc): room for as many blocks again as they
  // add, address space only until they do (rounds on the delta add P's new blocks
  // run after run; a table grown later is copied whole).
  const uint64_t room = config_.keep ? live + 4096 : 0;
  if (filled + room > 0xfffffff0ull) return fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: too many heap blocks"), false;
  object_capacity_ = uint32_t(filled + room);
  objects_ = alloc_room<Object>(object_capacity_, filled);
  return !failed();
}

// Every global of the source with an address (thread-local ones in the main
// thread's block, when both blocks are known), paired with this version's by state
// ID (or RENAMED_FROM), with its annotation's rule. Thread-local ones again in each
// other pair of threads' blocks (Config::thread_tls, issue 19).
void Engine::index_globals() {
  bool tls = config_.src_tls && config_.dst_tls;
  for (uint32_t i = 0; i < src_meta().global_count(); ++i) {
    const ImageGlobal& global = src_meta().global_at(i);
    if ((global.tls && !tls) || global.size == 0) continue;
    index_global(i, config_.src_tls, config_.dst_tls);
  }
  for (uint64_t k = 0; k < config_.thread_tls_count; ++k) {
    const uint64_t src_block = config_.thread_tls[2 * k], dst_block = config_.thread_tls[2 * k + 1];
    if (!src_block || !dst_block) continue;
    for (uint32_t i = 0; i < src_meta().global_count(); ++i)
      if (src_meta().global_at(i).tls && src_meta().global_at(i).size) index_global(i, src_block, dst_block);
  }
  global_count_ = object_count_;
}

void Engine::index_global(uint32_t i, uint64_t src_tls, uint64_t dst_tls) {
  const ImageGlobal& global = src_meta().global_at(i);
  // The runtime's own state (heap lists, flags) belongs to each process.
  if (streq(src_meta().str(global.file), "ttst_runtime.c")) return;
  Object& o = objects_[object_count_++];
  zero(&o, sizeof o);
  o.addr = global.addr + (global.tls ? src_tls : config_.src_bias), o.size = global.size;
  o.src_type = global.type, o.src_global = i, o.dst_global = 0xffffffffu;
  o.flags = kGlobal | (global.readonly ? kReadonly : 0);
  const char* id = src_meta().str(global.id);
  const char* renamed = config_.backward ? annotations_.older_id(id) : annotations_.newer_id(id);
  const ImageGlobal* counterpart = dst_meta().global(renamed ? renamed : id);
  Rule rule = annotations_.global_rule(id);
  if (rule == kRuleDefault && counterpart) rule = annotations_.global_rule(dst_meta().str(counterpart->id));
  o.flags |= uint32_t(rule) << kRuleShift;
  if (counterpart && counterpart->tls == global.tls) {
    o.dst_global = uint32_t(counterpart - &dst_meta().global_at(0));
    o.dst_type = counterpart->type, o.dst_size = counterpart->size;
    o.dst_addr = counterpart->addr + (counterpart->tls ? dst_tls : config_.dst_bias);
  }
}

// The source's heap objects from its descriptors (ttst_heap_walk over the copy).
bool Engine::index_heap() {
  int64_t walked = ttst_heap_walk(config_.src_runtime, &Engine::read_source_copy, this, &Engine::add_heap_object, this);
  if (walked < 0) {
    fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: the source's heap lists are unreadable (walk error ")
        .signed_number(walked)
        .text(")");
    return false;
  }
  if (failed()) return false;
  if (last_walked_) last_walked_->next = nullptr;
  return true;
}

// Globals come first, sorted by ID; the heap lists are newest first, which is
// usually descending addresses: reversed, the heap is often already in order.
uint32_t Engine::globals_then_oldest(uint32_t i) const {
  return i < global_count_ ? i : object_count_ - 1 - (i - global_count_);
}

// The heap walked in descending addresses: the (few) globals, insertion-sorted, are
// merged into the reversed heap order; no key arrays.
bool Engine::merge_globals_into_heap_order() {
  uint32_t* globals = alloc<uint32_t>(global_count_ + 1);
  sorted_index_ = alloc<uint32_t>(object_count_);
  sorted_addr_ = alloc<uint64_t>(object_count_);
  if (failed()) return false;
  for (uint32_t i = 0; i < global_count_; ++i) {
    uint32_t j = i;
    for (; j > 0 && objects_[globals[j - 1]].addr > objects_[i].addr; --j) globals[j] = globals[j - 1];
    globals[j] = i;
  }
  uint32_t next_global = 0, next_heap = global_count_;
  for (uint32_t k = 0; k < object_count_; ++k) {
    bool take_global = next_global < global_count_ &&
                       (next_heap == object_count_ ||
                        objects_[globals[next_global]].addr <= objects_[globals_then_oldest(next_heap)].addr);
    uint32_t index = take_global ? globals[next_global++] : globals_then_oldest(next_heap++);
    sorted_index_[k] = index, sorted_addr_[k] = objects_[index].addr;
  }
  return true;
}

// The heap walked mostly, not wholly, in descending addresses (address_order.h):
// the reversed walk's ascending run stays, the blocks out of it and the globals are
// sorted aside and merged in. More than a sixteenth of the heap aside: false.
bool Engine::merge_out_of_order() {
  const uint32_t heap = object_count_ - global_count_, limit = global_count_ + heap / 16 + 64;
  AsideBuffers b{alloc<AddressKey>(limit), alloc<AddressKey>(limit), alloc<uint32_t>(65536), 0, limit};
  sorted_index_ = alloc<uint32_t>(object_count_);
  sorted_addr_ = alloc<uint64_t>(object_count_);
  if (failed()) return false;
  for (uint32_t i = 0; i < global_count_; ++i) b.aside[b.aside_count++] = {objects_[i].addr, i};
  const auto oldest_first = [this](uint32_t k, uint64_t* addr, uint64_t* index) {
    *index = object_count_ - 1 - k, *addr = objects_[*index].addr;
  };
  return merge_mostly_ascending(heap, oldest_first, b, sorted_index_, sorted_addr_);
}

// Otherwise: every (address, index) key radix-sorted.
bool Engine::radix_sort_by_address() {
  AddressKey* keys = alloc<AddressKey>(object_count_);
  AddressKey* tmp = alloc<AddressKey>(object_count_);
  uint32_t* bucket = alloc<uint32_t>(65536);
  if (failed()) return false;
  for (uint32_t i = 0; i < object_count_; ++i)
    keys[i] = {objects_[globals_then_oldest(i)].addr, globals_then_oldest(i)};
  keys = sort_address_keys(keys, tmp, bucket, object_count_);
  uint32_t* index = alloc<uint32_t>(object_count_);
  sorted_addr_ = alloc<uint64_t>(object_count_);
  if (failed()) return false;
  for (uint32_t i = 0; i < object_count_; ++i) index[i] = uint32_t(keys[i].index), sorted_addr_[i] = keys[i].addr;
  sorted_index_ = index;
  return true;
}

// ttst_heap_walk's visitor: one table entry per heap block of the source.
uint32_t Engine::heap_object_flags(const ttst_heap_desc* desc) const {
  // A block the transfer allocated (origin_id set) is the program's even when its
  // site no longer exists in this version (site 0 makes the runtime say FROM_LIB).
  uint32_t flags = desc->origin_id ? 0 : (desc->flags & kFromLibrary);
  if (config_.backward && !desc->origin_id && !(desc->flags & kFromLibrary)) flags |= kOwnStartup;
  return flags;
}

int Engine::add_heap_object(void* ctx, uint64_t addr, const ttst_heap_desc* desc) {
  Engine* engine = static_cast<Engine*>(ctx);
  Object& o = engine->objects_[engine->object_count_++];
  zero(&o, sizeof o);
  o.addr = addr, o.size = desc->size;
  o.flags = engine->heap_object_flags(desc);
  o.src_global = o.dst_global = 0xffffffffu;
  // The copy is ours: its descriptor's `prev` (already checked by the walk) now
  // names the object, so a base pointer finds its object with one read.
  const_cast<ttst_heap_desc*>(desc)->prev = reinterpret_cast<ttst_heap_desc*>(kIndexTag | (engine->object_count_ - 1));
  const_cast<ttst_heap_desc*>(desc)->offset = 0;  // not typed yet
  // `next` (no mapping yet) is cleared one step behind the walk, which follows it.
  if (engine->last_walked_) {
    engine->last_walked_->next = nullptr;
    walk_ahead(desc, engine->last_walked_);
  }
  engine->last_walked_ = const_cast<ttst_heap_desc*>(desc);
  if (engine->object_count_ > engine->global_count_ + 1 && addr > engine->objects_[engine->object_count_ - 2].addr)
    engine->heap_walk_descending_ = false;
  return 0;
}

// The walk chases one link per object; blocks allocated one after another lie at a
// constant stride, which the hardware prefetchers lose at each page boundary: the
// descriptor that many steps down the same stride is requested ahead (a hint only,
// never read here).
void Engine::walk_ahead(const ttst_heap_desc* desc, const ttst_heap_desc* before) {
  int64_t stride = reinterpret_cast<const char*>(desc) - reinterpret_cast<const char*>(before);
  if (stride > -4096 && stride < 4096) __builtin_prefetch(reinterpret_cast<const char*>(desc) + 16 * stride);
}

// The object holding source address v (one past its end counts), or -1.
// The copy's descriptor of the heap object whose base address is v, or NULL.
// After indexing, its `prev` holds the object's index, `next` (after mapping) the
// destination address, `offset` the source type + 1 once typed: the hot paths
// read one cache line of the copy instead of the object table.
ttst_heap_desc* Engine::base_descriptor(uint64_t v) const {
  if (v & 7) return nullptr;  // not a block's base (16-byte aligned); its descriptor would be read misaligned
  const uint8_t* bytes = v > kDescSize ? source_bytes(v - kDescSize, kDescSize) : nullptr;
  if (!bytes) return nullptr;
  ttst_heap_desc* desc = reinterpret_cast<ttst_heap_desc*>(const_cast<uint8_t*>(bytes));
  uint64_t tag = reinterpret_cast<uint64_t>(desc->prev);
  if (desc->magic == TTST_HEAP_LIVE && (tag & ~0xffffffffull) == kIndexTag && (tag & 0xffffffffu) < object_count_)
    return desc;
  return nullptr;
}

void Engine::set_dst_in_copy(uint64_t addr, uint64_t dst) {
  if (ttst_heap_desc* desc = base_descriptor(addr)) desc->next = reinterpret_cast<ttst_heap_desc*>(dst);
}

int64_t Engine::object_holding(uint64_t v) const {
  if (const ttst_heap_desc* desc = base_descriptor(v))
    return int64_t(reinterpret_cast<uint64_t>(desc->prev) & 0xffffffffu);
  uint64_t lo = 0, hi = heap_end_ ? heap_end_ : object_count_;  // sub-objects (after heap_end_) are not sorted
  // The last search's answer again when v lies between the same two sorted addresses
  // (the search would end there too): pointers to one global (bankserver's policies[])
  // from a million objects skip ~22 steps over the table's addresses each.
  const uint64_t k = last_holding_;
  if (k > 0 && k <= hi && sorted_addr_[k - 1] <= v && (k == hi || v < sorted_addr_[k]))
    lo = hi = k;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (sorted_addr_[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return delta_sorted_count_ ? new_object_holding(v) : -1;
  last_holding_ = lo;
  // A block freed since the first run (gone) may lie at or inside a live one a
  // second run folded in (engine_delta.cc fold_delta): walked back past.
  uint64_t at = lo;
  while (at > 1 && (objects_[sorted_index_[at - 1]].flags & kDeltaGone) && lo - at < 16) --at;
  const Object& o = objects_[sorted_index_[at - 1]];
  if (v - o.addr <= o.size && o.size > 0 && !(o.flags & kDeltaGone)) return sorted_index_[at - 1];
  return delta_sorted_count_ ? new_object_holding(v) : -1;  // a block a second run added (engine_delta.cc)
}

void Engine::describe_current() {
  if (current_ == kKernelWord)
    message_.text("the data of epoll registration #").number(current_kernel_word_);
  else if (current_ >= kFrameRootBase && current_ - kFrameRootBase < root_local_count_)  // frame_roots.cc
    message_.text("the local ").text(root_locals_[current_ - kFrameRootBase][0]).text("::").text(root_locals_[current_ - kFrameRootBase][1]);
  else if (current_ >= kFrameRootBase)
    message_.text("a local of the frames at the update point");
  else
    describe(message_, objects_[current_]);
}

void Engine::describe(Message& to, const Object& o) {
  if (o.flags & kGlobal) {
    to.text(src_meta().str(src_meta().global_at(o.src_global).id));
  } else if (o.flags & kCarved) {  // a sub-object: its type, where, in which container
    const Object& c = objects_[o.src_global];
    to.text(type_name(src_meta(), src_meta().strip(o.src_type))).text(" at +").number(o.addr - c.addr).text(" of ");
    describe(to, c);
  } else {
    const auto* site = src_meta().alloc_site(site_of(o) - config_.src_bias);
    to.text("heap object #").number(dyn_id_of(o)).text(" (").number(o.size).text(" bytes, site ");
    if (site)
      to.text(src_meta().str(site->id));
    else
      to.hex(site_of(o));
    to.text(")");
  }
}

void Engine::describe_path(Message& to) {
  for (uint32_t i = 0; i < path_depth_; ++i) {
    if (path_[i].name)
      to.text(".").text(path_[i].name);
    else
      to.text("[").number(path_[i].index).text("]");
  }
}

}  // namespace ttst::stfw::engine_detail
