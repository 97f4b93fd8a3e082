// engine_containers.cc — carved containers: heap blocks the user declared (TTST_CONTAINER,
// TTST_SLAB: slab pages, pool blocks, regions) hold typed sub-objects that typed pointers
// into them carve; the rest of a block is free memory, not state.
//
// Placement is the simple sound one: a container is allocated in F at its size and
// every sub-object stays at its offset, so any pointer into a container (a
// sub-object, a free slot, the end of the used part) maps by offset. A sub-object
// whose type's layout changed cannot stay in place: refused, needs transfer code.
// A sub-object extends from its start to the next sub-object of its container (or
// the container's end), at most one chunk (TTST_SLAB's chunk member); the bytes
// after its type are its flexible array member's data (memcached's item: key,
// suffix, value), carried as bytes — without such a member they must not look like
// pointers (else refused: untyped data in a pool would be copied blind).
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/address_order.h"
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

// How many 8-byte words of the copy hold an address inside one of the n sorted,
// disjoint ranges [lo, hi). A bucket index over their span narrows each word's search
// to the ranges starting in its bucket (memcached: 1 MB slab pages, one or two per
// bucket) instead of a binary search of them all: the copy has tens of millions of
// words, millions of them pointers into the ranges.
uint64_t Engine::words_into(const uint64_t* lo, const uint64_t* hi, uint32_t n) {
  constexpr uint32_t kBuckets = 4096;
  uint32_t* first = n ? alloc<uint32_t>(kBuckets + 1) : nullptr;
  if (!first) return 0;
  const uint64_t base = lo[0], span = hi[n - 1] - base;
  uint32_t shift = 0;
  while ((span >> shift) >= kBuckets) ++shift;
  for (uint32_t b = 0, a = 0; b <= kBuckets; ++b) {  // first[b]: the last range starting at or below bucket b
    const uint64_t start = base + (uint64_t(b) << shift);
    while (a + 1 < n && lo[a + 1] <= start) ++a;
    first[b] = a;
  }
  uint64_t count = 0;
  const Region* zero = delta_ ? nullptr : config_.zero_ranges;  // (Config::zero_ranges: pages left out, zeros)
  const Region* zero_end = zero ? zero + config_.zero_range_count : nullptr;
  for (uint64_t r = 0; r < config_.region_count; ++r) {
    const Region& region = config_.regions[r];
    for (uint64_t k = 0; k + 8 <= region.size; k += 8) {
      while (zero != zero_end && zero->addr + zero->size <= region.addr + k) ++zero;
      if (zero != zero_end && zero->addr <= region.addr + k) {  // zeros: no word points anywhere
        k = ((zero->addr + zero->size - region.addr + 7) & ~uint64_t{7}) - 8;
        continue;
      }
      uint64_t w;
      __builtin_memcpy(&w, region.local + k, 8);
      const uint64_t off = w - base;
      if (off >= span) continue;
      const uint64_t b = off >> shift;
      uint32_t a = first[b], z = first[b + 1] + 1;  // the last range starting at or below w is in [a, z)
      while (z - a > 1) {
        const uint32_t mid = (a + z) / 2;
        if (lo[mid] <= w) a = mid;
        else z = mid;
      }
      count += w < hi[a];
    }
  }
  return count;
}

// Room for the sub-objects: each is carved by a pointer stored in the source, so
// the words of the source's memory that point into a container bound their number.
bool Engine::prepare_carving() {
  uint64_t* lo = alloc<uint64_t>(container_count_ + 1);
  uint64_t* hi = alloc<uint64_t>(container_count_ + 1);
  if (failed()) return false;
  uint32_t n = 0;
  uint64_t containers_digest = 0;  // which containers: the same ones, the same bound
  for (uint32_t k = 0; k < heap_end_ && n < container_count_; ++k) {
    const Object& o = objects_[sorted_index_[k]];
    if (o.flags & kContainer)
      lo[n] = o.addr, hi[n] = o.addr + o.size, containers_digest = containers_digest * 0x9e3779b97f4a7c15ull + o.addr, ++n;
  }
  // A later pass that declared no container (memcached 1.6's passes find more free
  // elements only) has the last scan's bound: the scan reads the whole copy.
  const bool same = n == bound_containers_ && containers_digest == bound_digest_;
  const uint64_t bound = same ? bound_words_ : words_into(lo, hi, n);
  if (failed()) return false;
  bound_containers_ = n, bound_digest_ = containers_digest, bound_words_ = bound;
  if (uint64_t(heap_end_) + bound > 0xfffffff0ull)
    return fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: too many pointers into containers"), false;
  // The bound counts every word that points into a container, and a sub-object is
  // usually pointed at by several (memcached's items: a hash chain's link and both
  // LRU links), so much of the room stays unused: the helper faults in room for half
  // the bound, the rest is address space (faulted in if carving reaches it), and a
  // quarter more for a later pass (its containers draw a few more words) —
  // memcached 1.6 with 1 M keys: a bound of 3 M words for 1 M items, the table
  // (171 MB) and typing stack faulted in whole, and again by the second pass, were
  // 390 of the 525 MB its typing took.
  const uint64_t capacity = heap_end_ + bound;
  if (capacity > object_capacity_) {
    const uint64_t room = capacity + capacity / 4 < 0xfffffff0ull ? capacity + capacity / 4 : 0xfffffff0ull;
    Object* bigger = alloc_room<Object>(room, heap_end_ + bound / 2);  // faulted in: what a bound like memcached's carves
    if (failed()) return false;
    copy(bigger, objects_, uint64_t(heap_end_) * sizeof(Object));
    objects_ = bigger, object_capacity_ = uint32_t(room);
  }
  // A later pass (more containers declared) reuses the last one's arrays when they
  // are large enough: fresh arena memory costs a page fault and the kernel's zeroing
  // per page, for each pass (memcached 1.6: three passes, ~20 MiB each). The stack
  // holds each object at most once: faulted in as deep as it goes.
  const uint64_t stack_room = 2 * uint64_t(object_capacity_ > object_count_ ? object_capacity_ : object_count_) + 1;
  if (stack_room > typing_stack_room_)
    typing_stack_ = alloc_room<uint32_t>(stack_room, 0), typing_stack_room_ = stack_room;
  // The open-addressing table of sub-objects: twice the slots of the words' bound
  // would be four times the sub-objects of a bound like memcached's (8 M slots, 96 MB
  // zeroed for 1 M items); it doubles when half full (grow_carved_table).
  uint64_t wanted = 16;
  while (wanted < bound + 16) wanted <<= 1;
  bool fresh = false;
  if (!carved_slots_ || carved_capacity_ < wanted) {  // an open-addressing table larger than wanted: sparser, as good
    carved_capacity_ = wanted;
    carved_slots_ = alloc<CarvedSlot>(carved_capacity_);
    fresh = env_->scratch_zeroed;
  }
  if (fresh)
    carved_used_ = 0, carved_rehashed_ = false;
  else
    clear_carved_table();
  return !failed();
}

