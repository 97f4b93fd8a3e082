// embedded_structs.cc — see embedded_structs.h.
// arg: "to=T;when=F:MASK;at=TERM,TERM,..." (when= may be empty: always).
#include "stfw/xfer/embedded_structs.h"
#include "stfw/xfer/annotation_text.h"

namespace ttst::stfw {
namespace {

using text::member_named;
using text::same;
using text::space;
using text::starts;

using dwarfmeta::image::ImageType;
using dwarfmeta::image::View;

constexpr uint8_t kStructKind = 2, kUnionKind = 3, kTypedefKind = 7;

bool digit(char c) { return c >= '0' && c <= '9'; }


// Decimal or 0x hex at *p; false if none.
bool number(const char*& p, uint64_t* out) {
  uint64_t value = 0;
  bool digits = false;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    for (p += 2;; ++p, digits = true) {
      char c = *p;
      int d = digit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) break;
      value = value * 16 + uint64_t(d);
    }
  } else {
    for (; digit(*p); ++p, digits = true) value = value * 10 + uint64_t(*p - '0');
  }
  *out = value;
  return digits;
}

// The length of the field at p (up to `stop`, ';' or the end).
uint64_t field(const char* p, char stop) {
  uint64_t n = 0;
  while (p[n] && p[n] != ';' && p[n] != stop) ++n;
  return n;
}

// A struct/union type of v named name[0..len) ("struct tag", a typedef or a tag), stripped; 0 if none.
uint32_t struct_named(const View& v, const char* name, uint64_t len) {
  uint8_t want = 0;
  if (len > 7 && starts(name, "struct ")) want = kStructKind, name += 7, len -= 7;
  else if (len > 6 && starts(name, "union ")) want = kUnionKind, name += 6, len -= 6;
  for (uint32_t id = 1; id < v.type_count(); ++id) {
    const ImageType& ty = v.type(id);
    if (ty.name == dwarfmeta::image::kNone || (ty.flags & dwarfmeta::image::kTypeDeclaration)) continue;
    if (want ? ty.kind != want : (ty.kind != kTypedefKind && ty.kind != kStructKind && ty.kind != kUnionKind)) continue;
    if (!same(v.str(ty.name), name, len)) continue;
    uint32_t st = v.strip(id);
    uint8_t kind = v.type(st).kind;
    if ((kind == kStructKind || kind == kUnionKind) && !(v.type(st).flags & dwarfmeta::image::kTypeDeclaration)) return st;
  }
  return 0;
}

}  // namespace

bool EmbeddedStructs::add(const View& v, bool newer, const char* target, const char* arg) {
  if (!starts(arg, "to=")) return false;
  const char* to = arg + 3;
  uint64_t to_len = field(to, ';');
  if (to[to_len] != ';' || !starts(to + to_len, ";when=")) return false;
  const char* when = to + to_len + 6;
  uint64_t when_len = field(when, ';');
  if (when[when_len] != ';' || !starts(when + when_len, ";at=")) return false;
  const char* at = when + when_len + 4;
  uint32_t to_type = struct_named(v, to, to_len);
  if (!to_type) return false;
  const char* t = target;
  uint64_t head = 0;
  while (t[head] && t[head] != '.') ++head;
  if (!t[head] || head == 0) return false;
  uint32_t st = struct_named(v, t, head);
  if (!st || v.type(st).kind != kStructKind) return false;
  const ImageType& ty = v.type(st);
  const char* member = t + head + 1;
  int64_t base = member_named(v, ty, member, field(member, ';'));
  if (base < 0) return false;
  int64_t tested = -1;
  uint64_t mask = 0;
  if (when_len) {
    uint64_t name_len = field(when, ':');
    if (when[name_len] != ':') return false;
    tested = member_named(v, ty, when, name_len);
    const char* m = when + name_len + 1;
    if (tested < 0 || !number(m, &mask) || mask == 0 || m != when + when_len) return false;
  }
  uint32_t first = 0, n = 0;
  if (!parse_terms(v, ty, at, &first, &n)) return false;
  if (count_ == capacity_) {
    uint32_t cap = capacity_ ? 2 * capacity_ : 8;
    auto* bigger = static_cast<EmbeddedEntry*>(scratch_(ctx_, sizeof(EmbeddedEntry) * cap));
    if (!bigger) return false;
    for (uint32_t i = 0; i < count_; ++i) bigger[i] = entries_[i];
    entries_ = bigger, capacity_ = cap;
  }
  entries_[count_++] = EmbeddedEntry{newer, st, uint32_t(base), to_type, tested, mask, first, n, target};
  return true;
}

