// engine_keep_into.cc — a transferred container whose first value TTST_KEEP_NEW keeps
// goes into the block of that value's counterpart (engine_keep_new.cc pairs them).
//
// nginx: the cycle lives in its own pool's first block, right after the pool's
// ngx_pool_t header; the configuration's arrays and lists point to that header
// (`ngx_array_t.pool`), so the kept walk pairs it with v2's header at the base of
// v2's start-up pool block. A pointer to the block's base then means the block or
// its header alike: both are v2's, and `cycle->pool` is v2's pool (the one holding
// v2's configuration). The transferred cycle itself cannot go into a fresh copy of
// P's block: nothing would point at that copy's base, so the backward run would find
// the cycle in a block that is no pool (untyped) and refuse. It goes where v2's
// start-up cycle is, at the same offset of v2's block: the struct holding the
// TTST_KEEP_NEW_AT roots, which the transfer replaces anyway (pointers of v2's kept
// configuration to v2's start-up cycle then reach the transferred one). Rules:
//  - the container: transferred (not kept), its first value kept and paired with the
//    base of a live block of this process at least as large: marked kIntoCounterpart,
//    mapped to that block, not allocated (forward) or not matched by origin (backward);
//  - its sub-objects keep their offsets; they write their type's bytes only (their
//    tails, and every byte no transferred sub-object holds, stay this process's own:
//    v2's start-up configuration there is kept state), and kept ones are not carried;
//  - a transferred sub-object other than the KEEP_NEW_AT struct landing on this
//    process's own start-up struct of the same place is refused (it would overwrite
//    v2's start-up state in the block).
// Both directions: backward, F's block (v2's start-up block, now holding the
// transferred cycle) goes into R's block the same way, so R == P is checked.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

// After sizing, before allocation (forward) or after the origin merge (backward).
void Engine::mark_into_counterparts() {
  for (uint32_t i = 0; i < kept_count_; ++i) {
    const KeptRange& r = kept_[i];
    if (!r.paired || r.object == 0xffffffffu) continue;
    const Object& first = objects_[r.object];
    if (!(first.flags & kCarved) || first.addr != r.src) continue;
    Object& c = objects_[first.src_global];
    if (c.addr != r.src || !(c.flags & kContainer) || (c.flags & (kKept | kGlobal))) continue;
    const OwnBlock* b = own_block(r.dst);
    if (!b || b->size < c.size) continue;
    c.flags |= kIntoCounterpart, c.dst_addr = b->addr, c.dst_size = c.size;
  }
}

bool Engine::into_counterpart(const Object& carved) const {
  return (carved.flags & kCarved) && (objects_[carved.src_global].flags & kIntoCounterpart);
}

// After place_carved: tails trimmed; a transferred sub-object must be the
// KEEP_NEW_AT struct landing on this process's own one.
bool Engine::check_into_counterparts() {
  for (uint32_t i = heap_end_; i < object_count_; ++i) {
    Object& o = objects_[i];
    if (!o.dst_addr || !into_counterpart(o)) continue;
    uint64_t type_bytes = o.dst_type ? type_size(dst_meta(), o.dst_type) : 0;
    if (o.dst_size > type_bytes) o.dst_size = type_bytes;
    if (o.flags & kKept) continue;
    bool holder = false;
    for (uint32_t k = 0; k < kept_holder_count_ && !holder; ++k)
      holder = kept_holders_[k].addr == o.addr && kept_holders_[k].dst == o.dst_addr;
    if (holder) continue;
    current_ = i;
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe(message_, o);
    message_.text(" lies in a block whose first value TTST_KEEP_NEW keeps, so the block goes into ")
        .text(config_.backward ? "v1" : "v2")
        .text("'s block holding that value's counterpart, where only the struct holding the TTST_KEEP_NEW_AT roots ")
        .text("takes the place of its start-up counterpart: this value would overwrite start-up state there. ")
        .text("Keep it too (TTST_KEEP_NEW_AT) or add transfer code");
    return false;
  }
  return true;
}

}  // namespace ttst::stfw::engine_detail