// The carved table emptied for the next pass: when the sub-objects are few for its
// size, their slots cleared one by one, the latest carved first (linear probing put
// each past earlier ones only, so every probe still finds its slot); else, or when a
// growth rehashed the slots, the whole table. memcached 1.6 with 1 M keys: the passes
// before the last carve 2 and 26,000 items into a 64 MB table, whose clearing faulted
// its pages in on this thread ahead of the helper.
void Engine::clear_carved_table() {
  if (!carved_slots_ || carved_used_ == 0) return;
  const uint64_t carved = object_count_ - heap_end_;
  if (carved_rehashed_ || carved != carved_used_ || carved * 16 > carved_capacity_) {
    zero(carved_slots_, carved_capacity_ * sizeof(CarvedSlot));
  } else {
    for (uint32_t i = object_count_; i-- > heap_end_;) {
      const uint64_t v = objects_[i].addr;
      uint64_t h = address_slot(v, carved_capacity_);
      while (carved_slots_[h].addr != v && carved_slots_[h].addr != 0) h = (h + 1) & (carved_capacity_ - 1);
      carved_slots_[h] = {0, 0};
    }
  }
  carved_used_ = 0, carved_rehashed_ = false;
}

// The bound above counts the pointers stored in the source's memory; roots outside
// it (registers of the source's frames) can carve more. Doubled, never full: a full
// open-addressing table would make the insertion probe forever (a hang, not a refusal).
bool Engine::grow_carved_table() {
  uint64_t capacity = carved_capacity_ * 2;
  CarvedSlot* slots = alloc<CarvedSlot>(capacity);
  if (failed()) return false;
  if (!env_->scratch_zeroed) zero(slots, capacity * sizeof(CarvedSlot));
  for (uint64_t k = 0; k < carved_capacity_; ++k) {
    if (carved_slots_[k].addr == 0) continue;
    uint64_t h = address_slot(carved_slots_[k].addr, capacity);
    while (slots[h].addr != 0) h = (h + 1) & (capacity - 1);
    slots[h] = carved_slots_[k];
  }
  carved_slots_ = slots, carved_capacity_ = capacity, carved_rehashed_ = true;
  return true;
}

// The typing of a discarded pass undone (containers stay declared).
void Engine::reset_typing() {
  for (uint32_t i = 0; i < heap_end_; ++i) {
    Object& o = objects_[i];
    o.flags &= ~kQueued;
    if (o.flags & kGlobal) continue;
    if (o.flags & kContainer) o.used_plus1 = 0;  // TTST_FREE_UPTO's free start, found again by the pass
    o.src_type = o.dst_type = 0;
    if (ttst_heap_desc* desc = base_descriptor(o.addr)) desc->offset = 0;
  }
  clear_carved_table();  // (before the sub-objects go: it finds their slots)
  object_count_ = heap_end_;
  typing_stack_size_ = 0;
  zero(site_types_, sizeof site_types_);
  zero(site_plans_, sizeof site_plans_);
  mixed_count_ = 0;  // a discarded pass's notes (a free element walked before its list was known)
  text_at_ = 0, text_mark_count_ = 0, text_count_ = 0;
}

