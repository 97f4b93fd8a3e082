// engine_data_words.cc — a blind spot of the byte copy: a carved sub-object's data
// bytes (its flexible tail: memcached's key and value) are carried as they are, so a
// pointer the program keeps there is not translated, and an object only it reaches is
// not state: v2 would follow the old version's address. The backward run cannot see
// it (the word goes forward and back unchanged). Refused when a word of the tail, at
// any byte offset, is exactly
//   - the start of a chunk (TTST_SLAB's chunk size) of a container that no
//     sub-object holds (memcached 1.6's chunked item without TTST_EMBEDDED: the
//     `item_chunk` after its key leads to chunks nothing typed reaches), or
//   - the start of an untyped heap object no pointer the typing followed reaches.
// The same for a char array member of anything typed (a name buffer holding an
// address), checked as it is written (refuse_char_array_pointer).
// Client data can look like a pointer: a word into the middle of something, or to
// anything typed or reached, is left alone. A free element's bytes are dead (not
// checked). The refusal names the holder, the offset, the target and the fix.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"
#include "stfw/xfer/word_scan.h"

namespace ttst::stfw::engine_detail {

namespace {
constexpr uint32_t kNoParentLink = 0xffffffffu;
}  // namespace

// What word `w` is, if it is a pointer nothing typed follows to something only it
// could reach: 1 a container's unheld chunk, 2 an unreached untyped heap object; else 0.
int Engine::lost_target(uint64_t w, int64_t* holder) {
  int64_t t = object_holding(w);
  *holder = t;
  if (t < int64_t(global_count_) || t >= int64_t(heap_end_)) return 0;
  const Object& c = objects_[t];
  if (c.flags & (kFromLibrary | kKept | kOwned)) return 0;
  if (c.flags & kContainer) {
    if (c.src_global == kNoChunk || c.src_global == 0 || (w - c.addr) % c.src_global != 0) return 0;
    return carved_at(w) >= 0 || is_free_element(w) ? 0 : 1;  // (no sub-object crosses a chunk's start)
  }
  if (c.addr != w || c.src_type != 0 || !parents_ || parents_[t].parent != kNoParentLink) return 0;
  return 2;
}

bool Engine::refuse_data_pointer(const Object& o, uint64_t from) {
  if (o.size <= from + 7 || is_free_element(o.addr)) return false;
  const uint8_t* src = source_bytes(o.addr, o.size);
  if (!src || heap_end_ <= global_count_) return false;
  const Object& last = objects_[sorted_index_[heap_end_ - 1]];
  const uint64_t lo = sorted_addr_[0], span = last.addr + last.size - lo;
  return words_in_range(src, from, o.size, lo, span, [&](uint64_t k, uint64_t w) {
    int64_t holder = -1;
    int kind = lost_target(w, &holder);
    if (!kind) return false;
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe(message_, o);
    message_.text(" holds in its data bytes, at +").number(k).text(", the word ").hex(w).text(", exactly ");
    if (kind == 1)
      message_.text("the start of a chunk of its container ");
    else
      message_.text("the start of an untyped object that no typed pointer reaches, ");
    describe(message_, objects_[holder]);
    message_.text(kind == 1 ? ", which no sub-object holds" : "")
        .text(": a pointer kept in data would be copied untranslated and what it reaches lost; say what lives "
              "there (TTST_EMBEDDED for a struct inside the data, TTST_POINTS_TO for a void * holder) or write "
              "transfer code");
    advise_plugin(o.src_type);
    return true;
  });
}

// walk()'s hook before copying a flat array: a char array whose bytes hold the only
// way to something (lost_target) is refused, named by the walk's path. True if refused.
bool Engine::char_array(uint32_t type) const {
  const ImageType& ty = src_meta().type(type);
  return ty.kind == kArray && ty.size >= 8 && char_pointee(src_meta().strip(ty.target));
}

// The compiled plans' filter: a word of the chars within the objects' address range.
bool Engine::chars_may_point(const uint8_t* src, uint64_t n) const {
  if (heap_end_ <= global_count_) return false;
  const Object& last = objects_[sorted_index_[heap_end_ - 1]];
  const uint64_t lo = sorted_addr_[0], span = last.addr + last.size - lo;
  return words_in_range(src, 0, n, lo, span, [](uint64_t, uint64_t) { return true; });
}

bool Engine::refuse_char_array_pointer(uint32_t src_type, const uint8_t* src) {
  if (!char_array(src_type) || free_element_ || heap_end_ <= global_count_) return false;
  const ImageType& ty = src_meta().type(src_type);
  const Object& last = objects_[sorted_index_[heap_end_ - 1]];
  const uint64_t lo = sorted_addr_[0], span = last.addr + last.size - lo;
  return words_in_range(src, 0, ty.size, lo, span, [&](uint64_t k, uint64_t w) {
    int64_t holder = -1;
    int kind = lost_target(w, &holder);
    if (!kind) return false;
    fail_at_current(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    message_.text(", a char array, holds at +").number(k).text(" the word ").hex(w).text(", exactly the start of ");
    message_.text(kind == 1 ? "a chunk no sub-object holds of " : "an untyped object that no typed pointer reaches, ");
    describe(message_, objects_[holder]);
    message_.text(": a pointer kept in data would be copied untranslated and what it reaches lost; type what "
                  "holds it (a pointer member, TTST_PXFER) or write transfer code");
    return true;
  });
}

}  // namespace ttst::stfw::engine_detail
