// engine_dead_values.cc — which values in no mapping of the source may be dead
// pointers rather than integers, for the mixed-member rule (engine_values.cc).
// A pointer member that holds an integer in some object is *mixed*: its
// live-looking values elsewhere are refused (they may be integers equal to a live
// address). A value in no mapping was counted as such an integer. But a program
// keeps dangling pointers into memory unmapped since (a freed large block; nginx's
// events of closed connections keep `log` pointing into a destroyed pool), and a
// live update carries every dead pointer bit for bit, so after one update the
// server holds its old process's addresses, none mapped here (nginx 1.26.1 ->
// 1.26.2 on the server the first update made: `ngx_event_s.log holds integers in
// other objects`). Such a value is no evidence either way: it is aligned like a
// pointer and lies where the kernel places mappings of this kind of process.
// Its bits are carried as they are (engine_pointers.cc, dead_or_unmapped), so the
// backward run gives P's value back; nothing dereferences it (C forbids reading
// through a dangling pointer).
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

namespace {
// x86-64 Linux randomises the executable's base (and the brk heap after it) and
// the mmap base by 28 bits of pages each (vm.mmap_rnd_bits): each lies in a 1 TiB
// window. An address of an earlier process of the same program, or of memory this
// one has unmapped since, lies within that window of one of this process's own
// mappings of the same kind; twice the window keeps the rule independent of which
// end of the window either process drew.
constexpr uint64_t kAslrWindow = 1ull << 41;
}  // namespace

// Whether v, in no mapping of the source, may be a dead pointer: 8-byte aligned
// (malloc and every C allocator give at least that to pointer-holding memory)
// and within kAslrWindow of a mapping of the source. Small numbers, counters,
// text bytes and hashes are (almost always) not.
bool Engine::maybe_dead_pointer(uint64_t v) const {
  if ((v & 7) != 0 || !config_.src_mappings || config_.src_mapping_count == 0) return false;
  for (uint64_t i = 0; i < config_.src_mapping_count; ++i) {
    const Region& r = config_.src_mappings[i];
    uint64_t lo = r.addr > kAslrWindow ? r.addr - kAslrWindow : 0, hi = r.addr + r.size + kAslrWindow;
    if (v >= lo && v < hi) return true;
  }
  return false;
}

}  // namespace ttst::stfw::engine_detail