// Blocks allocated by a declared header wrapper (their site is in it): containers
// whose one sub-object, the object the wrapper returned, starts after the header.
void Engine::declare_header_blocks() {
  if (!annotations_.has_header_wrappers()) return;
  uint64_t last_site = 0, header = 0;
  for (uint32_t i = global_count_; i < heap_end_; ++i) {
    Object& o = objects_[i];
    if (o.flags & kFromLibrary) continue;
    if (site_of(o) != last_site) {
      const auto* site = src_meta().alloc_site(site_of(o) - config_.src_bias);
      last_site = site_of(o), header = site ? annotations_.header_bytes(src_meta().str(site->caller)) : 0;
    }
    if (header == 0 || header >= o.size || (o.flags & kContainer)) continue;
    o.flags |= kContainer, o.src_global = kNoChunk, o.dst_global = uint32_t(header);
    ++container_count_;
  }
}

// After carving: a header block whose payload no typed pointer carved is an
// ordinary untyped block again (bytes, pointer-checked); a sub-object anywhere
// but right after the header is refused; a header word that looks like a pointer too.
bool Engine::finish_header_blocks(const uint8_t* has_payload) {
  for (uint32_t i = heap_end_; i < object_count_; ++i) {
    const Object& o = objects_[i];
    const Object& c = objects_[o.src_global];
    if (c.dst_global == 0xffffffffu || o.addr - c.addr == c.dst_global) continue;
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe(message_, o);
    message_.text(" is not the object its header wrapper returned (at +").number(c.dst_global).text("): needs transfer code");
    return false;
  }
  for (uint32_t i = global_count_; i < heap_end_; ++i) {
    Object& c = objects_[i];
    if (!(c.flags & kContainer) || c.dst_global == 0xffffffffu) continue;
    if (!has_payload[i]) {
      c.flags &= ~kContainer, c.dst_global = 0xffffffffu, c.src_global = 0xffffffffu;
      --container_count_;
      continue;
    }
    Object header = c;
    header.size = c.dst_global;
    if (refuse_tail_pointer(header, 0)) return false;
  }
  return true;
}

// Globals that hold containers, before any typing: annotated globals, and
// annotated members of struct (array) globals such as memcached's slabclass[].
void Engine::declare_in_globals() {
  if (!annotations_.has_containers()) return;
  for (uint32_t i = 0; i < global_count_; ++i) {
    const Object& o = objects_[i];
    const uint8_t* src = source_bytes(o.addr, o.size);
    if (!src || (o.flags & kReadonly)) continue;
    if (annotations_.container_global(src_meta().str(src_meta().global_at(o.src_global).id)))
      mark_containers(o.src_type, src, kNoChunk, ~0ull, 0);
    else
      declare_in_value(o.src_type, src, 0);
  }
}

void Engine::declare_in_value(uint32_t type, const uint8_t* src, int depth) {
  uint32_t t = src_meta().strip(type);
  const ImageType& ty = src_meta().type(t);
  if (depth > 8 || !has_pointer(t)) return;
  if (ty.kind == kArray && ty.count != dwarfmeta::image::kFlexibleCount) {
    uint64_t elem = type_size(src_meta(), ty.target);
    for (uint64_t k = 0; elem && k < ty.count; ++k) declare_in_value(ty.target, src + k * elem, depth + 1);
    return;
  }
  if (ty.kind != kStruct) return;
  for (uint32_t i = 0; i < src_meta().member_count(ty); ++i) {
    int64_t chunk = -1, count = -1;
    if (annotations_.container_member(src_newer(), t, i, &chunk, &count))
      declare_holder(ty, i, member_name(src_meta(), ty, chunk), member_name(src_meta(), ty, count), src);
    else
      declare_in_value(src_meta().members(ty)[i].type, src + src_meta().members(ty)[i].offset, depth + 1);
  }
}

const char* Engine::member_name(const View& meta, const ImageType& ty, int64_t index) {
  return index < 0 ? nullptr : meta.str(meta.members(ty)[index].name);
}

// walk_struct's hook while typing: a holder member of a struct anywhere (heap
// objects, sub-objects), annotated in either version.
void Engine::declare_in_member(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                               const uint8_t* struct_src) {
  const ImageType& sty = src_meta().type(src_type);
  const ImageType& dty = dst_meta().type(dst_type);
  int64_t chunk = -1, count = -1;
  if (annotations_.container_member(src_newer(), src_type, src_index, &chunk, &count))
    declare_holder(sty, src_index, member_name(src_meta(), sty, chunk), member_name(src_meta(), sty, count),
                   struct_src);
  else if (annotations_.container_member(!src_newer(), dst_type, dst_index, &chunk, &count))
    declare_holder(sty, src_index, member_name(dst_meta(), dty, chunk), member_name(dst_meta(), dty, count),
                   struct_src);
}

// One holder member of a struct's bytes: its chunk size and used-element count
// read from the siblings so named (in the source's layout).
void Engine::declare_holder(const ImageType& sty, uint32_t index, const char* chunk_name, const char* count_name,
                            const uint8_t* struct_src) {
  uint64_t chunk = kNoChunk, limit = ~0ull;
  if (chunk_name)
    if (const ImageMember* c = src_meta().member(sty, chunk_name))
      chunk = load_uint(struct_src + c->offset, type_size(src_meta(), c->type));
  if (count_name)
    if (const ImageMember* c = src_meta().member(sty, count_name))
      limit = load_uint(struct_src + c->offset, type_size(src_meta(), c->type));
  const ImageMember& m = src_meta().members(sty)[index];
  mark_containers(m.type, struct_src + m.offset, chunk, limit, 0);
}

