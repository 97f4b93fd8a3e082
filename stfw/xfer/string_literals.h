// string_literals.h — where a pointer into one version's string literals goes in the
// other version's (UNTRUSTED, freestanding; used by engine_pointers.cc).
// Positions are mapped, not first occurrences of the bytes: the linker merges string
// tails ("incrby" may live inside "hincrby"), so equal bytes can lie at several
// places and only a rule that the backward transfer applies the same way makes the
// round trip exact. The rule (stfw/README.md, String literals):
//   the pointer's key is its string S (the NUL-terminated string holding it, from a
//   string start), its offset in S, and the index of S's place among the places of
//   the same kind holding S (whole strings, or tails of longer strings) in address
//   order. The counterpart is the place of that index among the other version's
//   whole strings equal to S (tails if it has none), plus the offset. When the
//   other version has no S at all, the tails of S that still hold the pointer are
//   tried, longest first (v2 merged S into a longer string, or unmerged it).
// map_literal() then checks the reverse mapping returns the pointer: when it cannot
// (the other version holds fewer places than this one), the pointer is refused.
#ifndef TTST_STFW_XFER_STRING_LITERALS_H
#define TTST_STFW_XFER_STRING_LITERALS_H

#include <stdint.h>

namespace ttst::stfw::engine_detail {

// One version's read-only data: `count` ranges [start, end) of run-time addresses,
// their bytes readable at bytes[i].
struct LiteralSpace {
  static constexpr uint32_t kMaxRanges = 16;
  uint32_t count = 0;
  uint64_t start[kMaxRanges] = {}, end[kMaxRanges] = {};
  const char* bytes[kMaxRanges] = {};
  // The whole strings by content (index_literals): open addressing, linear probing,
  // so equal strings are met in address order; each slot holds range << 40 | offset,
  // plus one (0: empty). Null: every query scans.
  uint64_t* table = nullptr;
  uint64_t mask = 0;
};

// How many slots index_literals needs for `s` (a power of two), then fills them.
uint64_t literal_slots(const LiteralSpace& s);
void index_literals(LiteralSpace& s, uint64_t* slots, uint64_t count);

enum class LiteralMap { kMapped, kUnknown, kNotReversible };

// `from` holds address a; *out: its counterpart in `to`. kUnknown: `to` has no
// string holding the bytes from a to its NUL; kNotReversible: mapping back from
// *out does not give a (it is still set: the first candidate).
LiteralMap map_literal(const LiteralSpace& from, const LiteralSpace& to, uint64_t a, uint64_t* out);

}  // namespace ttst::stfw::engine_detail

#endif
