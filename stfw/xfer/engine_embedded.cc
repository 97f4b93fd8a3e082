// engine_embedded.cc — TTST_EMBEDDED (embedded_structs.h): a struct stored inside a
// carved sub-object's flexible bytes, at an offset the program computes from the
// sub-object's own members (memcached 1.6: a chunked item's `item_chunk`, after its
// key, client flags and CAS). While typing a carved sub-object whose type carries the
// annotation, and whose condition holds, the embedded struct is carved as a
// sub-object of the same container: the holder's extent then ends where it begins,
// its pointers are translated and what they reach is typed and carved (the chunks).
// Without it those pointers are data bytes: copied untranslated, they point into the
// old version's memory, and the objects only they reach are never carved.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

void Engine::carve_embedded(const Object& o, const uint8_t* src) {
  const EmbeddedStructs& embedded = annotations_.embedded();
  const uint32_t type = src_meta().strip(o.src_type);
  const EmbeddedEntry* e = embedded.find(src_newer(), type);
  uint64_t off = 0;
  if (!e || !src || !embedded.offset_in(src_meta(), *e, src, &off)) return;
  const uint64_t type_bytes = type_size(src_meta(), type), to_bytes = type_size(src_meta(), e->to);
  const Object& c = objects_[o.src_global];
  if (off < type_bytes || o.addr + off + to_bytes > c.addr + c.size) {
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe(message_, o);
    message_.text(" holds, by TTST_EMBEDDED(")
        .text(e->text)
        .text("), a ")
        .text(type_name(src_meta(), e->to))
        .text(" at +")
        .number(off)
        .text(", outside its flexible bytes or its container: check the annotation's terms");
    return;
  }
  uint32_t dst_to = 0;
  if (o.dst_type)
    if (const EmbeddedEntry* d = embedded.find(!src_newer(), dst_meta().strip(o.dst_type))) dst_to = d->to;
  carve(o.src_global, o.addr + off, e->to, dst_to);
}

}  // namespace ttst::stfw::engine_detail