// The heap blocks a value of `type` points to, through every pointer level (an
// array of pointers to containers: its first `limit` elements), become containers.
void Engine::mark_containers(uint32_t type, const uint8_t* src, uint64_t chunk, uint64_t limit, int depth) {
  uint32_t t = src_meta().strip(type);
  const ImageType& ty = src_meta().type(t);
  if (depth > 8) return;
  if (ty.kind == kArray && ty.count != dwarfmeta::image::kFlexibleCount) {
    uint64_t elem = type_size(src_meta(), ty.target);
    for (uint64_t k = 0; elem && k < ty.count && k < limit; ++k)
      mark_containers(ty.target, src + k * elem, chunk, ~0ull, depth + 1);
    return;
  }
  if (ty.kind != kPointer) return;
  ttst_heap_desc* desc = base_descriptor(load_uint(src, 8));
  if (!desc) return;
  Object& o = objects_[reinterpret_cast<uint64_t>(desc->prev) & 0xffffffffu];
  if (o.flags & (kGlobal | kFromLibrary | kCarved)) return;
  if (src_meta().type(src_meta().strip(ty.target)).kind == kPointer) {  // an array of pointers to containers
    o.flags |= kHoldsContainers;  // its pointers hold containers at their bases (engine_free.cc)
    const uint8_t* elems = source_bytes(o.addr, o.size);
    for (uint64_t k = 0; elems && k + 8 <= o.size && k / 8 < limit; k += 8)
      mark_containers(ty.target, elems + k, chunk, ~0ull, depth + 1);
    return;
  }
  if (!(o.flags & kContainer)) {
    o.flags |= kContainer, o.src_global = uint32_t(chunk < kNoChunk ? chunk : kNoChunk);
    ++container_count_, last_declared_ = uint32_t(&o - objects_), last_declarer_ = current_;
  } else if (o.src_global == kNoChunk && chunk < kNoChunk) {
    o.src_global = uint32_t(chunk);
  }
}

bool Engine::container_pointee(uint32_t src_pointee, uint32_t dst_pointee) const {
  return annotations_.has_containers() && ((src_pointee && annotations_.container_type(src_newer(), src_pointee)) ||
                                           (dst_pointee && annotations_.container_type(!src_newer(), dst_pointee)));
}

void Engine::declare_by_type(Object& o, uint32_t src_pointee, uint32_t dst_target) {
  if ((o.flags & (kGlobal | kFromLibrary | kCarved | kContainer)) ||  // declared already: counted once (a pass
      !container_pointee(src_pointee, dst_meta().strip(dst_target)))   // that declared nothing new must end the loop)
    return;
  o.flags |= kContainer, o.src_global = kNoChunk;
  ++container_count_, last_declared_ = uint32_t(&o - objects_), last_declarer_ = current_;
}

// A typed pointer into an untyped block, not at its base: it types nothing, yet it
// says a T lives there (nginx: the global ngx_cycle into its pool's first block).
// The pointers of that T to by-type containers declare them (the cycle's pool), so
// the next pass, knowing the block a container, carves the T. Only the T's own
// bytes are read, and only what the user declared by type becomes a container.
void Engine::declare_behind_interior(const Object& o, uint64_t v, uint32_t src_pointee) {
  const ImageType& ty = src_meta().type(src_pointee);
  if (!annotations_.has_containers() || ty.kind != kStruct || v - o.addr > o.size || o.addr + o.size - v < ty.size)
    return;
  if (const uint8_t* src = source_bytes(v, ty.size)) declare_by_type_in_value(src_pointee, src, 0);
}

void Engine::declare_by_type_in_value(uint32_t type, const uint8_t* src, int depth) {
  uint32_t t = src_meta().strip(type);
  const ImageType& ty = src_meta().type(t);
  if (depth > 8 || !has_pointer(t)) return;
  if (ty.kind == kArray && ty.count != dwarfmeta::image::kFlexibleCount) {
    uint64_t elem = type_size(src_meta(), ty.target);
    for (uint64_t k = 0; elem && k < ty.count; ++k) declare_by_type_in_value(ty.target, src + k * elem, depth + 1);
  } else if (ty.kind == kStruct) {  // not a union: its pointer member may not be the live one
    for (uint32_t i = 0; i < src_meta().member_count(ty); ++i)
      declare_by_type_in_value(src_meta().members(ty)[i].type, src + src_meta().members(ty)[i].offset, depth + 1);
  } else if (ty.kind == kPointer) {
    if (ttst_heap_desc* desc = base_descriptor(load_uint(src, 8)))
      declare_by_type(objects_[reinterpret_cast<uint64_t>(desc->prev) & 0xffffffffu], src_meta().strip(ty.target), 0);
  }
}

