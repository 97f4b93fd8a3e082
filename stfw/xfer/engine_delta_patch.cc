// engine_delta_patch.cc — a second run's view of what changed (engine_delta.cc):
// the source's changed ranges patched into the copy, each object on them marked
// changed, a heap block whose descriptor they overwrote kept only if it still
// describes the same block (else gone); backward, also the objects whose
// counterparts here lie on the ranges the caller wrote into R since the first run.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

#include "stfw/xfer/address_hash.h"

namespace ttst::stfw::engine_detail {

// Calls visit(index) for each object of the first run's table whose bytes, or a
// heap object's descriptor before them, overlap [lo, hi). Objects do not overlap
// one another, so one search finds the first. The ranges come in address order:
// `from` (the first sorted object starting after the last range's lo) is where this
// one's search starts, galloping ahead (a run's patches are many and close).
template <class Visit>
void Engine::objects_overlapping(uint64_t lo, uint64_t hi, uint64_t& from, Visit&& visit) {
  uint64_t a = from, b = a, step = 1;
  while (b < heap_end_ && sorted_addr_[b] <= lo) a = b + 1, b += step, step *= 2;
  if (b > heap_end_) b = heap_end_;
  while (a < b) {  // the first sorted object starting after lo
    uint64_t mid = a + (b - a) / 2;
    if (sorted_addr_[mid] <= lo) a = mid + 1;
    else b = mid;
  }
  from = a;
  for (uint64_t k = a ? a - 1 : 0; k < heap_end_; ++k) {
    const Object& o = objects_[sorted_index_[k]];
    const uint64_t start = (o.flags & kGlobal) ? o.addr : o.addr - kDescSize, end = o.addr + o.size;
    if (start >= hi) break;
    if (end > lo || (o.size == 0 && o.addr >= lo)) visit(sorted_index_[k]);
  }
}

// The patches into the copy: every object on them marked changed; a heap object
// whose descriptor was overwritten keeps its place only if the descriptor still
// describes the same block (then tagged again as the first run's index did), else
// its block was freed (gone).
bool Engine::patch_source(const Delta& delta) {
  uint64_t bytes = 0;
  for (uint64_t k = 0; k < delta.patch_count; ++k) {
    const SourcePatch& p = delta.patches[k];
    if (!p.bytes || p.size == 0 || !source_bytes(p.addr, p.size) ||
        (k && delta.patches[k - 1].addr + delta.patches[k - 1].size > p.addr)) {
      fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: patch #").number(k).text(" at ").hex(p.addr).text(
          " is empty, outside the copy of the source, or not after the one before");
      return false;
    }
    bytes += p.size;
  }
  // Heap objects whose descriptors a patch overwrites, with their facts in S.
  const uint64_t prior_capacity = bytes / 80 + 2 * delta.patch_count + 16;
  DeltaPrior* prior = run_alloc<DeltaPrior>(prior_capacity);
  gone_now_ = run_alloc<uint32_t>(prior_capacity);
  if (failed()) return false;
  uint64_t prior_count = 0, from = 0;
  for (uint64_t k = 0; k < delta.patch_count; ++k) {
    const SourcePatch& p = delta.patches[k];
    objects_overlapping(p.addr, p.addr + p.size, from, [&](uint32_t i) {
      Object& o = objects_[i];
      const bool described = !(o.flags & kGlobal) && o.addr - kDescSize < p.addr + p.size && o.addr > p.addr;
      // A descriptor across two patches is recorded once (the patches come in address order).
      if (described && prior_count < prior_capacity && !(prior_count && prior[prior_count - 1].index == i)) {
        const ttst_heap_desc* d = descriptor_of(o);
        prior[prior_count++] = {i, d->dyn_id, d->size, d->site, d->origin_id};
      }
      mark_changed(i);
    });
  }
  if (prior_count == prior_capacity) return delta_refuse("more descriptors changed than the patches' size allows");
  for (uint64_t k = 0; k < delta.patch_count; ++k) {
    const SourcePatch& p = delta.patches[k];
    copy(const_cast<uint8_t*>(source_bytes(p.addr, p.size)), p.bytes, p.size);
  }
  for (uint64_t j = 0; j < prior_count; ++j) {
    Object& o = objects_[prior[j].index];
    ttst_heap_desc* d = reinterpret_cast<ttst_heap_desc*>(const_cast<uint8_t*>(source_bytes(o.addr - kDescSize, kDescSize)));
    if (d->magic == TTST_HEAP_LIVE && d->dyn_id == prior[j].dyn_id && d->size == prior[j].size &&
        d->site == prior[j].site && d->origin_id == prior[j].origin && (d->flags & kFromLibrary) == (o.flags & kFromLibrary)) {
      d->prev = reinterpret_cast<ttst_heap_desc*>(kIndexTag | prior[j].index);
      d->next = reinterpret_cast<ttst_heap_desc*>(o.dst_addr);
      d->offset = o.src_type ? src_meta().strip(o.src_type) + 1 : 0;
      continue;
    }
    if (!(o.flags & kDeltaGone)) gone_now_[gone_now_count_++] = prior[j].index, gone_total_++;
    o.flags = (o.flags & ~kDeltaChanged) | kDeltaGone;
  }
  return true;
}

