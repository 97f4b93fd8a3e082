// engine_delta.cc — a second run on the same state (pre-copy stage 2; engine.h
// transfer_delta, stfw/README.md "A second run on the same state"). The first run
// transferred a snapshot S of the program; the program then served on and wrote
// some pages. Their bytes now (P's) are patched into the copy, and only what they
// hold is transferred again: the objects on them re-written, the blocks allocated
// since added to the table (typed from the changed pointers, else by their sites,
// allocated here), the blocks freed since released here. Everything else of the
// first run stands: its table, types, destinations and F's memory.
//
// Sound only where the first run's decisions still hold, so anything that could
// unsettle one is refused (TTST_STFW_STATUS_DELTA_REFUSED, and the caller
// transfers everything again): a block of the first run typed otherwise now (its
// block here has the old type's size, pointers to it were translated for that
// type), a struct local of the frames holding pointers changed, a pointer local
// changed that F keeps where it cannot be written, and the features whose decisions span objects:
// carved containers, free lists, user transfer code, library types, KEEP_NEW,
// mixed members, other threads. A block still live in P is found either by its
// descriptor (same address, dyn_id, size and site as in S) or among the newest
// blocks at the heads of the lists (the runtime links a new block first); the
// lists' live counts must add up to exactly those, or the change is refused.
//
// Backward (in the first run's R, into which the caller copied the
// program's changed pages): the source is F after its own second run, patched with
// the pages that run wrote; the objects whose counterparts lie on the program's
// changed pages (Delta::own_ranges) are written again too, from F, so that a change
// the forward run missed shows in the diff; F's new blocks are paired with the
// program's new blocks, at the heads of R's lists, by origin.
// This file: the run's order, its refusals, the bitmap of changed objects and the
// phases (typing, allocation, writing, the fold for the next run); what changed is
// found by engine_delta_patch.cc, the new blocks by engine_delta_new.cc.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

bool Engine::delta_refuse(const char* why) {
  fail(TTST_STFW_STATUS_DELTA_REFUSED, "delta refused: ").text(why);
  return false;
}

Result Engine::run_delta(const Delta& delta) {
  result_ = Result{};
  message_ = Message{delta.out, delta.out_size};
  clear_refusal();
  delta_ = true, last_region_ = nullptr, last_holding_ = 0;
  if (delta.frames) config_.frames = delta.frames, config_.frames_size = delta.frames_size;
  if (delta.src_heap_hi) config_.src_heap_hi = delta.src_heap_hi;
  own_lo_ = own_hi_ = 0;  // backward: R's pages differ from the first run's where the caller copied
  run_block_used_ = 0, gone_now_count_ = 0, delta_last_ = delta.last;
  const uint64_t t0 = rdtsc();
  if (!delta_possible() || !prepare_changed_bits() || !patch_source(delta) || !add_new_objects() ||
      !mark_own_ranges(delta))
    return finish();
  const uint64_t t1 = rdtsc();
  if (!type_delta()) return finish();
  const uint64_t t2 = rdtsc();
  if (!map_delta()) return finish();
  const uint64_t t3 = rdtsc();
  write_delta();
  const uint64_t t4 = rdtsc();
  result_.phase_cycles[0] = t1 - t0, result_.phase_cycles[1] = t2 - t1;
  result_.phase_cycles[2] = t3 - t2, result_.phase_cycles[3] = t4 - t3;
  return finish();
}

// What the second run does not follow, refused before anything is patched.
bool Engine::delta_possible() {
  if (!config_.keep) return delta_refuse("the first run did not keep room for one");
  if (container_count_ || free_element_count_ || annotations_.has_free())
    return delta_refuse("the state has carved containers or free lists (TTST_CONTAINER, TTST_FREE_*)");
  if (plugin_table_) return delta_refuse("the update has user transfer code");
  if (library_embedded_count_ || library_dst_embedded_count_) return delta_refuse("the state embeds a library's types");
  if (kept_count_) return delta_refuse("the state keeps v2's start-up graphs (TTST_KEEP_NEW)");
  if (mixed_count_) return delta_refuse("the state has mixed pointer members (TTST_TAGGED or untagged)");
  if (config_.thread_tls_count || config_.thread_stack_count) return delta_refuse("the program has several threads");
  if (object_count_ != heap_end_) return delta_refuse("the first run carved sub-objects");
  return true;
}