int64_t Engine::carved_at(uint64_t addr) const {
  if (!carved_slots_) return -1;
  uint64_t h = address_slot(addr, carved_capacity_);
  for (uint64_t k = 0; k < carved_capacity_; ++k, h = (h + 1) & (carved_capacity_ - 1)) {
    if (carved_slots_[h].addr == 0) return -1;
    if (carved_slots_[h].addr == addr) return int64_t(carved_slots_[h].index);
  }
  return -1;
}

// pointer()'s hook while typing: a pointer to a struct or union into a container
// carves a sub-object of that type there (other pointers map by offset).
void Engine::carve(uint32_t index, uint64_t v, uint32_t src_pointee, uint32_t dst_pointee) {
  const ImageType& ty = src_meta().type(src_pointee);
  if (char_pointee(src_pointee)) return note_text(index, v);  // engine_text_runs.cc
  if (ty.kind != kStruct && ty.kind != kUnion) return;
  const Object& c = objects_[index];
  if (v - c.addr >= c.size) return;  // one past the end: a bound, not a sub-object
  int64_t found = carved_at(v);
  if (found >= 0) {
    Object& f = objects_[found];
    uint32_t known = src_meta().strip(f.src_type);
    if (known == src_pointee) return;
    // A pointer to a struct's first member at the struct's address (nginx: a pool's
    // `current`, POINTS_TO its ngx_pool_data_t, at its own first block's ngx_pool_t):
    // the larger type holds the smaller at offset 0, so one sub-object of the larger.
    if (embeds(known, 0, src_pointee, 0)) return;
    if (embeds(src_pointee, 0, known, 0)) {
      f.src_type = src_pointee, f.size = ty.size;
      f.dst_type = carved_dst_type(src_pointee, dst_pointee);
      f.flags &= ~kQueued;
      queue_for_typing(uint32_t(found));  // walked again as the larger type
      return;
    }
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe(message_, objects_[found]);
    message_.text(" is reached as ").text(type_name(src_meta(), src_pointee)).text(" * too (from ");
    describe_current();
    describe_path(message_);
    message_.text("): needs transfer code");
    advise_plugin(objects_[found].src_type);
    return;
  }
  carve_new(index, v, src_pointee, dst_pointee);
}

// A sub-object's destination type: the pointer's own pointee in this version, else
// (none: a void * or an annotation's pointer) the counterpart of its source type.
uint32_t Engine::carved_dst_type(uint32_t src_pointee, uint32_t dst_pointee) {
  const uint32_t t = dst_meta().strip(dst_pointee);
  return t != 0 ? t : counterpart(src_pointee);
}

// A new sub-object of container `index` at v (nothing carved there yet), of the
// struct or union src_pointee: appended to the table and the carved table, queued.
void Engine::carve_new(uint32_t index, uint64_t v, uint32_t src_pointee, uint32_t dst_pointee) {
  if (object_count_ >= object_capacity_ || !carved_slots_) {
    fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: more sub-objects carved than words point into containers");
    return;
  }
  if (2 * (carved_used_ + 1) > carved_capacity_ && !grow_carved_table()) return;
  const ImageType& ty = src_meta().type(src_pointee);
  uint32_t i = object_count_++;
  Object& o = objects_[i];
  zero(&o, sizeof o);
  o.addr = v, o.size = ty.size;  // its dyn_id is its container's (dyn_id_of)
  o.src_type = src_pointee;
  o.dst_type = carved_dst_type(src_pointee, dst_pointee);
  o.flags = kCarved, o.src_global = index, o.dst_global = 0xffffffffu;
  uint64_t h = address_slot(v, carved_capacity_);
  while (carved_slots_[h].addr != 0) h = (h + 1) & (carved_capacity_ - 1);
  carved_slots_[h] = {v, i}, ++carved_used_;
  queue_for_typing(i);
}

// The sub-objects (appended after the heap) in address order: each container's
// sub-objects in a row. Permuted in place, a cycle at a time (a copy of the
// table's tail in order was fresh arena memory: ~11 MiB, a page fault and the
// kernel's zeroing per page, for memcached 1.6 with 100,000 keys).
bool Engine::sort_carved() {
  uint32_t n = object_count_ - heap_end_;
  AddressKey* keys = alloc<AddressKey>(n);
  AddressKey* tmp = alloc<AddressKey>(n);
  uint32_t* bucket = alloc<uint32_t>(65536);
  if (failed()) return false;
  for (uint32_t i = 0; i < n; ++i) keys[i] = {objects_[heap_end_ + i].addr, i};
  keys = sort_address_keys(keys, tmp, bucket, n);  // stable, like the walk's table (address_order.h)
  // Place k of the tail takes the object now at keys[k].index; a place filled
  // points at itself.
  Object* tail = objects_ + heap_end_;
  for (uint32_t start = 0; start < n; ++start) {
    if (keys[start].index == start) continue;
    const Object held = tail[start];
    uint32_t at = start;
    for (;;) {
      const uint32_t from = keys[at].index;
      keys[at].index = at;
      if (from == start) {
        tail[at] = held;
        break;
      }
      tail[at] = tail[from];
      at = from;
    }
  }
  return true;
}

