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

uint64_t hash_of(const char* str, int64_t len) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (int64_t k = 0; k < len; ++k) h = (h ^ uint8_t(str[k])) * 1099511628211ull;
  return h;
}

// Visits the places of `s` holding str whose kind (whole string or tail) is `whole`,
// in address order; stops when visit returns true.
template <class Visit>
void each_place(const LiteralSpace& s, const char* str, int64_t len, bool whole, Visit&& visit) {
  if (whole && s.table && len > 0) {  // the index (empty strings, runs of NULs, are not in it): only the slots of equal hashes, in address order
    for (uint64_t i = hash_of(str, len) & s.mask; s.table[i]; i = (i + 1) & s.mask) {
      Place p{uint32_t((s.table[i] - 1) >> 40), (s.table[i] - 1) & ((1ull << 40) - 1)};
      if (holds(s, p, str, len) && visit(p)) return;
    }
    return;
  }
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

uint64_t literal_slots(const LiteralSpace& s) {
  uint64_t strings = 0;
  for (uint32_t r = 0; r < s.count; ++r)
    for (uint64_t k = 0; k < size_of(s, r); ++k) strings += whole_at(s, Place{r, k}) && s.bytes[r][k] != 0;
  uint64_t slots = 16;
  while (slots < 2 * strings) slots *= 2;
  return slots;
}

void index_literals(LiteralSpace& s, uint64_t* slots, uint64_t count) {
  for (uint64_t i = 0; i < count; ++i) slots[i] = 0;
  for (uint32_t r = 0; r < s.count; ++r)
    for (uint64_t k = 0; k < size_of(s, r); ++k) {
      Place p{r, k};
      int64_t len = whole_at(s, p) && s.bytes[r][k] != 0 ? length_at(s, p) : -1;
      if (len <= 0) continue;
      uint64_t i = hash_of(s.bytes[r] + k, len) & (count - 1);
      while (slots[i]) i = (i + 1) & (count - 1);
      slots[i] = (uint64_t(r) << 40 | k) + 1;
    }
  s.table = slots, s.mask = count - 1;
}

LiteralMap map_literal(const LiteralSpace& from, const LiteralSpace& to, uint64_t a, uint64_t* out) {
  LiteralMap m = map_one(from, to, a, out);
  if (m != LiteralMap::kMapped) return m;
  uint64_t back = 0;
  if (map_one(to, from, *out, &back) != LiteralMap::kMapped || back != a) return LiteralMap::kNotReversible;
  return LiteralMap::kMapped;
}

}  // namespace ttst::stfw::engine_detail