void* Engine::run_scratch(uint64_t bytes) {
  if (run_block_used_ + bytes > run_block_size_) {
    // A larger block for the rest of this run and the runs after (the last one's
    // allocations stay valid where they are).
    const uint64_t size = 2 * (run_block_used_ + bytes) + (1ull << 20);
    run_block_ = alloc<uint8_t>(size);
    if (failed()) return nullptr;
    run_block_size_ = size, run_block_used_ = 0;
  }
  void* p = run_block_ + run_block_used_;
  run_block_used_ += bytes;
  return p;
}

// One bit per object of the table at this run's start, all clear: patch_source and
// mark_own_ranges mark the objects they change (mark_changed); the phases walk
// those alone, in index order (for_each_changed), not the whole table.
bool Engine::prepare_changed_bits() {
  const uint64_t words = (uint64_t(object_count_) + 63) / 64;
  if (words > changed_words_) {
    changed_words_ = (uint64_t(object_capacity_) + 63) / 64 > words ? (uint64_t(object_capacity_) + 63) / 64 : words;
    changed_bits_ = alloc<uint64_t>(changed_words_);
    if (failed()) return false;
  }
  zero(changed_bits_, words * 8);
  return true;
}

void Engine::mark_changed(uint32_t i) {
  objects_[i].flags |= kDeltaChanged;
  changed_bits_[i / 64] |= 1ull << (i % 64);
}

uint64_t Engine::changed_count() {
  uint64_t n = 0;
  for_each_changed([&](uint32_t) { ++n; });
  return n;
}

// visit(i) for each object of the first run's table (below delta_first_new_) that
// mark_changed marked, in index order.
template <class Visit>
void Engine::for_each_changed(Visit&& visit) {
  const uint64_t words = (uint64_t(delta_first_new_) + 63) / 64;
  for (uint64_t w = 0; w < words; ++w)
    for (uint64_t bits = changed_bits_[w]; bits; bits &= bits - 1) {
      const uint64_t i = w * 64 + uint64_t(__builtin_ctzll(bits));
      if (i < delta_first_new_) visit(uint32_t(i));
    }
}

// Typing from what changed: the changed globals and typed heap objects walked again
// (a target of the first run typed otherwise refuses in queue_for_typing), the new
// objects they reach typed and walked; the rest of the new ones by their sites, as
// the first run's rounds did. The frames' pointer locals that changed type their
// targets first (frame_roots.cc type_changed_frame_roots).
bool Engine::type_delta() {
  typing_stack_ = run_alloc<uint32_t>(2 * uint64_t(object_count_ - delta_first_new_) + 64);
  typing_stack_size_ = 0;
  if (failed() || !type_changed_frame_roots()) return false;
  sweep_position_ = 0xffffffffu;  // every object is behind the sweep: a typed target is walked at once
  mode_ = kType;
  for_each_changed([&](uint32_t i) {
    const Object& o = objects_[i];
    if (failed() || !(o.flags & kDeltaChanged)) return;
    if ((o.flags & kGlobal) ? (o.flags & (kReadonly | kRuleMask)) || o.dst_global == 0xffffffffu
                            : o.src_type == 0 || (o.flags & kFromLibrary))
      return;
    current_ = i;
    walk_elements(o, nullptr);
    type_queued();
  });
  // The new objects no typed pointer reached, as the first run's rounds did (its
  // rounds' memo answers of typed_object_of_site not reused: rounds 4 on).
  return !failed() && type_by_sites(delta_first_new_, 4);
}

// New objects: their destination sizes (the untyped policy's checks as in the first
// run), blocks allocated here. Gone objects: their blocks here released. A changed
// untyped object of the first run is checked again for words that look like pointers.
bool Engine::map_delta() {
  bool refused = false;
  for_each_changed([&](uint32_t i) {
    const Object& o = objects_[i];
    if (!refused && i >= global_count_ && (o.flags & kDeltaChanged) && o.src_type == 0 && !(o.flags & kFromLibrary))
      refused = refuse_untyped_pointer(o);
  });
  if (refused || !size_destinations(delta_first_new_)) return false;
  if (config_.backward) return pair_new_objects();
  bool gone = false;  // blocks freed since the last run (an earlier run's were released then)
  for (uint32_t k = 0; k < gone_now_count_ && !gone; ++k) gone = objects_[gone_now_[k]].dst_addr != 0;
  if (gone && !env_->release) return delta_refuse("blocks were freed and this process cannot free theirs");
  for (uint32_t i = object_count_; i-- > delta_first_new_;) {  // newest first, as the first run's order
    Object& o = objects_[i];
    if (o.flags & kFromLibrary) continue;
    o.dst_addr = env_->alloc(env_->ctx, o.dst_size ? o.dst_size : 1, dst_site(site_of(o)), dyn_id_of(o));
    if (!o.dst_addr) {
      fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: the program's allocator refused ").number(o.dst_size).text(" bytes for ");
      describe(message_, o);
      return false;
    }
    set_dst_in_copy(o.addr, o.dst_addr);
  }
  for (uint32_t k = 0; k < gone_now_count_; ++k) {
    Object& o = objects_[gone_now_[k]];
    if (!o.dst_addr) continue;
    env_->release(env_->ctx, o.dst_addr), result_.freed++;
    o.dst_addr = 0;
  }
  return true;
}

