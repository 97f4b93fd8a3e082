// engine_text_runs.cc — known text in containers: a `char *` / `unsigned char *`
// (u_char, uint8_t) member with a length sibling (TTST_USED_N(struct.member,
// length); nginx's `ngx_str_t.data` / `len`) says which bytes of a container are
// text (nginx: a connection pool's `c->addr_text.data`, the peer's address as text,
// allocated unaligned and without a NUL, followed by the block's stale bytes from
// its previous use).
//
// Text is data, never a pointer, and so is every aligned word that holds a byte of
// it (a pointer slot shares no byte with text): the tail check of a sub-object
// (engine_containers.cc refuse_tail_pointer) skips such words. Nothing else
// changes: text carves no sub-object (it lies in the extent of the sub-object before
// it, copied as bytes with that tail; extents, the kept walk's arrays and the free
// bytes stay as they were), two strings into one text or a string inside a struct
// need no rule (ranges merged; a struct's own bytes are not tail-checked).
// Without a length nothing past the pointer is known to be text (a char pointer is
// also a cursor: a pool's `d.last`, a buffer's `pos`; a NUL-less text may be
// followed by a struct reached only by `void *`, whose pointers copied blind would
// stay untranslated): the word is checked, and when refused the refusal names the
// text of unknown length before it and says its length is what is missing.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

bool Engine::char_pointee(uint32_t src_pointee) const {
  const ImageType& ty = src_meta().type(src_pointee);
  return ty.kind == kBase && ty.size == 1 && (ty.encoding == eSChar || ty.encoding == eUChar);
}

// limit_used's hook: the char member about to be walked points at p, into a
// container, with `n` bytes of text (its TTST_USED_N sibling).
void Engine::note_text_length(uint64_t p, uint64_t n, uint32_t holder_pointee) {
  if (!char_pointee(holder_pointee)) return;
  int64_t at = object_holding(p);
  if (at < 0 || !(objects_[at].flags & kContainer)) return;
  const Object& c = objects_[at];
  text_at_ = p, text_length_ = n < c.addr + c.size - p ? n : c.addr + c.size - p;
}

// carve()'s hook for a char pointer into container `index`: known text recorded,
// else remembered for the refusal's wording.
void Engine::note_text(uint32_t index, uint64_t v) {
  const Object& c = objects_[index];
  uint64_t known = text_at_ == v ? text_length_ : 0;
  text_at_ = 0;
  if (v - c.addr >= c.size || free_pointer_) return;  // an end bound, or declared free memory
  if (known == 0) {
    for (uint32_t k = 0; k < text_mark_count_; ++k)
      if (text_marks_[k] == v) return;
    if (text_mark_count_ < kTextMarks) text_marks_[text_mark_count_++] = v;
    return;
  }
  if (text_count_ == text_capacity_) {
    uint32_t capacity = text_capacity_ ? 2 * text_capacity_ : 256;
    Text* bigger = alloc<Text>(capacity);
    if (failed()) return;
    if (text_count_) copy(bigger, texts_, text_count_ * sizeof(Text));
    texts_ = bigger, text_capacity_ = capacity;
  }
  texts_[text_count_++] = Text{v, v + known};
}

// After typing: the ranges by start (Shell sort: no scratch), overlaps merged.
void Engine::sort_texts() {
  for (uint32_t gap = text_count_ / 2; gap > 0; gap /= 2)
    for (uint32_t i = gap; i < text_count_; ++i) {
      Text t = texts_[i];
      uint32_t j = i;
      for (; j >= gap && texts_[j - gap].start > t.start; j -= gap) texts_[j] = texts_[j - gap];
      texts_[j] = t;
    }
  uint32_t n = 0;
  for (uint32_t i = 0; i < text_count_; ++i) {
    if (n && texts_[i].start <= texts_[n - 1].end) {
      if (texts_[i].end > texts_[n - 1].end) texts_[n - 1].end = texts_[i].end;
    } else {
      texts_[n++] = texts_[i];
    }
  }
  text_count_ = n;
}

// Whether the 8 bytes at `word` hold a byte of known text.
bool Engine::holds_text(uint64_t word) const {
  uint32_t lo = 0, hi = text_count_;  // the first range starting at or past word + 8
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (texts_[mid].start < word + 8) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && texts_[lo - 1].end > word;
}

// refuse_tail_pointer's wording: the first text of unknown length (a char pointer's
// target, remembered while typing) in [from, to) of the refused sub-object's bytes.
void Engine::name_text_marks(const Object& o, uint64_t from, uint64_t to) {
  for (uint32_t k = 0; k < text_mark_count_; ++k) {
    uint64_t m = text_marks_[k];
    if (m < o.addr + from || m >= o.addr + to) continue;
    const Object& c = (o.flags & kCarved) ? objects_[o.src_global] : o;
    message_.text("; a char pointer reaches text at +")
        .number(m - c.addr)
        .text(" of that container, of unknown length: if the word is the text's stale neighbour, declare the "
              "length with TTST_USED_N(struct.member, length_member) on the pointer member");
    return;
  }
}

}  // namespace ttst::stfw::engine_detail
