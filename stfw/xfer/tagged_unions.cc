// tagged_unions.cc — see tagged_unions.h.
#include "stfw/xfer/tagged_unions.h"
#include "stfw/xfer/annotation_text.h"

namespace ttst::stfw {
namespace {

using text::member_named;
using text::same;
using text::space;
using text::starts;

using dwarfmeta::image::ImageType;
using dwarfmeta::image::View;

constexpr uint8_t kBaseKind = 1, kStructKind = 2, kUnionKind = 3, kEnumKind = 4, kPointerKind = 5, kTypedefKind = 7;



}  // namespace

bool TaggedUnions::add(const View& v, bool newer, bool own, const char* target, const char* arg) {
  if (!starts(arg, "tag=")) return false;
  const char* tag = arg + 4;
  uint64_t tag_len = 0;
  while (tag[tag_len] && tag[tag_len] != ';') ++tag_len;
  if (!tag[tag_len] || tag_len == 0) return false;
  uint8_t want = kTypedefKind;
  const char* t = target;
  if (starts(t, "struct ")) want = kStructKind, t += 7;
  else if (starts(t, "union ")) want = kUnionKind, t += 6;
  uint64_t head = 0;
  while (t[head] && t[head] != '.') ++head;
  if (!t[head] || head == 0) return false;
  const char* member = t + head + 1;
  uint64_t member_len = 0;
  while (member[member_len]) ++member_len;
  bool found = false;
  for (uint32_t id = 1; id < v.type_count(); ++id) {
    const ImageType& ty = v.type(id);
    if (ty.kind != want || ty.name == dwarfmeta::image::kNone || (ty.flags & dwarfmeta::image::kTypeDeclaration) ||
        !same(v.str(ty.name), t, head))
      continue;
    uint32_t st = v.strip(id);
    const ImageType& sty = v.type(st);
    if (sty.kind != kStructKind && sty.kind != kUnionKind) continue;
    int64_t m = member_named(v, sty, member, member_len), f = member_named(v, sty, tag, tag_len);
    if (m < 0 || f < 0 || v.type(v.strip(v.members(sty)[m].type)).kind != kPointerKind) continue;
    uint32_t first = 0, n = 0;
    if (!parse_cases(v, tag + tag_len + 1, &first, &n)) return false;
    for (uint32_t k = 0; own && k < n; ++k)  // its own version must have every type it names
      if (cases_[first + k].pointer_type == kTaggedUnknownType) return false;
    if (count_ == capacity_ && !grow_entries()) return false;
    entries_[count_++] = TaggedEntry{newer, own, st, uint32_t(m), uint32_t(f), first, n, target};
    found = true;
  }
  return found;
}

// "V:T, V:T, ...": V decimal (optionally negative) or 0x hex, or `*` (every other
// value: with a pointer sibling as the tag, `0:int, *:T` says the member is dead,
// its bits carried, while the sibling is NULL); T "int" or a type name.
bool TaggedUnions::parse_cases(const View& v, const char* p, uint32_t* first, uint32_t* count) {
  *first = case_count_, *count = 0;
  while (*p) {
    while (space(*p) || *p == ',') ++p;
    if (!*p) break;
    bool negative = *p == '-', any = *p == '*';
    if (negative || any) ++p;
    uint64_t value = 0;
    bool digits = any;
    if (any) {
    } else if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
      for (p += 2;; ++p, digits = true) {
        char c = *p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) break;
        value = value * 16 + uint64_t(d);
      }
    } else {
      for (; *p >= '0' && *p <= '9'; ++p, digits = true) value = value * 10 + uint64_t(*p - '0');
    }
    while (space(*p)) ++p;
    if (!digits || *p != ':') return false;
    ++p;
    while (space(*p)) ++p;
    const char* name = p;
    while (*p && *p != ',') ++p;
    uint64_t len = uint64_t(p - name);
    while (len && space(name[len - 1])) --len;
    if (len == 0) return false;
    uint32_t pointer = same("int", name, len) ? kTaggedInteger : pointer_type_named(v, name, len);
    if (case_count_ == case_capacity_ && !grow_cases()) return false;
    cases_[case_count_++] = TaggedCase{negative ? -int64_t(value) : int64_t(value), pointer, any};
    ++*count;
  }
  return *count > 0;
}

// A pointer type of `v` whose target, through typedefs and qualifiers, is the type
// named name[0..len) ("struct tag", "union tag", a typedef, base or enum name),
// else kTaggedUnknownType.
uint32_t TaggedUnions::pointer_type_named(const View& v, const char* name, uint64_t len) {
  uint8_t want = 0;
  if (len > 7 && starts(name, "struct ")) want = kStructKind, name += 7, len -= 7;
  else if (len > 6 && starts(name, "union ")) want = kUnionKind, name += 6, len -= 6;
  for (uint32_t t = 1; t < v.type_count(); ++t) {
    const ImageType& pt = v.type(t);
    if (pt.kind != kPointerKind || pt.target == 0) continue;
    for (uint32_t u = pt.target, hops = 0; u && hops < 16; ++hops) {
      const ImageType& ty = v.type(u);
      bool kind_ok = want ? ty.kind == want
                          : (ty.kind == kTypedefKind || ty.kind == kStructKind || ty.kind == kUnionKind ||
                             ty.kind == kBaseKind || ty.kind == kEnumKind);
      if (kind_ok && ty.name != dwarfmeta::image::kNone && same(v.str(ty.name), name, len)) return t;
      if (u == v.strip(u)) break;
      u = ty.target;
    }
  }
  return kTaggedUnknownType;
}

const TaggedEntry* TaggedUnions::find(bool newer, uint32_t type, uint32_t member) const {
  const TaggedEntry* other = nullptr;
  for (uint32_t i = 0; i < count_; ++i) {
    const TaggedEntry& e = entries_[i];
    if (e.newer != newer || e.type != type || e.member != member) continue;
    if (e.own) return &e;
    if (!other) other = &e;
  }
  return other;
}

const TaggedCase* TaggedUnions::case_of(const TaggedEntry& e, int64_t value) const {
  const TaggedCase* other = nullptr;  // the `*` case, if any
  for (uint32_t i = 0; i < e.case_count; ++i) {
    const TaggedCase& c = cases_[e.first_case + i];
    if (c.any) other = &c;
    else if (c.value == value) return &c;
  }
  return other;
}

bool TaggedUnions::grow_entries() {
  uint32_t n = capacity_ ? 2 * capacity_ : 16;
  auto* bigger = static_cast<TaggedEntry*>(scratch_(ctx_, sizeof(TaggedEntry) * n));
  if (!bigger) return false;
  for (uint32_t i = 0; i < count_; ++i) bigger[i] = entries_[i];
  entries_ = bigger, capacity_ = n;
  return true;
}

bool TaggedUnions::grow_cases() {
  uint32_t n = case_capacity_ ? 2 * case_capacity_ : 64;
  auto* bigger = static_cast<TaggedCase*>(scratch_(ctx_, sizeof(TaggedCase) * n));
  if (!bigger) return false;
  for (uint32_t i = 0; i < case_count_; ++i) bigger[i] = cases_[i];
  cases_ = bigger, case_capacity_ = n;
  return true;
}

}  // namespace ttst::stfw
