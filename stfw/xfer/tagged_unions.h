// tagged_unions.h — TTST_TAGGED (ttst.h, ABI kind 14) resolved against a version's
// metadata image: "pointer member m of struct S holds, when its sibling F equals V,
// a T * (or, for T = int, an integer)". The engine asks, for a member it is about
// to walk, which type its value has given the value of F in the same struct
// (engine_values.cc). UNTRUSTED, freestanding (no libc; memory from the scratch
// allocator).
//
// An annotation counts in both versions: it is resolved against the image of the
// version that carries it (it must name a pointer member and a sibling there, else
// it is bad input) and, where it names something there too, against the other
// version's image, so a tagged union annotated in v2 only is read the same way in
// v1. An image's own annotation is preferred to the other version's.
#ifndef TTST_STFW_XFER_TAGGED_UNIONS_H
#define TTST_STFW_XFER_TAGGED_UNIONS_H

#include <stdint.h>

#include "dwarfmeta/image.h"

namespace ttst::stfw {

// One value of the tag: the pointer type (of the entry's image) the member then
// holds, or kTaggedInteger (the member holds an integer: bits carried unchanged),
// or kTaggedUnknownType (the type is not in this image: refused if met).
constexpr uint32_t kTaggedInteger = 0, kTaggedUnknownType = 0xffffffffu;
struct TaggedCase {
  int64_t value;
  uint32_t pointer_type;
  bool any = false;  // "*:T": every value no other case lists (a pointer tag: non-NULL)
};

struct TaggedEntry {
  bool newer;           // of the newer version's image (else the older's)
  bool own;             // the annotation was written in this image's version
  uint32_t type;        // the struct (stripped type ID of this image)
  uint32_t member;      // the pointer member's index
  uint32_t tag;         // the sibling's index
  uint32_t first_case;  // into cases()
  uint32_t case_count;
  const char* text;     // the annotation's target, for messages
};

class TaggedUnions {
 public:
  void set_scratch(void* (*scratch)(void*, uint64_t), void* ctx) { scratch_ = scratch, ctx_ = ctx; }
  // Adds the entries annotation (target, arg) makes in image `v`: false when it
  // names no pointer member with that sibling there, or a case is malformed, or
  // out of memory. `own`: written in v's version.
  bool add(const dwarfmeta::image::View& v, bool newer, bool own, const char* target, const char* arg);
  const TaggedEntry* find(bool newer, uint32_t type, uint32_t member) const;
  const TaggedCase* case_of(const TaggedEntry& e, int64_t value) const;
  bool any() const { return count_ > 0; }

 private:
  bool parse_cases(const dwarfmeta::image::View& v, const char* list, uint32_t* first, uint32_t* count);
  static uint32_t pointer_type_named(const dwarfmeta::image::View& v, const char* name, uint64_t len);
  bool grow_entries();
  bool grow_cases();
  TaggedEntry* entries_ = nullptr;
  uint32_t count_ = 0, capacity_ = 0;
  TaggedCase* cases_ = nullptr;
  uint32_t case_count_ = 0, case_capacity_ = 0;
  void* (*scratch_)(void*, uint64_t) = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace ttst::stfw

#endif
