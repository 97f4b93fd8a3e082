// engine_keep_runtime.cc — TTST_KEEP_NEW: a pointer of the kept graph to run-time
// state takes the past version's target, translated.
//
// The kept graph (v2's start-up configuration) may point into run-time state that
// the transfer replaces: nginx's `ls->connection`, in the kept listening array,
// points to the listening socket's connection in `cycle->connections`. v2's start-up
// made its own connections array; the transfer replaces it with P's (the cycle, and
// its `connections` member, are transferred). Left as it was, F's `ls->connection`
// pointed at v2's start-up connection, which no event uses (P's connection holds the
// listening socket's registration): nginx's accept re-enabling would act on a dead
// connection, and the start-up arrays stayed reachable as garbage that a later update
// met (1.26.1 -> 1.26.2 under load: `ngx_connection_s.local_sockaddr holds integers`,
// the unused elements' uninitialised bytes). The kept walk met the run-time block
// through P's pointer at the same path (mark_transfer_anchors: a block a transferred
// pointer global or KEEP_NEW_AT struct member points to): forward, after the write,
// this process's pointer there is P's pointer translated, as the rest of the
// transferred state's pointers. Backward nothing is written: R's kept graph is P's
// own, and F's pointer (now to a transferred block) is not followed (transferred_here).
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

// The kept walk's pointer vs (the source's) reaches run-time state; kept_slot_ is
// this process's pointer at the same path (none: nothing to retarget).
void Engine::note_runtime_pointer(uint64_t vs) {
  if (config_.backward || !kept_slot_) return;  // a slot met again on another path is noted again: same value
  if (runtime_pointer_count_ == runtime_pointer_capacity_) {
    uint32_t capacity = runtime_pointer_capacity_ ? 2 * runtime_pointer_capacity_ : 16;
    RuntimePointer* bigger = alloc<RuntimePointer>(capacity);
    if (failed()) return;
    if (runtime_pointer_count_) copy(bigger, runtime_pointers_, runtime_pointer_count_ * sizeof(RuntimePointer));
    runtime_pointers_ = bigger, runtime_pointer_capacity_ = capacity;
  }
  runtime_pointers_[runtime_pointer_count_++] = RuntimePointer{const_cast<uint8_t*>(kept_slot_), vs};
}

// Forward, after the write: each such pointer of this process takes P's, translated
// (or the transfer is refused, naming it, as any untranslatable pointer).
void Engine::retarget_runtime_pointers() {
  for (uint32_t i = 0; i < runtime_pointer_count_ && !failed(); ++i) {
    uint64_t translated = 0;
    current_ = kept_root_, path_depth_ = 0;
    if (!translate(runtime_pointers_[i].vs, &translated)) return;
    store_uint(runtime_pointers_[i].slot, 8, translated);
    result_.pointers++;
  }
}

// Forward: is object `index` written over this process's start-up value of it, so
// that a start-up object its pointers reached is superseded by what they get now
// (engine_writing.cc: freed unless still referenced; F's frames remapped)? A global;
// or the struct holding KEEP_NEW_AT roots where its block goes into this process's
// (engine_keep_into.cc): nginx's cycle over v2's start-up cycle, whose `connections`,
// `read_events` and `write_events` were v2's start-up arrays, now garbage (their
// only other reference, `ls->connection`, is retargeted above).
bool Engine::supersedes_startup(uint32_t index) const {
  if (delta_) return false;  // the first run superseded what start-up objects there were (engine_delta.cc)
  const Object& o = objects_[index];
  if (o.flags & kGlobal) return true;
  for (uint32_t k = 0; k < kept_holder_count_; ++k)
    if (kept_holders_[k].addr == o.addr && kept_holders_[k].dst && kept_holders_[k].dst == o.dst_addr &&
        into_counterpart(o))
      return true;
  return false;
}

// Backward, typing: a pointer held in F's own start-up state (a heap block of
// origin 0) to a block the forward transfer allocated types and declares nothing.
// After the forward run such a pointer is either a stale start-up pointer into
// memory start-up freed and the transfer reused (nginx: `cscf->server_names.pool`,
// into the destroyed cf->temp_pool, where F's epoll `event_list` may now lie: it
// declared that block a pool and refused "epoll_event ... reached as ngx_pool_s *
// too"), or a kept pointer to run-time state retargeted above, whose block the
// transferred state types anyway. The KEEP_NEW_AT structs are excluded: transferred
// state, placed in a start-up block of F's (engine_keep_into.cc).
bool Engine::stale_startup_pointer(const Object& target, const uint8_t* src) const {
  if (!config_.backward || !annotations_.has_keep_new() || current_ >= object_count_) return false;
  const Object& at = objects_[current_];
  const Object& block = (at.flags & kCarved) ? objects_[at.src_global] : at;
  if ((block.flags & kGlobal) || !(block.flags & kOwnStartup) || origin_of(target) == 0) return false;
  return !in_keep_new_at_struct(source_address(src));
}

// Is source address `addr` inside the struct a TTST_KEEP_NEW_AT global points to?
bool Engine::in_keep_new_at_struct(uint64_t addr) const {
  const char* id;
  const char* path;
  for (uint32_t k = 0; annotations_.keep_new_at(k, &id, &path); ++k)
    for (uint32_t g = 0; g < global_count_; ++g) {
      const Object& o = objects_[g];
      if (o.dst_global == 0xffffffffu || !streq(src_meta().str(src_meta().global_at(o.src_global).id), id)) continue;
      uint32_t t = src_meta().strip(o.src_type);
      const uint8_t* bytes = source_bytes(o.addr, 8);
      if (!bytes || src_meta().type(t).kind != kPointer) continue;
      uint64_t v = load_uint(bytes, 8);
      if (addr - v < type_size(src_meta(), src_meta().strip(src_meta().type(t).target))) return true;
    }
  return false;
}

}  // namespace ttst::stfw::engine_detail
