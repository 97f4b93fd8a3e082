// string_literals.cc — a pointer into one version's string literals mapped to the
// same position in the other version's (the rule: string_literals.h). UNTRUSTED,
// freestanding: plain loops over both versions' read-only data.
#include "stfw/xfer/string_literals.h"

namespace ttst::stfw::engine_detail {
namespace {

// A place holding the string: range, offset in it.
struct Place {
  uint32_t range;
  uint64_t pos;
};

bool locate(const LiteralSpace& s, uint64_t a, Place* p) {
  for (uint32_t i = 0; i < s.count; ++i)
    if (a >= s.start[i] && a < s.end[i]) return *p = Place{i, a - s.start[i]}, true;
  return false;
}

uint64_t size_of(const LiteralSpace& s, uint32_t r) { return s.end[r] - s.start[r]; }

bool whole_at(const LiteralSpace& s, Place p) { return p.pos == 0 || s.bytes[p.range][p.pos - 1] == 0; }

// The string's length from p to its NUL; -1 when the range ends first.
int64_t length_at(const LiteralSpace& s, Place p) {
  const char* b = s.bytes[p.range];
  for (uint64_t k = p.pos; k < size_of(s, p.range); ++k)
    if (b[k] == 0) return int64_t(k - p.pos);
  return -1;
}

// Does place p hold exactly str (len bytes, then a NUL)?
bool holds(const LiteralSpace& s, Place p, const char* str, int64_t len) {
  if (p.pos + uint64_t(len) >= size_of(s, p.range)) return false;
  const char* b = s.bytes[p.range] + p.pos;
  for (int64_t k = 0; k < len; ++k)
    if (b[k] != str[k]) return false;
  return b[len] == 0;
}

// Visits the places of `s` holding str whose kind (whole string or tail) is `whole`,
// in address order; stops when visit returns true.
template <class Visit>
void each_place(const LiteralSpace& s, const char* str, int64_t len, bool whole, Visit&& visit) {
  for (uint32_t r = 0; r < s.count; ++r)
    for (uint64_t k = 0; k + uint64_t(len) < size_of(s, r); ++k) {
      Place p{r, k};
      if (s.bytes[r][k] == str[0] && whole_at(s, p) == whole && holds(s, p, str, len) && visit(p)) return;
    }
}

// The index of place `at` among the places of its kind holding the same string.
uint64_t index_of(const LiteralSpace& s, Place at, const char* str, int64_t len) {
  uint64_t index = 0;
  each_place(s, str, len, whole_at(s, at), [&](Place p) {
    if (p.range == at.range && p.pos == at.pos) return true;
    return ++index, false;
  });
  return index;
}

// The index-th place of that kind holding str (the last when there are fewer).
bool nth_place(const LiteralSpace& s, const char* str, int64_t len, bool whole, uint64_t index, Place* out) {
  uint64_t seen = 0;
  each_place(s, str, len, whole, [&](Place p) {
    *out = p;
    return seen++ == index;
  });
  return seen > 0;
}

LiteralMap map_one(const LiteralSpace& from, const LiteralSpace& to, uint64_t a, uint64_t* out) {
  Place at;
  if (!locate(from, a, &at)) return LiteralMap::kUnknown;
  Place start = at;
  while (!whole_at(from, start)) --start.pos;
  for (Place cut = start; cut.pos <= at.pos; ++cut.pos) {  // S, then its tails holding a
    const char* str = from.bytes[cut.range] + cut.pos;
    int64_t len = length_at(from, cut);
    if (len < 0) return LiteralMap::kUnknown;
    uint64_t index = index_of(from, cut, str, len);
    Place found;
    if (nth_place(to, str, len, true, index, &found) || nth_place(to, str, len, false, index, &found))
      return *out = to.start[found.range] + found.pos + (at.pos - cut.pos), LiteralMap::kMapped;
  }
  return LiteralMap::kUnknown;
}

}  // namespace

LiteralMap map_literal(const LiteralSpace& from, const LiteralSpace& to, uint64_t a, uint64_t* out) {
  LiteralMap m = map_one(from, to, a, out);
  if (m != LiteralMap::kMapped) return m;
  uint64_t back = 0;
  if (map_one(to, from, *out, &back) != LiteralMap::kMapped || back != a) return LiteralMap::kNotReversible;
  return LiteralMap::kMapped;
}

}  // namespace ttst::stfw::engine_detail
