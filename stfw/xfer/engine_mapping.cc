// engine_mapping.cc — where each source object goes: allocated in F (forward) or found in R
// by origin ID (backward); the untyped-object policy.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

// Phase 4 (map): each heap object's destination size, the untyped-object policy,
// then where each object goes.
bool Engine::map_objects() {
  if (plugin_slot_count_ && !mark_owned()) return false;  // TTST_XFER_OWNS (engine_plugin.cc)
  if (!size_destinations()) return false;
  if (kept_count_) mark_into_counterparts();  // engine_keep_into.cc
  if (!config_.backward) {
    if (!allocate_in_future()) return false;
    place_carved();
    if (kept_count_ && !check_into_counterparts()) return false;
    return plugin_place();  // then the plugin's placements (engine_plugin_place.cc)
  }
  // Backward: F's object with origin_id X maps onto R's object X. R walks its lists
  // as P did, and F's lists (allocated in reverse table order) hold P's objects in
  // P's order: R's walk usually meets the counterparts in table order. A merge of
  // the two first; R's objects hashed by dyn_id only for what it leaves unmatched.
  uint64_t r_objects = 0;
  if (!merge_counterparts(r_objects)) return false;
  bool left = false;
  for (uint32_t i = global_count_; i < object_count_ && !left; ++i)
    left = objects_[i].dst_addr == 0 && origin_of(objects_[i]) != 0;
  if (left && !hash_counterparts(r_objects)) return false;
  if (kept_count_) mark_into_counterparts();  // over the merge's answer
  place_carved();
  if (kept_count_ && !check_into_counterparts()) return false;
  return plugin_place();  // then the plugin's placements (engine_plugin_place.cc)
}

// Heap objects: a typed one's destination size from its element types; an untyped
// one is copied as bytes unless a word looks like a pointer into the state.
bool Engine::size_destinations(uint32_t from) {
  for (uint32_t i = from > global_count_ ? from : global_count_; i < object_count_ && !failed(); ++i) {
    Object& o = objects_[i];
    if (o.flags & (kFromLibrary | kKept)) continue;  // kept: its counterpart is this process's own (keep_new)
    if (o.flags & kContainer) {  // its sub-objects are the state; the rest is free memory
      o.dst_size = o.size;
      continue;
    }
    if (o.src_type != 0 && o.dst_type == 0) {
      fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
      describe(message_, o);
      message_.text(" has type ")
          .text(type_name(src_meta(), src_meta().strip(o.src_type)))
          .text(", which v2 does not have: needs transfer code");
      advise_plugin(o.src_type);
      return false;
    }
    if (o.flags & kCarved) {  // stays at its offset: the same layout, the same extent
      bool plugin = plugin_table_ && plugin_slot_for(o) >= 0;  // its type's function writes it in place
      if (!plugin && refuse_moved_layout(o)) return false;
      if (plugin && !same_layout(o.src_type, o.dst_type)) o.dst_global = kCarvedOwnPlace, own_places_ = true;
      o.dst_size = o.size;
      continue;
    }
    if (o.src_type != 0) {
      const PairFacts& facts = pair_facts(o.src_type, o.dst_type);
      o.dst_size = o.size == facts.src_size ? facts.dst_size
                                            : o.size / facts.src_size * facts.dst_size + o.size % facts.src_size;
      continue;
    }
    o.dst_size = o.size;
    if (refuse_untyped_layout(o) || refuse_site_candidates(o) || refuse_untyped_pointer(o)) return false;
    result_.untyped_copied++;
  }
  return !failed();
}