// "TERM,TERM,...": N, a sibling's name, or F:MASK:N.
bool EmbeddedStructs::parse_terms(const View& v, const ImageType& ty, const char* p, uint32_t* first,
                                  uint32_t* count) {
  *first = term_count_, *count = 0;
  while (*p) {
    while (space(*p) || *p == ',') ++p;
    if (!*p) break;
    EmbeddedTerm term{-1, 0, 0};
    if (digit(*p)) {
      if (!number(p, &term.constant)) return false;
    } else {
      uint64_t len = 0;
      while (p[len] && p[len] != ',' && p[len] != ':' && !space(p[len])) ++len;
      term.member = member_named(v, ty, p, len);
      if (term.member < 0) return false;
      p += len;
      if (*p == ':') {
        ++p;
        if (!number(p, &term.mask) || term.mask == 0 || *p != ':') return false;
        ++p;
        if (!number(p, &term.constant)) return false;
      }
    }
    while (space(*p)) ++p;
    if (*p && *p != ',') return false;
    if (term_count_ == term_capacity_ && !grow_terms()) return false;
    terms_[term_count_++] = term;
    ++*count;
  }
  return true;
}

bool EmbeddedStructs::grow_terms() {
  uint32_t n = term_capacity_ ? 2 * term_capacity_ : 16;
  auto* bigger = static_cast<EmbeddedTerm*>(scratch_(ctx_, sizeof(EmbeddedTerm) * n));
  if (!bigger) return false;
  for (uint32_t i = 0; i < term_count_; ++i) bigger[i] = terms_[i];
  terms_ = bigger, term_capacity_ = n;
  return true;
}

const EmbeddedEntry* EmbeddedStructs::find(bool newer, uint32_t type) const {
  for (uint32_t i = 0; i < count_; ++i)
    if (entries_[i].newer == newer && entries_[i].type == type) return &entries_[i];
  return nullptr;
}

namespace {
// The unsigned value of member `index` of struct `ty` in `src` (at most 8 bytes, no bitfields).
uint64_t member_value(const View& v, const ImageType& ty, uint32_t index, const uint8_t* src) {
  const auto& m = v.members(ty)[index];
  uint64_t size = v.type(v.strip(m.type)).size, value = 0;
  if (size > 8) size = 8;
  for (uint64_t k = 0; k < size; ++k) value |= uint64_t(src[m.offset + k]) << (8 * k);
  return value;
}
}  // namespace

bool EmbeddedStructs::offset_in(const View& v, const EmbeddedEntry& e, const uint8_t* src, uint64_t* off) const {
  const ImageType& ty = v.type(e.type);
  if (e.when >= 0 && (member_value(v, ty, uint32_t(e.when), src) & e.when_mask) != e.when_mask) return false;
  uint64_t sum = v.members(ty)[e.base].offset;
  for (uint32_t i = 0; i < e.term_count; ++i) {
    const EmbeddedTerm& t = terms_[e.first_term + i];
    if (t.member < 0)
      sum += t.constant;
    else if (t.mask == 0)
      sum += member_value(v, ty, uint32_t(t.member), src);
    else if ((member_value(v, ty, uint32_t(t.member), src) & t.mask) == t.mask)
      sum += t.constant;
  }
  *off = sum;
  return true;
}

}  // namespace ttst::stfw