// A struct whose last member is an array without a length (`void *end[0]`,
// `char data[]`): the bytes after it are that member's data.
bool Engine::flexible_tail(uint32_t type) const {
  const ImageType& ty = src_meta().type(src_meta().strip(type));
  uint32_t n = ty.kind == kStruct ? src_meta().member_count(ty) : 0;
  if (n == 0) return false;
  const ImageType& last = src_meta().type(src_meta().strip(src_meta().members(ty)[n - 1].type));
  return last.kind == kArray && (last.count == 0 || last.count == dwarfmeta::image::kFlexibleCount);
}

// Where a sub-object's data bytes start: its flexible member's offset when that lies
// inside the struct (in its tail padding), else the struct's size.
uint64_t Engine::flexible_start(uint32_t type) const {
  const uint64_t size = type_size(src_meta(), type);
  if (!flexible_tail(type)) return size;
  const ImageType& ty = src_meta().type(src_meta().strip(type));
  const uint64_t at = src_meta().members(ty)[src_meta().member_count(ty) - 1].offset;
  return at < size ? at : size;
}

// After typing: each sub-object's extent; overlaps and tails that hide pointers refused.
bool Engine::finish_carving() {
  uint8_t* has_payload = alloc<uint8_t>(heap_end_);
  if (failed()) return false;
  zero(has_payload, heap_end_);
  for (uint32_t i = heap_end_; i < object_count_; ++i) has_payload[objects_[i].src_global] = 1;
  if (annotations_.has_header_wrappers() && !finish_header_blocks(has_payload)) return false;
  uint64_t free_bytes = 0;
  for (uint32_t i = global_count_; i < heap_end_; ++i)
    if (objects_[i].flags & kContainer)
      free_bytes += objects_[i].size - (objects_[i].dst_global != 0xffffffffu ? objects_[i].dst_global : 0);
  result_.containers = container_count_;
  if (object_count_ > heap_end_ && !sort_carved()) return false;
  sort_texts();  // engine_text_runs.cc
  drop_embedded_sub_objects();
  reindex_carved();
  tail_pending_count_ = 0;
  for (uint32_t i = heap_end_; i < object_count_; ++i) {
    Object& o = objects_[i];
    const Object& c = objects_[o.src_global];
    uint64_t next = i + 1 < object_count_ && objects_[i + 1].src_global == o.src_global ? objects_[i + 1].addr
                                                                                          : c.addr + c.size;
    if (c.used_plus1 && !(c.flags & kGlobal)) {  // TTST_FREE_UPTO: the container's free part (engine_free.cc)
      const uint64_t free_start = c.addr + c.used_plus1 - 1;
      if (o.addr >= free_start) return !refuse_in_free_part(o, free_start - c.addr);
      if (next > free_start) next = free_start;
    }
    uint64_t type_bytes = type_size(src_meta(), o.src_type);
    uint64_t extent = next - o.addr;
    if (c.src_global != kNoChunk && c.src_global) {  // at most to the end of its chunk (TTST_EMBEDDED's
      const uint64_t room = c.src_global - (o.addr - c.addr) % c.src_global;  // are inside one)
      if (room < extent) extent = room;
    }
    if (extent < type_bytes) {
      fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
      describe(message_, o);
      message_.text(" is larger than its room in the container (")
          .number(extent)
          .text(next - o.addr < type_bytes ? " bytes to the next sub-object or the end" : " bytes: the chunk size")
          .text("): needs transfer code");
      advise_plugin(o.src_type);
      return false;
    }
    o.size = extent;
    free_bytes -= extent;
    if (flexible_tail(o.src_type) || extent <= type_bytes) continue;
    if (!annotations_.has_keep_new()) {
      if (refuse_tail_pointer(o, type_bytes)) return false;
    } else if (!defer_tail_check(i)) {
      return false;
    }
  }
  for (uint32_t i = heap_end_; i < object_count_; ++i)  // pointers kept in data bytes (engine_data_words.cc)
    if (flexible_tail(objects_[i].src_type) && refuse_data_pointer(objects_[i], flexible_start(objects_[i].src_type)))
      return false;
  result_.carved = object_count_ - heap_end_;
  result_.container_free = free_bytes;
  return true;
}

// A pointer to a member of a sub-object (nginx: &cycle->new_log as ngx_log_t *)
// carved a second sub-object inside the first. The member is part of the enclosing
// sub-object, walked with it, and every pointer into a container maps by offset:
// the inner one is dropped. Any other overlap stays (refused by its extent).
void Engine::drop_embedded_sub_objects() {
  uint32_t kept = heap_end_, enclosing = 0xffffffffu;
  for (uint32_t i = heap_end_; i < object_count_; ++i) {
    const Object& o = objects_[i];
    if (enclosing != 0xffffffffu) {
      const Object& e = objects_[enclosing];
      if (e.src_global == o.src_global && o.addr - e.addr < type_size(src_meta(), e.src_type) &&
          embeds(e.src_type, o.addr - e.addr, src_meta().strip(o.src_type), 0))
        continue;
    }
    if (kept != i) objects_[kept] = o;
    enclosing = kept++;
  }
  object_count_ = kept;
}

