// engine_text_runs.cc — text in containers: a `char *` / `unsigned char *` (u_char,
// uint8_t) pointer into a container carves a text run, a sub-object of bytes (nginx:
// a connection pool's `c->addr_text.data`, the peer's address as text, no NUL, the
// pool block's stale bytes after it).
//
// What a run's bytes are. A run is carved only when the pointer member has a length
// sibling (TTST_USED_N(struct.member, length); nginx's `ngx_str_t.data` / `len`):
// its first `length` bytes are text, data, never pointers, and so is every aligned
// word that holds one of them (a pointer slot cannot share bytes with text). A run
// extends, as every sub-object, to the next sub-object (or the container's end);
// its words past the text are pointer-checked like a tail's and copied as bytes.
// Without a length nothing past the pointer is known to be text (a char pointer is
// also a cursor: a pool's `last`, a buffer's `pos`; and a NUL-less text may be
// followed by a struct reached only by `void *`, whose pointers copied blind would
// stay untranslated): no run is carved, the bytes stay what they were (a tail, or
// free memory), and a refusal of a pointer-like word after such a text names it
// and says its length is what is missing (text_marks_).
//
// Overlaps, decided after sorting (absorbed_text): a char pointer into a struct
// sub-object's bytes (or its flexible tail: memcached's item value) is a view of
// it, no run; into a run's known text, the same run (lengths merged); a struct
// pointer at a run's start retypes it as the struct (carve()); a struct inside a
// run's known text is refused (no room). A char pointer marked free (TTST_FREE_SLOTS)
// carves nothing. Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

bool Engine::char_pointee(uint32_t src_pointee) const {
  const ImageType& ty = src_meta().type(src_pointee);
  return ty.kind == kBase && ty.size == 1 &&
         (ty.encoding == eSChar ||
          ty.encoding == eUChar);
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

void Engine::carve_text(uint32_t index, uint64_t v, uint32_t src_pointee, uint32_t dst_pointee) {
  const Object& c = objects_[index];
  uint64_t known = text_at_ == v ? text_length_ : 0;
  text_at_ = 0;
  if (v - c.addr >= c.size || free_pointer_ || c.dst_global != 0xffffffffu) return;  // an end, free, a header block
  if (known == 0) {  // no length: nothing known to be text; remembered for the refusal's wording
    for (uint32_t k = 0; k < text_mark_count_; ++k)
      if (text_marks_[k] == v) return;
    if (text_mark_count_ < kTextMarks) text_marks_[text_mark_count_++] = v;
    return;
  }
  int64_t found = carved_at(v);
  if (found >= 0) {  // a struct there: a view of its bytes; a run: the longer length
    Object& f = objects_[found];
    if ((f.flags & kByteRun) && known > text_bytes(f)) f.used_plus1 = uint32_t(known + 1);
    return;
  }
  if (object_count_ >= object_capacity_ || !carved_slots_) {
    fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: more sub-objects carved than words point into containers");
    return;
  }
  if (2 * (carved_used_ + 1) > carved_capacity_ && !grow_carved_table()) return;
  uint32_t i = object_count_++;
  Object& o = objects_[i];
  zero(&o, sizeof o);
  o.addr = v, o.size = 1, o.dyn_id = c.dyn_id;
  o.src_type = src_pointee;
  o.dst_type = dst_meta().strip(dst_pointee);
  if (o.dst_type == 0) o.dst_type = counterpart(src_pointee);
  o.flags = kCarved | kByteRun, o.src_global = index, o.dst_global = 0xffffffffu;
  o.used_plus1 = uint32_t((known < 0xfffffff0ull ? known : 0xfffffff0ull) + 1);
  uint64_t h = (v * 0x9e3779b97f4a7c15ull) & (carved_capacity_ - 1);
  while (carved_slots_[h] != 0) h = (h + 1) & (carved_capacity_ - 1);
  carved_slots_[h] = v, carved_index_[h] = i, ++carved_used_;  // bytes: nothing to walk while typing
}

// drop_embedded_sub_objects' rule for text (o follows `enclosing` in address order,
// in the same container): whether o is part of it (dropped; a run's known length
// merged into the enclosing run).
bool Engine::absorbed_text(Object& enclosing, const Object& o) {
  const uint64_t off = o.addr - enclosing.addr;
  if (!(o.flags & kByteRun)) return false;  // a struct inside known text: kept, refused by its room
  if (enclosing.flags & kByteRun) {
    if (off >= text_bytes(enclosing)) return false;  // past the known text: a run of its own
    uint64_t end = off + text_bytes(o);
    if (end > text_bytes(enclosing)) enclosing.used_plus1 = uint32_t(end + 1);
    return true;
  }
  return off < type_size(src_meta(), enclosing.src_type) || flexible_tail(enclosing.src_type);
}

// A run whose known text reaches past the next sub-object: the length sibling and
// the container's other sub-objects disagree.
bool Engine::refuse_text_overlap(const Object& o, uint64_t extent) {
  fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  describe(message_, o);
  message_.text(", text of ")
      .number(text_bytes(o))
      .text(" bytes by its length sibling (TTST_USED_N), overlaps the next sub-object ")
      .number(extent)
      .text(" bytes on: needs transfer code");
  return true;
}

// The words of a run's extent past its text, pointer-checked (aligned in the
// address space: a pointer slot holds no byte of text).
bool Engine::refuse_text_pointer(const Object& o, bool kept_ok) {
  const uint64_t known = text_bytes(o);
  const uint64_t first = (o.addr + known + 7) & ~7ull;
  const uint64_t end = o.addr + o.size;
  const Object& c = objects_[o.src_global];
  for (uint64_t a = first < c.addr ? c.addr : first; a + 8 <= end; a += 8) {
    const uint8_t* word = source_bytes(a, 8);
    if (!word) return false;
    uint64_t w = load_uint(word, 8);
    const auto* function = src_meta().function_containing(w - config_.src_bias);
    if (w < 4096 || (object_holding(w) < 0 && !(function && function->low == w - config_.src_bias))) continue;
    if (kept_ok) {  // kept configuration bytes, in a range that may start before the run (it goes over runs)
      int64_t r = kept_holding(a);
      if (r >= 0 && kept_[r].src >= c.addr && a + 8 <= kept_[r].src + kept_[r].size) continue;
    }
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe(message_, o);
    message_.text(", text a char pointer reaches (").number(known).text(" bytes by its length sibling),");
    message_.text(" is followed by ")
        .number(end - (o.addr + known))
        .text(" bytes of its container that no typed pointer reaches, and the word at +")
        .number(a - o.addr)
        .text(" = ")
        .hex(w)
        .text(" looks like a pointer: refusing to guess");
    return true;
  }
  return false;
}


// A run in what would be a kept sub-object's tail without it (text of P's
// configuration after a kept struct in a pool block): kept with it, not checked, as
// that tail is (check_kept_tails).
bool Engine::in_kept_tail(uint32_t i) const {
  const uint32_t container = objects_[i].src_global;
  while (i > heap_end_ && objects_[i - 1].src_global == container && (objects_[i - 1].flags & kByteRun)) --i;
  return i > heap_end_ && objects_[i - 1].src_global == container && (objects_[i - 1].flags & kKept);
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
