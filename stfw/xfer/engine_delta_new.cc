// engine_delta_new.cc — a second run's new blocks (engine_delta.cc): those the
// program allocated since the snapshot, found at the heads of its heap lists and
// added to the table (which grows if the first run's room is spent), sorted by
// address for object_holding; backward, F's new blocks paired with R's by origin.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

#include "stfw/xfer/address_hash.h"
#include "stfw/xfer/address_order.h"

namespace ttst::stfw::engine_detail {

// The blocks allocated since S: at the head of each list, before the first block
// of the first run's table (tagged). The lists' live counts must be exactly the
// first run's blocks still live plus these.
bool Engine::add_new_objects() {
  delta_first_new_ = object_count_;
  const ttst_runtime* rt = reinterpret_cast<const ttst_runtime*>(source_bytes(config_.src_runtime, sizeof(ttst_runtime)));
  if (!rt || rt->magic != TTST_RUNTIME_MAGIC) return delta_refuse("the source's runtime block is unreadable");
  uint64_t live = 0;
  for (uint32_t s = 0; s < TTST_HEAP_STRIPES; ++s) {
    const ttst_heap_stripe& st = rt->stripes[s];
    if (st.lock) return delta_refuse("a heap list is locked: the source is not quiescent");
    live += st.live;
    const uint64_t head = config_.src_runtime + __builtin_offsetof(ttst_runtime, stripes) + s * sizeof(ttst_heap_stripe);
    uint64_t prev = head, cur = reinterpret_cast<uint64_t>(st.head.next);
    while (cur != head) {
      ttst_heap_desc* d = reinterpret_cast<ttst_heap_desc*>(const_cast<uint8_t*>(source_bytes(cur, kDescSize)));
      if (!d || d->magic != TTST_HEAP_LIVE) return delta_refuse("a heap list leads outside the live blocks");
      const uint64_t tag = reinterpret_cast<uint64_t>(d->prev);
      if ((tag & ~0xffffffffull) == kIndexTag && (tag & 0xffffffffu) < delta_first_new_) break;  // the first run's
      if (tag != prev || TTST_HEAP_STRIPE_OF(d->flags) != s) return delta_refuse("a heap list's links disagree");
      if (object_count_ == object_capacity_ && !grow_table()) return false;
      const uint64_t next = reinterpret_cast<uint64_t>(d->next);
      Object& o = objects_[object_count_++];
      zero(&o, sizeof o);
      o.addr = cur + kDescSize, o.size = d->size;
      o.flags = heap_object_flags(d) | kDeltaChanged;
      o.src_global = o.dst_global = 0xffffffffu;
      d->prev = reinterpret_cast<ttst_heap_desc*>(kIndexTag | (object_count_ - 1));
      d->next = nullptr, d->offset = 0;
      prev = cur, cur = next;
    }
  }
  // The first run's heap blocks still live: those it found, less those gone in any run.
  const uint64_t kept = uint64_t(delta_first_new_ - global_count_) - gone_total_;
  if (live != kept + (object_count_ - delta_first_new_))
    return delta_refuse("the heap lists changed other than by blocks freed and blocks linked first");
  return sort_new_objects();
}

// More new blocks than the room the first run kept: the table moved to one twice
// as large (objects are named by index, never by address, outside a phase).
bool Engine::grow_table() {
  const uint32_t capacity = object_capacity_ * 2;
  Object* bigger = alloc<Object>(capacity);
  if (failed()) return false;
  copy(bigger, objects_, uint64_t(object_count_) * sizeof(Object));
  objects_ = bigger, object_capacity_ = capacity;
  return true;
}

// The new objects by address, for object_holding's second search (the first run's
// sorted arrays stay as they are; its gone objects are skipped there).
bool Engine::sort_new_objects() {
  const uint32_t n = object_count_ - delta_first_new_;
  AddressKey* keys = run_alloc<AddressKey>(n + 1);
  AddressKey* tmp = run_alloc<AddressKey>(n + 1);
  uint32_t* bucket = n > 32 ? run_alloc<uint32_t>(65536) : nullptr;
  delta_sorted_addr_ = run_alloc<uint64_t>(n + 1);
  delta_sorted_index_ = run_alloc<uint32_t>(n + 1);
  if (failed()) return false;
  for (uint32_t k = 0; k < n; ++k) keys[k] = {objects_[delta_first_new_ + k].addr, delta_first_new_ + k};
  keys = sort_address_keys(keys, tmp, bucket, n);
  for (uint32_t k = 0; k < n; ++k) delta_sorted_addr_[k] = keys[k].addr, delta_sorted_index_[k] = uint32_t(keys[k].index);
  delta_sorted_count_ = n;
  return true;
}

int64_t Engine::new_object_holding(uint64_t v) const {
  uint32_t lo = 0, hi = delta_sorted_count_;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (delta_sorted_addr_[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return -1;
  const Object& o = objects_[delta_sorted_index_[lo - 1]];
  return v - o.addr <= o.size && o.size > 0 ? int64_t(delta_sorted_index_[lo - 1]) : -1;
}

// Backward: F's new blocks onto R's by origin: the program's blocks allocated
// since S, linked first in R's lists (copied from the program's pages). A block
// whose origin is in none stays without a counterpart (pointers to it fail, as in
// a first run). R's lists are read in place.
bool Engine::pair_new_objects() {
  // F's new blocks by origin (open addressing, address_hash.h's mixing).
  uint32_t wanted = 0;
  for (uint32_t i = delta_first_new_; i < object_count_; ++i) wanted += origin_of(objects_[i]) != 0;
  if (!wanted) return true;
  uint64_t capacity = 64;
  while (capacity < 2 * uint64_t(wanted)) capacity *= 2;
  struct Slot {
    uint64_t origin;
    uint32_t index;
  };
  Slot* slots = run_alloc<Slot>(capacity);
  if (failed()) return false;
  zero(slots, capacity * sizeof(Slot));
  for (uint32_t i = delta_first_new_; i < object_count_; ++i)
    if (const uint64_t origin = origin_of(objects_[i]))
      for (uint64_t h = address_slot(origin, capacity);; h = (h + 1) & (capacity - 1))
        if (slots[h].origin == 0) {
          slots[h] = {origin, i};
          break;
        }
  struct WalkState {
    Engine* engine;
    Slot* slots;
    uint64_t capacity;
    uint32_t left;
  } walk_state{this, slots, capacity, wanted};
  int64_t walked = ttst_heap_walk(
      config_.dst_runtime, &Engine::read_own_memory, nullptr,
      [](void* ctx, uint64_t addr, const ttst_heap_desc* desc) -> int {
        WalkState* walk = static_cast<WalkState*>(ctx);
        for (uint64_t h = address_slot(desc->dyn_id, walk->capacity); walk->slots[h].origin;
             h = (h + 1) & (walk->capacity - 1)) {
          if (walk->slots[h].origin != desc->dyn_id) continue;
          Object& o = walk->engine->objects_[walk->slots[h].index];
          if (o.dst_addr) break;
          o.dst_addr = addr;
          if (desc->size < o.dst_size) o.dst_size = desc->size;  // never write past R's object
          walk->left--;
          break;
        }
        return walk->left == 0;
      },
      &walk_state);
  return own_walk_succeeded(walked);
}

}  // namespace ttst::stfw::engine_detail