// Whether a value of type `outer` holds a value of type `inner` at offset `off`
// (through nested struct members and array elements).
bool Engine::embeds(uint32_t outer, uint64_t off, uint32_t inner, int depth) {
  outer = src_meta().strip(outer);
  if (outer == inner && off == 0) return true;
  const ImageType& ty = src_meta().type(outer);
  if (depth > int(kMaxNesting)) return false;
  if (ty.kind == kArray) {
    uint64_t elem = type_size(src_meta(), ty.target);
    return elem && (ty.count == dwarfmeta::image::kFlexibleCount || off / elem < ty.count) &&
           embeds(ty.target, off % elem, inner, depth + 1);
  }
  if (ty.kind != kStruct) return false;
  for (uint32_t i = 0; i < src_meta().member_count(ty); ++i) {
    const ImageMember& m = src_meta().members(ty)[i];
    if (!m.bit_size && off >= m.offset && off - m.offset < type_size(src_meta(), m.type) &&
        embeds(m.type, off - m.offset, inner, depth + 1))
      return true;
  }
  return false;
}

// The carved table's indices after sort_carved and drop_embedded_sub_objects moved
// the sub-objects: carved_at() answers with their final places (the kept walk and
// the writing use it).
void Engine::reindex_carved() {
  zero(carved_slots_, carved_capacity_ * sizeof(CarvedSlot));
  carved_used_ = 0;
  for (uint32_t i = heap_end_; i < object_count_; ++i) {
    uint64_t v = objects_[i].addr, h = address_slot(v, carved_capacity_);
    while (carved_slots_[h].addr != 0) h = (h + 1) & (carved_capacity_ - 1);
    carved_slots_[h] = {v, i}, ++carved_used_;
  }
}