// An untyped object with a word that looks like a pointer into the state (an
// object or a function): refused as AMBIGUOUS, naming the word. True if refused.
bool Engine::refuse_untyped_pointer(const Object& o) {
  // Backward: a block of v2's start-up that no pointer the walk followed reaches is
  // garbage the forward transfer left (reached only from a start-up object it
  // superseded and freed: memcached 1.6's automover state, under the rebalancer's
  // start-up struct): nothing of the state can read its words. Copied as bytes.
  if ((o.flags & kOwnStartup) && parents_ && !link_reaching(uint32_t(&o - objects_))) return false;
  const uint8_t* src = source_bytes(o.addr, o.size);
  for (uint64_t k = 0; src && k + 8 <= o.size; k += 8) {
    uint64_t word = load_uint(src + k, 8);
    if (word < 4096) continue;
    int64_t target = object_holding(word);
    const auto* function = src_meta().function_containing(word - config_.src_bias);
    if (target < 0 && !(function && function->low == word - config_.src_bias)) continue;
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe(message_, o);
    message_
        .text((o.flags & kMisfitView)
                  ? " has no type (reached only through pointers to a struct whose size does not divide its size: "
                    "a derived struct, but its allocation site's function does not return a pointer to one) and "
                    "its word at +"
              : polymorphic_site(site_of(o))
                  ? " has no type (reached only through void * or char *; its site serves several types: an "
                    "allocation wrapper) and its word at +"
                  : " has no type (reached only through void * or char *, site without a type) and its word at +")
        .number(k)
        .text(" = ")
        .hex(word)
        .text(" looks like a pointer: refusing to guess");
    describe_root_path(message_, uint32_t(&o - objects_));
    // A char buffer's bytes are data, never pointers, once it is typed char (stfw/README.md).
    message_.text(" (if it is a char buffer, a string whose unused tail holds stale bytes, type it as char: a "
                  "char * to its base, or TTST_POINTS_TO(struct S.m, char) on the void * member holding it)");
    advise_points_to(o);
    return true;
  }
  return false;
}

namespace {
// Forward: whether a source heap object gets a block of its own in F (not a
// library's, a carved sub-object, a kept start-up object, a plugin-owned one, or
// one written into its counterpart).
bool gets_new_block(const Object& o) {
  return !(o.flags & (kFromLibrary | kCarved | kKept | kOwned | kIntoCounterpart));
}

// What one block of `size` bytes takes of F's heap (ttst_abi.h).
uint64_t heap_footprint(uint64_t size) { return TTST_HEAP_CHUNK_OF(size ? size : 1); }
}  // namespace

// What the map phase allocates in F for the source's heap objects that get a block
// of their own: their destination sizes once typed, else (before typing, whose
// flags may still withhold a block) their source sizes.
uint64_t Engine::future_heap_bytes(bool typed) const {
  uint64_t bytes = 0;
  for (uint32_t i = global_count_; i < object_count_; ++i)
    if (gets_new_block(objects_[i])) bytes += heap_footprint(typed ? objects_[i].dst_size : objects_[i].size);
  return bytes;
}

// Forward, before typing: F's heap grown for about what the map phase will allocate,
// its new pages faulted in meanwhile by the agent's helper thread (Env::reserve_ahead).
void Engine::reserve_future_heap() { env_->reserve_ahead(env_->ctx, future_heap_bytes(false)); }

// Forward: every heap object of the source (not a library's) allocated in F.
bool Engine::allocate_in_future() {
  // F's own start-up objects, listed before the transfer adds its objects to the
  // same lists (a walk of those would chase a million more links).
  if (env_->release && !index_startup_objects()) return false;
  // What the loop below allocates: blocks, descriptors, glibc's chunk headers.
  if (env_->reserve) env_->reserve(env_->ctx, future_heap_bytes(true));
  // In reverse table order: F's heap lists (newest first) then list the objects in
  // the order P's lists did, so the backward transfer's table (F's walk) has P's
  // order too, and its typing sweep meets lists in the direction they link.
  for (uint32_t i = object_count_; i-- > global_count_;) {
    Object& o = objects_[i];
    if (!gets_new_block(o)) continue;
    uint64_t site = dst_site(site_of(o));
    o.dst_addr = env_->alloc(env_->ctx, o.dst_size ? o.dst_size : 1, site, dyn_id_of(o));
    if (!o.dst_addr) {
      fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: the program's allocator refused ")
          .number(o.dst_size)
          .text(" bytes for ");
      describe(message_, o);
      return false;
    }
  }
  if (env_->reserve_ahead) env_->reserve_ahead(env_->ctx, 0);  // the steps grown ahead and not needed freed
  return true;
}

