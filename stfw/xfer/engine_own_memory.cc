// engine_own_memory.cc — backward: R's own heap read through a window of
// /proc/self/mem instead of in place, where that costs less.
// Why: R is a fork of P; on a VM with shadow page tables (the PVM guest of sessions
// 9-24) the first touch of each page a fork inherited cost a hypervisor fault of
// microseconds (1 M accounts: ~85,000 pages, 0.6-0.9 s for one pass), while a read
// through /proc/self/mem goes through the kernel's own mapping (~0.15 s). The
// merge's walk of R's lists and the write phase's reads of R's objects go through
// the window; only the words that differ are stored in place. Where touching in
// place is the cheaper (the same kind of machine on 2026-12-07: ~0.2 us a page
// against ~3 us through the file), the agent gives no Env::read_own and every read
// is in place: agent_task.cc, own_heap_cheaper_in_place, decides by timing a few
// pages each way before the transfer.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {
namespace {
constexpr uint64_t kOwnWindow = 4 << 20;  // bytes read per refill, at most
constexpr uint64_t kOwnMinRefill = 8192;  // and at least
constexpr uint64_t kPageMask = ~uint64_t{4095};
}  // namespace

// R's bytes [addr, addr + len): from the window, refilled around them on a miss
// (ending at them when the reads go down, as the write phase's usually do, else
// starting at them); in place for a read larger than a quarter window, without
// Env::read_own, or where the window cannot be read.
// A refill reads as much as the last one served (own_refill_): where the reads
// are dense (bankserver's 3 M objects, each slab page's items in address order) a
// whole window, where each read lands far from the last (the merge's walk of
// memcached's lists, a descriptor at the start of each 1 MB slab page) a page or
// two — 4 MiB per 64-byte descriptor was 400 refills and most of the map phase.
const uint8_t* Engine::own_bytes(uint64_t addr, uint64_t len) {
  const uint8_t* in_place = reinterpret_cast<const uint8_t*>(addr);
  if (!env_->read_own || len > kOwnWindow / 4 || addr + len < addr) return in_place;
  if (addr >= own_lo_ && addr + len <= own_hi_) return ++own_hits_, own_window_ + (addr - own_lo_);
  if (own_hi_) {
    if (own_hits_ < 4 && own_refill_ > kOwnMinRefill) own_refill_ /= 8;
    else if (own_hits_ >= 64 && own_refill_ < kOwnWindow) own_refill_ *= 2;
    if (own_refill_ < kOwnMinRefill) own_refill_ = kOwnMinRefill;
  }
  own_hits_ = 0;
  if (!own_window_) {
    if (own_window_tried_) return in_place;
    own_window_tried_ = true;  // an arena too small for it: in place, as before
    own_window_ = static_cast<uint8_t*>(env_->scratch(env_->ctx, kOwnWindow));
    if (!own_window_) return in_place;
    arena_bytes_ += kOwnWindow;
  }
  // Going down, the window ends at the read's page; where that window would start
  // below the mapping (a read from an unmapped page fails at once), a half as
  // large one, down to the read's own pages; going up, it starts there.
  const bool down = own_hi_ != 0 && addr < own_lo_;
  const uint64_t first = addr & kPageMask, end = (addr + len + 4095) & kPageMask;
  const uint64_t refill = own_refill_ > end - first ? own_refill_ : end - first;  // <= kOwnWindow (len is less)
  for (uint64_t size = down ? refill : 0; size >= end - first; size /= 2)
    if (size <= end && fill_own_window(end - size, size, addr + len)) return own_window_ + (addr - own_lo_);
  if (fill_own_window(first, refill, addr + len)) return own_window_ + (addr - own_lo_);
  own_lo_ = own_hi_ = 0;
  return in_place;
}

// Reads R's [lo, lo + size) into the window; true when it holds up to `needed`.
bool Engine::fill_own_window(uint64_t lo, uint64_t size, uint64_t needed) {
  long got = env_->read_own(env_->ctx, lo, own_window_, size);
  result_.own_reads++;
  if (got <= 0 || lo + uint64_t(got) < needed) return false;
  own_lo_ = lo, own_hi_ = lo + uint64_t(got);
  return true;
}

// ttst_heap_walk's reader for R's own lists: descriptors through the window, the
// runtime's control block (whose stripes the walk keeps reading) in place.
const void* Engine::read_own_descriptor(void* ctx, uint64_t addr, uint64_t len) {
  if (len != kDescSize) return reinterpret_cast<const void*>(addr);
  return static_cast<Engine*>(ctx)->own_bytes(addr, len);
}

// Stores the 8-byte words (then bytes) of `image` that differ from R's bytes at
// `addr` (read through the window), into R and into the window.
void Engine::store_own(uint64_t addr, const uint8_t* image, uint64_t n) {
  const uint8_t* now = own_bytes(addr, n);
  uint8_t* dst = reinterpret_cast<uint8_t*>(addr);
  uint8_t* mirror = now == dst ? nullptr : const_cast<uint8_t*>(now);
  uint64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    uint64_t old_word, new_word;
    __builtin_memcpy(&old_word, now + k, 8);
    __builtin_memcpy(&new_word, image + k, 8);
    if (old_word == new_word) continue;
    __builtin_memcpy(dst + k, &new_word, 8);
    if (mirror) __builtin_memcpy(mirror + k, &new_word, 8);
  }
  for (; k < n; ++k)
    if (now[k] != image[k]) {
      dst[k] = image[k];
      if (mirror) mirror[k] = image[k];
    }
  if (!mirror && addr < own_hi_ && addr + n > own_lo_) own_lo_ = own_hi_ = 0;  // stored in place over the window
}

}  // namespace ttst::stfw::engine_detail