// The last sub-object starting at or below v, and the first starting above it
// (after finish_carving: in address order), or -1.
int64_t Engine::carved_below(uint64_t v) const {
  uint32_t lo = heap_end_, hi = object_count_;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (objects_[mid].addr <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo > heap_end_ ? int64_t(lo) - 1 : -1;
}

int64_t Engine::carved_above(uint64_t v) const {
  int64_t below = carved_below(v);
  uint32_t next = below < 0 ? heap_end_ : uint32_t(below) + 1;
  return next < object_count_ ? int64_t(next) : -1;
}

// With TTST_KEEP_NEW a tail's pointer-like words may be kept configuration that
// the kept walk (after typing) reaches through a void * (nginx's cycle is followed
// by `paths.elts`, a kept array): the check waits for the walk (check_kept_tails).
bool Engine::defer_tail_check(uint32_t i) {
  if (!tail_pending_ || tail_pending_count_ == tail_pending_capacity_) {
    uint32_t capacity = tail_pending_capacity_ ? 2 * tail_pending_capacity_ : 64;
    uint32_t* bigger = alloc<uint32_t>(capacity);
    if (failed()) return false;
    if (tail_pending_count_) copy(bigger, tail_pending_, tail_pending_count_ * 4ull);
    tail_pending_ = bigger, tail_pending_capacity_ = capacity;
  }
  tail_pending_[tail_pending_count_++] = i;
  return true;
}

// After the kept walk: a tail word that looks like a pointer is accepted only inside
// a kept range that starts in the tail (or when the sub-object is kept itself): P's
// configuration bytes there are not state — every pointer of the transferred state
// into them maps to v2's counterpart or is refused — and they are carried as dead
// bytes (the backward run gives them back). Anything else: refused as before.
bool Engine::check_kept_tails() {
  for (uint32_t p = 0; p < tail_pending_count_; ++p) {
    const Object& o = objects_[tail_pending_[p]];
    if (o.flags & kKept) continue;
    if (refuse_tail_pointer(o, type_size(src_meta(), o.src_type), true)) return false;
  }
  return true;
}

bool Engine::refuse_tail_pointer(const Object& o, uint64_t from, bool kept_ok) {
  const uint8_t* src = source_bytes(o.addr, o.size);
  for (uint64_t k = (from + 7) & ~7ull; src && k + 8 <= o.size; k += 8) {
    uint64_t word = load_uint(src + k, 8);
    const auto* function = src_meta().function_containing(word - config_.src_bias);
    if (word < 4096 || (object_holding(word) < 0 && !(function && function->low == word - config_.src_bias))) continue;
    if (holds_text(o.addr + k)) continue;  // a word holding known text is no pointer (engine_text_runs.cc)
    if (kept_ok) {
      int64_t r = kept_holding(o.addr + k);
      if (r >= 0 && kept_[r].src >= o.addr + from && o.addr + k + 8 <= kept_[r].src + kept_[r].size) continue;
    }
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe(message_, o);
    message_.text(" is followed by ")
        .number(o.size - from)
        .text(" bytes of its container that no typed pointer reaches, and the word at +")
        .number(k)
        .text(" = ")
        .hex(word)
        .text(" looks like a pointer: refusing to guess");
    advise_plugin(o.src_type);  // the sub-object's functions, which know what follows it
    name_text_marks(o, from, k + 8);  // engine_text_runs.cc
    return true;
  }
  return false;
}

// Same size, members, offsets and encodings at every level (pointers may point
// elsewhere: they are translated): the sub-object can stay at its offset.
bool Engine::same_layout(uint32_t src_type, uint32_t dst_type, int depth) {
  src_type = src_meta().strip(src_type), dst_type = dst_meta().strip(dst_type);
  const ImageType& s = src_meta().type(src_type);
  const ImageType& d = dst_meta().type(dst_type);
  if (depth > int(kMaxNesting) || s.kind != d.kind || s.size != d.size) return false;
  if (s.kind == kArray) {  // `T end[0]` (GNU) and `T end[]` (C99) are the same flexible tail
    constexpr uint64_t kFlex = dwarfmeta::image::kFlexibleCount;
    bool tails = (s.count == 0 || s.count == kFlex) && (d.count == 0 || d.count == kFlex);
    return (s.count == d.count || tails) && same_layout(s.target, d.target, depth + 1);
  }
  if (s.kind == kBase) return s.encoding == d.encoding;
  if (s.kind != kStruct && s.kind != kUnion) return true;
  if (src_meta().member_count(s) != dst_meta().member_count(d)) return false;
  for (uint32_t i = 0; i < src_meta().member_count(s); ++i) {
    const ImageMember& a = src_meta().members(s)[i];
    const ImageMember& b = dst_meta().members(d)[i];
    if (!streq(src_meta().str(a.name), dst_meta().str(b.name)) || a.offset != b.offset ||
        a.bit_size != b.bit_size || a.bit_offset != b.bit_offset || !same_layout(a.type, b.type, depth + 1))
      return false;
  }
  return true;
}

// A sub-object whose type changed layout: refused (true), naming the type.
bool Engine::refuse_moved_layout(const Object& o) {
  // The last pair found alike (a container's sub-objects come in runs of one type).
  if (o.src_type == same_layout_pair_[0] && o.dst_type == same_layout_pair_[1]) return false;
  if (same_layout(o.src_type, o.dst_type)) return same_layout_pair_[0] = o.src_type, same_layout_pair_[1] = o.dst_type, false;
  fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  describe(message_, o);
  message_.text(" has type ")
      .text(type_name(src_meta(), src_meta().strip(o.src_type)))
      .text(", whose layout differs in ")
      .text(config_.backward ? "v1" : "v2")
      .text(" (")
      .number(type_size(src_meta(), o.src_type))
      .text(" -> ")
      .number(type_size(dst_meta(), o.dst_type))
      .text(" bytes or members moved): a sub-object carved in a container stays at its offset, so this needs "
            "transfer code");
  advise_plugin(o.src_type);  // its place and forward functions (TTST_XFER_TYPE_PLACE: room in the next chunk)
  return true;
}

// Map: each sub-object at its container's destination plus the same offset.
void Engine::place_carved() {
  for (uint32_t i = heap_end_; i < object_count_; ++i) {
    Object& o = objects_[i];
    const Object& c = objects_[o.src_global];
    uint64_t off = o.addr - c.addr;
    o.dst_addr = c.dst_addr ? c.dst_addr + off : 0;
    o.dst_size = c.dst_size > off ? (c.dst_size - off < o.size ? c.dst_size - off : o.size) : 0;
    if (o.dst_size == 0) o.dst_addr = 0;
  }
}

// A sub-object whose type pair has a compiled plan, typed or written (or zeroed) by
// it as a heap object's element is (type_by_plan, apply_plan): at a million items the
// walk's per-member look-ups were most of memcached 1.6's type and write phases. Not
// a free list's element (its stale pointers declare nothing and are carried quietly:
// the walk's), nor a type with mixed members; anything the plan cannot decide, the
// walk redoes.
bool Engine::carved_by_plan(const Object& o, const uint8_t* src, uint8_t* dst) {
  if ((mode_ != kType && !dst) || annotations_.has_keep_new()) return false;  // (kept graphs: the walk's)
  if (annotations_.has_free() && free_element_at(o.src_type, o.dst_type, src)) return false;
  if (mixed_count_ && is_mixed(src_meta().strip(o.src_type), kMixedElements)) return false;
  const PairFacts& facts = pair_facts(o.src_type, o.dst_type);
  if (failed() || !facts.live_plan || facts.src_size == 0 || o.size < facts.src_size) return false;
  return mode_ == kType ? type_by_plan(*facts.live_plan, src, 0) : apply_plan(*facts.live_plan, src, dst);
}

// One sub-object: its type, then its flexible tail as bytes.
void Engine::walk_carved(const Object& o, const uint8_t* src, uint8_t* dst) {
  // The data starts at the flexible member, which may lie inside the struct's tail
  // padding (memcached 1.6's item_chunk: `char data[]` at 42, the struct 48 bytes).
  uint64_t type_bytes = flexible_start(o.src_type);
  path_depth_ = 0;
  if (!carved_by_plan(o, src, dst)) {
    if (mode_ != kZero) ++result_.walked;
    walk(o.src_type, o.dst_type, src, dst);
  }
  if (mode_ == kType && annotations_.embedded().any()) carve_embedded(o, src);  // TTST_EMBEDDED (engine_embedded.cc)
  if (mode_ == kType || !dst || o.dst_size <= type_bytes) return;
  uint64_t tail = o.dst_size - type_bytes;
  if (mode_ == kWrite)
    copy(dst + type_bytes, src + type_bytes, tail), result_.bytes += tail;
  else
    zero(dst + type_bytes, tail);
}

}  // namespace ttst::stfw::engine_detail
