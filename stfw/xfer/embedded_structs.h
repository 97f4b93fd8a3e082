// embedded_structs.h — TTST_EMBEDDED (ttst.h, ABI kind 17) resolved against a version's
// metadata image: "when sibling F of struct S has the bits MASK set, a T lives at
// member m's offset plus a sum of terms" — a struct stored inside another struct's
// flexible bytes at an offset the program computes (memcached 1.6's chunked item:
// after the key, the optional client flags and the optional CAS, its data bytes hold
// a `struct item_chunk` whose pointers lead to the chunks). Each term is a constant,
// the value of a sibling, or "F:MASK:N" (N when all bits of MASK are set in sibling
// F, else 0). The engine carves that T as a sub-object of the container the S sits
// in (engine_embedded.cc), so its pointers are translated and what they reach typed.
// UNTRUSTED, freestanding (no libc; memory from the scratch allocator).
//
// Like TAGGED, an annotation counts in both versions: resolved in its own version's
// image (it must name the struct, the member, every sibling and T there, else bad
// input) and, where it names them, in the other version's.
#ifndef TTST_STFW_XFER_EMBEDDED_STRUCTS_H
#define TTST_STFW_XFER_EMBEDDED_STRUCTS_H

#include <stdint.h>

#include "dwarfmeta/image.h"

namespace ttst::stfw {

// One term of the offset: `constant`, or the value of sibling `member` (mask 0),
// or `constant` when (sibling & mask) == mask.
struct EmbeddedTerm {
  int64_t member;  // -1: a constant
  uint64_t mask;
  uint64_t constant;
};

struct EmbeddedEntry {
  bool newer;           // of the newer version's image (else the older's)
  uint32_t type;        // the holding struct (stripped type ID of this image)
  uint32_t base;        // the member whose offset the terms add to
  uint32_t to;          // the embedded struct's stripped type ID
  int64_t when;         // the sibling tested, or -1 (always)
  uint64_t when_mask;
  uint32_t first_term, term_count;
  const char* text;     // the annotation's target, for messages
};

class EmbeddedStructs {
 public:
  void set_scratch(void* (*scratch)(void*, uint64_t), void* ctx) { scratch_ = scratch, ctx_ = ctx; }
  // Adds the entry annotation (target, arg) makes in image `v`; false when it names
  // nothing there, the arg is malformed, or out of memory.
  bool add(const dwarfmeta::image::View& v, bool newer, const char* target, const char* arg);
  const EmbeddedEntry* find(bool newer, uint32_t type) const;
  // The embedded struct's offset from the start of a value `src` of e's type, or
  // false when the condition does not hold.
  bool offset_in(const dwarfmeta::image::View& v, const EmbeddedEntry& e, const uint8_t* src, uint64_t* off) const;
  bool any() const { return count_ > 0; }

 private:
  bool parse_terms(const dwarfmeta::image::View& v, const dwarfmeta::image::ImageType& ty, const char* p,
                   uint32_t* first, uint32_t* count);
  bool grow_terms();
  EmbeddedEntry* entries_ = nullptr;
  uint32_t count_ = 0, capacity_ = 0;
  EmbeddedTerm* terms_ = nullptr;
  uint32_t term_count_ = 0, term_capacity_ = 0;
  void* (*scratch_)(void*, uint64_t) = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace ttst::stfw

#endif