// The changed and new objects written again (globals too: never superseding a
// start-up object again, delta_), then the frames' pointer locals that changed and
// the scalar locals.
// The objects to write are listed in table order (the globals first) and, when
// they are many (an eighth of Config::beside_min), written on two threads as a
// first run's are (engine_parallel_write.cc) — backward only: forward, F's pages
// are shared with F_key (the supervisor's record of what this run writes), and the
// copy-on-write fault of a process running on two CPUs flushes the other CPU's
// TLB each time (on a VM an interrupt between virtual CPUs): measured at 1 M
// accounts, F's writes took 200-230 ms on two threads against 136-176 on one.
// R's writes store only the words that differ and fault few pages: 97-151 -> 46-68 ms.
void Engine::write_delta() {
  uint32_t* list = run_alloc<uint32_t>(uint64_t(object_count_ - delta_first_new_) + 1 + changed_count());
  if (failed()) return;
  uint32_t n = 0, globals = 0;
  for_each_changed([&](uint32_t i) {
    if ((objects_[i].flags & (kDeltaChanged | kDeltaGone)) == kDeltaChanged)
      list[n++] = i, globals += i < global_count_;
  });
  for (uint32_t i = delta_first_new_; i < object_count_; ++i)
    if ((objects_[i].flags & (kDeltaChanged | kDeltaGone)) == kDeltaChanged) list[n++] = i;
  write_list_ = list, write_list_count_ = n;
  const uint32_t beside_min = config_.beside_min / 8 ? config_.beside_min / 8 : 1;
  if (!config_.backward || n - globals < beside_min || !write_beside(globals, n)) write_range(0, n);
  write_list_ = nullptr;
  if (!failed()) settle_changed_frame_roots();
  if (!failed()) settle_scalar_locals();
  if (!failed() && !delta_last_) record_frame_roots();  // the next second run starts from this one
  if (!failed() && !delta_last_) fold_delta();
}

// After a second run, for the next (pre-copy's rounds on the delta): its new
// objects merged into the table's address order (a gone object before a new one at
// its address: object_holding walks back past gone ones), the changed marks cleared.
// The merge goes into the pair of arrays the last fold left (their pages already
// there), new ones only when that pair is too small.
void Engine::fold_delta() {
  const uint32_t n = delta_sorted_count_, m = heap_end_;
  const uint64_t need = uint64_t(m) + n + 1;
  if (!sorted_room_) sorted_room_ = m;  // the first run's pair: exactly its table
  if (spare_sorted_room_ < need) {
    spare_sorted_room_ = need + need / 4;
    spare_sorted_addr_ = alloc<uint64_t>(spare_sorted_room_);
    spare_sorted_index_ = alloc<uint32_t>(spare_sorted_room_);
    if (failed()) return;
  }
  uint64_t* addr = spare_sorted_addr_;
  uint32_t* index = spare_sorted_index_;
  uint32_t a = 0, b = 0, k = 0;
  while (a < m || b < n)
    if (b == n || (a < m && sorted_addr_[a] <= delta_sorted_addr_[b]))
      addr[k] = sorted_addr_[a], index[k++] = sorted_index_[a++];
    else
      addr[k] = delta_sorted_addr_[b], index[k++] = delta_sorted_index_[b++];
  spare_sorted_addr_ = sorted_addr_, spare_sorted_index_ = sorted_index_;
  const uint64_t room = sorted_room_;
  sorted_room_ = spare_sorted_room_, spare_sorted_room_ = room;
  sorted_addr_ = addr, sorted_index_ = index, heap_end_ = k;
  delta_sorted_count_ = 0, last_holding_ = 0;
  for_each_changed([&](uint32_t i) { objects_[i].flags &= ~kDeltaChanged; });
  for (uint32_t i = delta_first_new_; i < object_count_; ++i) objects_[i].flags &= ~kDeltaChanged;
}

}  // namespace ttst::stfw::engine_detail
