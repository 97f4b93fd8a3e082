// engine_site_candidates.cc — records of an optimised allocation site that DWARF
// types only as "one of these" (dwarfmeta/site_hints.h, ImageAllocSite::candidates):
// the structs two or more receivers of the result are proven to be, or, with no
// proof, the suspects (the pointer-to-struct locals and parameters in scope at the
// call). A candidate is never an answer: typing the record as the one that fits
// would transform a byte buffer that merely sits next to an unrelated struct
// pointer, and the backward run, inverting the same transform, could not see it.
// Records reached through a typed pointer are typed by it before this is asked.
//   - a candidate that fits the record's size (a whole number of it) has another
//     layout in the other version (or it has none there): refused (AMBIGUOUS)
//     naming the site, the candidates and the fix (TTST_POINTS_TO on the void *
//     member that reaches it, or a plugin function): its bytes might be
//     reinterpreted;
//   - no fitting candidate's layout changes: copied as bytes, as before (sound:
//     whichever struct it is, its bytes mean the same in both versions).
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

// An untyped object from a site with candidates, one of which changes layout:
// refused (AMBIGUOUS) as above; true if refused.
bool Engine::refuse_site_candidates(const Object& o) {
  const auto* site = src_meta().alloc_site(site_of(o) - config_.src_bias);
  if (!site || wrapper_site(*site)) return false;  // a wrapper's records: no hint to trust
  const uint32_t* candidates = src_meta().site_candidates(*site);
  uint32_t changed = 0, changed_dst = 0;
  for (const uint32_t* c = candidates; *c && !changed; ++c) {
    const uint64_t size = type_size(src_meta(), *c);
    if (size != 0 && o.size % size != 0) continue;  // not a whole number of it: not this one
    uint32_t dst = counterpart(*c);
    if (dst == 0 || !same_layout(src_meta().strip(*c), dst_meta().strip(dst))) changed = *c, changed_dst = dst;
  }
  if (!changed) return false;
  const char* other = config_.backward ? "v1" : "v2";
  fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  describe(message_, o);
  message_.text(" has no type (reached only through void * or char *) and would be copied as bytes, but its site's "
                "code (optimised) may hold it as any of ");
  for (const uint32_t* c = candidates; *c; ++c)
    message_.text(c == candidates ? "" : ", ").text(type_name(src_meta(), src_meta().strip(*c))).text(" *");
  if (site->uncertain) message_.text(", void * or char *");
  message_.text(", and ").text(type_name(src_meta(), src_meta().strip(changed)));
  if (changed_dst)
    message_.text("'s layout differs in ")
        .text(other)
        .text(" (")
        .number(type_size(src_meta(), changed))
        .text(" -> ")
        .number(type_size(dst_meta(), changed_dst))
        .text(" bytes or members moved)");
  else
    message_.text(" is a type ").text(other).text(" does not have");
  message_.text(": its bytes might be reinterpreted; needs transfer code (or a typed pointer to it, TTST_POINTS_TO)");
  advise_points_to_candidates(o, candidates);
  for (const uint32_t* c = candidates; *c; ++c) advise_plugin(*c);
  return true;
}

// The `void *` / `char *` member that first reached `o`, declared to point to each
// candidate that fits o's size (POINTS_TO), as advise_points_to() words it.
void Engine::advise_points_to_candidates(const Object& o, const uint32_t* candidates) {
  uint32_t member_type = 0, member_index = 0;
  if (!parent_member(uint32_t(&o - objects_), &member_type, &member_index)) return;
  for (const uint32_t* c = candidates; *c; ++c) {
    uint64_t size = type_size(src_meta(), *c);
    if (size == 0 || o.size % size != 0) continue;
    spell_member(advice_args(), member_type, member_index);
    advice_args_.text(", ");
    spell_type(advice_args_, src_meta(), src_meta().strip(*c));
    advise("POINTS_TO");
  }
}

}  // namespace ttst::stfw::engine_detail