// Backward, for what the merge left: R's objects hashed by dyn_id, each remaining
// source object looked up by its origin_id. The table holds R's objects, so it is
// sized by R's count too (the merge walked them all: it stops early only when
// everything matched): sized by F's table alone, an R with more objects (a
// library's, which F's table lacks) filled it, probing went quadratic and the walk
// stopped at the full table, leaving F's objects after it without counterparts.
bool Engine::hash_counterparts(uint64_t r_objects) {
  uint64_t capacity = 1;
  uint64_t entries = object_count_ - global_count_ > r_objects ? object_count_ - global_count_ : r_objects;
  while (capacity < 2 * entries + 16) capacity <<= 1;
  struct Slot {
    uint64_t id, addr, size;
  };
  Slot* table = alloc<Slot>(capacity);
  if (failed()) return false;
  zero(table, capacity * sizeof(Slot));
  struct WalkState {
    Slot* table;
    uint64_t capacity;
    bool full;
  } walk_state{table, capacity, false};
  int64_t walked = ttst_heap_walk(
      config_.dst_runtime, &Engine::read_own_memory, nullptr,
      [](void* ctx, uint64_t addr, const ttst_heap_desc* desc) -> int {
        WalkState* walk = static_cast<WalkState*>(ctx);
        uint64_t h = address_slot(desc->dyn_id, walk->capacity);
        for (uint64_t k = 0; k < walk->capacity; ++k, h = (h + 1) & (walk->capacity - 1))
          if (walk->table[h].id == 0) {
            walk->table[h] = {desc->dyn_id, addr, desc->size};
            return 0;
          }
        walk->full = true;
        return 1;
      },
      &walk_state);
  if (!own_walk_succeeded(walked)) return false;
  if (walk_state.full) {  // R's lists grew between the two walks: never in a stopped process
    fail(TTST_STFW_STATUS_BAD_INPUT,
         "bad input: this process's heap lists changed between two walks (more objects the second time)");
    return false;
  }
  for (uint32_t i = global_count_; i < object_count_; ++i) {
    Object& o = objects_[i];
    uint64_t origin = o.dst_addr ? 0 : origin_of(o);  // matched by the merge
    if (origin == 0) continue;                        // new in v2: no counterpart (pointers to it fail)
    uint64_t h = address_slot(origin, capacity);
    for (uint64_t k = 0; k < capacity; ++k, h = (h + 1) & (capacity - 1)) {
      if (table[h].id == 0) break;
      if (table[h].id == origin) {
        o.dst_addr = table[h].addr;
        if (table[h].size < o.dst_size) o.dst_size = table[h].size;  // never write past R's object
        break;
      }
    }
  }
  return true;
}

// Backward: the origin_id of a source (F) heap object that needs a counterpart in R, else 0.
uint64_t Engine::origin_of(const Object& o) const {
  if (o.flags & kFromLibrary) return 0;
  const ttst_heap_desc* desc = descriptor_of(o);  // none for a global or a carved sub-object
  return desc && desc->dyn_id ? desc->origin_id : 0;
}

// Backward: one walk of R's lists against the table in order; sets dst (and clips
// dst_size to R's object) for every object whose counterpart comes in order.
bool Engine::merge_counterparts(uint64_t& r_objects) {
  struct WalkState {
    Engine* engine;
    uint32_t next;  // the next table entry to match
    const ttst_heap_desc* before;
  } walk_state{this, global_count_, nullptr};
  int64_t walked = ttst_heap_walk(
      config_.dst_runtime, &Engine::read_own_descriptor, this,
      [](void* ctx, uint64_t addr, const ttst_heap_desc* desc) -> int {
        WalkState* walk = static_cast<WalkState*>(ctx);
        Engine* engine = walk->engine;
        if (walk->before) walk_ahead(desc, walk->before);
        walk->before = desc;
        uint64_t origin = 0;
        while (walk->next < engine->object_count_ && (origin = engine->origin_of(engine->objects_[walk->next])) == 0)
          walk->next++;
        if (walk->next == engine->object_count_) return 1;  // every object has its counterpart
        if (origin != desc->dyn_id) return 0;               // R's object is not next in the table
        Object& o = engine->objects_[walk->next++];
        o.dst_addr = addr;
        if (desc->size < o.dst_size) o.dst_size = desc->size;  // never write past R's object
        return 0;
      },
      &walk_state);
  r_objects = walked > 0 ? uint64_t(walked) : 0;
  return own_walk_succeeded(walked);
}

// A walk of this process's own heap lists: false, with the message, if it failed.
bool Engine::own_walk_succeeded(int64_t walked) {
  if (walked >= 0) return true;
  fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: this process's heap lists are unreadable (walk error ")
      .signed_number(walked)
      .text(")");
  return false;
}

}  // namespace ttst::stfw::engine_detail