// Backward: the objects whose counterparts here lie on a range the caller wrote
// since the first run (the program's changed pages, copied into R) are written
// again from F, whether or not F's bytes changed.
bool Engine::mark_own_ranges(const Delta& delta) {
  if (!delta.own_ranges_count) return true;
  if (!config_.backward) return delta_refuse("own ranges are the backward run's");
  for (uint64_t k = 0; k < delta.own_ranges_count; ++k)
    if (delta.own_ranges[2 * k + 1] <= delta.own_ranges[2 * k] ||
        (k && delta.own_ranges[2 * k] < delta.own_ranges[2 * k - 1]))
      return fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: own range #")
                 .number(k)
                 .text(" is empty or not after the one before"),
             false;
  // The pages the ranges touch, in a set (open addressing, address_hash.h's
  // mixing; page 0 is never one of them): most objects are on none, and one probe
  // says so; the others are searched among the ranges.
  uint64_t pages = 0;
  for (uint64_t k = 0; k < delta.own_ranges_count; ++k)
    pages += ((delta.own_ranges[2 * k + 1] - 1) >> 12) - (delta.own_ranges[2 * k] >> 12) + 1;
  uint64_t capacity = 64;
  while (capacity < 2 * pages && capacity < (1ull << 26)) capacity *= 2;
  const bool hashed = capacity >= 2 * pages;  // else every object is searched
  uint64_t* slots = hashed ? run_alloc<uint64_t>(capacity) : nullptr;
  if (failed()) return false;
  auto slot_of = [&](uint64_t page) {
    uint64_t h = address_slot(page, capacity);
    while (slots[h] && slots[h] != page) h = (h + 1) & (capacity - 1);
    return h;
  };
  if (hashed) {
    zero(slots, capacity * sizeof(uint64_t));
    for (uint64_t k = 0; k < delta.own_ranges_count; ++k)
      for (uint64_t pg = delta.own_ranges[2 * k] >> 12; pg <= (delta.own_ranges[2 * k + 1] - 1) >> 12; ++pg)
        if (pg) slots[slot_of(pg)] = pg;
  }
  for (uint32_t i = 0; i < delta_first_new_; ++i) {
    Object& o = objects_[i];
    if (!o.dst_addr || (o.flags & kDeltaGone)) continue;
    const uint64_t end = o.dst_addr + (o.dst_size ? o.dst_size : 1);
    if (hashed && (end - 1) >> 12 == o.dst_addr >> 12 && !slots[slot_of(o.dst_addr >> 12)]) continue;
    uint64_t lo = 0, hi = delta.own_ranges_count;  // the first range ending after the counterpart's start
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      if (delta.own_ranges[2 * mid + 1] <= o.dst_addr) lo = mid + 1;
      else hi = mid;
    }
    if (lo < delta.own_ranges_count && delta.own_ranges[2 * lo] < end) mark_changed(i);
  }
  return true;
}

}  // namespace ttst::stfw::engine_detail
