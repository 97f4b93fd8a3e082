// engine_doomed_pass.cc — a typing pass that has declared a container or a free
// element is discarded when it ends (engine_typing.cc type_objects: typing starts
// again knowing them); from that moment it only has to find the rest of the
// declarations, so it no longer walks what cannot lead to one.
//
// Why: memcached 1.6 with 100,000 keys types in three passes (the first finds 684
// free items and 4 response bundles declared by type, the second 4 more bundles
// through the first ones), and each pass walked all 100,000 items, which declare
// nothing: most of both agents' type phase. Now a doomed pass neither carves nor
// walks a sub-object whose type cannot reach a declaration, and leaves out the
// typing of objects by their sites at the pass's end; the last pass — the one that declares
// nothing — is never doomed, so it is whole, and its result is the transfer's.
//
// Sound: until the first declaration a pass walks exactly what it walked before,
// so a pass declares something exactly when it did before; after it, only walks
// are left out (never one a declaration could come from: the type closure below),
// so the pass declares no more than before, only perhaps less, which a later pass
// finds. (A closure that judged wrongly would thus only delay a declaration by a
// pass, never change the last pass: only the bound of 64 passes could notice.)
// The sites' typing is left out whole since, with walks missing, an object
// left untyped could be typed otherwise by its site and declare what the whole
// pass would not have — a container too many is free memory not transferred.
//
// A type *may declare* (memoized per source type, a fixpoint over the type graph):
// a struct or union with a member annotated to declare (Annotations::member_declares,
// either version: the destination's counterpart struct counted whole), a pointer to
// a container type (TTST_CONTAINER by type) or to void (its target typed by anything),
// or any type whose members, elements, pointees or TTST_EMBEDDED structs may
// declare. Not used at all when TTST_TAGGED annotations exist (a tagged pointer's
// target type is chosen by a sibling's value, which this closure does not follow).
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

// The counts the pass starts from (type_objects' loop; ended by passing skipping off).
void Engine::start_typing_pass(uint32_t containers, uint64_t free_elements) {
  pass_containers_ = containers, pass_free_ = free_elements;
  doomed_skips_ = !annotations_.tagged().any();
}

bool Engine::skip_doomed_walk(const Object& o) {
  return mode_ == kType && pass_doomed() && !type_may_declare(o.src_type);
}

bool Engine::type_may_declare(uint32_t src_type) {
  if (!declaring_types_ && !find_declaring_types()) return true;
  const uint32_t t = src_meta().strip(src_type);
  return t >= src_meta().type_count() || declaring_types_[t];
}

// The destination's side by name (its structs with a declaring member, its
// container types), then the source's types to a fixpoint. False: no memory, or
// more such names than kept (then every type may declare).
bool Engine::find_declaring_types() {
  const uint32_t n = src_meta().type_count();
  uint8_t* declaring = alloc<uint8_t>(n + 1);
  if (failed()) return false;
  zero(declaring, n + 1);
  dst_declaring_count_ = 0;
  for (uint32_t t = 1; t < dst_meta().type_count(); ++t) {
    const ImageType& ty = dst_meta().type(t);
    if ((ty.kind != kStruct && ty.kind != kUnion) || ty.name == dwarfmeta::image::kNone) continue;
    bool declares = annotations_.container_type(!src_newer(), t);
    for (uint32_t j = 0; j < dst_meta().member_count(ty) && !declares; ++j)
      declares = annotations_.member_declares(!src_newer(), t, j);
    if (!declares) continue;
    if (dst_declaring_count_ == kDeclaringNames) return false;
    dst_declaring_[dst_declaring_count_++] = dst_meta().str(ty.name);
  }
  declaring_types_ = declaring;
  for (bool changed = true; changed;) {
    changed = false;
    for (uint32_t t = 1; t < n; ++t)
      if (!declaring_types_[t] && declares_directly_or_through(t)) declaring_types_[t] = 1, changed = true;
  }
  return true;
}

// A struct or union the destination declares through, by name.
bool Engine::declaring_in_destination(const ImageType& ty) const {
  if (ty.name == dwarfmeta::image::kNone) return false;
  const char* name = src_meta().str(ty.name);
  for (uint32_t k = 0; k < dst_declaring_count_; ++k)
    if (streq(dst_declaring_[k], name)) return true;
  return false;
}

// One step of the fixpoint: type t declares itself, or holds (by value) or points
// to a type already known to.
bool Engine::declares_directly_or_through(uint32_t t) {
  const ImageType& ty = src_meta().type(t);
  const uint32_t stripped = src_meta().strip(t);
  if (stripped != t) return declaring_types_[stripped];
  if (ty.kind == kArray) return declaring_types_[src_meta().strip(ty.target)];
  if (ty.kind == kPointer) {
    const uint32_t pointee = src_meta().strip(ty.target);
    if (pointee == 0) return true;  // void *: its target typed by its site, as anything
    return declaring_types_[pointee];  // a container type is one (the struct case below)
  }
  if (ty.kind != kStruct && ty.kind != kUnion) return false;
  if (annotations_.container_type(src_newer(), t) || declaring_in_destination(ty)) return true;
  if (const EmbeddedEntry* e = annotations_.embedded().find(src_newer(), t))  // TTST_EMBEDDED: carved in its bytes
    if (declaring_types_[e->to]) return true;
  for (uint32_t i = 0; i < src_meta().member_count(ty); ++i) {
    if (annotations_.member_declares(src_newer(), t, i)) return true;
    if (declaring_types_[src_meta().strip(src_meta().members(ty)[i].type)]) return true;
  }
  return false;
}

}  // namespace ttst::stfw::engine_detail
