// annotation_text.h — the few text helpers the engine's annotation readers share
// (annotations.cc, tagged_unions.cc, embedded_structs.cc, epoll_rebuild.cc): they
// run freestanding in the agent (no libc string functions), and the readers used
// to carry a copy each. UNTRUSTED, header only.
#ifndef TTST_STFW_XFER_ANNOTATION_TEXT_H
#define TTST_STFW_XFER_ANNOTATION_TEXT_H

#include <stdint.h>

#include "dwarfmeta/image.h"

namespace ttst::stfw::text {

// Does `s` begin with the NUL-terminated `prefix`?
inline bool starts(const char* s, const char* prefix) {
  while (*prefix)
    if (*s++ != *prefix++) return false;
  return true;
}
// Does the NUL-terminated `name` equal the first `len` bytes of `s`?
inline bool same(const char* name, const char* s, uint64_t len) {
  uint64_t k = 0;
  while (k < len && name[k] == s[k]) ++k;
  return k == len && !name[k];
}
inline bool space(char c) { return c == ' ' || c == '\t'; }
// The index of the member of `ty` named by s[0..len), or -1.
inline int64_t member_named(const dwarfmeta::image::View& v, const dwarfmeta::image::ImageType& ty, const char* s,
                            uint64_t len) {
  for (uint32_t m = 0; m < v.member_count(ty); ++m)
    if (same(v.str(v.members(ty)[m].name), s, len)) return m;
  return -1;
}

}  // namespace ttst::stfw::text

#endif
