// engine_keep_new_candidates.cc — suggestions for TTST_KEEP_NEW (forward only): globals
// whose graph P built and v2's start-up built again, where the two differ only
// where v2's code differs — a table one entry longer. Reported, never acted on:
// which start-up state belongs to v2 is a semantic question (a hash seed written
// only at start-up must come from v1), so the user decides.
//
// Run in F before anything is written, so F's globals still hold v2's start-up
// values. For each global of P (not annotated, holding pointers) the value of P
// and F's start-up value are walked in parallel (keep_new's walk: the same member,
// the same element, the same pointer):
//  - a heap array that F's start-up made longer than P's at the same place: "longer";
//  - a difference that v2's code does not explain: a pointer one side has and the
//    other lacks, a function pointer to another function (by ID), a string (a char
//    block) with other bytes, an array F's start-up made shorter: "differs";
// scalars may differ (a count of entries does). A candidate is longer and never
// differs. Bounded: at most kCandidateBlocks blocks per global (a longer walk is
// run-time state, not a start-up table).
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

void Engine::find_keep_new_candidates() {
  if (config_.backward || (!own_blocks_ && !index_own_blocks())) return;
  candidates_ = alloc<uint32_t>(global_count_ + 1);
  candidate_seen_ = alloc<uint32_t>(kCandidateBlocks);
  if (failed()) return;
  for (uint32_t g = 0; g < global_count_ && !failed(); ++g) {
    const Object& o = objects_[g];
    if (o.dst_global == 0xffffffffu || (o.flags & (kReadonly | kRuleMask | kKept)) || !has_pointer(o.src_type)) continue;
    candidate_longer_ = candidate_differs_ = false, candidate_seen_count_ = 0;
    candidate_value(o.src_type, o.dst_type, source_bytes(o.addr, o.size), reinterpret_cast<const uint8_t*>(o.dst_addr),
                    0);
    if (candidate_longer_ && !candidate_differs_) candidates_[candidate_count_++] = o.src_global;
  }
  result_.keep_new_candidates = candidates_, result_.keep_new_candidate_count = candidate_count_;
}

void Engine::candidate_value(uint32_t src_type, uint32_t dst_type, const uint8_t* src, const uint8_t* dst,
                             uint32_t depth) {
  if (!src || !dst || candidate_differs_ || depth >= kMaxNesting) return;
  src_type = src_meta().strip(src_type), dst_type = dst_meta().strip(dst_type);
  if (!has_pointer(src_type)) return;
  const ImageType& st = src_meta().type(src_type);
  const ImageType& dt = dst_meta().type(dst_type);
  if (dt.kind != st.kind) return void(candidate_differs_ = true);
  if (st.kind == kStruct) {
    for (uint32_t i = 0; i < src_meta().member_count(st) && !candidate_differs_; ++i) {
      const ImageMember& m = src_meta().members(st)[i];
      const ImageMember* dm = dst_meta().member(dt, src_meta().str(m.name));
      if (!m.bit_size && dm) candidate_value(m.type, dm->type, src + m.offset, dst + dm->offset, depth + 1);
    }
  } else if (st.kind == kArray) {
    uint64_t es = type_size(src_meta(), st.target), ed = type_size(dst_meta(), dt.target);
    uint64_t ns = st.count == dwarfmeta::image::kFlexibleCount ? 0 : st.count;
    uint64_t nd = dt.count == dwarfmeta::image::kFlexibleCount ? 0 : dt.count;
    for (uint64_t k = 0; es && ed && k < ns && k < nd; ++k)
      candidate_value(st.target, dt.target, src + k * es, dst + k * ed, depth + 1);
  } else if (st.kind == kPointer) {
    candidate_pointer(load_uint(src, 8), src_meta().strip(st.target), load_uint(dst, 8),
                      dst_meta().strip(dt.target), depth);
  }
}

void Engine::candidate_pointer(uint64_t vs, uint32_t sp, uint64_t vd, uint32_t dp, uint32_t depth) {
  if ((vs < 4096) != (vd < 4096)) return void(candidate_differs_ = true);
  if (vs < 4096 || sp == 0) return;
  const ImageType& pointee = src_meta().type(sp);
  if (pointee.kind == kFunc) {  // the same function (by ID) on both sides
    const auto* a = src_meta().function_containing(vs - config_.src_bias);
    const auto* b = dst_meta().function_containing(vd - config_.dst_bias);
    if (!a || !b || !streq(src_meta().str(a->id), dst_meta().str(b->id))) candidate_differs_ = true;
    return;
  }
  uint64_t es = type_size(src_meta(), sp), ed = dp ? type_size(dst_meta(), dp) : 0;
  const ttst_heap_desc* desc = base_descriptor(vs);
  if (!desc || es == 0 || ed == 0) return;  // globals, interior pointers, void *: compared by ID or not at all
  const Object& o = objects_[reinterpret_cast<uint64_t>(desc->prev) & 0xffffffffu];
  const OwnBlock* b = own_block(vd);
  if (!b || (o.flags & kContainer)) return void(candidate_differs_ = true);
  for (uint32_t i = 0; i < candidate_seen_count_; ++i)
    if (candidate_seen_[i] == uint32_t(&o - objects_)) return;
  if (candidate_seen_count_ == kCandidateBlocks) return void(candidate_differs_ = true);
  candidate_seen_[candidate_seen_count_++] = uint32_t(&o - objects_);
  uint64_t ns = o.size / es, nd = b->size / ed;
  const uint8_t* src = source_bytes(o.addr, o.size);
  const uint8_t* dst = reinterpret_cast<const uint8_t*>(b->addr);
  if (es == 1 && ed == 1) {  // a string: the same bytes
    if (ns != nd) return void(candidate_differs_ = true);
    for (uint64_t k = 0; src && k < ns; ++k)
      if (src[k] != dst[k]) return void(candidate_differs_ = true);
    return;
  }
  if (nd < ns) return void(candidate_differs_ = true);
  if (nd > ns) candidate_longer_ = true;
  for (uint64_t k = 0; src && k < ns && !candidate_differs_; ++k)
    candidate_value(sp, dp, src + k * es, dst + k * ed, depth + 1);
}

}  // namespace ttst::stfw::engine_detail
