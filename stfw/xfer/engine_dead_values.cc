// engine_dead_values.cc — which values in no mapping of the source may be dead
// pointers or stale text rather than integers, for the mixed-member rule
// (engine_values.cc).
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
// The same holds for stale text: memory malloc hands out again keeps the bytes of
// the strings that were there (nginx 1.26.1's start-up connections, never used,
// hold ":104::\n" in `local_sockaddr`), and a word of printable characters ending
// in NULs is such a string's piece, not a number a program chose.
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
// (malloc and every C allocator give at least that to pointer-holding memory),
// at least 4 GiB (a non-PIE executable and its brk heap sit low, where counts
// and sizes are: there a value in no mapping stays evidence, the safe side) and
// within kAslrWindow of a mapping of the source. Small numbers, counters, text
// bytes and hashes are (almost always) not.
bool Engine::maybe_dead_pointer(uint64_t v) const {
  if ((v & 7) != 0 || v < (1ull << 32) || !config_.src_mappings || config_.src_mapping_count == 0) return false;
  for (uint64_t i = 0; i < config_.src_mapping_count; ++i) {
    const Region& r = config_.src_mappings[i];
    uint64_t lo = r.addr > kAslrWindow ? r.addr - kAslrWindow : 0, hi = r.addr + r.size + kAslrWindow;
    if (v >= lo && v < hi) return true;
  }
  return false;
}

// Whether v is a piece of text: from its low byte (the first in memory), at least
// four printable characters (or tab, newline, carriage return), then only NULs.
// An integer (a count, a size, a hash) is almost never that.
bool Engine::stale_text(uint64_t v) {
  int printable = 0;
  for (; printable < 8; ++printable, v >>= 8) {
    uint8_t c = uint8_t(v & 0xff);
    if (!((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r')) break;
  }
  return printable >= 4 && v == 0;
}

// A value in no mapping that says nothing about what its member holds.
bool Engine::no_integer_evidence(uint64_t v) const { return maybe_dead_pointer(v) || stale_text(v); }

}  // namespace ttst::stfw::engine_detail
